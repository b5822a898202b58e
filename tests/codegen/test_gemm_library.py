"""The own gemm kernels as a library (backends/gemm_kernels.py): built at their own optimisation levels they compute
what NumPy computes; a program's kernels compile beside the program (runtime.jit.LibraryJob), are cached on disk per
kernel under a key that needs no IR, and a damaged kernel entry is compiled anew."""
import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import runtime
from compiler.ir.types import F32, F64
from compiler.codegen.llvm_gemm import GemmPlan
from compiler.backends import gemm_kernels

# every layout, both formulations, packed and unpacked, both tiles' shapes
_PLANS = [GemmPlan(dt, ta, tb, sw, mr, nv) for dt in (F32, F64) for ta in (False, True) for tb in (False, True)
          for sw, mr, nv in ((False, 6, 4), (True, 16, 1))]
_PLANS += [GemmPlan(dt, False, True, False, 4, 4, True) for dt in (F32, F64)]      # dot-product formulation


@pytest.mark.parametrize("plan", _PLANS, ids=lambda p: p.name())
def test_provided_kernels_match_numpy(plan):
    # the levels the library compiles them at (no IR pipeline for nn and dot kernels, a short one for the other
    # unpacked ones)
    want = (1, 1) if plan.pack else (0, 1) if plan.dot or not (plan.trans_a or plan.trans_b) else ("light", 1)
    assert gemm_kernels.opt_levels(plan) == want
    address = gemm_kernels.provide(plan.name())
    assert address
    dt = np.float32 if plan.dtype is F32 else np.float64
    cf = ctypes.c_float if plan.dtype is F32 else ctypes.c_double
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    f = ctypes.CFUNCTYPE(None, i64, i64, i64, cf, vp, i64, vp, i64, cf, vp, i64)(address)
    rng = np.random.default_rng(3)
    m, n, k = 7, 37, 19                       # row and column tails, a k that is not a multiple of anything
    a = rng.standard_normal((k, m) if plan.trans_a else (m, k)).astype(dt)
    b = rng.standard_normal((n, k) if plan.trans_b else (k, n)).astype(dt)
    c = rng.standard_normal((m, n)).astype(dt)
    want = 0.5 * ((a.T if plan.trans_a else a) @ (b.T if plan.trans_b else b)) + 2.0 * c
    f(m, n, k, 0.5, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], 2.0, c.ctypes.data, n)
    tol = 1e-5 if dt is np.float32 else 1e-12
    np.testing.assert_allclose(c, want, rtol=tol, atol=tol)


def test_library_keys_differ_by_codegen_level_and_need_no_ir():
    plan = _PLANS[0]
    job = gemm_kernels._job(plan.name(), plan)
    assert plan.name() in job.key_text and "define" not in job.key_text
    other = gemm_kernels._job(_PLANS[1].name(), _PLANS[1])
    assert job.key() != other.key()
    assert runtime.jit.cache_key("x", opt=0, codegen_opt=1) != runtime.jit.cache_key("x", opt=0)
    assert runtime.jit.cache_key("x", opt=3, codegen_opt=3) == runtime.jit.cache_key("x", opt=3)


_CHILD = r"""
import json, sys, warnings
import numpy as np
import compiler as cc
from compiler.backends import gemm_kernels
from runtime import jit_library
alone, made, started = [], [], []
compile_library = jit_library.compile_library
jit_library.compile_library = lambda job: alone.append(job.key_text) or compile_library(job)
prefetch = jit_library.prefetch
jit_library.prefetch = lambda job: (prefetch(job) and started.append(job.key_text.split()[0])) or False
module_ir = gemm_kernels._module_ir
gemm_kernels._module_ir = lambda plan: made.append(plan.name()) or module_ir(plan)
rng = np.random.default_rng(0)
p = {"w1": rng.standard_normal((30, 20)).astype(np.float32), "w2": rng.standard_normal((20, 24)).astype(np.float32)}
x = rng.standard_normal((16, 30)).astype(np.float32)

def loss(p, x):
    return np.sum(np.tanh(x @ p["w1"]) @ p["w2"])

f = cc.compile(cc.value_and_grad(loss))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    value, g = f(p, x)
h = np.tanh(x @ p["w1"])
dh = np.ones((16, 24), np.float32) @ p["w2"].T * (1 - h * h)
np.testing.assert_allclose(value, np.sum(h @ p["w2"]), rtol=1e-4)
np.testing.assert_allclose(g["w2"], h.T @ np.ones((16, 24), np.float32), rtol=1e-4, atol=1e-4)
np.testing.assert_allclose(g["w1"], x.T @ dh, rtol=1e-4, atol=1e-4)
mods = gemm_kernels._MODULES
print(json.dumps({"alone": alone, "made": sorted(made), "kernels": sorted(mods), "started": sorted(started),
                  "hits": {n: cm.cache_hit for n, cm in mods.items()},
                  "keys": {n: cm.key for n, cm in mods.items()},
                  "damaged": [str(w.message) for w in caught if "damaged" in str(w.message)]}))
"""


def _child(cache_dir, threads):
    env = dict(os.environ, VIVE_CACHE_DIR=str(cache_dir), VIVE_GEMM="own", PYTHONPATH=os.pathsep.join(sys.path),
               VIVE_COMPILE_THREADS=str(threads))
    env.pop("VIVE_DEBUG", None)
    r = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("threads", [1, 2])
def test_program_kernels_compile_beside_it_and_come_back_from_the_disk_cache(tmp_path, threads):
    first = _child(tmp_path, threads)
    kernels = first["kernels"]
    assert len(kernels) >= 2 and all(k.startswith("vive.gemm.f32.") for k in kernels)
    # with a spare core each kernel starts compiling when the program declares it, else beside the program's parts:
    # never on its own when the program loads; each IR written once
    assert first["started"] == (kernels if threads > 1 else [])
    assert first["alone"] == [] and first["made"] == kernels and not any(first["hits"].values())
    # a fresh process finds every kernel on disk without writing its IR (and starts none early)
    second = _child(tmp_path, threads)
    assert second["kernels"] == kernels and second["made"] == [] and all(second["hits"].values())
    assert second["started"] == [] and second["alone"] == []
    # a damaged kernel entry is reported, compiled anew (its IR written again) and the results are still right
    victim = kernels[0]
    path = runtime.cache.entry_path(first["keys"][victim], str(tmp_path))
    with open(path, "r+b") as fh:
        fh.seek(-8, os.SEEK_END)
        fh.write(b"\0garbage")
    third = _child(tmp_path, threads)
    assert third["made"] == [victim] and not third["hits"][victim]
    assert any("checksum" in w for w in third["damaged"])


_EXIT_CHILD = r"""
from compiler.backends import gemm_kernels
from compiler.backends.build import _blas
from runtime import jit_library
_blas()                                      # installs the library
for name in ("vive.gemm.f32.nn.d16x1", "vive.gemm.f32.tn.d6x4", "vive.gemm.f32.nt.s16x1p"):
    gemm_kernels.prefetch(name)
assert len(jit_library._PREFETCHED) == 3
print("exiting")
"""


def test_exit_while_kernels_compile_in_the_background_is_clean(tmp_path):
    """A process that ends while prefetched kernels compile (no program ever took them) exits normally."""
    env = dict(os.environ, VIVE_CACHE_DIR=str(tmp_path), VIVE_COMPILE_THREADS="2",
               PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", _EXIT_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "exiting", r.stderr[-3000:]


_PROVIDE_CHILD = r"""
import ctypes
import numpy as np
from compiler.backends import gemm_kernels
from compiler.backends.build import _blas
_blas()
made = []
module_ir = gemm_kernels._module_ir
gemm_kernels._module_ir = lambda plan: made.append(plan.name()) or module_ir(plan)
name = "vive.gemm.f64.nn.d6x4"
gemm_kernels.prefetch(name)
address = gemm_kernels.provide(name)          # takes the prefetched job (waits for it or compiles it here)
assert made == [name], made
i64, vp, cd = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
f = ctypes.CFUNCTYPE(None, i64, i64, i64, cd, vp, i64, vp, i64, cd, vp, i64)(address)
a, b = np.arange(15.0).reshape(3, 5), np.arange(10.0).reshape(5, 2)
c = np.zeros((3, 2))
f(3, 2, 5, 1.0, a.ctypes.data, 5, b.ctypes.data, 2, 0.0, c.ctypes.data, 2)
np.testing.assert_allclose(c, a @ b)
print("ok")
"""


def test_a_kernel_asked_for_while_it_is_prefetched_is_made_once(tmp_path):
    env = dict(os.environ, VIVE_CACHE_DIR=str(tmp_path), VIVE_COMPILE_THREADS="2",
               PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", _PROVIDE_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_all_plans_cover_every_choice_of_plan_gemm():
    # the library `vive warm` compiles is every kernel a program can declare: plan_gemm over layouts, dtypes and
    # shapes from batch-16 layers to long-k weight gradients picks none outside it
    from compiler.codegen.llvm_gemm import all_plans, plan_gemm, plan_from_name
    library = set(all_plans())
    assert len({p.name() for p in library}) == len(library)
    assert all(plan_from_name(p.name()) == p for p in library)
    seen = set()
    dims = (1, 6, 16, 37, 128, 256, 784, 6400)
    for dt in (F32, F64):
        for ta in (False, True):
            for tb in (False, True):
                for m in dims:
                    for n in dims:
                        for k in dims:
                            plan = plan_gemm(dt, ta, tb, m, n, k, force=True)
                            assert plan in library, plan.name()
                            seen.add(plan)
    assert len(seen) >= len(library) // 2      # the shapes reach both tiles and formulations, not one kernel


def test_vive_warm_fills_the_cache_and_programs_then_compile_no_kernel(tmp_path):
    env = dict(os.environ, VIVE_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "warm"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    from compiler.codegen.llvm_gemm import all_plans
    n = len(all_plans())
    assert f"{n} kernels in" in r.stderr and f"({n} compiled now)" in r.stderr
    for plan in all_plans():
        assert runtime.cache.entry_exists(gemm_kernels._job(plan.name(), plan).key(), str(tmp_path)), plan.name()
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "warm"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0 and "(0 compiled now)" in r.stderr, r.stderr
    # a program's first compile then loads its kernels: nothing is compiled beside it, and it computes the product
    child = r"""
import json, numpy as np, compiler as cc
from compiler.backends import gemm_kernels
f = cc.compile(lambda a, b: np.tanh(a @ b))
a = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
b = np.random.default_rng(1).standard_normal((300, 96)).astype(np.float32)
low = f.lower(a, b)
err = float(np.abs(f(a, b) - np.tanh(a @ b)).max())
print(json.dumps({"kernels": sorted(gemm_kernels._MODULES), "hits": [m.cache_hit for m in gemm_kernels._MODULES.values()], "err": err}))
"""
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["kernels"] and all(out["hits"]), out
    assert out["err"] < 1e-4


def test_vive_warm_with_the_cache_off_says_so():
    env = dict(os.environ, VIVE_CACHE_DIR="")
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "warm"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and "cache is off" in r.stderr
