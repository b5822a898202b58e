"""Library modules: modules that define symbols programs call (the compiler's own gemm kernels), one module per
symbol, each loaded into an engine of its own once per process and cached on disk under a key of its own.

A program's compile (jit.compile_module) finds the library symbols its IR declares, loads those the disk cache has,
and compiles the others on the same threads as its own parts (they are independent of it). `prefetch(job)` starts a
library module earlier, on a thread of its own, while the compiler is still writing the program's IR (Python,
which holds the GIL while LLVM on the other thread does not): the program's compile then only loads it.
"""
from __future__ import annotations

import atexit
import re
import threading
import time

import llvmlite.binding as llvm

from . import jit
from .jit_split import compile_threads


class LibraryJob:
    """A library module to load: `done(CompiledModule)` receives it.

    `key_text` is what the disk cache keys on in place of the IR text (it must change whenever the IR would), and
    `make_ir()` makes the IR text, called only on a cache miss and on a compile thread (the Python that writes the
    IR then runs while another thread is inside LLVM)."""

    __slots__ = ("key_text", "make_ir", "opt", "codegen_opt", "version", "done", "objs", "state", "finished")

    def __init__(self, key_text: str, make_ir, opt: int, codegen_opt: int, version: str, done):
        self.key_text, self.make_ir = key_text, make_ir
        self.opt, self.codegen_opt, self.version, self.done = opt, codegen_opt, version, done
        self.objs = None
        self.state = "new"            # prefetched: "queued", "running", "compiled" (objs set or None: failed)
        self.finished = threading.Event()

    def key(self) -> str:
        return jit.cache_key(self.key_text, opt=self.opt, version=self.version, codegen_opt=self.codegen_opt)

    def job(self):
        """The (text or text maker, opt, codegen_opt) jit_parallel.compile_jobs takes."""
        return self.make_ir, self.opt, self.codegen_opt


_DECLARED = re.compile(r'^declare\b[^@]*@("(?:[^"\\]|\\.)*"|[-\w.$]+)\(', re.M)


def _jobs_for(text: str) -> list:
    """LibraryJobs for the symbols `text` declares that a provider with sources defines and that are not loaded
    yet (a prefetched one in place of a new one). Called under jit._LOCK."""
    if not jit._SOURCES:
        return []
    by_prefix: dict = {}
    for m in _DECLARED.finditer(text):
        name = m.group(1).strip('"')
        prefix = next((p for p in jit._SOURCES if name.startswith(p)), None)
        if prefix is not None and not llvm.address_of_symbol(name):
            by_prefix.setdefault(prefix, []).append(name)
    jobs = []
    for prefix, names in by_prefix.items():
        for job in jit._SOURCES[prefix](names):
            with _QUEUE_LOCK:
                jobs.append(_PREFETCHED.pop(job.key_text, job))
    return jobs


def finish(job, directory, objs, hit: bool, timings: dict):
    """Load a LibraryJob's objects into an engine of its own and hand its CompiledModule over (storing the objects
    in the disk cache when they were compiled now). Called under jit._LOCK."""
    key = job.key()
    t0 = time.perf_counter()
    externals = jit._resolvable(objs)
    engine = jit._load_engine(objs)
    timings["load"] = time.perf_counter() - t0
    if directory is not None and not hit:
        jit._store(key, objs, job.opt, job.version, directory, externals)
    cm = jit.CompiledModule(job.make_ir, job.opt, key, engine, None, timings, hit, externals, job.codegen_opt)
    job.done(cm)
    return cm


def prepare(text: str, directory, timings: dict) -> tuple[list, list]:
    """(to compile, in flight): the LibraryJobs of `text` that must compile now, and those a prefetch thread is
    compiling (settle() loads them after the program's own compile, so neither waits for the other). The disk
    cache's hits and the prefetched jobs that finished are loaded and handed over here (timings["libraries"]: the
    time that took, when there were any). Called under jit._LOCK."""
    t0 = time.perf_counter()
    jobs = _jobs_for(text)
    with _QUEUE_LOCK:
        for job in jobs:
            if job.state == "queued":
                job.state = "new"            # not started yet: it compiles beside the program instead
    pending, inflight = [], []
    for job in jobs:
        if job.state == "running":
            inflight.append(job)
            continue
        if job.state == "compiled":
            if job.objs is not None:
                finish(job, directory, job.objs, False, {})
                continue
            job.state = "new"
        if directory is not None:
            objs = jit._cached_objects(job.key(), directory)
            if objs is not None:
                finish(job, directory, objs, True, {})
                continue
        pending.append(job)
    if jobs:
        timings["libraries"] = time.perf_counter() - t0
    return pending, inflight


def settle(inflight: list, directory, timings: dict) -> None:
    """Wait for the prefetched jobs prepare() found in flight and load them (a failed one is left to the provider,
    which compiles it again when the program's symbols resolve, and reports what is wrong). Under jit._LOCK."""
    t0 = time.perf_counter()
    for job in inflight:
        job.finished.wait()
        if job.objs is not None:
            finish(job, directory, job.objs, False, {})
    if inflight:
        timings["libraries_wait"] = time.perf_counter() - t0


def compile_alone(libraries: list, directory, timings: dict) -> None:
    """Compile LibraryJobs without a program (one that came from the disk cache while its libraries did not)."""
    from .jit_parallel import compile_jobs
    objs = compile_jobs([j.job() for j in libraries], compile_threads(), timings)
    for job, obj in zip(libraries, objs):
        if obj is not None:
            finish(job, directory, [obj], False, {})


def compile_library(job: LibraryJob):
    """One LibraryJob on its own now: from the disk cache, else compiled on this thread."""
    jit._ensure_init()
    directory = jit.cache.cache_dir()
    with jit._LOCK:
        jit._free_released_locked()
        with _QUEUE_LOCK:
            started = _PREFETCHED.pop(job.key_text, None)
            if started is not None and started.state == "queued":
                started.state = "new"
        if started is not None and started.state in ("running", "compiled"):
            started.finished.wait()
            if started.objs is not None:
                return finish(started, directory, started.objs, False, {})
        if directory is not None:
            objs = jit._cached_objects(job.key(), directory)
            if objs is not None:
                return finish(job, directory, objs, True, {})
        timings: dict[str, float] = {}
        objs = jit._compile_text(job.make_ir(), job.opt, job.codegen_opt, timings, split=False)
        return finish(job, directory, objs, False, timings)


# ---- prefetch: library modules compiled while the program's IR is written ----

_QUEUE_LOCK = threading.Lock()
_PREFETCHED: dict = {}         # key_text -> LibraryJob started by prefetch and not taken by a program yet
_QUEUE: list = []
_WORKER = [None]


def prefetch(job: LibraryJob) -> bool:
    """Start compiling `job` on a background thread (one, taking queued jobs in turn) when this machine has a core
    to spare and the disk cache does not have it; the next program compile that declares it loads it. False when
    it was not started (the program's compile then does everything, as without prefetch)."""
    if compile_threads() < 2:
        return False
    directory = jit.cache.cache_dir()
    if directory is not None and jit.cache.entry_exists(job.key(), directory):
        return False
    with _QUEUE_LOCK:
        if job.key_text in _PREFETCHED:
            return False
        job.state = "queued"
        _PREFETCHED[job.key_text] = job
        _QUEUE.append(job)
        if _WORKER[0] is None or not _WORKER[0].is_alive():
            _WORKER[0] = threading.Thread(target=_work, name="vive-llvm-prefetch", daemon=True)
            _WORKER[0].start()
            if not _DRAIN_REGISTERED:
                atexit.register(_drain)
                _DRAIN_REGISTERED.append(True)
    return True


_DRAIN_REGISTERED: list = []


def _drain():
    """At exit: drop the queued jobs and wait for the running one (LLVM's static destructors must not run under a
    thread still inside LLVM)."""
    with _QUEUE_LOCK:
        for job in _QUEUE:
            if job.state == "queued":
                job.state = "new"
        worker = _WORKER[0]
    if worker is not None:
        worker.join()


def _work():
    from .jit_parallel import _compile_part
    while True:
        with _QUEUE_LOCK:
            job = next((j for j in _QUEUE if j.state == "queued"), None)
            _QUEUE[:] = [j for j in _QUEUE if j.state == "queued" and j is not job]
            if job is None:
                _WORKER[0] = None
                return
            job.state = "running"
        try:
            # NOTE: no jit._LOCK: a private context, as jit_parallel's part threads (a program's compile that
            # holds the lock waits for this job's `finished`, and loads it itself)
            job.objs = [_compile_part(job.make_ir(), job.opt, job.codegen_opt)]
        except Exception:       # noqa: BLE001  (compiled again, and reported, by the program's compile)
            job.objs = None
        job.state = "compiled"
        job.finished.set()
