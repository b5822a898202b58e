"""CPU JIT: host target facts, the O3 pipeline, object emission and loading into MCJIT engines.

`compile_module(ir_text)` is the one way LLVM IR text becomes callable machine code; it uses the disk cache.
"""
from __future__ import annotations

import glob
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache

import llvmlite
import llvmlite.binding as llvm

from . import cache
from .errors import RuntimeBackendError
from .jit_split import compile_threads, elf_symbols, merge_duplicates, split_module

# NOTE: LLVM's global context, target registry and DynamicLibrary table are not thread safe, and llvmlite drops
# the GIL in its ffi calls, so every LLVM call here runs under this lock. Calling compiled code does not take it.
_LOCK = threading.RLock()
_initialized = False
_libraries: dict[str, bool] = {}
# NOTE: an engine lives as long as its CompiledModule (callers from runtime.abi hold that, so no engine goes while
# a call into it runs). A module that dies puts its engine here; engines are disposed under _LOCK at the next
# compile or free_released(), never from a finalizer inside another LLVM call, and never at interpreter exit
# (MCJIT teardown order at exit has segfaulted in llvmlite before).
_RELEASED: list = []
_counts = {"loaded": 0, "disposed": 0}


@dataclass(frozen=True)
class HostTarget:
    triple: str
    cpu: str
    features: str          # "+avx2,...,-prefer-256-bit": sorted, so it is stable across processes
    data_layout: str


MIN_VECTOR_TRIP = 8


def _ensure_init() -> None:
    global _initialized
    if _initialized:
        return
    with _LOCK:
        if _initialized:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        # Generated code may call OpenMP (threads) and glibc's vector math; make both visible to the linker
        # before any object is loaded. Missing libraries are fine: has_openmp()/has_libmvec() say so.
        for lib in ("libgomp.so.1", "libmvec.so.1"):
            _load_library_locked(lib)
        # loops of 8-15 iterations (known when compiling) go through the vectoriser's cost model like longer ones:
        # LLVM's default (16) left 2x2 pooling over 28- and 32-wide images scalar (LeNet-5's max-pool backward 666
        # -> 236 us, its forward 204 -> 87 us; znver4, one thread). NOTE: an LLVM option, so process-wide: other
        # llvmlite users in the process (Numba) see it too
        llvm.set_option("vive", f"-vectorizer-min-trip-count={MIN_VECTOR_TRIP}")
        _initialized = True


def _load_library_locked(name: str) -> bool:
    if name not in _libraries:
        try:
            llvm.load_library_permanently(name)
            _libraries[name] = True
        except RuntimeError:
            _libraries[name] = False
    return _libraries[name]


def load_library(name_or_path: str) -> bool:
    """Make a shared library's symbols resolvable from JIT code; False (no exception) if it cannot be loaded."""
    _ensure_init()
    with _LOCK:
        return _load_library_locked(name_or_path)


def has_openmp() -> bool:
    """True when libgomp is loaded, so generated code may call GOMP_parallel / omp_get_thread_num."""
    _ensure_init()
    return _libraries.get("libgomp.so.1", False)


def has_libmvec() -> bool:
    """True when glibc's libmvec is loaded (_ZGVeN16v_expf, _ZGVdN8v_tanhf, ...)."""
    _ensure_init()
    return _libraries.get("libmvec.so.1", False)


@lru_cache(maxsize=None)
def host_target() -> HostTarget:
    """Triple, CPU, features and data layout of this machine, for stamping llvmlite.ir modules."""
    _ensure_init()
    with _LOCK:
        triple = llvm.get_process_triple()
        cpu = llvm.get_host_cpu_name()
        feats = llvm.get_host_cpu_features()
        # -prefer-256-bit: the host tuning caps vectors at ymm on AVX-512 parts; zmm is 1.3-1.4x faster here.
        names = sorted(k for k in feats if k != "prefer-256-bit")
        features = ",".join(("+" if feats[k] else "-") + k for k in names) + ",-prefer-256-bit"
        tm = llvm.Target.from_triple(triple).create_target_machine(cpu=cpu, features=features, opt=3, jit=True)
        layout = str(tm.target_data)
        tm.close()
    return HostTarget(triple, cpu, features, layout)


@lru_cache(maxsize=None)
def last_level_cache_bytes() -> int:
    """Size of this CPU's largest cache (Linux sysfs), or 32 MiB where it cannot be read."""
    best = 0
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(os.path.join(index, "size")) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text.rstrip("KkMmGg")
        if digits.isdigit():
            best = max(best, int(digits) * scale)
    return best or 32 << 20


def _target_machine(opt: int = 3):
    """A fresh TargetMachine. NOTE: MCJIT takes ownership of its TM; never share one between engines."""
    t = host_target()
    return llvm.Target.from_triple(t.triple).create_target_machine(
        cpu=t.cpu, features=t.features, opt=min(max(opt, 0), 3), jit=True)


def _parse(ir_text: str, context=None):
    try:
        mod = llvm.parse_assembly(ir_text, context)
    except RuntimeError as e:
        raise RuntimeBackendError(f"LLVM IR does not parse: {e}") from None
    try:
        mod.verify()
    except RuntimeError as e:
        mod.close()                 # now, while its context (maybe a _Scratch one) still exists
        raise RuntimeBackendError(f"LLVM IR does not verify: {e}") from None
    t = host_target()
    if not mod.triple:
        mod.triple = t.triple
    if not mod.data_layout:
        mod.data_layout = t.data_layout
    return mod


# Streaming stores: the loop vectoriser refuses to widen a scalar !nontemporal store that is not itself aligned to
# the whole vector, so the code generator (compiler/codegen/llvm.py, same constant) names the functions whose
# stores should bypass the caches with this suffix, and after the pipeline their vector stores that LLVM proved
# aligned (16 bytes or more) get !nontemporal.
STREAM_SUFFIX = ".stream"
_ALIGNED_VECTOR_STORE = re.compile(r"^(\s+store <\d+ x (?:float|double)> [^!]*, align (?:16|32|64))((?:, !.*)?)$")


def _stream_stores(mod, context=None):
    """mod, or a reparsed copy whose STREAM_SUFFIX functions' aligned vector stores are non-temporal."""
    names = {f.name for f in mod.functions if f.name.endswith(STREAM_SUFFIX) and not f.is_declaration}
    if not names:
        return mod
    lines, inside = [], False
    for line in str(mod).splitlines():
        if line.startswith("define "):
            at = line.find("@")
            head = line[at + 1:line.find("(", at)]
            inside = head.strip('"') in names
        elif line.startswith("}"):
            inside = False
        elif inside:
            m = _ALIGNED_VECTOR_STORE.match(line)
            if m:
                line = f"{m.group(1)}, !nontemporal !{{i32 1}}{m.group(2)}"
        lines.append(line)
    return _parse("\n".join(lines), context)


def _tuning(opt: int):
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pto.loop_vectorization = opt >= 2
    pto.slp_vectorization = opt >= 2          # off by default in llvmlite; it packs straight-line code
    # NOTE: no LoopUnroll: full unrolling of the many small constant-extent loops (im2col, col2im, small batches)
    # tripled LLVM time (LeNet step 930 -> 600 ms cold, MLP batch 16 1080 -> 190 ms) and bought no run time;
    # the vectoriser still interleaves hot loops
    pto.loop_unrolling = False
    return pto


# `opt=LIGHT`: these passes alone, for IR written as the vector code it should run as (the own gemm kernels):
# scalar cleanup and rotated loops, ~60% of the O1 pipeline's time saved (backends/gemm_kernels.py measures it)
LIGHT = "light"
LIGHT_PASSES = ("sroa", "sccp", "instruction_combine", "jump_threading", "simplify_cfg", "loop_simplify",
                "loop_rotate", "new_gvn")


def run_light(mod, pb, run=None) -> None:
    """The LIGHT pass list on mod (`run(mpm, mod, pb)`: how to run it; default: under llvmlite's lock)."""
    mpm = llvm.create_new_module_pass_manager()
    for name in LIGHT_PASSES:
        getattr(mpm, f"add_{name}_pass")()
    if run is None:
        mpm.run(mod, pb)
    else:
        run(mpm, mod, pb)


def _optimize(mod, opt, context=None):
    """Run the O<opt> pipeline (or the LIGHT passes) on mod; returns the optimised module (mod itself, or a
    reparsed copy)."""
    if opt == LIGHT:
        run_light(mod, llvm.create_pass_builder(_target_machine(1), _tuning(1)))
        return mod
    if opt <= 0:
        return mod
    pb = llvm.create_pass_builder(_target_machine(opt), _tuning(opt))
    pb.getModulePassManager().run(mod, pb)
    _inline_vector_variants(mod, pb)
    return _stream_stores(mod, context)


def _inline_vector_variants(mod, pb):
    """Inline the masked vector variants of rare out-of-line functions (alwaysinline, named *_v<lanes>) into the
    loops the vectoriser made call them: it creates those calls after the pipeline's inliner has run."""
    if not any(f.name.endswith(_VARIANT_SUFFIXES) and not f.is_declaration for f in mod.functions):
        return
    mpm = llvm.create_new_module_pass_manager()
    mpm.add_always_inliner_pass()
    mpm.run(mod, pb)


_VARIANT_SUFFIXES = ("_v2", "_v4", "_v8", "_v16")


def _elf_undefined_symbols(obj: bytes) -> list[str] | None:
    """Names of the global, non-weak undefined symbols of an ELF64-LE relocatable object; None if not ELF64-LE."""
    syms = elf_symbols(obj)
    return None if syms is None else syms[0]


# symbol-name prefix -> provider(name) -> address of a function of that name (0: cannot), made on demand
_PROVIDERS: dict = {}


# symbol-name prefix -> sources(names) -> [LibraryJob] for those of `names` not loaded yet (see provide_symbols)
_SOURCES: dict = {}


def provide_symbols(prefix: str, provider, sources=None) -> None:
    """Let `provider(name) -> int` define the missing symbols that start with `prefix` when code using them loads
    (the compiler's own helper kernels, compiled in modules of their own: runtime never imports compiler/).

    `sources(names) -> [jit_library.LibraryJob]`, when given, names the modules that define those of `names` not
    loaded yet: compile_module then compiles them beside the program (they are independent) instead of one after
    the other when the program loads."""
    _PROVIDERS[prefix] = provider
    if sources is not None:
        _SOURCES[prefix] = sources
    else:
        _SOURCES.pop(prefix, None)


def _check_resolvable(obj: bytes, siblings: frozenset = frozenset()) -> list[str]:
    """The object's external symbols; raise if one cannot be found. `siblings`: symbols that objects loaded into the
    same engine define (the other parts of a split module).

    NOTE: MCJIT binds an unresolved symbol to address 0 without any error, so calling it would crash the
    process; this check turns that into a clean exception.
    """
    externals = _elf_undefined_symbols(obj)
    if externals is None:
        return []
    externals = [s for s in externals if s not in siblings]
    missing = [s for s in externals if s != "_GLOBAL_OFFSET_TABLE_" and not llvm.address_of_symbol(s)]
    if missing:
        # A cached object may call BLAS before anything in this process asked for it: load it and look again.
        from .blas import blas_symbols
        if blas_symbols() is not None:
            missing = [s for s in missing if not llvm.address_of_symbol(s)]
    if missing and _PROVIDERS:
        for s in missing:
            provider = next((f for prefix, f in _PROVIDERS.items() if s.startswith(prefix)), None)
            address = provider(s) if provider is not None else 0
            if address:
                llvm.add_symbol(s, address)
        missing = [s for s in missing if not llvm.address_of_symbol(s)]
    if missing:
        raise RuntimeBackendError(
            "compiled code refers to symbols that are not loaded in this process: " + ", ".join(sorted(missing))
            + " (load their library first, e.g. runtime.jit.load_library(path))")
    return externals


class CompiledModule:
    """Machine code of one LLVM module, loaded in its own MCJIT engine.

    `address(name)` gives a function's entry point; `timings` (seconds) holds parse/verify/opt/codegen/
    load and cache_read/cache_write; `cache_hit` says whether the object came from the disk cache.
    """

    def __init__(self, ir_text: str, opt: int, key: str | None, engine, optimized_ir: str | None,
                 timings: dict, cache_hit: bool, externals: list[str], codegen_opt: int | None = None):
        self._source_ir = ir_text        # the text, or a callable that makes it (LibraryJob.make_ir)
        self.opt = opt
        self.codegen_opt = opt if codegen_opt is None else codegen_opt
        self.key = key
        self.timings = timings
        self.cache_hit = cache_hit
        self.externals = externals
        self._engine = engine
        self._optimized_ir = optimized_ir
        self._addresses: dict[str, int] = {}
        weakref.finalize(self, _release_engine, engine).atexit = False

    def address(self, name: str) -> int:
        """Address of a function (or global) defined in this module; RuntimeBackendError if there is none."""
        addr = self._addresses.get(name)
        if addr is None:
            with _LOCK:
                addr = self._engine.get_function_address(name) or self._engine.get_global_value_address(name)
            if not addr:
                raise RuntimeBackendError(f"no symbol {name!r} in the compiled module")
            self._addresses[name] = addr
        return addr

    @property
    def source_ir(self) -> str:
        if callable(self._source_ir):
            self._source_ir = self._source_ir()
        return self._source_ir

    @property
    def compile_seconds(self) -> float:
        """Wall time this module cost to produce (all of `timings`)."""
        return sum(self.timings.values())

    @property
    def optimized_ir(self) -> str:
        """LLVM IR after the optimisation pipeline (recomputed from the source on a cache hit)."""
        if self._optimized_ir is None:
            with _LOCK, _Scratch() as ctx:
                self._optimized_ir = str(ctx.keep(_optimize(ctx.keep(_parse(self.source_ir, ctx.context)),
                                                            self.opt, ctx.context)))
        return self._optimized_ir

    def asm(self) -> str:
        """Host assembly of the optimized module (a separate TM: the engine's own belongs to MCJIT)."""
        text = self.optimized_ir
        with _LOCK, _Scratch() as ctx:
            mod = ctx.keep(_parse(text, ctx.context))
            tm = _target_machine(self.codegen_opt)
            return tm.emit_assembly(mod)

    def __repr__(self) -> str:
        total = self.compile_seconds * 1e3
        return f"<CompiledModule {self.key[:12] if self.key else 'uncached'} hit={self.cache_hit} {total:.1f} ms>"


def _load_engine(objs: list[bytes]):
    """One MCJIT engine holding every object of a module (its parts link to each other inside the engine)."""
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
    for obj in objs:
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    _counts["loaded"] += 1
    return engine


class _Scratch:
    """A private LLVMContext for one compile, disposed with its modules after it: types and constants that LLVM
    uniques per context would otherwise pile up in the global context for the life of the process."""

    def __enter__(self):
        self.context = llvm.create_context()
        self.modules = []
        return self

    def keep(self, mod):
        if mod is not None and all(m is not mod for m in self.modules):
            self.modules.append(mod)
        return mod

    def __exit__(self, *exc):
        for mod in reversed(self.modules):
            mod.close()                       # before their context
        self.context.close()
        return False


def _release_engine(engine) -> None:
    """Finalizer of a CompiledModule: dispose its engine now when this thread may take the LLVM lock, else later."""
    _RELEASED.append(engine)
    owned = getattr(_LOCK, "_is_owned", None)
    # NOTE: not while this thread is inside its own LLVM sequence (a GC can run between two llvmlite calls)
    if owned is None or owned():
        return
    if _LOCK.acquire(blocking=False):
        try:
            _free_released_locked()
        finally:
            _LOCK.release()


def _free_released_locked() -> int:
    n = 0
    while _RELEASED:
        _RELEASED.pop().close()
        n += 1
    _counts["disposed"] += n
    return n


def free_released() -> int:
    """Dispose the engines of dropped CompiledModules that could not be disposed when they died; returns how many."""
    with _LOCK:
        return _free_released_locked()


def live_engines() -> int:
    """How many engines are loaded and not yet disposed (tests of memory release read it)."""
    return _counts["loaded"] - _counts["disposed"]


def cache_key(ir_text: str, *, opt: int = 3, version: str = "", codegen_opt: int | None = None) -> str:
    """The disk-cache key compile_module uses for this text on this machine."""
    t = host_target()
    if codegen_opt is not None and codegen_opt != opt:
        opt = f"{opt}/{codegen_opt}"
    opt = f"{opt} trip{MIN_VECTOR_TRIP}"        # the LLVM options _ensure_init sets shape the code too
    return cache.make_key(ir_text, triple=t.triple, cpu=t.cpu, features=t.features, data_layout=t.data_layout,
                          llvmlite_version=llvmlite.__version__, llvm_version=".".join(map(str, llvm.llvm_version_info)),
                          opt=opt, version=version)


def _resolvable(objs: list[bytes]) -> list[str]:
    """The external symbols of a module's objects that none of them defines; raise if one cannot be found."""
    siblings = set()
    if len(objs) > 1:
        for obj in objs:
            syms = elf_symbols(obj)
            if syms is not None:
                siblings.update(syms[1])
    out = []
    for obj in objs:
        out += [e for e in _check_resolvable(obj, frozenset(siblings)) if e not in out]
    return out


def _pack(objs: list[bytes]) -> tuple[bytes, list[int]]:
    return b"".join(objs), [len(o) for o in objs]


def _unpack(blob: bytes, meta: dict) -> list[bytes] | None:
    """The objects of a cache entry (one, or the parts of a split module); None when the lengths do not add up."""
    sizes = meta.get("parts")
    if sizes is None:
        return [blob]
    if not (isinstance(sizes, list) and all(isinstance(n, int) and n > 0 for n in sizes) and sum(sizes) == len(blob)):
        return None
    out, at = [], 0
    for n in sizes:
        out.append(blob[at:at + n])
        at += n
    return out


def _compile_text(text: str, opt: int, codegen_opt: int, timings: dict, libraries=(), split=True) -> list[bytes]:
    """Objects of one module's IR text: in parts on several threads when it is big and the machine has cores to
    spare (jit_parallel.py), else whole on this thread. `libraries` (LibraryJobs) compile on the same threads; a
    job whose compile failed keeps objs None (the provider compiles it again on load and reports what is wrong).
    Called under _LOCK."""
    text = merge_duplicates(text)
    threads = compile_threads()
    texts = split_module(text, threads) if threads > 1 and split else [text]
    if len(texts) > 1 or libraries:
        from .jit_parallel import compile_jobs
        jobs = [(t, opt, codegen_opt) for t in texts] + [(j.make_ir, j.opt, j.codegen_opt) for j in libraries]
        objs = compile_jobs(jobs, threads, timings)
        for j, obj in zip(libraries, objs[len(texts):]):
            j.objs = None if obj is None else [obj]
        if all(o is not None for o in objs[:len(texts)]):
            return objs[:len(texts)]
        timings.pop("compile_parts", None)
    with _Scratch() as ctx:
        t1 = time.perf_counter()
        mod = ctx.keep(_parse(text, ctx.context))
        t3 = time.perf_counter()
        timings["parse"] = t3 - t1
        mod = ctx.keep(_optimize(mod, opt, ctx.context))
        t4 = time.perf_counter()
        timings["opt"] = t4 - t3
        obj = _target_machine(codegen_opt).emit_object(mod)
        timings["codegen"] = time.perf_counter() - t4
    return [obj]


def _cached_objects(key: str, directory: str) -> list[bytes] | None:
    entry = cache.load(key, directory)
    objs = _unpack(*entry) if entry is not None else None
    if entry is not None and objs is None:
        cache.damaged(cache.entry_path(key, directory), "part sizes do not add up")
    return objs


def _store(key: str, objs: list[bytes], opt: int, version: str, directory: str, externals=None) -> None:
    blob, sizes = _pack(objs)
    meta = {"externals": externals if externals is not None else [], "opt": opt, "version": version}
    if len(objs) > 1:
        meta["parts"] = sizes
    cache.store(key, blob, meta, directory)


def compile_module(llvm_ir_text: str, *, opt: int = 3, version: str = "", use_cache: bool = True,
                   codegen_opt: int | None = None) -> CompiledModule:
    """Parse, verify, optimise (O3 with loop + SLP vectorisation) and load LLVM IR text for this host.

    `version` (the compiler's version string) goes into the cache key. Bad IR raises RuntimeBackendError.
    A big module compiles in parts on several threads (jit_split.py; VIVE_COMPILE_THREADS=1 turns that off), and
    the modules of the library symbols it declares (provide_symbols' sources) compile on the same threads.
    `codegen_opt`: the code generator's level when it differs from the pipeline's (`opt=0, codegen_opt=1`: no IR
    pipeline, for IR that is already in the shape it should run in).

        cm = compile_module(ir_text, version=cc.__version__)
        addr = cm.address("add_kernel")
    """
    _ensure_init()
    from . import jit_library
    if codegen_opt is None:
        codegen_opt = 1 if opt == LIGHT else opt
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    key = cache_key(llvm_ir_text, opt=opt, version=version, codegen_opt=codegen_opt)
    directory = cache.cache_dir() if use_cache else None
    if directory is not None:
        objs = _cached_objects(key, directory)
        t1 = time.perf_counter()
        timings["cache_read"] = t1 - t0
        if objs is not None:
            with _LOCK:
                _free_released_locked()
                libraries, inflight = jit_library.prepare(llvm_ir_text, directory, timings)
                if libraries:
                    jit_library.compile_alone(libraries, directory, timings)
                jit_library.settle(inflight, directory, timings)
                t2 = time.perf_counter()
                externals = _resolvable(objs)
                engine = _load_engine(objs)
            timings["load"] = time.perf_counter() - t2
            return CompiledModule(llvm_ir_text, opt, key, engine, None, timings, True, externals, codegen_opt)
    with _LOCK:
        _free_released_locked()
        libraries, inflight = jit_library.prepare(llvm_ir_text, directory, timings)
        objs = _compile_text(llvm_ir_text, opt, codegen_opt, timings, libraries)
        t5 = time.perf_counter()
        for job in libraries:
            if job.objs is not None:
                jit_library.finish(job, directory, job.objs, False, {})
        jit_library.settle(inflight, directory, timings)
        externals = _resolvable(objs)
        engine = _load_engine(objs)
        t6 = time.perf_counter()
        timings["load"] = t6 - t5
    if directory is not None:
        _store(key, objs, opt, version, directory, externals)
        timings["cache_write"] = time.perf_counter() - t6
    # NOTE: the optimised text is not kept (printing it cost ~5% of a compile); optimized_ir recomputes it
    return CompiledModule(llvm_ir_text, opt, key, engine, None, timings, False, externals, codegen_opt)
