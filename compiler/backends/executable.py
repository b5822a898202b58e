"""The executable of a compiled program: argument conversion, size expressions, outputs, the status of run-time
checks, and whether arrays fit a (symbolic) signature."""
from __future__ import annotations

import math
import threading

import numpy as np
from ..lazy import sympy

from runtime import buffers as rt_buffers
from runtime import status as rt_status

from .. import guards, inputs, pytree
from ..errors import BackendError, BoundsError, ShapeError, TraceError
from ..ir.kernel import ALIGNED_OUTPUT_BYTES
from ..lower.checks import STATUS_WORDS
from ..ir.types import symbol
from ..trace import Tracer

_C_ALIGNED = inputs.C_ALIGNED
# NumPy's own np.empty: the module attribute is array_ctor's wrapper (it builds traced arrays of symbolic sizes),
# which costs every call's output ~0.3 us outside a trace (a compiled x + 1 on 8 floats: 1.1 against 0.65 us)
_empty = getattr(np.empty, "__wrapped__", np.empty)
MISS = NotImplemented       # what runner1() returns for an array it cannot take as it is (never an output)
_ALIGN = 64


def _new_output(shape, dtype):
    """np.empty(shape, dtype); from ALIGNED_OUTPUT_BYTES up, a 64-byte aligned block from runtime.buffers' pool
    (codegen promises LLVM that alignment for big outputs, and reused blocks take no page faults)."""
    if math.prod(shape) * dtype.itemsize < ALIGNED_OUTPUT_BYTES:
        return _empty(shape, dtype)
    return rt_buffers.empty(shape, dtype)


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
        self._runner = self._runner1 = None    # built on first use (host.install may still replace _call)
        self.soft_call = None       # the native call with soft_layout (set by build.py where it applies)
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

    def runner(self):
        """`run(args)`: self.run(args, checked=True) prebuilt for this executable, the call path of a signature seen
        before (the caller has checked dtypes, shapes and layout). The lean case (one static output, no scratch, no
        checks) is a closure over the native call: an allocation and a call, nothing looked up per call."""
        if self._runner is None:
            self._runner = self._build_runner()
        return self._runner

    def runner1(self):
        """runner() for one array argument, taking the array itself (no argument tuple on the hottest path), for
        arrays whose dtype and shape the caller has checked: MISS when the array is not C-contiguous and aligned
        (the caller then converts it on the checked path). With a soft_call (runtime.make_caller's soft_layout)
        the native call itself checks the layout."""
        if self._runner1 is None:
            soft = self.soft_call if self._lean_plain() else None
            if soft is not None:
                shape, dtype = self._shape0, self._dtype0
                empty = _new_output if self._lean_aligned else _empty

                def run1(a):
                    out = empty(shape, dtype)
                    if soft(a, out) is None:
                        return out
                    return MISS
            else:
                run = self.runner()

                def run1(a):
                    if a.flags.num & _C_ALIGNED != _C_ALIGNED:
                        return MISS
                    return run((a,))
            self._runner1 = run1
        return self._runner1

    def _lean_plain(self):
        return self._lean and not self._checks and not self._consts and type(self).run is Executable.run

    def _build_runner(self):
        if not (self._lean and not self._checks and type(self).run is Executable.run):
            run = self.run
            return lambda args: run(args, True)
        call, shape, dtype, consts = self._call, self._shape0, self._dtype0, tuple(self._consts)
        empty = _new_output if self._lean_aligned else _empty
        if consts:
            def run_lean(args):
                out = empty(shape, dtype)
                call(*args, out, *consts)
                return out
        else:
            def run_lean(args):
                out = empty(shape, dtype)
                call(*args, out)
                return out
        return run_lean

    def _scratch(self, key, nbytes_list):
        cache = getattr(self._tls, "scratch", None)
        if cache is None:
            cache = self._tls.scratch = {}
        arrs = cache.get(key)
        if arrs is None:
            arrs = []
            for n in nbytes_list:
                raw = _empty(int(n) + _ALIGN, np.uint8)
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
                out = (_new_output if self._lean_aligned else _empty)(self._shape0, self._dtype0)
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
    from ..ir.types import _parse_dim_expr
    return _parse_dim_expr(x)


def _size_str(d):
    return d if isinstance(d, int) else str(d)


