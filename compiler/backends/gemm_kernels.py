"""The own gemm kernels (codegen/llvm_gemm.py) as a library: each compiled once per process in a module of its own
(O1, disk-cached) when a program calling it loads, and shared by every program after that."""
from __future__ import annotations

import threading

import runtime

from ..version import __version__
from ..codegen.llvm_gemm import plan_from_name, kernel_module_ir

PREFIX = "vive.gemm."
_LOCK = threading.Lock()
_MODULES = {}        # name -> CompiledModule (kept alive: programs call into it)


def provide(name: str) -> int:
    """Address of kernel `name` in this process (compiled or loaded from the disk cache now), 0 if not a kernel."""
    plan = plan_from_name(name)
    if plan is None:
        return 0
    with _LOCK:
        cm = _MODULES.get(name)
        if cm is None:
            t = runtime.host_target()
            # the disk cache keys on the IR text: a changed kernel is a new entry
            cm = runtime.compile_module(kernel_module_ir(plan, t.triple, t.data_layout), opt=1,
                                        version=f"vive-gemm-{__version__}")
            _MODULES[name] = cm
    return cm.address(name)


def install() -> None:
    from runtime import jit
    jit.provide_symbols(PREFIX, provide)
