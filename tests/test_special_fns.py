"""The SciPy compositions (compiler/special_fns.py, bessel.py, stats.py, signal.py, scipy_wrap.py) against SciPy
in float64 over wide ranges and edge values, compiled against eager, and the wrapping of SciPy's functions."""
import math

import numpy as np
import pytest
import scipy.signal
import scipy.special as S
import scipy.stats

import compiler as cc
from compiler import bessel as B
from compiler import special_fns as F
from compiler import stats as ST
from compiler.errors import TraceError

_RNG = np.random.default_rng(7)


def _agree(got, want, tol):
    """Equal NaN/inf pattern, and min(absolute, relative) error <= tol everywhere else."""
    got, want = np.broadcast_arrays(np.asarray(got, np.float64), np.asarray(want, np.float64))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    g, w = got[fin], want[fin]
    d = np.abs(g - w)
    err = np.minimum(d, d / np.where(w != 0, np.abs(w), 1.0))
    assert err.max(initial=0.0) <= tol, f"max error {err.max()} at {w[np.argmax(err)]}"


_X = np.concatenate([_RNG.uniform(-30, 30, 3000), _RNG.uniform(0, 3, 3000), 10 ** _RNG.uniform(-200, 200, 1000),
                     -(10 ** _RNG.uniform(-8, 1, 1000)), [0.0, -0.0, 1.0, 2.0, -1.0, -2.0, np.inf, -np.inf, np.nan,
                                                         170.5, -170.5, 1e-300]])


@pytest.mark.parametrize("name, tol", [("gammaln", 2e-14), ("gamma", 1e-13), ("rgamma", 1e-13), ("gammasgn", 0.0),
                                       ("digamma", 2e-12)])
def test_gamma_family_matches_scipy(name, tol):
    with np.errstate(all="ignore"):
        _agree(getattr(F, name)(_X), getattr(S, name)(_X), tol)


def test_digamma_relative_near_its_positive_root():
    x0 = 1.4616321449683622
    x = np.concatenate([x0 + np.linspace(-0.3, 0.3, 301), x0 + 10 ** np.linspace(-15, -1, 40),
                        x0 - 10 ** np.linspace(-15, -1, 40)])
    got, want = F.digamma(x), S.digamma(x)
    assert np.max(np.abs(got - want) / np.abs(want)) < 1e-14


def test_polygamma_multigammaln_beta():
    x = _RNG.uniform(0.01, 50, 2000)
    with np.errstate(all="ignore"):
        for n in (0, 1, 2, 3):
            _agree(F.polygamma(n, x), S.polygamma(n, x), 2e-12 if n == 0 else 1e-13)
        # x <= 0 by reflection: poles at the integers (signed infinities, as SciPy), cancellation near roots
        xn = np.concatenate([_RNG.uniform(-20, 0, 2000), [0.0, -1.0, -3.0, -np.inf, np.nan, np.inf]])
        for n in (1, 2, 4):
            _agree(F.polygamma(n, xn), S.polygamma(n, xn), 2e-12)
        for d in (1, 2, 3, 5):
            _agree(F.multigammaln(x + 3, d), S.multigammaln(x + 3, d), 1e-13)
        a, b = _RNG.uniform(0.05, 30, 2000), _RNG.uniform(0.05, 30, 2000)
        _agree(F.betaln(a, b), S.betaln(a, b), 1e-13)
        _agree(F.beta(a, b), S.beta(a, b), 1e-12)
    with pytest.raises(TraceError, match="order n"):
        cc.compile(lambda n, x: F.polygamma(n, x))(np.int64(1), x)


def test_incomplete_gamma_and_beta():
    for amax in (2.0, 10.0, 30.0):
        a = _RNG.uniform(0.05, amax, 3000)
        x = _RNG.uniform(0, 2 * amax + 5, 3000)
        _agree(F.gammainc(a, x), S.gammainc(a, x), 1e-13)
        _agree(F.gammaincc(a, x), S.gammaincc(a, x), 1e-13)
        b, y = _RNG.uniform(0.05, amax, 3000), _RNG.uniform(0, 1, 3000)
        _agree(F.betainc(a, b, y), S.betainc(a, b, y), 1e-13)
    edges = np.array([0.0, np.inf, 1.0, np.nan])
    with np.errstate(all="ignore"):
        _agree(F.gammainc(np.array([1.0, 1.0, 0.0, 1.0]), edges), S.gammainc([1.0, 1.0, 0.0, 1.0], edges), 0.0)
        _agree(F.betainc(2.0, 3.0, np.array([0.0, 1.0, 0.5, np.nan])),
               S.betainc(2.0, 3.0, np.array([0.0, 1.0, 0.5, np.nan])), 1e-15)


def test_normal_functions():
    p = np.concatenate([_RNG.random(3000), 10 ** _RNG.uniform(-300, 0, 1000), [0.0, 1.0, 0.5, -1.0, 2.0, np.nan]])
    z = np.concatenate([_RNG.uniform(-40, 10, 3000), [np.inf, -np.inf, np.nan, 0.0]])
    with np.errstate(all="ignore"):
        _agree(F.ndtri(p), S.ndtri(p), 1e-13)
        _agree(F.erfcinv(2 * p), S.erfcinv(2 * p), 1e-13)
        _agree(F.ndtr(z[z > -37]), S.ndtr(z[z > -37]), 1e-13)     # below, SciPy flushes to 0, vive gives subnormals
        _agree(F.log_ndtr(z), S.log_ndtr(z), 1e-12)


@pytest.mark.parametrize("name", ["j0", "j1", "y0", "y1", "i0", "i1", "i0e", "i1e"])
def test_bessel_matches_scipy(name):
    x = np.concatenate([_RNG.uniform(0, 60, 4000), 10 ** _RNG.uniform(-5, 2.5, 1000),
                        [0.0, -1.5, -30.0, np.nan, 8.0, 25.0, 50.0]])
    with np.errstate(all="ignore"):
        _agree(getattr(B, name)(x), getattr(S, name)(x), 1e-13)
        # at infinity vive gives the limits (SciPy 1.17 gives NaN for all but i0e/i1e)
        want = {"i0": np.inf, "i1": np.inf}.get(name, 0.0)
        assert getattr(B, name)(np.array(np.inf)) == want


def test_bessel_orders():
    x = np.concatenate([_RNG.uniform(0, 60, 3000), [0.0, -2.5, np.nan]])
    with np.errstate(all="ignore"):
        for n in (0, 1, 2, 3, 7, -2):
            _agree(B.jn(n, x), S.jn(n, x), 1e-13)
            _agree(B.yn(n, x), S.yn(n, x), 1e-12)
        v, xs = _RNG.uniform(0, 50, 3000), _RNG.uniform(0, 50, 3000)
        _agree(B.iv(v, xs), S.iv(v, xs), 1e-12)
        _agree(B.ive(v, xs), S.ive(v, xs), 1e-12)
        big = _RNG.uniform(50, 500, 1000)
        small_v = np.sqrt(big / 2) * _RNG.random(1000)
        _agree(B.ive(small_v, big), S.ive(small_v, big), 1e-13)
    with pytest.raises(TraceError, match="integer order"):
        cc.compile(lambda x: S.jv(0.5, x))(x[:3])


def test_compiled_equals_eager_and_scipy():
    x = np.array([0.1, 0.7, 1.5, 3.0, 9.5, 30.0, 0.0, -0.5, 1e3, np.nan])
    p = np.array([1e-30, 0.01, 0.3, 0.5, 0.9, 1 - 1e-12, 0.0, 1.0, 2.0, np.nan])

    def f(x, p):
        return S.gammaln(x), S.psi(x), S.ndtri(p), S.j0(x), S.i0e(x), S.gammaincc(2.5, x)
    with np.errstate(all="ignore"):
        want = f(x, p)
        eager = (F.gammaln(x), F.digamma(x), F.ndtri(p), B.j0(x), B.i0e(x), F.gammaincc(2.5, x))
        got = cc.compile(f)(x, p)
    for g, e, w in zip(got, eager, want):
        _agree(g, e, 1e-13)
        _agree(g, w, 1e-12)


def test_gradients_against_finite_differences():
    x = np.array([0.4, 1.3, 2.9, 12.0])
    cc.check_grads(lambda x: np.sum(S.gammaln(x) + S.j1(x) + S.y0(x) + S.i1(x)), [x], order=1, modes=("rev",))
    cc.check_grads(lambda x: np.sum(S.ndtri(x / 15.0) + S.gammainc(1.7, x)), [x], order=1, modes=("rev",))
    # the derivative of the converged ndtri is 1 / pdf, though its starting point is held constant
    g = cc.grad(lambda p: np.sum(S.ndtri(p)))(np.array([0.2, 0.7]))
    q = S.ndtri([0.2, 0.7])
    np.testing.assert_allclose(g, np.sqrt(2 * np.pi) * np.exp(q * q / 2), rtol=1e-12)


def test_scipy_wrappers_route_only_traced_calls():
    x = _RNG.standard_normal((3, 4))
    # untraced calls are SciPy's own (same object identity of results' types, same values)
    assert scipy.special.logsumexp.__wrapped__ is not None
    np.testing.assert_array_equal(scipy.special.logsumexp(x, axis=0), scipy.special.logsumexp.__wrapped__(x, axis=0))
    got = cc.compile(lambda x: (scipy.special.logsumexp(x, axis=1, b=2.0, keepdims=True),
                                scipy.special.logsumexp(x, return_sign=True)))(x)
    np.testing.assert_allclose(got[0], scipy.special.logsumexp(x, axis=1, b=2.0, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(got[1][0], scipy.special.logsumexp(x, return_sign=True)[0], rtol=1e-14)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(
            cc.compile(lambda x: scipy.special.logsumexp(x, axis=0))(np.array([[-np.inf, 1.0], [-np.inf, np.inf]])),
            scipy.special.logsumexp(np.array([[-np.inf, 1.0], [-np.inf, np.inf]]), axis=0))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_modes_and_swaps(mode):
    a, b = _RNG.standard_normal((3, 5)), _RNG.standard_normal((4, 6))   # b larger in both: 'valid' swaps
    got = cc.compile(lambda a, b: scipy.signal.convolve(a, b, mode=mode))(a, b)
    np.testing.assert_allclose(got, scipy.signal.convolve(a, b, mode=mode, method="direct"), rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match="same dimensionality"):
        cc.compile(lambda a: scipy.signal.convolve(a, np.ones(2), mode=mode))(a)


def test_convolve_valid_needs_one_larger():
    with pytest.raises(ValueError, match="at least as large"):
        cc.compile(lambda a: scipy.signal.convolve(a, np.ones((2, 5)), mode="valid"))(np.ones((3, 4)))


def test_distributions_edges_eager():
    x = np.array([-1.0, 0.0, 0.3, 1.0, 2.5, 40.0, np.inf])
    with np.errstate(all="ignore"):
        for dist, args in [("norm", (0.5, 2.0)), ("t", (3.5, 0.5, 2.0)), ("chi2", (3.0,)), ("gamma", (2.5,)),
                           ("beta", (2.0, 3.0)), ("gamma", (1.0,)), ("chi2", (2.0,))]:
            for m in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"):
                got = getattr(ST, f"{dist}_{m}")(x, *args)
                want = getattr(getattr(scipy.stats, dist), m)(x, *args)
                if m in ("pdf", "logpdf"):
                    # the density's limit at infinity (SciPy gives NaN for gamma and chi2 there, inf * 0)
                    assert got[-1] == (0.0 if m == "pdf" else -np.inf)
                    got, want = got[:-1], want[:-1]
                _agree(got, want, 1e-12)
        _agree(ST.norm_pdf(x, 0.0, -1.0), scipy.stats.norm.pdf(x, 0.0, -1.0), 0.0)          # bad scale: NaN
        k = np.array([-1.0, 0.0, 1.0, 2.5, 3.0, 30.0])
        for m in ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"):
            _agree(getattr(ST, f"poisson_{m}")(k, 2.5), getattr(scipy.stats.poisson, m)(k, 2.5), 1e-12)


def test_multivariate_normal_and_dirichlet_compiled():
    m = _RNG.standard_normal((5, 5))
    cov, mean, x = m @ m.T + np.eye(5), _RNG.standard_normal(5), _RNG.standard_normal((3, 5))
    got = cc.compile(lambda x, mean, cov: (scipy.stats.multivariate_normal.logpdf(x, mean, cov),
                                           scipy.stats.multivariate_normal.entropy(mean, cov)))(x, mean, cov)
    np.testing.assert_allclose(got[0], scipy.stats.multivariate_normal.logpdf(x, mean, cov), rtol=1e-12)
    np.testing.assert_allclose(got[1], scipy.stats.multivariate_normal.entropy(mean, cov), rtol=1e-12)
    alpha = np.array([1.5, 2.0, 0.7])
    xd = _RNG.dirichlet(alpha, size=4).T
    got = cc.compile(lambda x: scipy.stats.dirichlet.logpdf(x, alpha))(xd)
    np.testing.assert_allclose(got, scipy.stats.dirichlet.logpdf(xd, alpha), rtol=1e-12)
    got = cc.compile(lambda x: scipy.stats.dirichlet.logpdf(x, alpha))(xd[:2])      # last component implied
    np.testing.assert_allclose(got, scipy.stats.dirichlet.logpdf(xd, alpha), rtol=1e-12)


def test_cc_special_namespace():
    assert cc.special.gammaln is F.gammaln and cc.special.j0 is B.j0
    assert math.isclose(float(cc.special.gammaln(0.5)), math.lgamma(0.5), rel_tol=1e-14)
    with pytest.raises(AttributeError):
        cc.special.no_such_function


def test_float32_in_float32_out():
    x = np.array([0.3, 1.2, 4.5], np.float32)
    for f in (S.gammaln, S.psi, S.j0, S.i0e, S.ndtri, S.erfcinv):
        arg = x / 5 if f in (S.ndtri, S.erfcinv) else x
        got = cc.compile(lambda a: f(a))(arg)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, f(arg), rtol=2e-7)


def test_wrapped_distributions_still_pickle_and_freeze():
    import pickle
    d = pickle.loads(pickle.dumps(scipy.stats.norm))
    assert d.pdf(0.0) == scipy.stats.norm.pdf(0.0)
    x = np.array([0.3, -1.0])
    got = cc.compile(lambda x: scipy.stats.norm.logpdf(x, loc=0.5, scale=2.0))(x)
    np.testing.assert_allclose(got, scipy.stats.norm(0.5, 2.0).logpdf(x), rtol=1e-14)


def test_derivatives_in_the_shape_parameters():
    # no closed forms: the derivative of the converged series / continued fraction, against SciPy's own differences
    a, x = np.array([0.7, 2.5, 7.0, 20.0]), np.array([0.4, 3.0, 9.0, 15.0])
    b, y, h = np.array([1.5, 3.0, 0.8, 10.0]), np.array([0.2, 0.5, 0.9, 0.4]), 1e-6
    for ours, theirs in [(lambda a: S.gammainc(a, x), lambda a: S.gammainc(a, x)),
                         (lambda a: S.betainc(a, b, y), lambda a: S.betainc(a, b, y)),
                         (lambda v: S.iv(v, x), lambda v: S.iv(v, x))]:
        g = cc.grad(lambda a: np.sum(ours(a)))(a)
        fd = (theirs(a + h) - theirs(a - h)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)


def test_symbolic_sizes():
    # elementwise functions and reductions trace for every size; convolve and dirichlet need concrete sizes
    g = cc.trace(lambda x: scipy.special.logsumexp(S.gammaln(x), axis=1), cc.Spec("f64[N,4]"))
    assert len(g.nodes) > 0
    with pytest.raises(TraceError, match="scipy.signal.convolve of an array of symbolic size"):
        cc.trace(lambda x: scipy.signal.convolve(x, np.ones(3)), cc.Spec("f64[N]"))
    with pytest.raises(TraceError, match="dirichlet with a symbolic number"):
        cc.trace(lambda x: scipy.stats.dirichlet.logpdf(x, np.ones(3)), cc.Spec("f64[N]"))


def test_vmap_and_forward_mode():
    x = _RNG.uniform(0.5, 3, (3, 4))
    got = cc.vmap(lambda r: S.gammaln(r) + scipy.special.logsumexp(r)
                  + scipy.signal.convolve(r, np.ones(2), mode="same"))(x)
    want = (S.gammaln(x) + scipy.special.logsumexp(x, axis=1, keepdims=True)
            + np.stack([scipy.signal.convolve(r, np.ones(2), mode="same") for r in x]))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
    p = np.array([0.3, -1.2])
    np.testing.assert_allclose(np.diag(cc.jacfwd(lambda x: scipy.stats.t.cdf(x, 3.0))(p)),
                               scipy.stats.t.pdf(p, 3.0), rtol=1e-12)


def test_distribution_arguments_by_keyword():
    x = np.array([0.3, 1.7])
    np.testing.assert_allclose(cc.compile(lambda x: scipy.stats.t.logpdf(x, df=3.0, scale=2.0))(x),
                               scipy.stats.t.logpdf(x, df=3.0, scale=2.0), rtol=1e-13)
    np.testing.assert_allclose(cc.compile(lambda m: scipy.stats.poisson.pmf(np.array([1.0, 2.0]), mu=m))(x),
                               scipy.stats.poisson.pmf([1, 2], mu=x), rtol=1e-13)
    with pytest.raises(TypeError, match="missing shape parameter"):
        cc.compile(lambda x: scipy.stats.t.pdf(x))(x)
