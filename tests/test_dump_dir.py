"""VIVE_DUMP_DIR end to end: a real compile writes every stage, numbered in pipeline order, and the LLVM IR
in the dump is the IR the JIT compiled (also when the program comes from the disk cache)."""
import os
import re

import numpy as np
import pytest

import compiler as cc

pytestmark = pytest.mark.skipif(not callable(getattr(cc, "compile", None)), reason="CPU backend not landed yet")


def chain(x, a, b):
    return np.tanh(x * a + b) * (1 / (1 + np.exp(-x))) + 0.5 * x * x * 1.0


@pytest.fixture
def jit_inputs(monkeypatch):
    """Record every LLVM IR text handed to the JIT."""
    import sys
    comp = sys.modules["compiler.backends.build"]      # (cc.compile, the function, shadows the package name)
    seen = []
    real = comp.runtime.compile_module

    def spy(ir, *a, **k):
        seen.append(ir)
        return real(ir, *a, **k)
    monkeypatch.setattr(comp.runtime, "compile_module", spy)
    return seen


def _files(d):
    subs = os.listdir(d)
    assert len(subs) == 1, subs
    path = os.path.join(d, subs[0])
    return path, sorted(os.listdir(path))


def test_dump_dir_has_every_stage_in_order(tmp_path, monkeypatch, jit_inputs):
    monkeypatch.setenv("VIVE_DUMP_DIR", str(tmp_path / "dump"))
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path / "cache"))
    f = cc.compile(chain)
    x = np.linspace(-2, 2, 64).astype(np.float32)
    out = f(x, np.full(64, 2, np.float32), np.ones(64, np.float32))
    np.testing.assert_allclose(out, chain(x, 2.0, 1.0), rtol=1e-5, atol=1e-6)
    path, files = _files(tmp_path / "dump")
    assert re.fullmatch(r"chain-[0-9a-f]{10}", os.path.basename(path))
    numbered = [fn for fn in files if fn != "summary.txt"]
    nums = [int(fn.split("_")[0]) for fn in numbered]
    assert nums == list(range(len(numbered)))                       # 00, 01, ... no gaps
    stages = [re.sub(r"^\d+_", "", os.path.splitext(fn)[0]) for fn in numbered]
    from compiler.passes import GENERIC_PIPELINE
    assert stages[0] == "traced"
    assert stages[1:1 + len(GENERIC_PIPELINE)] == [p.name for p in GENERIC_PIPELINE]
    for later in ("kernels", "llvm", "asm"):
        assert later in stages
    assert stages.index("kernels") < stages.index("llvm") < stages.index("asm")
    assert files[-1] == "summary.txt" or "summary.txt" in files
    read = lambda n: open(os.path.join(path, n)).read()     # noqa: E731
    ll = [fn for fn in numbered if fn.endswith("_llvm.ll")][0]
    assert read(ll).rstrip("\n") == jit_inputs[-1].rstrip("\n")  # the IR that ran
    assert "define " in read(ll)
    assert [fn for fn in numbered if fn.endswith(".s")]
    traced = read(numbered[0])
    assert traced.startswith("graph chain(") and "tanh" in traced and "test_dump_dir.py:" in traced
    summary = read("summary.txt")
    assert "function: chain" in summary and "kernels: 1" in summary and "bytes moved" in summary
    for p in GENERIC_PIPELINE:
        assert p.name in summary


def test_dump_dir_on_disk_cache_hit_shows_the_cached_ir(tmp_path, monkeypatch, jit_inputs):
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path / "cache"))
    x = np.ones((3, 4), np.float32)
    cc.compile(chain)(x, x, x)                  # fills the disk cache
    monkeypatch.setenv("VIVE_DUMP_DIR", str(tmp_path / "dump"))
    jit_inputs.clear()
    g = cc.compile(chain)                        # a fresh function object: program comes from the cache
    g(x, x, x)
    path, files = _files(tmp_path / "dump")
    ll = [fn for fn in files if fn.endswith("_llvm.ll")][0]
    assert open(os.path.join(path, ll)).read().rstrip("\n") == jit_inputs[-1].rstrip("\n")
    assert any(fn.endswith("_eliminate_dead_code.txt") for fn in files)


def test_no_dump_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("VIVE_DUMP_DIR", raising=False)
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cc.compile(chain)(np.ones(4, np.float32), np.ones(4, np.float32), np.ones(4, np.float32))
    assert sorted(os.listdir(tmp_path)) == ["cache"]


def test_dump_dir_cuda_backend_writes_ptx(tmp_path, monkeypatch):
    try:
        f = cc.compile(chain, backend="cuda")
    except cc.ViveError:
        pytest.skip("CUDA backend not available in this build")
    monkeypatch.setenv("VIVE_DUMP_DIR", str(tmp_path / "dump"))
    low = f.lower(cc.Spec("f32[N]"), cc.Spec("f32[N]"), cc.Spec("f32[N]"))     # needs no GPU
    path, files = _files(tmp_path / "dump")
    ptx = [fn for fn in files if fn.endswith(".ptx")]
    assert len(ptx) == 1 and ptx[0] == files[-2]          # the last stage, before summary.txt
    text = open(os.path.join(path, ptx[0])).read()
    assert ".entry" in text and ".target sm_" in text and text.rstrip("\n") == low.ptx().rstrip("\n")
