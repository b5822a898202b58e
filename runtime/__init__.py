"""vive's runtime: loads and runs what the compiler produced (CPU JIT, calling convention, code cache).

Never imports `compiler/`. The names below are loaded on first use (PEP 562): the JIT imports llvmlite, which
`import compiler` should not pay for until something is compiled.
"""
import importlib

_WHERE = {"make_caller": "abi", "blas_symbols": "blas", "RuntimeBackendError": "errors",
          **{n: "jit" for n in ("CompiledModule", "HostTarget", "compile_module", "has_libmvec", "has_openmp",
                                "host_target", "last_level_cache_bytes", "load_library")}}

__all__ = list(_WHERE)


def __getattr__(name):
    sub = _WHERE.get(name)
    if sub is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{sub}", __name__), name)
    globals()[name] = value
    return value
