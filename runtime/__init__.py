"""vive's runtime: loads and runs what the compiler produced (CPU JIT, calling convention, code cache).

Never imports `compiler/`.
"""
from .errors import RuntimeBackendError
from .jit import CompiledModule, HostTarget, compile_module, has_libmvec, has_openmp, host_target, load_library

__all__ = ["RuntimeBackendError", "CompiledModule", "HostTarget", "compile_module", "has_libmvec", "has_openmp",
           "host_target", "load_library"]
