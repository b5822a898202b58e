"""Lowering a traced graph to a loaded program: Lowered (every stage, printable), the program metadata, the disk-cache
and program-table keys, and the backend registry."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time

import numpy as np

import runtime
from runtime import cache as rt_cache

from .. import debug, pytree
from ..errors import BackendError, format_loc
from ..primitives.collective import communicator, world_size
from ..ir.printer import print_graph
from ..lower.checks import site_key
from . import profile as prof
from .executable import Executable, _size_str

_FORMAT = "vive-program-v1"


# ---- backends: name -> object with .build(lowered) ----

BACKENDS = {}


def register_backend(name, factory):
    """Make `cc.compile(backend=name)` available; factory() returns an object with build(Lowered)."""
    BACKENDS[name] = factory


# ---- lowering pipeline ----

class Lowered:
    """One compiled signature: `.graph` (traced), `.optimized`, `.plan` (fusion), `.kernels` (the Program),
    `.llvm_ir()`, `.asm()`, `.ptx()`, `.pass_log`, and callable like the function."""

    def __init__(self, graph, backend, name, out_tree, check_indices=True, fast_math=False):
        self.graph = graph
        self.fast_math = fast_math       # cc.compile(fast_math=True): the CPU code uses mathlib/fast.py's forms
        self.backend = backend
        self.name = name
        self.out_tree = out_tree
        self.check_indices = check_indices
        self.pass_log = None
        self._optimized = self._plan = self._program = self._ir = self._module = None
        self.executable = None
        self._profiled = None            # the profiling build's Executable (backends/profile.py), made on demand
        self.timings = {}
        self.cache_hit = False
        self.check_bounds = backend == "cpu" and debug.check_bounds()     # VIVE_CHECK_BOUNDS, fixed per compile

    # lazily computed stages (a disk-cache hit skips them until someone asks)
    def _run_passes(self):
        from ..passes import run_pipeline, pipeline_for, PassLog
        from ..passes.fuse import fusion_pass
        from ..passes.memory import plan_fused_memory
        from ..lower import lower_plan
        log = PassLog()
        self.timings["passes_start_ns"] = time.perf_counter_ns()
        t0 = time.perf_counter()
        g = run_pipeline(self.graph, pipeline_for(self.graph), log=log)
        if _has_collectives(g):
            # in a world of one the pass removes them (the identity), which every backend can run
            if self.backend != "cpu" and world_size() > 1:
                n = next(n for n in g.nodes if n.prim.collective is not None)
                raise BackendError(f"{self.backend}: {n.prim.name} (MPI all-reduce) runs on the CPU backend only; "
                                   f"a GPU all-reduce (NCCL) is not implemented{format_loc(n.loc) if n.loc else ''}")
            from ..passes.collective import bucket_all_reduce
            g = run_pipeline(g, [bucket_all_reduce], log=log)
        t1 = time.perf_counter()
        use_blas = _blas() is not None or self.backend != "cpu"     # GPU backends tile Gemm statements
        lower = functools.partial(lower_plan, use_blas=use_blas, name=self.name, tile_windows=self.backend == "cpu",
                                  cpu_sums=self.backend == "cpu", check_indices=self.check_indices)
        fused = run_pipeline(g, [fusion_pass(lower), plan_fused_memory], log=log)
        plan, program = fused.plan, fused.program
        self._optimized, self._plan, self._program, self.pass_log = g, plan, program, log
        fuse_rec, memory_rec = log.records[-2:]
        self.timings.update(passes=t1 - t0, fuse_lower=fuse_rec.seconds, memory=memory_rec.seconds)
        debug.log(f"{self.name}: {len(program.kernels)} kernels, bytes moved {program.bytes_moved}", 1)

    @property
    def optimized(self):
        if self._optimized is None:
            self._run_passes()
        return self._optimized

    @property
    def plan(self):
        if self._plan is None:
            self._run_passes()
        return self._plan

    @property
    def kernels(self):
        """The loop-level Program (print it to read the kernels); `.kernels.kernels` lists them."""
        if self._program is None:
            self._run_passes()
        return self._program

    @property
    def program(self):
        return self.kernels

    def llvm_ir(self) -> str:
        if self._ir is None:
            from ..codegen.llvm import generate
            t = runtime.host_target()
            t0 = time.perf_counter()
            self._ir = generate(self.kernels, blas=_blas(), openmp=runtime.has_openmp(), triple=t.triple,
                                data_layout=t.data_layout, entry=entry_name(self.name),
                                stream_bytes=runtime.last_level_cache_bytes(), check_bounds=self.check_bounds,
                                mpi=_mpi(self.graph), fast_math=self.fast_math)
            self.timings["codegen"] = time.perf_counter() - t0
        return self._ir

    def profile_llvm_ir(self) -> str:
        """The LLVM IR of the profiling build: the entry stamps the clock around each kernel (backends/profile.py)."""
        from ..codegen.llvm import generate
        t = runtime.host_target()
        prog = self.kernels
        return generate(prog, blas=_blas(), openmp=runtime.has_openmp(), triple=t.triple, data_layout=t.data_layout,
                        entry=entry_name(self.name), stream_bytes=runtime.last_level_cache_bytes(),
                        check_bounds=self.check_bounds, profile_slot=prog.n_slots, fast_math=self.fast_math)

    def profiled_executable(self):
        """The Executable of the profiling build (compiled on first use, kept): what f.profile() runs."""
        if self._profiled is None:
            ir_text = self.profile_llvm_ir()
            meta, consts = program_meta(self.kernels, ir_text, entry_name(self.name), self.check_bounds)
            module = runtime.compile_module(ir_text, version=_version())
            self._profiled = prof.make_executable(self, meta, module, consts)
        return self._profiled

    def optimized_llvm_ir(self) -> str:
        return self._compiled_module().optimized_ir

    def asm(self) -> str:
        return self._compiled_module().asm()

    def ptx(self) -> str:
        factory = BACKENDS.get("cuda")
        if factory is None:
            raise BackendError("ptx: the CUDA backend is not available in this build (cc.compile(..., "
                               "backend='cuda') registers it); .llvm_ir() and .asm() show the CPU code")
        return factory().ptx(self)

    def _compiled_module(self):
        if self._module is None:
            self._module = runtime.compile_module(self.llvm_ir(), version=_version())
        return self._module

    def __call__(self, *args):
        if self.executable is None:
            raise BackendError(f"{self.name}: not compiled (backend {self.backend})")
        leaves, tree = pytree.flatten(args)
        return self.executable.run(leaves)

    def __repr__(self):
        return f"<Lowered {self.name}: {len(self.graph.nodes)} nodes traced>"


def entry_name(name):
    """The symbol of a program's entry function for a compiled function's name: vive_ + the name made an identifier."""
    import re
    return "vive_" + (re.sub(r"[^A-Za-z0-9_]", "_", name) or "f")


_BLAS = "unset"


def _blas():
    global _BLAS
    if _BLAS == "unset":
        _BLAS = runtime.blas_symbols()
        from .gemm_kernels import install      # programs may call own gemm kernels: made when they load
        install()
    return _BLAS


def _has_collectives(graph):
    return any(n.prim.collective is not None for n in graph.nodes)


def _mpi(graph):
    """runtime.mpi.mpi_symbols() of the job's communicator when `graph` all-reduces in a world of several (the
    library then is loaded, so that a cached object naming MPI_* links), else None."""
    if not _has_collectives(graph):
        return None
    comm = communicator()
    if comm is None or comm.Get_size() == 1:
        return None
    from runtime.mpi import mpi_symbols
    return mpi_symbols(comm)


def _mpi_key(graph):
    m = _mpi(graph)
    return json.dumps(m, sort_keys=True) if m else ""


def _version():
    from ..version import __version__
    return f"vive-{__version__}"


def program_meta(program, ir_text, entry, check_bounds=False):
    """(meta, consts): what loading a program needs besides its code (slots, outputs, dims, checks), as JSON-able
    data for the disk cache, and its constant arrays in slot order."""
    bufs_out = []
    outputs = []
    index = {}
    for kind, b in program.outputs:
        if kind == "buf":
            if id(b) not in index:
                index[id(b)] = len(bufs_out)
                bufs_out.append({"shape": [_size_str(d) for d in b.shape], "dtype": b.dtype.np.str})
            outputs.append(["buf", index[id(b)]])
        else:
            outputs.append([kind, b])
    checks = list(getattr(program, "check_sites", None) or [])
    n_scratch_end = program.n_slots - (1 if checks else 0)
    n_fixed = min(program.slot_sizes) if program.slot_sizes else n_scratch_end
    slot_sizes = [[_size_str(x) for x in program.slot_sizes[s]] for s in range(n_fixed, n_scratch_end)]
    consts = sorted((b for b in program.buffers if b.role == "const"), key=lambda b: b.slot)
    host = None
    if getattr(program, "host_table", None) is not None:
        # the table's value is filled in per loaded program (backends/host.py): never the cached zero
        host = {"table": consts.index(program.host_table), "sites": program.host_sites}
    return {
        "format": _FORMAT, "ir": ir_text, "entry": entry, "n_slots": program.n_slots,
        "dims": [str(s) for s in program.dims],
        "dim_sources": [list(program.dim_sources[s]) for s in program.dims],
        "outputs": outputs, "out_bufs": bufs_out, "slot_sizes": slot_sizes, "checks": checks,
        "n_kernels": len(program.kernels), "status": bool(check_bounds), "host_calls": host,
    }, [b.array for b in consts]


_META_FIELDS = {"ir": str, "entry": str, "n_slots": int, "dims": list, "dim_sources": list, "outputs": list,
                "out_bufs": list, "slot_sizes": list}


def _bad_meta(meta):
    """Why a program entry's metadata cannot be used, or None (the sha256 of an entry only says it is whole)."""
    if meta.get("format") != _FORMAT:
        return "not a program entry"
    for name, typ in _META_FIELDS.items():
        if not isinstance(meta.get(name), typ):
            return f"metadata field {name!r} missing or of the wrong type"
    return None


def _pack_consts(arrays):
    import io
    bio = io.BytesIO()
    np.savez(bio, *arrays)
    return bio.getvalue()


def _unpack_consts(blob):
    import io
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return [np.ascontiguousarray(z[f"arr_{i}"]) for i in range(len(z.files))]


_SOURCE_HASH = None


def _source_hash():
    """A hash of the compiler's own source: a cached program is reused only by the code that produced it."""
    global _SOURCE_HASH
    if _SOURCE_HASH is None:
        d = rt_cache.cache_dir()
        _SOURCE_HASH = tree_hash(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),     # all of compiler/
                                 os.path.join(d, "sources") if d else None)
    return _SOURCE_HASH


def tree_hash(root, memo_dir=None):
    """sha256 of the names and contents of the .py files under root. With memo_dir, the result is kept there under
    a stamp of every file's (path, size, mtime_ns) -- what CPython itself trusts for its .pyc files -- and read
    back while no file changed. NOTE: reading and hashing the ~140 sources cost a few ms per process, as much as a
    whole compile from the disk cache; stat-ing them costs a tenth of that."""
    files = []
    for d, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        files += [os.path.join(d, f) for f in sorted(names) if f.endswith(".py")]
    memo = None
    if memo_dir is not None:
        stamp = hashlib.sha256()
        for p in files:
            st = os.stat(p)
            stamp.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        memo = os.path.join(memo_dir, stamp.hexdigest())
        try:
            with open(memo) as fh:
                value = fh.read().strip()
            if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
                return value
        except OSError:
            pass
    h = hashlib.sha256()
    for p in files:
        with open(p, "rb") as fh:
            h.update(os.path.basename(p).encode() + b"\0" + fh.read())
    value = h.hexdigest()
    if memo is not None:
        try:            # atomically, like the cache's entries; a read-only cache only costs the hashing again
            os.makedirs(memo_dir, exist_ok=True)
            tmp = f"{memo}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(value)
            os.replace(tmp, memo)
        except OSError:
            pass
    return value


def graph_key(graph, backend, check_indices=True, profile=False, fast_math=False):
    """The disk-cache key of a graph's program: the graph's text and everything its code depends on besides."""
    t = runtime.host_target()
    blas = _blas()
    h = hashlib.sha256()
    for part in (_FORMAT, _version(), _source_hash(), backend, t.triple, t.cpu, t.features, str(runtime.has_openmp()),
                 str(runtime.last_level_cache_bytes()),     # streaming-store threshold (codegen/llvm.py)
                 "check-bounds" if backend == "cpu" and debug.check_bounds() else "",
                 "gemm=" + debug.gemm_kernels(),          # VIVE_GEMM picks own kernels or BLAS (codegen/llvm_gemm.py)
                 "profile" if profile else "", "fast-math" if fast_math else "",
                 json.dumps(blas, sort_keys=True) if blas else "noblas", print_graph(graph),
                 repr(graph.out_tree), repr(graph.in_tree), _mpi_key(graph),
                 f"checks={check_indices}:{site_key(graph) if check_indices else ''}"):
        b = part.encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _env_key():
    """What the code of a graph depends on besides the graph (as in graph_key): the process-wide program table
    keys on it too, so a changed fact (a test's smaller cache size, BLAS found later) compiles anew."""
    t = runtime.host_target()
    blas = _blas()
    return "\0".join((t.triple, t.cpu, t.features, str(runtime.has_openmp()), str(runtime.last_level_cache_bytes()),
                      json.dumps(blas, sort_keys=True) if blas else "noblas",
                      "check-bounds" if debug.check_bounds() else "", "gemm=" + debug.gemm_kernels(),
                      "profile" if debug.profile_path() else ""))


def build(graph, name, out_tree, backend="cpu", check_indices=True, fast_math=False, **options) -> Lowered:
    """Lower and compile a traced graph for the CPU; uses the disk cache of whole programs when it can.
    Other backends: BACKENDS[backend]().build(Lowered, **options) returns the Lowered to use.
    check_indices: data-dependent indices raise IndexError when out of range (else they are clamped).
    fast_math: cheaper math forms with the bounds of primitives/mathlib/fast.py (CPU; other backends ignore it)."""
    if backend != "cpu":
        low = BACKENDS[backend]().build(Lowered(graph, backend, name, out_tree, check_indices, fast_math), **options)
        if debug.dump_dir():
            debug.dump_compile(low, name, backend)     # VIVE_DUMP_DIR: every stage, numbered, + summary.txt
        return low
    low = Lowered(graph, backend, name, out_tree, check_indices, fast_math)
    t0 = time.perf_counter()
    t0_ns = time.perf_counter_ns()
    # VIVE_PROFILE: the program is built only as its profiling variant (kernel timestamps; backends/profile.py)
    profile = debug.profile_path() is not None
    directory = rt_cache.cache_dir()
    key = graph_key(graph, backend, check_indices, profile, fast_math) if directory else None
    entry = rt_cache.load(key, directory) if key else None
    meta = None
    if entry is not None:
        blob, meta = entry
        why = _bad_meta(meta)
        if why is None:
            try:
                consts = _unpack_consts(blob)
            except Exception as e:      # noqa: BLE001  (any damage: compile anew)
                why = f"constants unreadable: {type(e).__name__}"
        if why is not None:
            rt_cache.damaged(rt_cache.entry_path(key, directory), why)
            meta = None
    if meta is not None:
        if not profile:
            low._ir = meta["ir"]
        low.cache_hit = True
    else:
        ir_text = low.profile_llvm_ir() if profile else low.llvm_ir()
        meta, consts = program_meta(low.kernels, ir_text, entry_name(name), low.check_bounds)
    t1 = time.perf_counter()
    low.timings["llvm_start_ns"] = time.perf_counter_ns()
    module = runtime.compile_module(meta["ir"], version=_version())
    if key and not low.cache_hit:
        rt_cache.store(key, _pack_consts(consts), meta, directory)
    if profile:
        low.executable = low._profiled = prof.make_executable(low, meta, module, consts)
    else:
        low._module = module
        call = runtime.make_caller(module, meta["entry"], meta["n_slots"],
                                   len(meta["dims"]) + meta.get("status", False))
        low.executable = Executable(meta, call, consts, list(graph.in_types), out_tree, name)
        if low.executable._lean_plain() and not meta.get("host_calls") and not meta.get("status"):
            # the runner's call: the native side checks the argument's layout (executable.py runner1)
            low.executable.soft_call = runtime.make_caller(module, meta["entry"], meta["n_slots"], 0, soft_layout=True)
    if meta.get("host_calls"):
        from .host import install
        install(low.executable, meta["host_calls"])
    low.timings.update(front=t1 - t0, llvm=module.compile_seconds, total=time.perf_counter() - t0)
    low.timings["module_cache_hit"] = module.cache_hit
    debug.log(f"{name}: compiled in {low.timings['total'] * 1e3:.1f} ms "
              f"({'program cache hit' if low.cache_hit else 'cold'}; llvm {module.compile_seconds * 1e3:.1f} ms)", 1)
    if debug.dump_dir():
        debug.dump_compile(low, name, backend)     # VIVE_DUMP_DIR: every stage, numbered, + summary.txt
    if profile:
        prof.trace_compile(low, name, t0_ns, time.perf_counter_ns())
    return low


