"""SciPy's Python-level functions on traced values: scipy.special.logsumexp / polygamma / multigammaln,
scipy.signal.convolve, scipy.linalg.solve_sylvester / sqrtm and the methods of scipy.stats' distributions
(norm.pdf, t.cdf, ...).

These convert their arguments with np.asarray before computing, which no NumPy hook intercepts (array_ctor.py
leaves conversions made inside installed libraries to NumPy, so they stop with the tracer's TraceError). So, as
array_ctor.py does for np.array, `install()` (once per process, when compiler is imported) replaces those module
attributes and the distributions' methods (on each distribution's own class: norm_gen.pdf) with wrappers: a call
whose arguments hold a tracer goes to vive's implementation (compiler/special_fns.py, signal.py, stats.py), every
other call to SciPy's own function, unchanged. SciPy is never imported by vive: modules already loaded are wrapped
at install, later ones by an import hook that wraps each right after SciPy has executed it. Not caught: names bound
before compiler was imported (`from scipy.special import logsumexp`, or `f = scipy.stats.norm.pdf` taken before
`import compiler`).

scipy.special's ufuncs (gammaln, jv, ...) need none of this: they reach Tracer.__array_ufunc__, and their
implementations register with @implements(surface=...) (ops_base.py).
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import sys

_MARK = "__vive_scipy_wrap__"

# module -> {attribute: (vive module, its function name)}
_FUNCS = {
    "scipy.special": {"logsumexp": ("special_fns", "logsumexp"), "polygamma": ("special_fns", "polygamma"),
                      "multigammaln": ("special_fns", "multigammaln")},
    "scipy.signal": {"convolve": ("signal", "convolve")},
    "scipy.linalg": {"solve_sylvester": ("ops_linalg", "solve_sylvester"), "sqrtm": ("ops_linalg", "sqrtm"),
                     "solve_triangular": ("ops_linalg_more", "solve_triangular"),
                     "cho_factor": ("ops_linalg_more", "cho_factor"), "cho_solve": ("ops_linalg_more", "cho_solve")},
}
# scipy.stats distribution instances whose methods vive implements: {name: methods}; compiler/stats.py defines
# `<name>_<method>` for each
_DISTS = {
    "norm": ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"),
    "t": ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"),
    "chi2": ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"),
    "gamma": ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"),
    "beta": ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"),
    "poisson": ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"),
    "dirichlet": ("pdf", "logpdf"),
    "multivariate_normal": ("pdf", "logpdf", "entropy"),
}
_TARGETS = ("scipy.special", "scipy.signal", "scipy.stats", "scipy.linalg")
_installed = False
_is_tracer = None


def _holds_tracer(args, kwargs):
    def has(x, depth=0):
        if _is_tracer(x):
            return True
        if type(x) in (list, tuple) and depth < 8:
            return any(has(e, depth + 1) for e in x)
        return False
    return any(has(a) for a in args) or any(has(v) for v in kwargs.values())


def _impl(module, name):
    mod = importlib.import_module(f"compiler.{module}")
    return getattr(mod, name)


def _wrap(orig, module, name):
    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        if _holds_tracer(args, kwargs):
            return _impl(module, name)(*args, **kwargs)
        return orig(*args, **kwargs)
    setattr(wrapper, _MARK, True)
    return wrapper


def _wrap_method(orig, module, name):
    @functools.wraps(orig)
    def method(self, *args, **kwargs):
        if _holds_tracer(args, kwargs):
            return _impl(module, name)(*args, **kwargs)
        return orig(self, *args, **kwargs)
    setattr(method, _MARK, True)
    return method


def _patch(modname):
    mod = sys.modules.get(modname)
    if mod is None:
        return
    for attr, (vmod, vname) in _FUNCS.get(modname, {}).items():
        fn = getattr(mod, attr, None)
        if fn is not None and not getattr(fn, _MARK, False):
            setattr(mod, attr, _wrap(fn, vmod, vname))
    if modname == "scipy.stats":
        for dist, methods in _DISTS.items():
            obj = getattr(mod, dist, None)
            if obj is None:
                continue
            cls = type(obj)           # norm_gen, t_gen, ...: one class per distribution (frozen copies too)
            for m in methods:
                fn = getattr(cls, m, None)
                if fn is not None and not getattr(fn, _MARK, False):
                    setattr(cls, m, _wrap_method(fn, "stats", f"{dist}_{m}"))


class _Loader(importlib.abc.Loader):
    def __init__(self, inner, name):
        self._inner, self._name = inner, name

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _patch(self._name)

    def __getattr__(self, attr):
        return getattr(self._inner, attr)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps a SciPy module right after it is executed (the first `import scipy.stats` anywhere)."""

    def find_spec(self, name, path, target=None):
        if name not in _TARGETS or name in sys.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, name)
                return spec
        return None


def install(is_tracer):
    """Wrap SciPy's functions (once per process). is_tracer(x) -> bool."""
    global _installed, _is_tracer
    if _installed:
        return
    _installed, _is_tracer = True, is_tracer
    for name in _TARGETS:
        _patch(name)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
