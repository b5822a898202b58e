"""vive's runtime: loads and runs what the compiler produced (CPU JIT, calling convention, code cache).

Never imports `compiler/`.
"""
from .abi import make_caller
from .blas import blas_symbols
from .errors import RuntimeBackendError
from .jit import CompiledModule, HostTarget, compile_module, has_libmvec, has_openmp, host_target, last_level_cache_bytes, load_library

__all__ = ["RuntimeBackendError", "CompiledModule", "HostTarget", "compile_module", "make_caller", "blas_symbols",
           "has_libmvec", "has_openmp", "host_target", "last_level_cache_bytes", "load_library"]
