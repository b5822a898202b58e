"""scipy.stats distributions on traced values: norm, t, chi2, gamma, beta (pdf, logpdf, cdf, logcdf, sf, logsf;
norm also ppf, isf), poisson (pmf, logpmf, cdf, logcdf, sf, logsf), dirichlet (pdf, logpdf) and
multivariate_normal (pdf, logpdf, entropy). scipy_wrap.py sends `scipy.stats.norm.pdf(x_traced, ...)` to
`norm_pdf` here; each is also usable directly as cc.stats.norm_pdf(x, loc, scale) on arrays.

Each is a composition of compiler/special_fns.py (gammaln, incomplete gamma and beta, ndtr, ndtri) in SciPy's
parameterisation: shape parameters positionally, then loc and scale (positional or keyword). As in SciPy, invalid
parameters (scale <= 0, df <= 0, ...) give NaN and points outside the support give 0 (or -inf in logs). SciPy's
argument checks that need values (dirichlet's x summing to 1) cannot run on traced values and are skipped.
multivariate_normal factors its covariance with a Cholesky decomposition unrolled over the (static, small)
dimension, reading its lower triangle as SciPy does; a covariance that is not positive definite gives NaN.
"""
from __future__ import annotations

import math

import numpy as np

from . import special_fns as sf
from .ops_shape import _int

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _f(x):
    return sf._float(x)


_SHAPES = {"norm": (), "t": ("df",), "chi2": ("df",), "gamma": ("a",), "beta": ("a", "b"), "poisson": ("mu",)}


def _args(name, shape_names, args, kwargs, loc_default=0.0, scale=True):
    """(shape params, loc, scale) from SciPy's calling convention (*shapes, loc=0, scale=1), any of them also by
    keyword."""
    names = list(shape_names) + (["loc", "scale"] if scale else ["loc"])
    if len(args) > len(names):
        raise TypeError(f"{name}: too many positional arguments")
    vals = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{name}: unexpected keyword argument {k!r}")
        if k in vals:
            raise TypeError(f"{name}: got multiple values for argument {k!r}")
        vals[k] = v
    missing = [n for n in shape_names if n not in vals]
    if missing:
        raise TypeError(f"{name}: missing shape parameter(s) {missing}")
    shapes = [_f(vals[n]) for n in shape_names]
    return shapes, _f(vals.get("loc", loc_default)), (_f(vals.get("scale", 1.0)) if scale else None)


def _method(dist, std, kind, valid=None):
    """A loc-scale method of dist: std(z, *shapes) computed on the standardised variable, then rescaled."""
    def method(x, *args, **kwargs):
        shapes, loc, scale = _args(f"{dist}.{kind}", _SHAPES[dist], args, kwargs)
        x = _f(x)
        ok = scale > 0
        if valid is not None:
            ok = ok & valid(*shapes)
        s = np.where(ok, scale, 1.0)
        if kind in ("ppf", "isf"):
            out = loc + s * std(x, *shapes)
        else:
            out = std((x - loc) / s, *shapes)
            if kind == "pdf":
                out = out / s
            elif kind == "logpdf":
                out = out - np.log(s)
        return np.where(ok, out, np.nan)
    method.__name__ = f"{dist}_{kind}"
    method.__doc__ = f"scipy.stats.{dist}.{kind}, as a composition of vive primitives."
    return method


def _log_first(pair):
    """log p of pair(...) = (p, 1 - p): log1p(-(1 - p)) where p > 1/2 (no rounding of p near 1), log p elsewhere."""
    def logf(*a):
        p, q = pair(*a)
        return np.where(p > 0.5, np.log1p(-q), np.log(p))
    return logf


def _first(pair):
    return lambda *a: pair(*a)[0]


def _swap(pair):
    return lambda *a: pair(*a)[::-1]


# ---- norm ----

def _norm_logpdf(z):
    return -0.5 * z * z - _LOG_SQRT_2PI


norm_pdf = _method("norm", lambda z: np.exp(_norm_logpdf(z)), "pdf")
norm_logpdf = _method("norm", _norm_logpdf, "logpdf")
norm_cdf = _method("norm", sf.ndtr, "cdf")
norm_logcdf = _method("norm", sf.log_ndtr, "logcdf")
norm_sf = _method("norm", lambda z: sf.ndtr(-z), "sf")
norm_logsf = _method("norm", lambda z: sf.log_ndtr(-z), "logsf")
norm_ppf = _method("norm", sf.ndtri, "ppf")
norm_isf = _method("norm", lambda q: -sf.ndtri(q), "isf")


# ---- Student's t ----

def _t_logpdf(z, df):
    return (sf.gammaln(0.5 * (df + 1.0)) - sf.gammaln(0.5 * df) - 0.5 * np.log(df * math.pi)
            - 0.5 * (df + 1.0) * np.log1p(z * z / df))


def _t_cdf_sf(z, df):
    zz = z * z
    tail, rest = sf._inc_beta2(0.5 * df, np.asarray(0.5), df / (df + zz), zz / (df + zz))
    tail, rest = 0.5 * tail, 0.5 + 0.5 * rest
    return np.where(z < 0, tail, rest), np.where(z < 0, rest, tail)


_df_ok = lambda df: df > 0      # noqa: E731
t_pdf = _method("t", lambda z, df: np.exp(_t_logpdf(z, df)), "pdf", _df_ok)
t_logpdf = _method("t", _t_logpdf, "logpdf", _df_ok)
t_cdf = _method("t", _first(_t_cdf_sf), "cdf", _df_ok)
t_logcdf = _method("t", _log_first(_t_cdf_sf), "logcdf", _df_ok)
t_sf = _method("t", _first(_swap(_t_cdf_sf)), "sf", _df_ok)
t_logsf = _method("t", _log_first(_swap(_t_cdf_sf)), "logsf", _df_ok)


# ---- gamma and chi2 (chi2(df) is gamma(df/2, scale 2)) ----

def _gamma_logpdf(z, a):
    inside = z > 0
    zs = np.where(inside & (z < np.inf), z, 1.0)
    out = (a - 1.0) * np.log(zs) - zs - sf.gammaln(a)
    # at z = 0: a < 1 gives inf, a == 1 gives 1, a > 1 gives 0 (pdf), as SciPy
    at0 = np.where(a < 1, np.inf, np.where(a == 1, -sf.gammaln(a), -np.inf))
    return np.where(inside & (z < np.inf), out, np.where(z == 0, at0, -np.inf))


def _gamma_cdf_sf(z, a):
    return sf._inc_gamma(a, np.maximum(z, 0.0))


_a_ok = lambda a: a > 0        # noqa: E731
gamma_pdf = _method("gamma", lambda z, a: np.exp(_gamma_logpdf(z, a)), "pdf", _a_ok)
gamma_logpdf = _method("gamma", _gamma_logpdf, "logpdf", _a_ok)
gamma_cdf = _method("gamma", _first(_gamma_cdf_sf), "cdf", _a_ok)
gamma_logcdf = _method("gamma", _log_first(_gamma_cdf_sf), "logcdf", _a_ok)
gamma_sf = _method("gamma", _first(_swap(_gamma_cdf_sf)), "sf", _a_ok)
gamma_logsf = _method("gamma", _log_first(_swap(_gamma_cdf_sf)), "logsf", _a_ok)


def _chi2_logpdf(z, df):
    return _gamma_logpdf(0.5 * z, 0.5 * df) - math.log(2.0)


def _chi2_cdf_sf(z, df):
    return _gamma_cdf_sf(0.5 * z, 0.5 * df)


chi2_pdf = _method("chi2", lambda z, df: np.exp(_chi2_logpdf(z, df)), "pdf", _df_ok)
chi2_logpdf = _method("chi2", _chi2_logpdf, "logpdf", _df_ok)
chi2_cdf = _method("chi2", _first(_chi2_cdf_sf), "cdf", _df_ok)
chi2_logcdf = _method("chi2", _log_first(_chi2_cdf_sf), "logcdf", _df_ok)
chi2_sf = _method("chi2", _first(_swap(_chi2_cdf_sf)), "sf", _df_ok)
chi2_logsf = _method("chi2", _log_first(_swap(_chi2_cdf_sf)), "logsf", _df_ok)


# ---- beta ----

def _beta_logpdf(z, a, b):
    inside = (z > 0) & (z < 1)
    zs = np.where(inside, z, 0.5)
    out = (a - 1.0) * np.log(zs) + (b - 1.0) * np.log1p(-zs) - sf.betaln(a, b)
    at0 = np.where(a < 1, np.inf, np.where(a == 1, -sf.betaln(a, b), -np.inf))
    at1 = np.where(b < 1, np.inf, np.where(b == 1, -sf.betaln(a, b), -np.inf))
    return np.where(inside, out, np.where(z == 0, at0, np.where(z == 1, at1, -np.inf)))


def _beta_cdf_sf(z, a, b):
    zc = np.clip(z, 0.0, 1.0)
    return sf._inc_beta2(a, b, zc, 1.0 - zc)


_ab_ok = lambda a, b: (a > 0) & (b > 0)       # noqa: E731
beta_pdf = _method("beta", lambda z, a, b: np.exp(_beta_logpdf(z, a, b)), "pdf", _ab_ok)
beta_logpdf = _method("beta", _beta_logpdf, "logpdf", _ab_ok)
beta_cdf = _method("beta", _first(_beta_cdf_sf), "cdf", _ab_ok)
beta_logcdf = _method("beta", _log_first(_beta_cdf_sf), "logcdf", _ab_ok)
beta_sf = _method("beta", _first(_swap(_beta_cdf_sf)), "sf", _ab_ok)
beta_logsf = _method("beta", _log_first(_swap(_beta_cdf_sf)), "logsf", _ab_ok)


# ---- poisson (discrete: loc only) ----

def _poisson(kind):
    def method(k, *args, **kwargs):
        (mu,), loc, _ = _args(f"poisson.{kind}", _SHAPES["poisson"], args, kwargs, scale=False)
        k = _f(k) - loc
        ok = mu >= 0
        mus = np.where(ok, mu, 1.0)
        if kind in ("pmf", "logpmf"):
            integral = (k >= 0) & (np.floor(k) == k)
            ks = np.where(integral, k, 0.0)
            # xlogy(k, mu): 0 where k == 0, even at mu == 0
            klogmu = np.where(ks == 0, 0.0, ks * np.log(np.where(ks == 0, 1.0, mus)))
            out = np.where(integral, klogmu - mus - sf.gammaln(ks + 1.0), -np.inf)
            if kind == "pmf":
                out = np.exp(out)
        else:
            inside = k >= 0
            kf = np.floor(np.where(inside, k, 0.0)) + 1.0
            lower, upper = sf._inc_gamma(kf, mus)
            first, other = (upper, lower) if kind in ("cdf", "logcdf") else (lower, upper)
            if kind.startswith("log"):
                first = np.where(first > 0.5, np.log1p(-other), np.log(first))
            out = np.where(inside, first, 0.0 if kind in ("cdf", "logcdf") else 1.0)
            if kind.startswith("log"):
                out = np.where(inside, out, np.log(out))
        return np.where(ok, out, np.nan)
    method.__name__ = f"poisson_{kind}"
    method.__doc__ = f"scipy.stats.poisson.{kind}, as a composition of vive primitives."
    return method


poisson_pmf, poisson_logpmf = _poisson("pmf"), _poisson("logpmf")
poisson_cdf, poisson_logcdf = _poisson("cdf"), _poisson("logcdf")
poisson_sf, poisson_logsf = _poisson("sf"), _poisson("logsf")


# ---- dirichlet (components along the first axis of x, as SciPy) ----

def dirichlet_logpdf(x, alpha):
    """scipy.stats.dirichlet.logpdf; x may leave out its last component (then 1 - the sum of the others)."""
    x, alpha = _f(x), _f(alpha)
    k = _int(np.shape(alpha)[0], "scipy.stats.dirichlet with a symbolic number of components") \
        if len(np.shape(alpha)) == 1 else None
    if k is None:
        raise ValueError("Parameter vector 'a' must be one dimensional, but a.shape = %s." % (np.shape(alpha),))
    n = _int(np.shape(x)[0], "scipy.stats.dirichlet with a symbolic number of components") if len(np.shape(x)) else 0
    if n == k - 1:
        x = np.concatenate([x, 1.0 - np.sum(x, axis=0, keepdims=True)], axis=0)
    elif n != k:
        raise ValueError("Vector 'x' must have either the same number of entries as, or one entry fewer than, "
                         f"parameter vector 'a', but alpha.shape = {np.shape(alpha)} and x.shape = {np.shape(x)}.")
    lnb = np.sum(sf.gammaln(alpha)) - sf.gammaln(np.sum(alpha))
    a = np.reshape(alpha, (k,) + (1,) * (len(np.shape(x)) - 1))
    terms = np.where(a == 1.0, 0.0, (a - 1.0) * np.log(x))          # xlogy(alpha - 1, x)
    return np.sum(terms, axis=0) - lnb


def dirichlet_pdf(x, alpha):
    """scipy.stats.dirichlet.pdf."""
    return np.exp(dirichlet_logpdf(x, alpha))


# ---- multivariate normal ----

def _mvn_setup(mean, cov):
    if mean is None:
        if cov is None or len(np.shape(cov)) == 0:
            raise TypeError("multivariate_normal on traced values needs mean or a matrix cov to give the dimension")
        d = _int(np.shape(cov)[-1], "multivariate_normal of a symbolic dimension")
        mean = np.zeros(d)
    mean = _f(mean)
    if len(np.shape(mean)) == 0:
        mean = np.reshape(mean, (1,))
    d = _int(np.shape(mean)[0], "multivariate_normal of a symbolic dimension")
    cov = _f(1.0 if cov is None else cov)
    nd = len(np.shape(cov))
    if nd == 0:
        cov = cov * np.eye(d)
    elif nd == 1:
        cov = np.diag(cov) if np.shape(cov)[0] == d else None
    if cov is None or tuple(np.shape(cov)) != (d, d):
        raise ValueError(f"multivariate_normal: cov must be a scalar, a vector of {d} or a {d}x{d} matrix")
    return mean, cov, d


def _cholesky_lower(cov, d):
    """The Cholesky factor of cov as a d x d list of scalars (None above the diagonal), from its lower triangle."""
    L = [[None] * d for _ in range(d)]
    for j in range(d):
        s = cov[j, j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        L[j][j] = np.sqrt(s)
        for i in range(j + 1, d):
            s = cov[i, j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = s / L[j][j]
    return L


def _mvn_logdet(L, d):
    out = 0.0
    for i in range(d):
        out = out + np.log(L[i][i])
    return 2.0 * out


def mvn_logpdf(x, mean=None, cov=1, allow_singular=False):
    """scipy.stats.multivariate_normal.logpdf."""
    mean, cov, d = _mvn_setup(mean, cov)
    x = _f(x)
    nx = len(np.shape(x))
    if nx == 0:
        x = np.reshape(x, (1,))
    elif nx == 1 and d == 1:
        x = np.reshape(x, (-1, 1))
    elif nx == 1:
        x = np.reshape(x, (1, d))
    dev = x - mean
    L = _cholesky_lower(cov, d)
    zs, maha = [], 0.0
    for i in range(d):
        s = dev[..., i]
        for j in range(i):
            s = s - L[i][j] * zs[j]
        zs.append(s / L[i][i])
        maha = maha + zs[i] * zs[i]
    out = -0.5 * (d * math.log(2.0 * math.pi) + _mvn_logdet(L, d) + maha)
    return np.squeeze(out)


def mvn_pdf(x, mean=None, cov=1, allow_singular=False):
    """scipy.stats.multivariate_normal.pdf."""
    return np.exp(mvn_logpdf(x, mean, cov, allow_singular))


def mvn_entropy(mean=None, cov=1):
    """scipy.stats.multivariate_normal.entropy: 0.5 log det(2 pi e cov)."""
    mean, cov, d = _mvn_setup(mean, cov)
    return 0.5 * _mvn_logdet(_cholesky_lower(cov, d), d) + 0.5 * d * (1.0 + math.log(2.0 * math.pi))


multivariate_normal_pdf, multivariate_normal_logpdf, multivariate_normal_entropy = mvn_pdf, mvn_logpdf, mvn_entropy
