"""Compiling the parts of a split module (jit_split.py) on several threads at once.

NOTE: llvmlite takes one process-wide lock around every call into LLVM, which would run the parts one after the
other. Each part here lives in its own LLVMContext with its own TargetMachine and pass pipeline, which LLVM lets
threads use at the same time, so the two long calls (the pass pipeline and object emission) go to the ctypes
function under llvmlite's wrapper without that lock; every other call keeps it. Where the wrapper does not expose
the ctypes function (another llvmlite), the parts still compile correctly, one at a time.
"""
from __future__ import annotations

import ctypes
import threading
import time

import llvmlite.binding as llvm
from llvmlite.binding import ffi

from . import jit


def _unlocked(name):
    fn = getattr(ffi.lib, name)
    return getattr(fn, "_cfn", fn)


def _run_pipeline(mod, opt, tm):
    """jit._optimize's pipeline, run outside llvmlite's lock."""
    if opt > 0:
        pb = llvm.create_pass_builder(tm, jit._tuning(opt))
        _unlocked("LLVMPY_RunNewModulePassManager")(pb.getModulePassManager(), mod, pb)
        jit._inline_vector_variants(mod, pb)      # as jit._optimize (rare; under the lock)
    return mod


def _emit_object(tm, mod) -> bytes:
    with ffi.OutputString() as err:
        mb = _unlocked("LLVMPY_TargetMachineEmitToMemory")(tm, mod, 1, err)
        if not mb:
            raise RuntimeError(str(err))
    try:
        return ctypes.string_at(ffi.lib.LLVMPY_GetBufferStart(mb), ffi.lib.LLVMPY_GetBufferSize(mb))
    finally:
        ffi.lib.LLVMPY_DisposeMemoryBuffer(mb)


def _compile_part(text, opt):
    with jit._Scratch() as ctx:
        mod = ctx.keep(jit._parse(text, ctx.context))
        tm = jit._target_machine(opt)          # this part's own: the pipeline's, then code generation's
        mod = ctx.keep(_run_pipeline(mod, opt, tm))
        if opt > 0:
            mod = ctx.keep(jit._stream_stores(mod, ctx.context))
        return _emit_object(tm, mod)


def compile_parts(texts: list[str], opt: int, timings: dict) -> list[bytes] | None:
    """The objects of the parts, part 0 on this thread and each other one on a thread of its own (a thread starts
    in ~0.1 ms; concurrent.futures alone takes 9 ms to import); None if any part failed (the caller then compiles
    the module whole, which reports what is wrong with it)."""
    t0 = time.perf_counter()
    objs: list = [None] * len(texts)

    def work(i):
        try:
            objs[i] = _compile_part(texts[i], opt)
        except Exception:       # noqa: BLE001  (reported by the whole-module compile that follows)
            objs[i] = None

    threads = [threading.Thread(target=work, args=(i,), name=f"vive-llvm-{i}", daemon=True)
               for i in range(1, len(texts))]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
    if any(o is None for o in objs):
        return None
    timings["compile_parts"] = time.perf_counter() - t0
    return objs
