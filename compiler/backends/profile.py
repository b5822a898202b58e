"""Runtime profiling: profiling builds of a program (the native entry stamps the clock around each kernel), the
Profile that `f.profile(...)` returns (per-kernel table, Chrome trace, roofline), and VIVE_PROFILE's trace of a
whole process.

A profiling build is a second compile of the same kernels whose entry takes one more buffer, an i64[2 * kernels]
array, and stores CLOCK_MONOTONIC before and after each kernel call (codegen/llvm.py, profile_slot). The normal
build has no clock code at all: profiling costs nothing until asked for.
"""
from __future__ import annotations

import atexit
import threading
import time

import numpy as np

import runtime
from runtime import trace_events

from .. import debug
from ..errors import BackendError
from ..lower.flops import kernel_flops
from .executable import Executable, _size_fn

_local = threading.local()          # .records: the list a running profile() collects this thread's calls into
_process = None                     # VIVE_PROFILE's Timeline
_process_lock = threading.Lock()


# ---- what each kernel of a program moves and computes ----

class KernelInfo:
    """Names, kinds, bytes moved and flops of a program's kernels; the sizes evaluated per dims (cached)."""

    def __init__(self, name, kernels, dims, backend="cpu"):
        self.name = name
        self.backend = backend
        self.names = [k.name for k in kernels]
        self.kinds = [k.kind for k in kernels]
        nbytes = [k.bytes_moved for k in kernels]
        flops = [kernel_flops(k) for k in kernels]
        self._fn = _size_fn([nbytes, flops], list(dims)) if dims else None
        self._static = None if dims else ([int(x) for x in nbytes], [int(x) for x in flops])
        self._cache = {}

    def sizes(self, dims=()):
        """([bytes moved per kernel], [flops per kernel]) at these dims."""
        if self._fn is None:
            return self._static
        hit = self._cache.get(dims)
        if hit is None:
            b, f = self._fn(tuple(dims))
            hit = ([int(x) for x in b], [int(x) for x in f])
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[dims] = hit
        return hit


# ---- profiling builds ----

def profiled_call(raw, info, n_slots, n_dims):
    """The native call of a profiling build as the normal build's call: the stamps buffer goes in as array n_slots
    (after every slot of the normal program); each call is reported to this thread's profile and VIVE_PROFILE."""
    tls = threading.local()
    n_stamps = max(2 * len(info.names), 1)

    def call(*args):
        ts = getattr(tls, "ts", None)
        if ts is None:
            ts = tls.ts = np.zeros(n_stamps, np.int64)
        t0 = time.perf_counter_ns()
        raw(*args[:n_slots], ts, *args[n_slots:])
        t1 = time.perf_counter_ns()
        rec = CallRecord(info, t0, t1, ts.tolist(), tuple(args[n_slots:n_slots + n_dims]),
                         threading.get_native_id())
        records = getattr(_local, "records", None)
        if records is not None:
            records.append(rec)
        if _process is not None:
            rec.trace(_process)
    return call


def profiled_executable(exe):
    """The profiling build of the program `exe` runs (compiled on first use, kept beside the program)."""
    if getattr(exe, "profile_info", None) is not None:
        return exe                    # already one (VIVE_PROFILE builds only these)
    low = getattr(exe, "lowered", None)
    if low is None:
        raise BackendError(f"{exe.name}: no program to profile (call the cc.compile'd function)")
    p = getattr(low, "_profiled", None)
    if p is None:
        from .build import _entry_name, _program_meta, _version
        ir_text = low.profile_llvm_ir()
        meta, consts = _program_meta(low.kernels, ir_text, _entry_name(low.name), low.check_bounds)
        module = runtime.compile_module(ir_text, version=_version())
        p = low._profiled = make_executable(low, meta, module, consts)
    p.guards, p._guard_ok, p.weak_limits = exe.guards, exe._guard_ok, exe.weak_limits
    return p


def make_executable(low, meta, module, consts):
    """An Executable of a profiling build (meta and module of the profile IR)."""
    prog = low.kernels
    info = KernelInfo(low.name, prog.kernels, prog.dims)
    n_dims = len(meta["dims"])
    raw = runtime.make_caller(module, meta["entry"], meta["n_slots"] + 1, n_dims + bool(meta.get("status")))
    exe = Executable(meta, profiled_call(raw, info, meta["n_slots"], n_dims), consts, list(low.graph.in_types),
                     low.out_tree, low.name)
    exe.lowered = low
    exe.profile_info = info
    return exe


# ---- one call, as recorded ----

class CallRecord:
    """One profiled call: its native span (t0, t1 in ns), the kernels' [start, end) stamps, dims, thread."""
    __slots__ = ("info", "t0", "t1", "stamps", "dims", "tid")

    def __init__(self, info, t0, t1, stamps, dims, tid):
        self.info, self.t0, self.t1, self.stamps, self.dims, self.tid = info, t0, t1, stamps, dims, tid

    def spans(self):
        """[(kernel name, start ns, end ns)] in run order."""
        s = self.stamps
        return [(n, s[2 * i], s[2 * i + 1]) for i, n in enumerate(self.info.names)]

    def trace(self, tl, t_call=None):
        """Add this call to a Timeline: a span for the call, one per kernel with bytes, flops and kind as args."""
        nbytes, flops = self.info.sizes(self.dims)
        t0, t1 = t_call if t_call else (self.t0, self.t1)
        tl.span(self.info.name, t0, t1, cat="call", tid=self.tid,
                args={"backend": self.info.backend, "dims": list(self.dims)})
        for i, (name, a, b) in enumerate(self.spans()):
            tl.span(name, a, b, cat="kernel", tid=self.tid,
                    args={"kind": self.info.kinds[i], "bytes": nbytes[i], "flops": flops[i]})


# ---- Profile ----

class KernelStat:
    """One kernel of a profile: `seconds` is its mean time per call; bytes and flops are per call."""

    def __init__(self, name, kind, calls, seconds, nbytes, flops, share):
        self.name, self.kind, self.calls, self.seconds = name, kind, calls, seconds
        self.bytes, self.flops, self.share = nbytes, flops, share

    @property
    def gbps(self):
        return self.bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def gflops(self):
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def intensity(self):
        """Flops per byte moved."""
        return self.flops / self.bytes if self.bytes else float("inf")

    def __repr__(self):
        return (f"KernelStat({self.name}, {self.seconds * 1e6:.1f} us, {self.gbps:.2f} GB/s, "
                f"{self.gflops:.2f} GFLOP/s, {self.share:.1%})")


class Profile:
    """Where the time of a compiled function's calls goes, kernel by kernel.

        prof = step.profile(params, x, y, repeat=20)
        print(prof)                        # table sorted by time
        prof.save_trace("step.json")       # open in ui.perfetto.dev or chrome://tracing
        prof.roofline("roofline.png")      # each kernel against the machine's copy bandwidth and gemm roofs
    """

    def __init__(self, name, records, walls, backend="cpu"):
        if not records:
            raise BackendError(f"{name}: no profiled calls were recorded")
        self.name = name
        self.backend = backend
        self.records = records
        self.walls = walls                 # [(start ns, end ns)] of each call as Python made it
        n = len(records)
        self.calls = n
        self.seconds = sum(b - a for a, b in walls) / n / 1e9
        self.native_seconds = sum(r.t1 - r.t0 for r in records) / n / 1e9
        info = records[0].info
        totals = [0] * len(info.names)
        for r in records:
            for i, (_, a, b) in enumerate(r.spans()):
                totals[i] += b - a
        nbytes, flops = info.sizes(records[0].dims)
        self.kernels = [KernelStat(nm, kd, n, t / n / 1e9, nb, fl, t / n / 1e9 / self.seconds if self.seconds else 0)
                        for nm, kd, t, nb, fl in zip(info.names, info.kinds, totals, nbytes, flops)]
        self.kernel_seconds = sum(k.seconds for k in self.kernels)

    def __str__(self):
        rows = sorted(self.kernels, key=lambda k: -k.seconds)
        head = (f"profile {self.name} ({self.backend}): {self.calls} calls, {self.seconds * 1e3:.3f} ms per call, "
                f"kernels {self.kernel_seconds / self.seconds:.0%} of it" if self.seconds else f"profile {self.name}")
        table = [("kernel", "kind", "time/call", "share", "bytes", "GB/s", "flops", "GFLOP/s")]
        for k in rows:
            table.append((k.name, k.kind, _fmt_time(k.seconds), f"{k.share:.1%}", _fmt_num(k.bytes), f"{k.gbps:.2f}",
                          _fmt_num(k.flops), f"{k.gflops:.2f}"))
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines = [head]
        for j, r in enumerate(table):
            lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def timeline(self):
        tl = trace_events.Timeline(origin_ns=self.walls[0][0], process_name=f"vive profile {self.name}")
        for rec, wall in zip(self.records, self.walls):
            rec.trace(tl, wall)
        return tl

    def save_trace(self, path):
        """Chrome trace-event JSON (ph 'X' spans in us, one track per thread): ui.perfetto.dev, chrome://tracing."""
        return self.timeline().save(path)

    def roofline(self, path, roofs=None):
        """Save a PNG roofline: each kernel's GFLOP/s against its flops per byte, under the machine's measured
        copy bandwidth and gemm roofs (runtime/roofs.py; `roofs` to pass your own {'copy_gbps', 'gemm_gflops'})."""
        from ..roofline import plot
        return plot(self, path, roofs or machine_roofs(self.backend))


def machine_roofs(backend="cpu"):
    if backend != "cpu":
        raise BackendError(f"roofline: the {backend} backend's roofs are not measured here; pass "
                           f"roofs={{'copy_gbps': ..., 'gemm_gflops': ...}}")
    from runtime import roofs
    return roofs.roofs()


def _fmt_time(s):
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def _fmt_num(x):
    for unit, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= k:
            return f"{x / k:.2f}{unit}"
    return str(int(x))


def run_profile(exe, leaves, repeat=10, warmup=1):
    """Profile `repeat` calls of a CPU executable on these (flattened) arguments after `warmup` unrecorded ones."""
    if repeat < 1:
        raise ValueError(f"profile: repeat must be >= 1, got {repeat}")
    pexe = profiled_executable(exe)
    for _ in range(warmup):
        pexe.run(leaves)
    records, walls = [], []
    prev = getattr(_local, "records", None)
    _local.records = records
    try:
        for _ in range(repeat):
            t0 = time.perf_counter_ns()
            pexe.run(leaves)
            walls.append((t0, time.perf_counter_ns()))
    finally:
        _local.records = prev
    return Profile(exe.name, records[-repeat:], walls)


# ---- VIVE_PROFILE ----

def process_timeline():
    """VIVE_PROFILE's Timeline (written at exit), or None when VIVE_PROFILE is unset."""
    global _process
    path = debug.profile_path()
    if path is None:
        return None
    with _process_lock:
        if _process is None:
            _process = trace_events.Timeline(process_name="vive")
            atexit.register(_write_process_trace, path)
    return _process


def _write_process_trace(path):
    try:
        _process.save(path)
    except OSError as e:
        debug._emit(f"VIVE_PROFILE: could not write {path}: {e}")


def trace_span(name, start_ns, end_ns, cat="compile"):
    """VIVE_PROFILE: one span (tracing a function, ...) on the calling thread; nothing when it is unset."""
    tl = process_timeline()
    if tl is not None:
        tl.span(name, start_ns, end_ns, cat=cat)


def trace_compile(low, name, start_ns, end_ns, trace_ns=None):
    """VIVE_PROFILE: a compile's span with its trace, each pass, codegen and LLVM inside it."""
    tl = process_timeline()
    if tl is None:
        return
    tl.span(f"compile {name}", start_ns, end_ns, cat="compile", args={"backend": low.backend,
                                                                      "cache_hit": bool(low.cache_hit)})
    if trace_ns:
        tl.span(f"trace {name}", trace_ns[0], trace_ns[1], cat="compile")
    t = low.timings.get("passes_start_ns")
    if t is not None and low.pass_log is not None:
        for r in low.pass_log:
            d = int(r.seconds * 1e9)
            tl.span(r.name, t, t + d, cat="pass", args={"nodes_before": r.nodes_before, "nodes_after": r.nodes_after})
            t += d
    llvm, at = low.timings.get("llvm"), low.timings.get("llvm_start_ns")
    if llvm is not None and at is not None:
        tl.span("llvm", at, at + int(llvm * 1e9), cat="compile", args={"module_cache_hit": low.timings.get(
            "module_cache_hit", False)})
