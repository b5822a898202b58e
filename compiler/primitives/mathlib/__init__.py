"""Scalar math written once for every target: the primitives' `scalar` rules call these, the CPU (codegen/llvm.py)
and the GPU (codegen/ptx.py) emit them through their own scalar builder.

The builder `b` a routine gets (codegen/scalar_builder.py implements it for LLVM IR, CPU and NVPTX alike) offers:
  b.ty(x)                  the float type of x: .bits .mant .bias, .f(c) / .i(c) constants of x's float / same-width
                           integer type (vectors splat), .ty / .ity the types themselves, .wide() the f64 descriptor
  b.fadd fsub fmul fdiv fneg, add sub mul sdiv srem udiv and_ or_ xor not_ shl lshr ashr,
  b.fcmp_ordered / fcmp_unordered / icmp_signed / icmp_unsigned (op, a, b), b.select(c, a, b),
  b.bitcast zext sext trunc sitofp uitofp fptosi fpext fptrunc (v, type)      LLVM's instruction vocabulary
  b.fma(a, x, c)           a*x + c, fused where the target has FMA (polynomials)
  b.fma_exact(a, x, c)     a*x + c rounded once, always (exact range reductions)
  b.fabs(x), b.sqrt(x)     one instruction on every target (sqrt correctly rounded)
  b.exp(x)                 the target's exp core (this library's exp, or a faster native form on a GPU)
  b.fast_f64               False where f64 arithmetic is slow (GPUs): f32 routines then stay in f32
  b.repeat_until(v, step, name)   a scalar loop: v = step(v)[0] until step(v)[1] (fmod)
Routines are straight-line code (no libm calls, no branches except fmod's loop), so the CPU loop vectoriser widens
loops that use them, and work on float, double or vectors of either.

Measured on znver5 (AVX-512, zmm) over 1M points per function spanning its useful range plus special values, vs
NumPy's float64 result for the same input. f32 figure = max |got - exact| / ulp (correctly rounded scores 0.5):

    fn        f32 max ulp   f64 max rel   notes
    exp       0.99          3.2e-16       denormal results rounded once (not flushed); inf/0 past the clamp
    log       0.82          2.2e-16       all positive floats, denormal inputs included
    tanh      2.49          4.0e-16       relative accuracy also for tiny x (f32: one expm1-based path)
    logistic  2.37          5.1e-16       relative accuracy in both tails (e^x/(1+e^x) for x < 0)
    sin, cos  1.54          3.1e-16       whole range |x| <= 2^27*pi/2 ~ 2.1e8 (both dtypes), NaN beyond
    pow       0.50          2.2e-14       f32 via f64; f64 error ~ |y ln x| * 1.1e-16 (here |y ln x| <= ~180)
    sqrt 0.5; abs, sign, maximum, minimum exact
Against the float64 truth rounded to the dtype (tests/test_elementwise_coverage.py), max ulp f32 / f64:
rint/floor/ceil/trunc 0 / 0 (-0 kept, NaN/inf pass), atan2 2 / 2 (C99 special cases), erf 1 / 2, fmod 0 / 0;
erfc relative ~x^2 eps in the right tail (the primitive erfinv's f64 Newton steps use it: <= 3 ulp to +-1).

ns/element (f32, 1 thread, same machine; benchmarks/bench_llvm_math.py, 64K / 4M elements, NumPy in brackets):
exp 0.18 [0.30], log 0.31 [0.22], tanh 0.14 [0.17], logistic 0.14 [0.47], sin 0.32 [0.56], cos 0.30 [0.38],
pow 2.6 [0.39]; f64: exp 0.50 [0.58], log 0.74 [0.56], sin 0.51 [13.8], pow 2.7 [1.3].

Polynomials are in Horner's form: these loops are bound by vector-op issue, not latency (independent iterations
overlap), and on znver4 Horner beat Estrin (two multiplies more) by 5% (tanh) and 10% (logistic). Division stays a
division: a reciprocal estimate plus Newton step measured slower there (the divider runs beside the FMA pipes).
cc.compile(fast_math=True) selects the cheaper f32 forms of fast.py (bounds there).

Caveats:
  * sin/cos: Cody-Waite reduction by pi/2 with parts of 26 significant bits (k*part exact for |k| < 2^27), done in
    f64 for f32 inputs. Past |x| > 2^27*pi/2 the result is NaN (NumPy returns an accurate value there).
    inf -> NaN, NaN -> NaN, sin(-0) = -0. Where f64 is slow (b.fast_f64 false) f32 inputs are reduced in f32 by
    three exact fmas: a few ulp while |x| < ~1e5, NaN past 2^21*pi/2.
  * pow: f32 pow is exp(y*log|x|) evaluated in float64 (<= 1 ulp) and therefore slow (2.6 ns/el). f64 pow uses the
    plain float64 product y*log|x|, so its relative error is about |y ln x| * 1.1e-16 (~8e-14 next to overflow);
    no double-double. All C99/NumPy special cases are exact: x**0 = 1 even for NaN x, 1**y = 1 even for NaN y,
    (-1)**+-inf = 1, negative base with an integral exponent (odd -> negative), signed zeros and infinities,
    negative finite base with a non-integral exponent -> NaN.
    TODO: a cheaper f32 pow (lower-degree f64 polynomials suffice for 24 bits).
  * Denormals are computed, not flushed (exp of very negative x, log of denormals, logistic tails), unless the
    CPU runs with FTZ/DAZ set in MXCSR. f64 exp results below 2^-1022 are accurate to the denormal spacing only.
  * maximum/minimum follow np.maximum/np.minimum: NaN in either input gives NaN, and for equal inputs (+0 vs -0)
    the second argument is returned. Built from fcmp+select: llvm.maximum is avoided on purpose because its
    lowering differs per target and an unselectable intrinsic aborts the process.
  * Polynomials use b.fma (llvm.fmuladd), so results can differ in the last bit between FMA and non-FMA CPUs; range
    reductions use plain fmul/fsub (no contraction) and are exact either way.
"""
from .exp_log import exp, log, tanh, logistic, pow, maximum, minimum, sign  # noqa: F401
from .trig import sin, cos, atan2  # noqa: F401
from .special import rint, floor, ceil, trunc, erf, erfc, fmod  # noqa: F401
from .integer import floordiv, ipow  # noqa: F401
