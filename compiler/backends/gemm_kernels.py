"""The own gemm kernels (codegen/llvm_gemm.py) as a library: each compiled once per process in a module of its own
(disk-cached per kernel) and shared by every program after that. A kernel starts compiling on a spare core when a
program being written declares it (`prefetch`), else on the same threads as the program's own parts
(runtime/jit_library.py), before the program loads; `provide` makes any other one on demand when code calling it
loads."""
from __future__ import annotations

import functools
import glob
import hashlib
import os
import threading

import runtime

from ..version import __version__
from ..codegen import llvm_gemm
from ..codegen.llvm_gemm import all_plans, plan_from_name, kernel_module_ir

PREFIX = "vive.gemm."
_LOCK = threading.Lock()
_MODULES = {}        # name -> CompiledModule (kept alive: programs call into it)


def opt_levels(plan) -> tuple:
    """(IR pipeline, code generator) levels of a kernel's module.

    NOTE: the kernels are emitted as the vector code they should run as. For the nn layout and the dot formulation
    the IR pipeline buys nothing (same run time within 1.5% on the MLP, LeNet and LSTM shapes up to k = 50176,
    Zen 4) and is 60% of their compile (O1: 40-55 ms a kernel, none: 15-22 ms); the other unpacked ones need rotated
    loops (tn.d16x1 128x512x2048, the LSTM's weight gradient: 2.73 ms at O1, 2.91 without passes, 2.61 with
    runtime.jit.LIGHT's short list, which costs ~30 ms); the packing kernels keep O1 (nt.s16x1p 64x6x150: 10.1 us
    at O1, 12.9 us with LIGHT or without passes)."""
    if plan.pack:
        return 1, 1
    if plan.dot or not (plan.trans_a or plan.trans_b):
        return 0, 1
    from runtime.jit import LIGHT
    return LIGHT, 1


def _module_ir(plan) -> str:
    t = runtime.host_target()
    return kernel_module_ir(plan, t.triple, t.data_layout)


@functools.lru_cache(maxsize=None)
def _emitter_digest() -> str:
    """sha256 of the kernel emitter's sources (codegen/llvm_gemm*.py and the scalar types they use): with the
    kernel's name it stands for the IR text in the disk-cache key (a changed emitter is a new entry), so a process
    that finds a kernel there does not write its IR (~7 ms each)."""
    here = os.path.dirname(llvm_gemm.__file__)
    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(here, "llvm_gemm*.py"))) + [os.path.join(here, "scalar.py")]:
        with open(path, "rb") as fh:
            h.update(os.path.basename(path).encode() + b"\0" + fh.read())
    return h.hexdigest()


def _job(name, plan):
    from runtime.jit_library import LibraryJob
    opt, codegen_opt = opt_levels(plan)
    return LibraryJob(f"{name}\n{_emitter_digest()}", lambda: _module_ir(plan), opt, codegen_opt,
                      f"vive-gemm-{__version__}", lambda cm: _adopt(name, cm))


def provide(name: str) -> int:
    """Address of kernel `name` in this process (compiled or loaded from the disk cache now), 0 if not a kernel."""
    plan = plan_from_name(name)
    if plan is None:
        return 0
    with _LOCK:
        cm = _MODULES.get(name)
    if cm is None:
        from runtime.jit_library import compile_library
        compile_library(_job(name, plan))
        with _LOCK:
            cm = _MODULES[name]         # the one adopted (another thread's, if it made the kernel first)
    return cm.address(name)


def sources(names) -> list:
    """A LibraryJob for each kernel of `names` not made in this process yet (the program's compile runs them beside
    its own parts)."""
    jobs = []
    with _LOCK:
        for name in dict.fromkeys(names):
            plan = plan_from_name(name)
            if plan is not None and name not in _MODULES:
                jobs.append(_job(name, plan))
    return jobs


def _adopt(name, cm) -> None:
    with _LOCK:
        _MODULES.setdefault(name, cm)          # the first made stays: programs may already call into it


def prefetch(name: str) -> None:
    """Start compiling kernel `name` now (a program being written declared it): on a spare core, unless this process
    has it or the disk cache does (runtime/jit_library.py prefetch)."""
    plan = plan_from_name(name)
    with _LOCK:
        if plan is None or name in _MODULES:
            return
    from runtime.jit_library import prefetch as start
    start(_job(name, plan))


def cache_directory():
    """The disk cache the library goes to (None: caching is off)."""
    from runtime.cache import cache_dir
    return cache_dir()


def warm(report=None) -> tuple[int, int, int]:
    """Compile every kernel of the library (llvm_gemm.all_plans: ~34 on an AVX-512 host) that the disk cache lacks
    and store it there, so that no program compile pays for one (each costs 20-45 ms of LLVM time once per machine,
    ~130 ms of the MLP's first cold compile). `vive warm` runs it; `make install` runs that. `report(done, total)`
    is called as kernels finish. Returns (compiled and stored now, in the library, in the cache now); (0, n, 0)
    with the cache off."""
    from runtime import jit
    from runtime.jit_parallel import compile_jobs
    from runtime.jit_split import compile_threads
    jobs = [_job(p.name(), p) for p in all_plans()]
    directory = jit.cache.cache_dir()
    if directory is None:
        return 0, len(jobs), 0
    jit._ensure_init()
    todo = [j for j in jobs if not jit.cache.entry_exists(j.key(), directory)]
    threads = max(1, compile_threads())
    done = 0
    for i in range(0, len(todo), threads):
        batch = todo[i:i + threads]
        with jit._LOCK:
            objs = compile_jobs([j.job() for j in batch], threads, {})
            for job, obj in zip(batch, objs):
                if obj is None:       # a kernel LLVM refused: compiled again (and reported) where a program needs it
                    continue
                jit._store(job.key(), [obj], job.opt, job.version, directory, jit._resolvable([obj]))
                done += jit.cache.entry_exists(job.key(), directory)     # (a read-only cache stores nothing)
        if report is not None:
            report(i + len(batch), len(todo))
    return done, len(jobs), sum(jit.cache.entry_exists(j.key(), directory) for j in jobs)


def install() -> None:
    from runtime import jit
    jit.provide_symbols(PREFIX, provide, sources)
    if prefetch not in llvm_gemm.DECLARE_HOOKS:
        llvm_gemm.DECLARE_HOOKS.append(prefetch)
