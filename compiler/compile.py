"""cc.compile: trace -> passes -> fusion -> kernels -> LLVM -> JIT, cached per input signature.

The one module of `compiler/` that imports `runtime/`.

    step = cc.compile(cc.value_and_grad(loss))
    loss_value, grads = step(params, x, y)
    print(step.lower(params, x, y).kernels)          # the loop-level kernels

Shapes: the first call with a signature compiles code specialised to its exact shapes (constant trip counts,
BLAS sizes known). When a later call differs only in some dimensions (a smaller last batch, a new batch
size), those dimensions become symbolic and the function is compiled once more for every size of them
(torch.compile's "automatic dynamic shapes"): a training loop compiles at most twice, never once per size.
`f.lower(cc.Spec("f32[N,784]"), ...)` compiles the symbolic version up front. A symbolic version carries the
guards its trace recorded (compiler/guards.py: N >= 3 for x[:3], ...); a call whose sizes break them gets another
version, and any failure of a symbolic trace falls back to a version for the exact shapes.
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import weakref

import os

import numpy as np
import sympy

# NOTE: set before libgomp loads (runtime loads it on first use): idle OpenMP workers spin only briefly (enough
# for back-to-back parallel loops of one call), then sleep instead of stealing a core from BLAS or other threads.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

import runtime  # noqa: E402
from runtime import buffers as rt_buffers
from runtime import cache as rt_cache
from runtime import status as rt_status

from . import calling, debug, guards, inputs, pytree
from .errors import BackendError, BoundsError, DTypeError, ShapeError, TraceError
from .ir.printer import print_graph
from .lower.kernel import ALIGNED_OUTPUT_BYTES
from .lower.checks import STATUS_WORDS, site_key
from .ir.types import TensorType, dtype as to_dtype, symbol
from .programs import PROGRAMS
from .trace import Tracer, trace_flat

_FORMAT = "vive-program-v1"
_C_ALIGNED = inputs.C_ALIGNED
_ALIGN = 64
# symbolic versions per signature kind before a call whose sizes break every version's guards gets a version
# specialised to its shapes instead (a function branching on many sizes does not keep retracing symbolically)
MAX_SYMBOLIC_VERSIONS = 4


def _new_output(shape, dtype):
    """np.empty(shape, dtype); from ALIGNED_OUTPUT_BYTES up, a 64-byte aligned block from runtime.buffers' pool
    (codegen promises LLVM that alignment for big outputs, and reused blocks take no page faults)."""
    if math.prod(shape) * dtype.itemsize < ALIGNED_OUTPUT_BYTES:
        return np.empty(shape, dtype)
    return rt_buffers.empty(shape, dtype)


# ---- backends: name -> object with .build(lowered) ----

BACKENDS = {}


def register_backend(name, factory):
    """Make `cc.compile(backend=name)` available; factory() returns an object with build(Lowered)."""
    BACKENDS[name] = factory


# ---- signatures ----

def _leaf_type(x):
    if isinstance(x, np.ndarray):
        inputs.refuse(x)
        if x.dtype == object:
            raise DTypeError("compiled functions take numeric arrays; got an object array")
        return TensorType(to_dtype(inputs.native_dtype(x.dtype)), x.shape)
    if isinstance(x, np.generic):
        return TensorType(to_dtype(inputs.native_dtype(x.dtype)), ())
    if inputs.is_weak(x):
        return TensorType(to_dtype(inputs.weak_dtype(x)), ())     # weak: see compiler/inputs.py
    if isinstance(x, TensorType):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__array__"):
        return TensorType(to_dtype(np.dtype(x.dtype)), tuple(x.shape))     # a device array (backend='cuda')
    if isinstance(x, (list, tuple)) or hasattr(x, "__array__"):
        a = np.asarray(x)
        if a.dtype == object:
            raise DTypeError(f"cannot compile for an argument of type {type(x).__name__}")
        return TensorType(to_dtype(a.dtype), a.shape)
    raise DTypeError(f"compiled functions take NumPy arrays, Python numbers, cc.Spec, or dicts/lists/tuples of "
                     f"them; got {type(x).__name__}{pytree.hint(x)}")


def _sig_of(x):
    if type(x) is np.ndarray:
        return (x.dtype.char, x.shape)
    if inputs.is_weak(x):
        return type(x)                    # weak: the value is a run-time input, never part of the signature
    if isinstance(x, np.ndarray):
        return (x.dtype.char, x.shape)
    if isinstance(x, np.generic):
        return (x.dtype.char, ())
    if isinstance(x, TensorType):
        return ("spec", str(x))
    if hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__array__"):
        return (np.dtype(x.dtype).char, tuple(x.shape))                     # a device array (backend='cuda')
    return (type(x).__name__, np.shape(x))


# ---- size expressions -> fast Python ----

def _pyexpr(e, names):
    if isinstance(e, int):
        return str(e)
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return names[e]
    if isinstance(e, sympy.floor) or (e.is_Mul and sympy.fraction(e)[1] != 1) or isinstance(e, sympy.ceiling):
        inner = e.args[0] if isinstance(e, (sympy.floor, sympy.ceiling)) else e
        num, den = sympy.fraction(sympy.together(inner))
        if isinstance(e, sympy.ceiling):
            return f"(-((-({_pyexpr(num, names)}))//({_pyexpr(den, names)})))"
        return f"(({_pyexpr(num, names)})//({_pyexpr(den, names)}))"
    if e.is_Add:
        return "(" + "+".join(_pyexpr(a, names) for a in e.args) + ")"
    if e.is_Mul:
        return "(" + "*".join(_pyexpr(a, names) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and int(e.exp) >= 0:
        return f"({_pyexpr(e.base, names)}**{int(e.exp)})"
    if isinstance(e, sympy.Mod):
        return f"(({_pyexpr(e.args[0], names)})%({_pyexpr(e.args[1], names)}))"
    if isinstance(e, (sympy.Max, sympy.Min)):
        f = "max" if isinstance(e, sympy.Max) else "min"
        return f"{f}(" + ",".join(_pyexpr(a, names) for a in e.args) + ")"
    raise BackendError(f"cannot evaluate size expression {e}")


def _size_fn(exprs_by_name, dims):
    """Compile `lambda d: (...)` evaluating nested tuples/lists of size expressions from the dims tuple."""
    names = {s: f"d[{i}]" for i, s in enumerate(dims)}

    def code(x):
        if isinstance(x, (tuple, list)):
            inner = ", ".join(code(y) for y in x)
            return f"({inner}{',' if len(x) == 1 else ''})"
        return _pyexpr(x, names)
    src = f"lambda d: {code(exprs_by_name)}"
    return eval(src, {"max": max, "min": min})   # noqa: S307 -- generated from sympy sizes only


# ---- the executable ----

class Executable:
    """Runs one compiled program: validates and converts arguments, allocates outputs, one native call."""

    def __init__(self, meta, call, consts, in_types, out_tree, name):
        self.meta = meta
        self._call = _with_status(call, name) if meta.get("status") else call
        self._consts = consts
        self.in_types = in_types
        self.out_tree = out_tree
        self.name = name
        self.n_in = len(in_types)
        self._np_dtypes = [t.dtype.np for t in in_types]
        dims = [symbol(s) for s in meta["dims"]]
        self.dims = dims
        self._dim_src = [tuple(x) for x in meta["dim_sources"]]
        self.static = not dims
        outs = [(kind, x) for kind, x in meta["outputs"]]
        self._outs = outs
        out_shapes = [_parse_shape(b["shape"]) for b in meta["out_bufs"]]
        self._out_dtypes = [np.dtype(b["dtype"]) for b in meta["out_bufs"]]
        slots = [[_parse_size(x) for x in sizes] for sizes in meta["slot_sizes"]]
        if self.static:
            self._out_shapes_static = [tuple(int(d) for d in s) for s in out_shapes]
            self._slot_bytes_static = [max([int(x) for x in s] + [0]) for s in slots]
        else:
            self._out_shape_fn = _size_fn([list(s) for s in out_shapes], dims)
            self._slot_fn = _size_fn([list(s) for s in slots], dims)
            self._in_shapes = [t.shape for t in in_types]
            try:        # the input shapes as plain Python over the dims: no sympy on a call
                self._in_shape_fn = _size_fn([list(s) for s in self._in_shapes], dims)
            except (KeyError, BackendError):
                self._in_shape_fn = None
        self._tls = threading.local()
        self.guards = []
        self._guard_ok = None
        self.weak_limits = {}        # input index -> np.dtype a Python int argument must fit (set by the caller)
        self._checks = meta.get("checks") or []      # run-time check sites: a status array goes last (checks.py)
        self._single = len(outs) == 1 and outs[0][0] == "buf" and out_tree is not None and out_tree.kind == "leaf"
        # one output, no scratch, static shapes: the shortest path
        self._lean = self._single and self.static and not any(self._slot_bytes_static)
        if self._lean:
            self._shape0, self._dtype0 = self._out_shapes_static[0], self._out_dtypes[0]
            self._lean_aligned = math.prod(self._shape0) * self._dtype0.itemsize >= ALIGNED_OUTPUT_BYTES

    def _scratch(self, key, nbytes_list):
        cache = getattr(self._tls, "scratch", None)
        if cache is None:
            cache = self._tls.scratch = {}
        arrs = cache.get(key)
        if arrs is None:
            arrs = []
            for n in nbytes_list:
                raw = np.empty(int(n) + _ALIGN, np.uint8)
                off = (-raw.ctypes.data) % _ALIGN
                arrs.append(raw[off:off + int(n)])
            if len(cache) > 4:
                cache.clear()
            cache[key] = arrs
        return arrs

    def convert(self, leaves):
        """Arrays of the compiled dtypes, C-contiguous, with the compiled shapes (or the spec's)."""
        if len(leaves) != self.n_in:
            raise TypeError(f"{self.name}: expected {self.n_in} array arguments, got {len(leaves)}")
        out = []
        for i, (x, want) in enumerate(zip(leaves, self._np_dtypes)):
            if type(x) is not np.ndarray or x.dtype != want or x.flags.num & _C_ALIGNED != _C_ALIGNED:
                x = self._convert_one(i, x, want)
            out.append(x)
        return out

    def _convert_one(self, i, x, want):
        if isinstance(x, Tracer):
            raise TraceError(f"{self.name}: a compiled executable cannot take traced values; call the "
                             f"cc.compile'd function instead")
        where = f"{self.name}: argument {i}: "
        if inputs.is_weak(x):
            a = inputs.scalar_array(x, want, where)
            lim = self.weak_limits.get(i)
            if lim is not None and not np.iinfo(lim).min <= x <= np.iinfo(lim).max:
                raise OverflowError(f"{where}Python integer {x} out of bounds for {lim}")     # as NumPy 2 does
            return a
        return inputs.as_array(x, want, where)

    def run(self, leaves, checked=False):
        if checked and self.static:
            if self._lean:
                out = (_new_output if self._lean_aligned else np.empty)(self._shape0, self._dtype0)
                if self._checks:
                    st = self._status()
                    self._call(*leaves, out, *self._consts, st)
                    if st[0]:
                        self._raise_status(st)
                    return out
                self._call(*leaves, out, *self._consts)
                return out
            outs = [_new_output(s, dt) for s, dt in zip(self._out_shapes_static, self._out_dtypes)]
            st = (self._status(),) if self._checks else ()
            if self._slot_bytes_static:
                self._call(*leaves, *outs, *self._consts, *self._scratch((), self._slot_bytes_static), *st)
            else:
                self._call(*leaves, *outs, *self._consts, *st)
            if st and st[0][0]:
                self._raise_status(st[0])
            if self._single:
                return outs[0]
            return self._finish(leaves, outs)
        arrays = leaves if checked else self.convert(leaves)
        if self.static:
            if not checked:
                for i, (a, t) in enumerate(zip(arrays, self.in_types)):
                    if a.shape != t.shape:
                        raise ValueError(f"{self.name}: argument {i} has shape {a.shape}, compiled for {t}")
            dims = ()
            shapes = self._out_shapes_static
            slot_bytes = self._slot_bytes_static
        else:
            dims = tuple(arrays[i].shape[ax] for i, ax in self._dim_src)
            if not checked:
                self._check_shapes(arrays, dims)
                if not self.guards_hold(arrays):
                    bad = [str(g) for g in self.guards if not guards.checker([g], *self._guard_names())(
                        [a.shape for a in arrays])]
                    raise ShapeError(f"{self.name}: this version was compiled for sizes with {', '.join(bad)} "
                                     f"(the trace relied on it); these shapes break it. Call the cc.compile'd "
                                     f"function, which compiles another version for them")
            shapes = self._out_shape_fn(dims)
            slot_bytes = self._slot_fn(dims)
            slot_bytes = [max(s) if s else 0 for s in slot_bytes]
        outs = [_new_output(s, dt) for s, dt in zip(shapes, self._out_dtypes)]
        scratch = self._scratch(dims, slot_bytes) if slot_bytes else []
        st = (self._status(),) if self._checks else ()
        self._call(*arrays, *outs, *self._consts, *scratch, *st, *dims)
        if st and st[0][0]:
            self._raise_status(st[0])
        if self._single:
            return outs[0]
        return self._finish(arrays, outs)

    def _status(self):
        """This thread's status array of the run-time checks: zero between calls (kernels write it only to report
        a failure, and _raise_status clears it), so it is allocated once."""
        st = getattr(self._tls, "status", None)
        if st is None:
            st = self._tls.status = np.zeros(STATUS_WORDS, np.int64)
        return st

    def _raise_status(self, st):
        report = st.copy()
        st[:] = 0
        rt_status.raise_for(report, self._checks)

    def _finish(self, arrays, outs):
        res = []
        for kind, x in self._outs:
            if kind == "buf":
                res.append(outs[x])
            elif kind == "input":
                res.append(np.array(arrays[x], copy=True))
            else:
                res.append(res[x].copy())
        return pytree.unflatten(self.out_tree, res)

    def _guard_names(self):
        names = {}
        for i, t in enumerate(self.in_types):
            for ax, d in enumerate(t.shape):
                if not isinstance(d, int) and d.is_Symbol:
                    names.setdefault(d, f"s[{i}][{ax}]")
        return names, _pyexpr

    def _check_shapes(self, arrays, dims):
        if self._in_shape_fn is not None and all(
                a.shape == w for a, w in zip(arrays, self._in_shape_fn(dims))):
            return
        env = dict(zip(self.dims, dims))
        for i, (a, shape) in enumerate(zip(arrays, self._in_shapes)):
            if len(a.shape) != len(shape):
                raise ValueError(f"{self.name}: argument {i} has shape {a.shape}, compiled for {self.in_types[i]}")
            for n, d in zip(a.shape, shape):
                want = d if isinstance(d, int) else int(d.subs(env))
                if n != want:
                    raise ValueError(f"{self.name}: argument {i} has shape {a.shape}, compiled for "
                                     f"{self.in_types[i]} (with {', '.join(f'{k}={v}' for k, v in env.items())})")

    def fits(self, leaves):
        """Whether these (already converted) arrays fit the symbolic signature and its guards."""
        return fits_signature(leaves, self.in_types) is True and self.guards_hold(leaves)

    def set_guards(self, rels):
        """The facts about symbolic sizes this version relies on (sympy relations over the input symbols)."""
        names, _ = self._guard_names()
        rels = [g for g in rels if g.free_symbols <= set(names)]
        self.guards = rels
        self._guard_ok = guards.checker(rels, names, _pyexpr)

    def guards_hold(self, leaves):
        return self._guard_ok is None or self._guard_ok([a.shape for a in leaves])


def _with_status(call, name):
    """The native call of a program that reports an int32 status (VIVE_CHECK_BOUNDS): its address goes after
    the dims; a nonzero status raises once the kernels are done."""
    def checked(*args):
        status = np.zeros(1, np.int32)
        call(*args, status.ctypes.data)
        if status[0]:
            _raise_status(int(status[0]), name)
    return checked


def _raise_status(code, name):
    if code == 1:       # codegen.llvm.STATUS_OUT_OF_BOUNDS
        raise BoundsError(f"{name}: a kernel accessed an index outside its buffer (VIVE_CHECK_BOUNDS caught it; "
                          f"this is a vive bug: please report it with the function and the shapes)")
    raise BackendError(f"{name}: the compiled code returned status {code}")


def fits_signature(leaves, in_types):
    """Whether arrays (NumPy or device: anything with .shape and .dtype) fit TensorTypes with symbolic sizes:
    True / False, or None when a size is an expression (undecided: callers treat it as no fit)."""
    env = {}
    for a, t in zip(leaves, in_types):
        shape = tuple(a.shape)
        if len(shape) != len(t.shape) or np.dtype(a.dtype) != t.dtype.np:
            return False
        for n, d in zip(shape, t.shape):
            if isinstance(d, int):
                if n != d:
                    return False
            elif d.is_Symbol:
                if env.setdefault(d, n) != n:
                    return False
            else:
                return None
    return True


def _parse_shape(items):
    return tuple(_parse_size(x) for x in items)


def _parse_size(x):
    if isinstance(x, int):
        return x
    from .ir.types import _parse_dim_expr
    return _parse_dim_expr(x)


def _size_str(d):
    return d if isinstance(d, int) else str(d)


# ---- lowering pipeline ----

class Lowered:
    """One compiled signature: `.graph` (traced), `.optimized`, `.plan` (fusion), `.kernels` (the Program),
    `.llvm_ir()`, `.asm()`, `.ptx()`, `.pass_log`, and callable like the function."""

    def __init__(self, graph, backend, name, out_tree, check_indices=True):
        self.graph = graph
        self.backend = backend
        self.name = name
        self.out_tree = out_tree
        self.check_indices = check_indices
        self.pass_log = None
        self._optimized = self._plan = self._program = self._ir = self._module = None
        self.executable = None
        self.timings = {}
        self.cache_hit = False
        self.check_bounds = backend == "cpu" and debug.check_bounds()     # VIVE_CHECK_BOUNDS, fixed per compile

    # lazily computed stages (a disk-cache hit skips them until someone asks)
    def _run_passes(self):
        from .passes import run_pipeline, GENERIC_PIPELINE, PassLog
        from .passes.manager import PassRecord
        from .passes.fuse import fuse_graph, FusedGraph
        from .passes.memory import plan_memory
        from .lower import lower_plan
        log = PassLog()
        t0 = time.perf_counter()
        g = run_pipeline(self.graph, GENERIC_PIPELINE, log=log)
        t1 = time.perf_counter()
        use_blas = _blas() is not None or self.backend != "cpu"     # GPU backends tile Gemm statements
        plan, program = fuse_graph(g, lambda p: lower_plan(p, use_blas=use_blas, name=self.name,
                                                           tile_windows=self.backend == "cpu",
                                                           cpu_sums=self.backend == "cpu",
                                                           check_indices=self.check_indices))
        t2 = time.perf_counter()
        fused = FusedGraph(g, plan)
        log.append(PassRecord("fuse", t2 - t1, len(g.nodes), len(g.nodes), True, fused))
        plan_memory(program)
        _order_slots(program)
        t3 = time.perf_counter()
        log.append(PassRecord("plan_memory", t3 - t2, len(g.nodes), len(g.nodes), False, fused))
        self._optimized, self._plan, self._program, self.pass_log = g, plan, program, log
        self.timings.update(passes=t1 - t0, fuse_lower=t2 - t1, memory=t3 - t2)
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
            from .codegen.llvm import generate
            t = runtime.host_target()
            t0 = time.perf_counter()
            self._ir = generate(self.kernels, blas=_blas(), openmp=runtime.has_openmp(), triple=t.triple,
                                data_layout=t.data_layout, entry=_entry_name(self.name),
                                stream_bytes=runtime.last_level_cache_bytes(), check_bounds=self.check_bounds)
            self.timings["codegen"] = time.perf_counter() - t0
        return self._ir

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


def _entry_name(name):
    import re
    return "vive_" + (re.sub(r"[^A-Za-z0-9_]", "_", name) or "f")


def _order_slots(program):
    """Slots: inputs in argument order, outputs in result order, constants, then scratch (memory plan)."""
    slot = 0
    for b in program.inputs:
        b.slot = slot
        slot += 1
    seen = set()
    for kind, b in program.outputs:
        if kind == "buf" and id(b) not in seen:
            seen.add(id(b))
            b.slot = slot
            slot += 1
    for b in program.buffers:
        if b.role == "const":
            b.slot = slot
            slot += 1
    base = slot
    remap = {}
    for b in program.buffers:
        if b.role in ("temp", "scratch"):
            if b.slot not in remap:
                remap[b.slot] = base + len(remap)
            b.slot = remap[b.slot]
    program.slot_sizes = {remap[k]: v for k, v in program.slot_sizes.items() if k in remap}
    program.n_slots = base + len(remap)
    if getattr(program, "status", None) is not None:
        program.status.slot = program.n_slots          # last: after scratch (see lower/checks.py)
        program.n_slots += 1


_BLAS = "unset"


def _blas():
    global _BLAS
    if _BLAS == "unset":
        _BLAS = runtime.blas_symbols()
    return _BLAS


def _version():
    from . import __version__
    return f"vive-{__version__}"


def _program_meta(program, ir_text, entry, check_bounds=False):
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
    return {
        "format": _FORMAT, "ir": ir_text, "entry": entry, "n_slots": program.n_slots,
        "dims": [str(s) for s in program.dims],
        "dim_sources": [list(program.dim_sources[s]) for s in program.dims],
        "outputs": outputs, "out_bufs": bufs_out, "slot_sizes": slot_sizes, "checks": checks,
        "n_kernels": len(program.kernels), "status": bool(check_bounds),
    }, [b.array for b in consts]


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
        root = os.path.dirname(os.path.abspath(__file__))
        h = hashlib.sha256()
        for d, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".py"):
                    with open(os.path.join(d, f), "rb") as fh:
                        h.update(f.encode() + b"\0" + fh.read())
        _SOURCE_HASH = h.hexdigest()
    return _SOURCE_HASH


def _graph_key(graph, backend, check_indices=True):
    t = runtime.host_target()
    blas = _blas()
    h = hashlib.sha256()
    for part in (_FORMAT, _version(), _source_hash(), backend, t.triple, t.cpu, t.features, str(runtime.has_openmp()),
                 str(runtime.last_level_cache_bytes()),     # streaming-store threshold (codegen/llvm.py)
                 "check-bounds" if backend == "cpu" and debug.check_bounds() else "",
                 json.dumps(blas, sort_keys=True) if blas else "noblas", print_graph(graph),
                 repr(graph.out_tree), repr(graph.in_tree),
                 f"checks={check_indices}:{site_key(graph) if check_indices else ''}"):
        b = part.encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _env_key():
    """What the code of a graph depends on besides the graph (as in _graph_key): the process-wide program table
    keys on it too, so a changed fact (a test's smaller cache size, BLAS found later) compiles anew."""
    t = runtime.host_target()
    blas = _blas()
    return "\0".join((t.triple, t.cpu, t.features, str(runtime.has_openmp()), str(runtime.last_level_cache_bytes()),
                      json.dumps(blas, sort_keys=True) if blas else "noblas",
                      "check-bounds" if debug.check_bounds() else ""))


def build(graph, name, out_tree, backend="cpu", check_indices=True, **options) -> Lowered:
    """Lower and compile a traced graph for the CPU; uses the disk cache of whole programs when it can.
    Other backends: BACKENDS[backend]().build(Lowered, **options) returns the Lowered to use.
    check_indices: data-dependent indices raise IndexError when out of range (else they are clamped)."""
    if backend != "cpu":
        low = BACKENDS[backend]().build(Lowered(graph, backend, name, out_tree, check_indices), **options)
        if debug.dump_dir():
            debug.dump_compile(low, name, backend)     # VIVE_DUMP_DIR: every stage, numbered, + summary.txt
        return low
    low = Lowered(graph, backend, name, out_tree, check_indices)
    t0 = time.perf_counter()
    directory = rt_cache.cache_dir()
    key = _graph_key(graph, backend, check_indices) if directory else None
    entry = rt_cache.load(key, directory) if key else None
    meta = None
    if entry is not None:
        blob, meta = entry
        if meta.get("format") != _FORMAT:
            meta = None
        else:
            try:
                consts = _unpack_consts(blob)
            except Exception:
                meta = None
    if meta is not None:
        low._ir = meta["ir"]
        low.cache_hit = True
    else:
        ir_text = low.llvm_ir()
        meta, consts = _program_meta(low.kernels, ir_text, _entry_name(name), low.check_bounds)
    t1 = time.perf_counter()
    module = runtime.compile_module(meta["ir"], version=_version())
    low._module = module
    call = runtime.make_caller(module, meta["entry"], meta["n_slots"], len(meta["dims"]) + meta.get("status", False))
    if key and not low.cache_hit:
        rt_cache.store(key, _pack_consts(consts), meta, directory)
    low.executable = Executable(meta, call, consts, list(graph.in_types), out_tree, name)
    low.timings.update(front=t1 - t0, llvm=module.compile_seconds, total=time.perf_counter() - t0)
    low.timings["module_cache_hit"] = module.cache_hit
    debug.log(f"{name}: compiled in {low.timings['total'] * 1e3:.1f} ms "
              f"({'program cache hit' if low.cache_hit else 'cold'}; llvm {module.compile_seconds * 1e3:.1f} ms)", 1)
    if debug.dump_dir():
        debug.dump_compile(low, name, backend)     # VIVE_DUMP_DIR: every stage, numbered, + summary.txt
    return low


# ---- cc.compile ----

class CompiledFunction:
    """What cc.compile returns: call it like the function (keywords too); `.lower(...)` shows every stage.

    On a method (`@cc.compile` above `def forward(self, x)`) it binds like a function: `self` is a pytree argument
    when its class is a registered pytree (cc.pytree.register_dataclass, a namedtuple), else a static argument
    compared by identity: its attributes are read once, at trace time, and baked in (mutate them and the compiled
    code does not see it; register the class to pass its arrays at every call). See compiler/calling.py."""

    def __init__(self, fn, backend="cpu", static_argnums=(), check_indices=True, static_argnames=(), **options):
        if backend not in ("cpu",) and backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}: available are 'cpu'"
                               + "".join(f", {b!r}" for b in BACKENDS))
        # `@cc.compile` above @staticmethod / @classmethod: compile the function, bind as they would
        self._bind_as = "static" if isinstance(fn, staticmethod) else "class" if isinstance(fn, classmethod) else None
        if self._bind_as:
            fn = fn.__func__
        self.fn = fn
        self.backend = backend
        self._binding = calling.Binding(fn, getattr(fn, "__name__", "f"), static_argnums, static_argnames)
        self.static_argnums = self._binding.static_argnums
        self.static_argnames = tuple(sorted(self._binding.static_argnames))
        self._has_static = bool(self.static_argnums or self.static_argnames)
        self.check_indices = bool(check_indices)
        self.options = {k: v for k, v in options.items() if v is not None}     # backend options (cuda: arch)
        if self.options and backend == "cpu":
            raise BackendError(f"options {sorted(self.options)} apply to backend='cuda', not 'cpu'")
        self.__name__ = getattr(fn, "__name__", "f")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._cache = {}             # signature -> Executable
        self._fast = {}              # ((dtype char, shape) per array argument) -> Executable
        self._fast_static = {}       # (static part, the same per dynamic argument) -> Executable
        self._tracked = set()        # ids of methods' selves whose death drops their versions (_track)
        self._symbolic = []          # (static key, Executable) serving many shapes
        self._history = {}           # static key -> list of concrete leaf signatures seen
        self._concrete = {}          # static key -> {(argument, axis)} whose sizes must stay concrete
        self._no_symbolic = set()    # static keys whose symbolic trace failed: exact shapes only
        self._lock = threading.RLock()
        self._stats = {"traces": 0, "compiles": 0, "hits": 0, "shared": 0}
        self._hits = 0               # fast-path hits (not under the lock; an int add is atomic enough here)

    def cache_info(self):
        """{'traces', 'compiles', 'hits', 'signatures', 'shared'}: how often this function was traced/compiled/reused;
        'shared' counts the compiles served by a program another wrapper of the same code made (programs.py)."""
        with self._lock:
            info = dict(self._stats, signatures=len(self._cache) + len(self._symbolic))
            info["hits"] += self._hits
            return info

    def _split(self, args, kwnames=()):
        """A normalised call (compiler/calling.py) -> (dynamic args, static part of the signature): () for a plain
        positional call, else (kwnames, ((index, value), ...))."""
        idx = self._binding.static_indices(len(args), kwnames) if self._has_static else []
        if args and type(args[0]) is calling.Identity and 0 not in idx:       # a method's static self
            idx = [0] + idx
        if not idx and not kwnames:
            return args, ()
        dyn = tuple(a for i, a in enumerate(args) if i not in idx)
        static = (kwnames, tuple((i, args[i]) for i in idx))
        try:
            hash(static)
        except TypeError:
            bad = [self._binding.pos_names[i] if i < len(self._binding.pos_names) else str(i)
                   for i in idx if calling.unhashable(args[i])]
            raise TypeError(f"{self.__name__}: static arguments must be hashable; {', '.join(bad)} is not "
                            f"(pass it as a tuple, or make it a pytree argument)") from None
        return dyn, static

    def _wrapped(self, static, n_args):
        if not static:
            return self.fn
        kwnames, pairs = static
        smap = {i: calling.unwrap(v) for i, v in pairs}
        names = calling.arg_names(self._binding, n_args, kwnames)
        fn = self.fn
        return calling.positional(lambda *dyn: calling.call(fn, calling.merge(smap, dyn, n_args), kwnames), (),
                                  [nm for i, nm in enumerate(names) if i not in smap], self.__name__)

    def __get__(self, obj, objtype=None):
        if self._bind_as == "static":
            return self
        if self._bind_as == "class":
            return calling.BoundCompiled(self, objtype if objtype is not None else type(obj))
        return self if obj is None else calling.BoundCompiled(self, obj)

    def _fast_exe(self, args):
        key = []
        for a in args:
            key.append((a.dtype, a.shape) if type(a) is np.ndarray and a.flags.num & _C_ALIGNED == _C_ALIGNED
                       else None)
        try:
            return self._fast.get(tuple(key))
        except TypeError:
            return None

    def __call__(self, *args, **kwargs):
        # fast path: plain C-contiguous arrays seen before (no pytree walk, no conversion)
        if not kwargs:
            key = []
            for a in args:      # (a loop: cheaper than a comprehension's frame in CPython 3.11 on this path)
                key.append((a.dtype, a.shape) if type(a) is np.ndarray and a.flags.num & _C_ALIGNED == _C_ALIGNED
                           else None)
            try:
                exe = self._fast.get(tuple(key))
            except TypeError:
                exe = None
            if exe is not None:
                self._hits += 1
                return exe.run(args, True)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        kwnames = ()
        if args and isinstance(args[0], type):
            # a class first is a classmethod's cls (@classmethod above @cc.compile binds it positionally on
            # Pythons whose classmethod does not chain __get__): static, like a method's self
            args = (calling.Identity(args[0]),) + args[1:]
        if kwargs:
            args, kwnames = self._binding.normalize(args, kwargs)
        if self._has_static or kwnames or (args and type(args[0]) is calling.Identity):
            dyn, static = self._split(args, kwnames)
        else:
            dyn, static = args, ()
        if static or kwargs:        # (a plain positional call got here having missed the fast path already)
            exe = self._fast_static_exe(static, dyn) if static else self._fast_exe(dyn)
            if exe is not None:
                self._hits += 1
                return exe.run(dyn, True)
        leaves, tree = pytree.flatten(dyn)
        for x in leaves:
            if isinstance(x, Tracer):      # inside another transform or trace: just inline the function
                return calling.call(self.fn, tuple(map(calling.unwrap, args)), kwnames)
        try:
            sig = (tree, static, tuple(map(_sig_of, leaves)))
            hash(sig)
        except TypeError:
            raise DTypeError(f"{self.__name__}: unsupported argument types "
                             f"{[type(x).__name__ for x in leaves]}") from None
        hit = self._cache.get(sig)
        if hit is not None:
            self._stats["hits"] += 1
            return hit.run(leaves)
        return self._miss(sig, args, dyn, static, leaves, tree)

    def _miss(self, sig, args, dyn, static, leaves, tree):
        with self._lock:
            if static:
                self._track(static)
            hit = self._cache.get(sig)
            if hit is not None:
                self._stats["hits"] += 1
                return hit.run(leaves)
            types = self._types(leaves, tree)
            weak = tuple(map(inputs.is_weak, leaves))
            skey = (tree, static, tuple((t.dtype.name, len(t.shape)) for t in types), weak)
            # a symbolic version compiled earlier may serve these shapes
            for k, exe in self._symbolic:
                if k == skey:
                    conv = exe.convert(leaves)
                    if exe.fits(conv):
                        self._cache[sig] = exe
                        self._remember_fast(dyn, tree, static, exe)
                        self._stats["hits"] += 1
                        return exe.run(conv, checked=False)
            seen = self._history.setdefault(skey, [])
            reason = "first call"
            if self._cache or self._symbolic:
                reason = self._reason(types, tree, static)
            exe = None
            if seen and not any(isinstance(x, TensorType) for x in leaves):
                exe = self._symbolic_version(skey, seen[0], types, leaves, tree, static, len(args), weak, reason)
            if not exe:
                failed, exe = exe is False, self._compile(types, tree, static, len(args), weak, reason)
                if failed:      # the sizes were fine, the symbolic trace was not: don't retrace it every size
                    self._no_symbolic.add(skey)
            seen.append(types)
            self._cache[sig] = exe
            self._remember_fast(dyn, tree, static, exe)
            return exe.run(leaves)

    def _symbolic_version(self, skey, old, types, leaves, tree, static, n_args, weak, reason):
        """A version for every size of the dims that differ from an earlier call (its guards decided with these
        sizes), or None (False: the symbolic trace failed): then the caller compiles for these shapes only."""
        if skey in self._no_symbolic or sum(1 for k, _ in self._symbolic if k == skey) >= MAX_SYMBOLIC_VERSIONS:
            return None
        keep = self._concrete.setdefault(skey, set())
        while True:
            sym_types = _generalize(old, types, keep)
            if sym_types is None:
                return None
            dims = ", ".join(sorted({str(d) for t in sym_types for d in t.shape if not isinstance(d, int)}))
            try:
                exe = self._compile(sym_types, tree, static, n_args, weak,
                                    f"{reason}; compiling a version for every size of {dims}", example=leaves)
            except guards.Specialize as e:
                # those sizes stay concrete in this signature's later versions too
                keep |= {(i, ax) for i, t in enumerate(sym_types) for ax, d in enumerate(t.shape) if d in e.symbols}
                debug.log_compile(self.__name__, f"{e}; keeping those sizes concrete")
                continue
            except Exception as e:      # noqa: BLE001 -- any failure of the symbolic trace: specialise instead
                debug.log_compile(self.__name__, f"symbolic version failed ({type(e).__name__}: {e}); compiling "
                                                 f"for these shapes only")
                return False
            self._symbolic.append((skey, exe))
            return exe

    def _types(self, leaves, tree):
        try:
            return [_leaf_type(x) for x in leaves]
        except DTypeError as e:
            bad = next(i for i, x in enumerate(leaves) if _raises(_leaf_type, x))
            path = "".join(f"[{k!r}]" for k in pytree.leaf_paths(tree)[bad])
            raise DTypeError(f"{self.__name__}: argument {path}: {e}") from None

    def _remember_fast(self, args, tree, static, exe):
        """Calls with only C-contiguous arrays of these dtypes and shapes (and the same static part: keywords,
        static arguments, a method's self) may skip straight to exe."""
        if not all(type(a) is np.ndarray and a.flags.num & _C_ALIGNED == _C_ALIGNED for a in args):
            return
        for a, t in zip(args, exe.in_types):
            if a.dtype != t.dtype.np:       # (also a byte order other than the compiled one: converted first)
                return
        key = tuple((a.dtype, a.shape) for a in args)
        if static:
            self._fast_static[(static, key)] = exe
        else:
            self._fast[key] = exe

    def _track(self, static):
        """A method's self held by identity: when it dies, drop the versions made for it (they bake its
        attributes in as constants, which would otherwise stay alive with this function)."""
        for _, v in static[1]:
            if type(v) is calling.Identity and v._ref is not None and v._id not in self._tracked:
                obj = v.obj
                if obj is not None:
                    weakref.finalize(obj, self._forget, v._id)
                    self._tracked.add(v._id)

    def _forget(self, oid):
        def dead(static):
            return bool(static) and any(type(v) is calling.Identity and v._id == oid and v.obj is None
                                        for _, v in static[1])
        # NOTE: new containers, never mutated in place: this may run (GC) while a call iterates the old ones
        with self._lock:
            self._tracked.discard(oid)
            self._cache = {k: e for k, e in self._cache.items() if not dead(k[1])}
            self._fast_static = {k: e for k, e in self._fast_static.items() if not dead(k[0])}
            self._symbolic = [(k, e) for k, e in self._symbolic if not dead(k[1])]
            self._history = {k: h for k, h in self._history.items() if not dead(k[1])}
            self._concrete = {k: c for k, c in self._concrete.items() if not dead(k[1])}
            self._no_symbolic = {k for k in self._no_symbolic if not dead(k[1])}

    def _fast_static_exe(self, static, dyn):
        key = []
        for a in dyn:
            if type(a) is not np.ndarray or a.flags.num & _C_ALIGNED != _C_ALIGNED:
                return None
            key.append((a.dtype, a.shape))
        try:
            return self._fast_static.get((static, tuple(key)))
        except TypeError:
            return None

    def _reason(self, types, tree, static):
        prev = None
        for (t2, s2, sigs) in self._cache:
            prev = (t2, s2, sigs)
        if prev is None:
            return "new signature"
        t2, s2, sigs = prev
        if t2 != tree:
            return f"new pytree structure {tree} (was {t2})"
        if s2 != static:
            return f"new static arguments {static}"
        shown = ", ".join(str(t) for t in types)
        return f"new shapes/dtypes ({shown})"

    def _key_options(self, graph):
        """The options the program table keys on: the backend's, index checks, and the Python-int ranges."""
        return dict(self.options, check_indices=self.check_indices,
                    weak_limits=repr(sorted((i, str(d)) for i, d in getattr(graph, "weak_limits", {}).items())))

    def _compile(self, types, tree, static, n_args, weak, reason, example=None):
        """Trace and build for these types; symbolic sizes take their example values from the leaves `example`
        (else stand-ins) to decide facts about sizes, and the version checks those guards on each call."""
        fn = self._wrapped(static, n_args)
        name = self.__name__
        t0 = time.perf_counter()
        free = set().union(*(t.free_symbols for t in types)) if types else set()
        self._stats["traces"] += 1
        env = guards.example_sizes(types, example) if example is not None else guards.hints(free)
        with guards.recording(env, hinted=example is None) as gctx:
            graph, captured = trace_flat(fn, tree, types, name, weak=weak)
        graph.guards = list(gctx.guards)
        if captured:
            raise TraceError(f"{name}: cc.compile of a function that closes over values traced by an "
                             f"enclosing transform; pass them as arguments")
        out_tree = graph.out_tree
        # the same program compiled before in this process (another wrapper of this function) is reused
        key = None if debug.dump_dir() else PROGRAMS.key(graph, name, self.backend, self._key_options(graph),
                                                         _env_key())
        low = PROGRAMS.get(key) if key else None
        shared = low is not None
        if low is None:
            low = build(graph, name, out_tree, self.backend, check_indices=self.check_indices,
                        **self.options)
            low.timings["trace"] = time.perf_counter() - t0 - low.timings.get("total", 0)
            if key:
                PROGRAMS.put(key, low)
        self._stats["compiles"] += 1
        self._stats["shared"] += shared
        debug.log_compile(name, f"{reason} [{', '.join(str(t) for t in types)}] "
                                f"{'(shared)' if shared else '(disk cache)' if low.cache_hit else ''}"
                                f"{(time.perf_counter() - t0) * 1e3:.1f} ms")
        exe = low.executable
        exe.lowered = low
        exe.weak_limits = dict(getattr(graph, "weak_limits", {}))
        if free:
            # NOTE: symbols are positive in sympy (shapes simplify with it): every version relies on sizes >= 1
            exe.set_guards([sympy.Ge(d, 1, evaluate=False) for d in sorted(free, key=str)] + gctx.guards)
        return exe

    def lower(self, *args_or_specs, **kwargs) -> Lowered:
        """Trace and compile for these arguments or cc.Spec's; the result shows every stage and is callable.
        A spec's symbolic dims make this version serve every size of them on later calls."""
        kwnames = ()
        if kwargs:
            args_or_specs, kwnames = self._binding.normalize(args_or_specs, kwargs)
        dyn, static = self._split(args_or_specs, kwnames)
        leaves, tree = pytree.flatten(dyn)
        types = self._types(leaves, tree)
        weak = tuple(map(inputs.is_weak, leaves))
        with self._lock:
            if static:
                self._track(static)
            try:
                exe = self._compile(types, tree, static, len(args_or_specs), weak, "lower()")
            except guards.Specialize as e:
                raise TraceError(f"{self.__name__}: {e}; compile it for concrete sizes") from None
            if any(not isinstance(d, int) for t in types for d in t.shape):
                skey = (tree, static, tuple((t.dtype.name, len(t.shape)) for t in types), weak)
                self._symbolic.insert(0, (skey, exe))
            elif all(not isinstance(x, TensorType) for x in leaves):
                self._cache[(tree, static, tuple(map(_sig_of, leaves)))] = exe
        return exe.lowered

    def __repr__(self):
        return f"<cc.compile {self.__name__} backend={self.backend}>"


def _raises(f, x):
    try:
        f(x)
    except DTypeError:
        return True
    return False


def _generalize(old_types, new_types, keep=()):
    """Types with the dims that differ between two calls made symbolic (equal (old, new) pairs share one), but
    not those at (argument, axis) in `keep` nor sizes 0 (symbols are positive)."""
    if len(old_types) != len(new_types):
        return None
    names = {}
    out = []
    changed = False
    for i, (a, b) in enumerate(zip(old_types, new_types)):
        if a.dtype is not b.dtype or len(a.shape) != len(b.shape):
            return None
        shape = []
        for ax, (x, y) in enumerate(zip(a.shape, b.shape)):
            if x == y or y == 0 or (i, ax) in keep:
                shape.append(y)
            else:
                key = (x, y)
                if key not in names:
                    names[key] = symbol("N" if not names else f"N{len(names)}")
                shape.append(names[key])
                changed = True
        out.append(TensorType(b.dtype, shape))
    return out if changed else None


def compile(fn=None, *, backend="cpu", static_argnums=(), static_argnames=(), arch=None, check_indices=True):
    """Compile a NumPy function for the CPU (decorator). Traces per input signature; see the module docstring.
    backend="cuda" runs it on the GPU (arch="sm_90" to change the default PTX target sm_80; see
    compiler/codegen/cuda_backend.py for device arrays).
    check_indices=False: data-dependent indices (x[i], np.take, cross_entropy labels) out of range are clamped
    instead of raising IndexError as NumPy does (the checks cost a compare per gathered element; see README).
    static_argnums / static_argnames: arguments (by position / by name; each implies the other through the
    signature) that are compile-time constants, hashed into the signature. Keyword calls bind through the
    signature (compiler/calling.py); on a method, `self` is a pytree if its class is registered, else static by
    identity (see CompiledFunction).

        @cc.compile
        def f(x, w):
            return np.tanh(x @ w)
    """
    if fn is None:
        return lambda f: CompiledFunction(f, backend, static_argnums, check_indices, static_argnames, arch=arch)
    return CompiledFunction(fn, backend, static_argnums, check_indices, static_argnames, arch=arch)


def set_num_threads(n: int = 0) -> None:
    """Threads for the calling thread's parallel loops (0: all cores). Uses libgomp's ICV; no-op without it."""
    if not runtime.has_openmp():
        return
    import ctypes
    import os
    lib = ctypes.CDLL("libgomp.so.1")
    lib.omp_set_num_threads(int(n) if n and n > 0 else (os.cpu_count() or 1))
