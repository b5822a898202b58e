"""Core-to-core round trip of a cache line between CPUs 0 and 1, the label that makes 2-thread timings on a cloud
VM comparable.

    python benchmarks/core_latency.py            # one measurement: "round trip 58 ns (cpus 0 and 1)"
    python benchmarks/core_latency.py --watch 20 # one per second for 20 s

Measured on the 2-vCPU AMD EPYC (znver4) VM this project is developed on: the host moves the two vCPUs between
core pairs every few seconds; the round trip is either ~55 ns (the same core complex) or ~150-400 ns (apart), and
every 2-thread step that shares data between its threads follows it: LeNet-5's 2-thread step 5.5 ms near,
9.5-11 ms apart, slower than one thread (7 ms); single-thread speed does not change. A 2-thread figure means
little without this label; issue13_table.py records it beside each 2-thread cell.

Two threads (Python threads calling a JIT-compiled loop through ctypes, which releases the GIL), each pinned to
one CPU, pass a counter back and forth through one cache line; the round trip is the time per exchange.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import threading
import time

_IR = r"""
define void @pingpong(ptr %flag, i64 %n, i64 %side) {
entry:
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %next]
  %done = icmp sge i64 %i, %n
  br i1 %done, label %out, label %body
body:
  %two = mul i64 %i, 2
  %want = add i64 %two, %side
  %put = add i64 %want, 1
  br label %spin
spin:
  %v = load atomic i64, ptr %flag acquire, align 8
  %ok = icmp eq i64 %v, %want
  br i1 %ok, label %go, label %spin
go:
  store atomic i64 %put, ptr %flag release, align 8
  br label %next
next:
  %i1 = add i64 %i, 1
  br label %head
out:
  ret void
}
"""
_FN = None


def _pingpong():
    global _FN
    if _FN is None:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import runtime
        cm = runtime.compile_module(_IR, opt=1, version="core-latency-1")
        _FN = (cm, ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)(cm.address("pingpong")))
    return _FN[1]


def round_trip_ns(n=100_000, cpus=(0, 1)):
    """Nanoseconds per round trip of a cache line between the two CPUs, or None where there are not two."""
    try:
        avail = os.sched_getaffinity(0)
    except AttributeError:
        return None
    if not set(cpus) <= avail:
        return None
    fn = _pingpong()
    buf = (ctypes.c_int64 * 32)()
    flag = ctypes.addressof(buf) + (-ctypes.addressof(buf)) % 128     # alone on its line
    ctypes.c_int64.from_address(flag).value = 0
    t = {}

    def side(k):
        os.sched_setaffinity(0, {cpus[k]})
        t0 = time.perf_counter()
        fn(flag, n, k)
        t[k] = time.perf_counter() - t0
    th = threading.Thread(target=side, args=(1,))
    th.start()
    side(0)
    th.join()
    os.sched_setaffinity(0, avail)
    return t[0] / n * 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--watch", type=int, default=0, help="measure once a second for this many seconds")
    a = ap.parse_args(argv)
    for i in range(max(a.watch, 1)):
        ns = round_trip_ns()
        print("round trip: needs CPUs 0 and 1" if ns is None else f"round trip {ns:.0f} ns (cpus 0 and 1)",
              flush=True)
        if i + 1 < a.watch:
            time.sleep(1.0)


if __name__ == "__main__":
    main()
