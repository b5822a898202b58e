"""`import compiler` leaves sympy, llvmlite and networkx unimported (compiler/lazy.py, runtime/__init__.py's lazy
names): they load when a symbolic size, a compile or a graph export first needs them. Checked in a fresh process,
by what is in sys.modules, not by time."""
import subprocess
import sys

import compiler as cc

HEAVY = ("sympy", "llvmlite", "networkx")


def _loaded_after(code):
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nprint(','.join(m for m in {HEAVY!r} "
                          f"if m in sys.modules) + '.')"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(filter(None, out.stdout.strip().splitlines()[-1].rstrip(".").split(",")))


def test_import_compiler_loads_no_heavy_module():
    assert _loaded_after("import compiler") == set()


def test_heavy_modules_load_when_used():
    # a compile needs llvmlite; a symbolic Spec needs sympy; the answers are still right
    code = ("import numpy as np, compiler as cc\n"
            "f = cc.compile(lambda x: x * 2 + 1)\n"
            "assert np.array_equal(f(np.arange(4.0)), np.arange(4.0) * 2 + 1)\n"
            "g = cc.trace(lambda x: x.sum(0), cc.Spec('f32[N,3]'))\n"
            "assert 'N' in str(g)")
    assert {"llvmlite", "sympy"} <= _loaded_after(code)


def test_lazy_module_proxy_behaves_like_the_module():
    from compiler.lazy import LazyModule, sympy
    import sympy as real
    n = sympy.Symbol("n")
    assert isinstance(n, real.Symbol) and sympy.Integer is real.Integer
    assert LazyModule("json").dumps([1]) == "[1]"
    try:
        LazyModule("json").no_such_name
    except AttributeError:
        pass
    else:
        raise AssertionError("a missing attribute must raise AttributeError")
    d = cc.trace(lambda x: x + 1, cc.Spec("f32[N]")).outputs[0].type.shape[0]
    assert isinstance(d, real.Symbol) and str(d) == "N"


def test_concrete_shapes_compile_without_sympy():
    """sympy is for symbolic sizes: tracing, lowering and running a value_and_grad with concrete shapes never
    imports it (it would add its import time to the first compile of every process)."""
    code = ("import numpy as np, compiler as cc\n"
            "def loss(w, x):\n"
            "    h = np.tanh(x @ w['a'] + w['b'])\n"
            "    return (h.sum(axis=1) ** 2).mean()\n"
            "r = np.random.default_rng(0)\n"
            "w = {'a': r.standard_normal((5, 3)).astype(np.float32), 'b': np.zeros(3, np.float32)}\n"
            "x = r.standard_normal((4, 5)).astype(np.float32)\n"
            "v, g = cc.compile(cc.value_and_grad(loss))(w, x)\n"
            "assert 'sympy' not in sys.modules\n"
            "np.testing.assert_allclose(v, loss(w, x), rtol=1e-5)\n"
            "v2, g2 = cc.value_and_grad(loss)(w, x)\n"
            "np.testing.assert_allclose(g['a'], g2['a'], rtol=1e-4, atol=1e-5)")
    _loaded_after(code)
