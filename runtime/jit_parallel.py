"""Compiling the parts of a split module (jit_split.py), and the library modules it calls (jit.LibraryJob), on
several threads at once.

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
    if opt == jit.LIGHT:
        pb = llvm.create_pass_builder(tm, jit._tuning(1))
        jit.run_light(mod, pb, lambda mpm, m, b: _unlocked("LLVMPY_RunNewModulePassManager")(mpm, m, b))
    elif opt > 0:
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


def _compile_part(text, opt, codegen_opt=None):
    with jit._Scratch() as ctx:
        mod = ctx.keep(jit._parse(text, ctx.context))
        # this part's own TM: the pipeline's, then code generation's
        tm = jit._target_machine(opt if codegen_opt is None else codegen_opt)
        mod = ctx.keep(_run_pipeline(mod, opt, tm))
        if opt != jit.LIGHT and opt > 0:
            mod = ctx.keep(jit._stream_stores(mod, ctx.context))
        return _emit_object(tm, mod)


def compile_jobs(jobs: list[tuple[str, int, int]], threads: int, timings: dict) -> list:
    """The objects of independent module texts `(text, opt, codegen_opt)` (the parts of a split module, library
    modules), compiled by `threads` workers: this thread and threads - 1 started ones (a thread starts in ~0.1 ms;
    concurrent.futures alone takes 9 ms to import) taking the longest jobs first. A job that failed gives None (the
    caller then compiles it alone, which reports what is wrong with it)."""
    t0 = time.perf_counter()
    objs: list = [None] * len(jobs)
    # longest first; a job whose text is made on the thread (a callable) counts as a typical library module
    order = sorted(range(len(jobs)), key=lambda i: -(len(jobs[i][0]) if isinstance(jobs[i][0], str) else 50_000))
    claim = threading.Lock()
    at = [0]

    def work():
        while True:
            with claim:
                if at[0] >= len(order):
                    return
                i = order[at[0]]
                at[0] += 1
            text, opt, codegen_opt = jobs[i]
            try:
                objs[i] = _compile_part(text if isinstance(text, str) else text(), opt, codegen_opt)
            except Exception:       # noqa: BLE001  (reported by the compile that follows)
                objs[i] = None

    threads = [threading.Thread(target=work, name=f"vive-llvm-{i}", daemon=True)
               for i in range(1, max(1, min(threads, len(jobs))))]
    for t in threads:
        t.start()
    work()
    for t in threads:
        t.join()
    timings["compile_parts"] = time.perf_counter() - t0
    return objs
