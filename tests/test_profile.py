"""The runtime profiler: profiling builds (kernel timestamps), Profile tables, Chrome traces, rooflines, VIVE_PROFILE."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compiler as cc
import runtime
from compiler.codegen.llvm import generate
from compiler.backends.build import _blas, entry_name, _env_key
from compiler.lower.flops import kernel_flops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _heavy(x, w):
    h = np.tanh(x @ w)
    return (h * h + 1.0).sum(axis=1)


@pytest.fixture(scope="module")
def heavy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((384, 384)).astype(np.float32)
    w = rng.standard_normal((384, 384)).astype(np.float32) * 0.05
    f = cc.compile(_heavy)
    return f, x, w, f.profile(x, w, repeat=12)


def test_kernel_names_are_the_programs_kernels(heavy):
    f, x, w, prof = heavy
    program = f.lower(x, w).kernels
    assert [k.name for k in prof.kernels] == [k.name for k in program.kernels]
    assert [k.kind for k in prof.kernels] == [k.kind for k in program.kernels]
    assert all(k.calls == 12 for k in prof.kernels)
    assert [k.bytes for k in prof.kernels] == [k.bytes_moved for k in program.kernels]


def test_spans_add_up_to_the_call(heavy):
    f, x, w, prof = heavy
    # the kernels' spans (native stamps) against the call as Python timed it around each profiled call
    assert prof.kernel_seconds <= prof.seconds
    assert prof.kernel_seconds >= 0.9 * prof.seconds, str(prof)
    assert abs(sum(k.share for k in prof.kernels) - prof.kernel_seconds / prof.seconds) < 1e-9
    for r in prof.records:          # spans in run order, inside the native call, not overlapping
        t = r.t0
        for _, a, b in r.spans():
            assert t <= a <= b <= r.t1
            t = b


def test_table_and_rates(heavy):
    f, x, w, prof = heavy
    text = str(prof)
    lines = text.splitlines()
    assert lines[0].startswith("profile _heavy (cpu): 12 calls")
    body = lines[3:]
    names = [ln.split()[0] for ln in body]
    by_time = sorted(prof.kernels, key=lambda k: -k.seconds)
    assert names == [k.name for k in by_time]
    gemm = next(k for k in prof.kernels if k.kind == "gemm")
    assert gemm.flops == 2 * 384 ** 3
    assert gemm.gflops == pytest.approx(gemm.flops / gemm.seconds / 1e9)
    assert gemm.gbps == pytest.approx(gemm.bytes / gemm.seconds / 1e9)


def test_profiled_build_computes_the_same(heavy):
    from compiler.backends.profile import profiled_executable
    f, x, w, _ = heavy
    exe, leaves = f._executable((x, w), {})
    pexe = profiled_executable(exe)
    assert pexe is not exe and pexe.profile_info.names == [k.name for k in exe.lowered.kernels.kernels]
    np.testing.assert_array_equal(pexe.run(leaves), f(x, w))
    np.testing.assert_allclose(f(x, w), _heavy(x.astype(np.float64), w.astype(np.float64)), rtol=2e-5)


def test_normal_build_has_no_clock_code(heavy):
    f, x, w, _ = heavy
    low = f.lower(x, w)
    t = runtime.host_target()
    kw = dict(blas=_blas(), openmp=runtime.has_openmp(), triple=t.triple, data_layout=t.data_layout,
              entry=entry_name(low.name), stream_bytes=runtime.last_level_cache_bytes())
    normal = generate(low.kernels, **kw)
    assert normal == low.llvm_ir() and "clock_gettime" not in normal and "vive.now" not in normal
    prof = low.profile_llvm_ir()
    assert "clock_gettime" in prof and prof.count("call i64 @\"vive.now\"()") == 2 * len(low.kernels.kernels)


def test_trace_json(heavy, tmp_path):
    f, x, w, prof = heavy
    path = prof.save_trace(tmp_path / "t.json")
    with open(path) as fh:
        data = json.load(fh)
    evs = data["traceEvents"]
    spans = [e for e in evs if e["ph"] == "X"]
    calls = [e for e in spans if e["cat"] == "call"]
    kernels = [e for e in spans if e["cat"] == "kernel"]
    names = [k.name for k in prof.kernels]
    assert len(calls) == 12 and len(kernels) == 12 * len(names)
    for c in calls:          # every kernel of every call inside its call, once
        inside = [k for k in kernels if c["ts"] <= k["ts"] and k["ts"] + k["dur"] <= c["ts"] + c["dur"] + 1e-3]
        assert sorted(k["name"] for k in inside) == sorted(names)
        assert all(k["tid"] == c["tid"] and k["pid"] == c["pid"] for k in inside)
    assert all(isinstance(e["ts"], float) and e["dur"] >= 0 for e in spans)
    assert {e["name"] for e in evs if e["ph"] == "M"} >= {"thread_name", "process_name"}
    gemm = next(k for k in kernels if k["args"]["kind"] == "gemm")
    assert gemm["args"]["flops"] == 2 * 384 ** 3


def test_roofline_png(heavy, tmp_path):
    pytest.importorskip("matplotlib")
    f, x, w, prof = heavy
    out = prof.roofline(tmp_path / "roof.png", roofs={"copy_gbps": 20.0, "gemm_gflops": 150.0})
    with open(out, "rb") as fh:
        head = fh.read(8)
    assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(out) > 10_000


def test_machine_roofs_are_measured():
    from runtime import roofs
    r = roofs.measure(copy_bytes=4 << 20, gemm_n=128, reps=2)
    # (no speed asserted: on a busy machine a threaded BLAS call may wait a whole scheduler tick)
    assert all(np.isfinite(v) and v > 0 for v in r.values()) and set(r) == {"copy_gbps", "gemm_gflops"}
    assert roofs.roofs() is not roofs.roofs() and roofs.roofs() == roofs.roofs()       # measured once, copies


def test_flops_counted_from_kernel_ir():
    def f(x, y):
        return np.exp(x) * y + 2.0          # one flat kernel: exp, mul, add per element
    low = cc.compile(f).lower(np.ones((10, 7), np.float32), np.ones((10, 7), np.float32))
    (k,) = low.kernels.kernels
    assert kernel_flops(k) == 3 * 70

    def g(x):
        return x.sum(axis=1)                # one add per element
    (k,) = cc.compile(g).lower(np.ones((5, 9), np.float32)).kernels.kernels
    assert kernel_flops(k) == 45


def test_symbolic_version_profiles_at_the_call_sizes():
    f = cc.compile(lambda x: np.tanh(x) + 1.0)
    f.lower(cc.Spec("f32[N,64]"))
    x = np.ones((100, 64), np.float32)
    prof = f.profile(x, repeat=3)
    (k,) = prof.kernels
    assert k.bytes == 2 * 100 * 64 * 4 and k.flops == 2 * 100 * 64
    assert prof.records[0].dims == (100,)


def test_pytrees_keywords_and_bad_repeat():
    def loss(p, x):
        return ((x @ p["w"] + p["b"]) ** 2).mean()
    f = cc.compile(loss)
    p = {"w": np.ones((8, 4), np.float32), "b": np.zeros(4, np.float32)}
    prof = f.profile(p, x=np.ones((16, 8), np.float32), repeat=2)
    assert prof.calls == 2 and len(prof.kernels) >= 1
    with pytest.raises(ValueError, match="repeat"):
        f.profile(p, np.ones((16, 8), np.float32), repeat=0)


def test_profile_flag_is_in_the_program_table_key(monkeypatch):
    monkeypatch.delenv("VIVE_PROFILE", raising=False)
    plain = _env_key()
    monkeypatch.setenv("VIVE_PROFILE", "x.json")
    assert _env_key() != plain


def test_cuda_launches_without_a_device():
    from compiler.backends.cuda import launch_info
    f = cc.compile(lambda x, w: np.tanh(x @ w).sum(axis=1), backend="cuda")
    x, w = np.ones((64, 32), np.float32), np.ones((32, 16), np.float32)
    low = f.lower(x, w)
    info = launch_info(low.executable)
    assert info.names == [lc.entry for lc in low.launches]
    nbytes, flops = info.sizes(())
    assert flops[0] == 2 * 64 * 32 * 16 and all(b > 0 for b in nbytes)
    if not cc.cuda.available()[0]:
        with pytest.raises(cc.BackendError, match="cuda"):
            f.profile(x, w)


_SCRIPT = textwrap.dedent("""
    import threading
    import numpy as np
    import compiler as cc

    @cc.compile
    def step(x, w):
        return np.tanh(x @ w).sum(axis=0)

    x, w = np.ones((64, 32), np.float32), np.ones((32, 16), np.float32)
    for _ in range(3):
        step(x, w)
    t = threading.Thread(target=lambda: step(x, w), name="worker")
    t.start(); t.join()
""")


def test_vive_profile_env_writes_a_trace(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(_SCRIPT)
    out = tmp_path / "trace.json"
    env = dict(os.environ, VIVE_PROFILE=str(out), VIVE_CACHE_DIR=str(tmp_path / "cache"), VIVE_DEBUG="0",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    spans = [e for e in data["traceEvents"] if e["ph"] == "X"]
    calls = [e for e in spans if e["cat"] == "call"]
    kernels = [e for e in spans if e["cat"] == "kernel"]
    assert len(calls) == 4 and {c["name"] for c in calls} == {"step"}
    assert len(kernels) == 4 * len({k["name"] for k in kernels}) > 0
    assert len({c["tid"] for c in calls}) == 2                    # the main thread and the worker: two tracks
    compiles = [e for e in spans if e["cat"] == "compile"]
    assert {e["name"] for e in compiles} >= {"compile step", "trace step", "llvm"}
    passes = {e["name"] for e in spans if e["cat"] == "pass"}
    assert {"fuse", "plan_memory"} <= passes
    names = {e["args"]["name"] for e in data["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "worker" in names


def test_big_programs_stamp_every_kernel_from_their_entry_parts():
    from compiler.codegen.llvm import ENTRY_PART

    def deep(x, w):
        for _ in range(ENTRY_PART + 6):
            x = np.tanh(x @ w) + 1.0
        return x
    f = cc.compile(deep)
    x, w = np.ones((4, 4), np.float32), np.full((4, 4), 0.1, np.float32)
    prof = f.profile(x, w, repeat=2)
    program = f.lower(x, w).kernels
    assert len(program.kernels) > ENTRY_PART
    assert [k.name for k in prof.kernels] == [k.name for k in program.kernels]
    for r in prof.records:
        flat = r.stamps
        assert all(a <= b for a, b in zip(flat, flat[1:])) and r.t0 <= flat[0] and flat[-1] <= r.t1


class _FakeDriver:
    """The few driver calls _evented_run makes; each event record advances a fake GPU clock by 1.5 ms."""

    class CUresult:
        CUDA_SUCCESS = 0

    class CUevent_flags:
        class CU_EVENT_DEFAULT:
            value = 0

    def __init__(self):
        self.t, self.at, self.n, self.live = 0.0, {}, 0, set()

    def cuEventCreate(self, flags):
        self.n += 1
        self.live.add(self.n)
        return (0, self.n)

    def cuEventRecord(self, e, stream):
        self.t += 1.5
        self.at[e] = self.t
        return (0,)

    def cuEventSynchronize(self, e):
        return (0,)

    def cuEventElapsedTime(self, a, b):
        return (0, self.at[b] - self.at[a])

    def cuEventDestroy(self, e):
        self.live.discard(e)
        return (0,)


def test_cuda_launches_are_stamped_between_events(monkeypatch):
    import runtime.cuda as rcuda
    import compiler.backends.cuda as cb
    f = cc.compile(lambda x, w: np.tanh(x @ w).sum(axis=1), backend="cuda")
    exe = f.lower(np.ones((64, 32), np.float32), np.ones((32, 16), np.float32)).executable
    drv = _FakeDriver()
    monkeypatch.setattr(rcuda, "_device", lambda: type("D", (), {"cu": drv, "stream": 0}))
    launched = []
    monkeypatch.setattr(exe, "_launch_plan", lambda dev, dims: [(None,) * 5 + (lc.entry,) for lc in exe.gpu.launches])
    monkeypatch.setattr(exe, "_launch_list", lambda slots, dims, plan: launched.append(plan[0][5]))
    recs = [cb._evented_run(exe, None, [], ()) for _ in range(3)]
    names = [lc.entry for lc in exe.gpu.launches]
    assert launched == names * 3 and not drv.live                 # every event destroyed
    from compiler.backends.profile import Profile
    prof = Profile(exe.name, recs, [(r.t0, r.t1) for r in recs], backend="cuda")
    assert [k.name for k in prof.kernels] == names
    assert all(k.seconds == pytest.approx(1.5e-3) and k.calls == 3 for k in prof.kernels)
    assert prof.kernels[0].flops == 2 * 64 * 32 * 16
