"""compiler/codegen/llvm_math.py: accuracy vs NumPy, special values, and that loops using it vectorise without calls.

Each function is wrapped in a scalar loop kernel `void k(T* x, [T* y,] T* out, i64 n)` (auto-vectorised) and an
explicit-vector kernel over <16 x float> / <8 x double>, JIT-compiled here with llvmlite directly.
"""

import ctypes
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from llvmlite import ir
import llvmlite.binding as llvm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from compiler.codegen import llvm_math as lm  # noqa: E402
from runtime.jit import _inline_vector_variants  # noqa: E402

UNARY = ["exp", "log", "tanh", "logistic", "sin", "cos", "sqrt", "abs", "sign"]
BINARY = ["pow", "maximum", "minimum"]
LANES = {np.float32: 16, np.float64: 8}

# measured maxima (see the module docstring) with a little headroom
# (|got - exact| / ulp, so a correctly rounded result scores <= 0.5 and a faithful one < 1)
F32_ULP = {"exp": 1.5, "log": 1.0, "tanh": 3.0, "logistic": 2.5, "sin": 2.0, "cos": 2.0, "pow": 1.0,
           "sqrt": 0.5, "abs": 0, "sign": 0, "maximum": 0, "minimum": 0}
F64_REL = 1e-13
F64_REL_POW = 1e-13


def _logistic64(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


REF = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "logistic": _logistic64, "sin": np.sin, "cos": np.cos,
       "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "pow": np.power, "maximum": np.maximum,
       "minimum": np.minimum}


# --- tiny JIT helper ---------------------------------------------------------------------------------------------

def _tm():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    feats = llvm.get_host_cpu_features().flatten() + ",-prefer-256-bit"
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=feats, opt=3, jit=True)


def _build(fname, dtype, vector):
    """IR module with `k(x, [y,] out, n)`: loop over n elements (or n/lanes vectors) applying lm.<fname>."""
    el = ir.FloatType() if dtype == np.float32 else ir.DoubleType()
    ty = ir.VectorType(el, LANES[dtype]) if vector else el
    nin = 2 if fname in BINARY else 1
    mod = ir.Module(name=f"{fname}_{dtype.__name__}")
    ptr = ir.PointerType()
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr] * (nin + 1) + [ir.IntType(64)]), "k")
    for a in fn.args[:-1]:
        a.add_attribute("noalias")
    *ins, out, n = fn.args
    entry, loop, done = fn.append_basic_block("entry"), fn.append_basic_block("loop"), fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    count = b.udiv(n, ir.Constant(n.type, LANES[dtype])) if vector else n
    b.cbranch(b.icmp_signed(">", count, ir.Constant(n.type, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(n.type)
    i.add_incoming(ir.Constant(n.type, 0), entry)
    align = np.dtype(dtype).itemsize   # numpy only guarantees element alignment, not the vector's
    args = [b.load(b.gep(p, [i], source_etype=ty), typ=ty, align=align) for p in ins]
    b.store(getattr(lm, fname)(b, *args), b.gep(out, [i], source_etype=ty), align=align)
    nxt = b.add(i, ir.Constant(n.type, 1))
    i.add_incoming(nxt, b.block)      # the math may have added blocks (a rare branch)
    b.cbranch(b.icmp_signed("<", nxt, count), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(mod)


@lru_cache(maxsize=None)
def _compile(fname, dtype, vector):
    """(callable, optimised asm). Fresh TM per engine: MCJIT owns it."""
    m = llvm.parse_assembly(_build(fname, dtype, vector))
    m.verify()
    tm = _tm()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(m, pb)
    _inline_vector_variants(m, pb)                 # as runtime/jit.py does after its pipeline
    asm = _tm().emit_assembly(m)
    ee = llvm.create_mcjit_compiler(m, tm)
    ee.finalize_object()
    nin = 2 if fname in BINARY else 1
    cfn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (nin + 1), ctypes.c_int64)(ee.get_function_address("k"))
    cfn._keep = (ee, m)
    return cfn, asm


def run(fname, *xs, vector=False):
    """Apply lm.<fname> to numpy arrays through the JIT; the vector kernel pads to a multiple of the lane count."""
    dtype = xs[0].dtype.type
    fn, _ = _compile(fname, dtype, vector)
    n = xs[0].size
    pad = (-n) % LANES[dtype] if vector else 0
    ins = [np.ascontiguousarray(np.concatenate([x.ravel(), np.ones(pad, x.dtype)])) for x in xs]
    out = np.empty(n + pad, dtype)
    fn(*[a.ctypes.data for a in ins], out.ctypes.data, n + pad)
    return out[:n].reshape(xs[0].shape)


def ulp_error(got, x_args, fname):
    """Max |got - ref| in float32 ulps of the (float64-computed) reference."""
    with np.errstate(all="ignore"):
        ref = REF[fname](*[a.astype(np.float64) for a in x_args])
        ref32 = ref.astype(np.float32)
    both_nan = np.isnan(got) & np.isnan(ref32)
    same_inf = np.isinf(ref32) & (got == ref32)
    assert not np.any(np.isnan(got) != np.isnan(ref32)), "NaN mismatch"
    ok = ~(both_nan | same_inf)
    spacing = np.spacing(np.abs(ref32[ok]).astype(np.float32)).astype(np.float64)
    err = np.abs(got[ok].astype(np.float64) - ref[ok]) / spacing
    return float(err.max()) if err.size else 0.0


def rel_error(got, ref):
    fin = np.isfinite(ref) & (ref != 0)
    assert np.array_equal(np.isnan(got), np.isnan(ref)), "NaN mismatch"
    assert np.array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    # denormal results are held to the denormal spacing, not to their own (few-bit) precision
    scale = np.maximum(np.abs(ref[fin]), np.finfo(ref.dtype).tiny)
    return float(np.max(np.abs(got[fin] - ref[fin]) / scale)) if fin.any() else 0.0


# --- inputs ------------------------------------------------------------------------------------------------------

def inputs(fname, dtype, n, seed=0):
    """Points spanning each function's useful range, in dtype."""
    rng = np.random.default_rng(seed)
    u = lambda lo, hi: rng.uniform(lo, hi, n)                         # noqa: E731
    logu = lambda lo, hi: np.exp(rng.uniform(np.log(lo), np.log(hi), n)) * rng.choice([-1, 1], n)  # noqa: E731
    big = 88.0 if dtype == np.float32 else 709.0
    if fname == "exp":
        x = np.concatenate([u(-big - 15, big), u(-1, 1), logu(1e-30, 1)])
    elif fname == "log":
        x = np.concatenate([np.abs(logu(1e-45 if dtype == np.float32 else 1e-320, 1e38)), u(0.5, 2)])
    elif fname in ("tanh", "logistic"):
        x = np.concatenate([u(-20, 20), logu(1e-30, 100), u(-1, 1)])
    elif fname in ("sin", "cos"):
        x = np.concatenate([u(-10, 10), u(-1e5, 1e5), logu(1e-30, 2e8)])
    elif fname == "sqrt":
        x = np.abs(logu(1e-30, 1e30))
    else:
        x = np.concatenate([u(-10, 10), logu(1e-30, 1e30)])
    x = x.astype(dtype)
    if fname == "pow":
        lim = 50.0  # keep |y ln x| moderate: the f64 bound is relative to it
        xb = np.abs(logu(1e-6, 1e6)).astype(dtype)
        yb = (rng.uniform(-1, 1, n) * lim / np.maximum(np.abs(np.log(xb.astype(np.float64))), 1.0)).astype(dtype)
        yi = rng.integers(-20, 21, n).astype(dtype)                      # negative bases with integral y
        xi = u(-3, 3).astype(dtype)
        return np.concatenate([xb, xi]), np.concatenate([yb, yi])
    if fname in BINARY:
        return x, rng.permutation(x)
    return (x,)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1e-40, 1e-300,
                    -1e-300, 1e300, 100.0, -100.0, 1000.0, -1000.0, 1e-8, -1e-8])


# --- tests -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fname", UNARY + BINARY)
def test_f32_ulp(fname):
    xs = inputs(fname, np.float32, 300_000)
    got = run(fname, *xs)
    assert ulp_error(got, xs, fname) <= F32_ULP[fname]
    np.testing.assert_array_equal(run(fname, *xs, vector=True), got)


@pytest.mark.parametrize("fname", UNARY + BINARY)
def test_f64_rel(fname):
    xs = inputs(fname, np.float64, 100_000)
    got = run(fname, *xs)
    with np.errstate(all="ignore"):
        ref = REF[fname](*xs)
    assert rel_error(got, ref) <= (F64_REL_POW if fname == "pow" else F64_REL)
    np.testing.assert_array_equal(run(fname, *xs, vector=True), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fname", UNARY + BINARY)
def test_special_values_exact(fname, dtype):
    with np.errstate(over="ignore"):
        s = SPECIAL.astype(dtype)                         # 1e300 -> inf in f32
    xs = (np.repeat(s, s.size), np.tile(s, s.size)) if fname in BINARY else (s,)
    with np.errstate(all="ignore"):
        ref = REF[fname](*[a.astype(np.float64) for a in xs]).astype(dtype)
    got = run(fname, *xs)
    bad = ~((got == ref) | (np.isnan(got) & np.isnan(ref)))
    if fname not in ("abs", "sqrt", "sign", "maximum", "minimum"):
        # only the IEEE corner cases must be exact; finite results are held to the accuracy tests
        corner = ~np.isfinite(ref) | (ref == 0) | (np.abs(ref) == 1) | np.any([~np.isfinite(a) | (a == 0)
                                                                                for a in xs], axis=0)
        bad &= corner
    assert not bad.any(), f"{fname}{[a[bad] for a in xs]} -> {got[bad]}, numpy {ref[bad]}"
    assert np.array_equal(np.signbit(got[ref == 0]), np.signbit(ref[ref == 0])), "sign of zero"


def test_exp_overflow_underflow_and_denormals():
    x = np.array([88.7, 88.8, 200, -87.0, -100.0, -103.0, -104.0, -200], np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(run("exp", x), np.exp(x.astype(np.float64)).astype(np.float32))
        x = np.array([709.7, 709.8, -708.0, -740.0, -745.1, -746.0], np.float64)
        np.testing.assert_allclose(run("exp", x), np.exp(x), rtol=1e-13, atol=0)


def test_small_arguments_are_relatively_accurate():
    for dtype in (np.float32, np.float64):
        x = np.array([1e-3, 1e-7, 1e-20, -1e-30, 1e-38], dtype)
        rtol = 1.2e-7 if dtype == np.float32 else 1e-15
        np.testing.assert_allclose(run("tanh", x), np.tanh(x.astype(np.float64)), rtol=rtol, atol=0)
        np.testing.assert_allclose(run("sin", x), np.sin(x.astype(np.float64)), rtol=rtol, atol=0)
        x = np.array([-50.0, -80.0, -85.0], dtype)          # results still normal in f32
        np.testing.assert_allclose(run("logistic", x), _logistic64(x.astype(np.float64)),
                                   rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)


def test_sin_past_the_cody_waite_range_is_exactly_reduced():
    # beyond 2^27 pi/2 the rare out-of-line Payne-Hanek path (tests/test_trig_huge.py covers it in depth); inf: NaN
    for dtype in (np.float32, np.float64):
        x = np.array([3e8, -1e30, 3.4e38, 1e22, np.inf], dtype)
        for fname in ("sin", "cos"):
            for vector in (False, True):
                got = run(fname, x, vector=vector)
                want = REF[fname](x.astype(np.float64))
                assert np.isnan(got[-1])
                np.testing.assert_allclose(got[:-1], want[:-1], rtol=2e-7 if dtype == np.float32 else 5e-16, atol=0)


_CALL = re.compile(r"^\s*call", re.M)
_IR_CALL = re.compile(r"call [^\n]*@\"?([\w.]+)")


def _optimised_ir(fname, dtype):
    m = llvm.parse_assembly(_build(fname, dtype, False))
    pb = llvm.create_pass_builder(_tm(), llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(m, pb)
    return str(m)


@pytest.mark.parametrize("fname", ["exp", "log", "tanh", "logistic", "sin", "cos", "pow", "maximum", "sign"])
def test_vectorised_loop_has_no_calls(fname):
    for dtype in (np.float32, np.float64):
        _, asm = _compile(fname, dtype, False)
        body = asm[asm.index("k:"):]
        assert "zmm" in body or "ymm" in body, f"{fname} {dtype.__name__}: loop not vectorised"
        if fname not in ("sin", "cos"):
            assert not _CALL.search(body), f"{fname} {dtype.__name__}: " + _CALL.search(body).group(0)
            continue
        # sin/cos: the only calls are to the out-of-line huge-argument reduction (its masked vector variant)
        ir_text = _optimised_ir(fname, dtype)
        k = ir_text[ir_text.index("@k("):]
        k = k[:k.index("\n}")]
        callees = set(_IR_CALL.findall(k)) - {n for n in _IR_CALL.findall(k) if n.startswith("llvm.")}
        # (the scalar remainder loop calls the scalar entry, _rare, itself)
        assert all(re.fullmatch(rf"vive_{fname}_huge_f\d+(_rare|_v\d+)?", c) for c in callees), callees
        assert any(re.fullmatch(rf"vive_{fname}_huge_f\d+_v\d+", c) for c in callees), callees


def test_baseline_x86_64_codegen_has_no_calls():
    """Every function must also select on plain SSE2 x86-64 (no FMA/AVX): in a subprocess, as LLVM aborts."""
    script = f"""
import re, sys
sys.path[:0] = [{str(Path(__file__).resolve().parent)!r}]
import numpy as np, llvmlite.binding as llvm
import test_llvm_math as T
llvm.initialize_native_target(); llvm.initialize_native_asmprinter()
for f in T.UNARY + T.BINARY:
    for dt in (np.float32, np.float64):
        for vec in (False, True):
            m = llvm.parse_assembly(T._build(f, dt, vec))
            tm = llvm.Target.from_default_triple().create_target_machine(cpu="x86-64", features="", opt=3)
            pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
            pb.getModulePassManager().run(m, pb)
            asm = tm.emit_assembly(m)
            # sin/cos call their own out-of-line huge-argument path; nothing else may need a call
            assert f in ("sin", "cos") or not re.search(r"^\\s*call", asm, re.M), (f, dt, vec)
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
