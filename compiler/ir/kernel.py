"""The loop-level kernel IR that lowering produces and every backend (LLVM CPU, PTX) consumes.

A Program is buffers + kernels run in order. A Kernel is a list of statements:

  Loop(var, extent, body, parallel)     for var in [0, extent): body   (extent: int or sympy expression of dims)
  AccInit(acc)                          acc = identity of acc.op ('sum' 0, 'max' -inf, 'argmax' (-inf, 0))
  AccUpdate(acc, value, index)          acc = acc.op(acc, value)  (argmax also records `index`)
  Store(buf, index, value)              buf[index] = value        (flat element index into a C-contiguous buffer)
  Gemm(...)                             C = alpha * op(A) @ op(B) (+ beta C), row-major, BLAS semantics
  HostCall(table, site, args)           call back into the host (cc.debug.print) with the args' data pointers
  Lapack(routine, dtype, args, writes)  call a LAPACK routine (np.linalg's decompositions) on scratch buffers
  Collective(op, send, recv, count, dtype, slot)   an MPI all-reduce of `count` elements: op 'allreduce'
                                        (blocking), 'start' (posts request `slot`), 'wait' (completes it)

Scalar expressions (immutable, hashed structurally so equal subtrees are computed once):

  Const(value, dtype) | Load(buf, index) | Var(acc) | IndexValue(ix) | Op(op, args, dtype, attrs)

Indices are `Ix`: an affine form  sum(coef * loop_var) + const  whose coefficients and constant are ints or sympy
expressions of the symbolic dims (printed as sympy); anything non-affine (a reshape's div/mod, a gather's
data-dependent index) is an i64-typed Expr instead. Op names are the primitive names (add, exp, select, cast,
maximum, eq, ...) plus the index ops floordiv, mod, clamp and threefry_xor/word; `Op.dtype` is the result type and
operand types are the args' dtypes. Loop variables are strings; dims are sympy Symbols read at run time from
the `dims` array in Program.dims order. `parallel` marks a loop whose iterations are independent (only ever
the outermost loop of a kernel): the CPU splits it over threads, a GPU backend maps it to the grid.
"""
from __future__ import annotations

from ..lazy import sympy

from .types import DType, I64, BOOL, F32, F64, dim_str


# ---- sizes: ints stay ints, sympy only when symbolic ----

def smul(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if isinstance(a, int) and a == 1:
        return b
    if isinstance(b, int) and b == 1:
        return a
    if (isinstance(a, int) and a == 0) or (isinstance(b, int) and b == 0):
        return 0
    r = sympy.Mul(a, b)
    return int(r) if r.is_Integer else r


def sadd(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if isinstance(a, int) and a == 0:
        return b
    if isinstance(b, int) and b == 0:
        return a
    r = sympy.Add(a, b)
    return int(r) if r.is_Integer else r


def sprod(dims):
    out = 1
    for d in dims:
        out = smul(out, d)
    return out


_STRIDES = {}


def strides(shape):
    """C-contiguous element strides of a shape (cached)."""
    key = tuple(shape)
    s = _STRIDES.get(key)
    if s is None:
        out, acc = [], 1
        for d in reversed(key):
            out.append(acc)
            acc = smul(acc, d)
        if len(_STRIDES) > 4096:          # bounded: a long process sees ever new shapes
            _STRIDES.clear()
        s = _STRIDES[key] = tuple(reversed(out))
    return s


def fmt_size(d):
    return dim_str(d)


# ---- affine indices ----

class Ix:
    """sum(coef * var) + const over loop variables; coefs and const are ints or sympy expressions of dims."""
    __slots__ = ("terms", "const", "_h")

    def __init__(self, terms=(), const=0):
        self.terms = tuple(sorted(((v, c) for v, c in terms if not (isinstance(c, int) and c == 0)),
                                  key=lambda t: t[0]))
        self.const = const
        self._h = hash((self.terms, str(const) if not isinstance(const, int) else const))

    @staticmethod
    def var(name):
        return Ix(((name, 1),), 0)

    @staticmethod
    def lit(c):
        return Ix((), c)

    def coef(self, var):
        for v, c in self.terms:
            if v == var:
                return c
        return 0

    @property
    def vars(self):
        return [v for v, _ in self.terms]

    def is_const(self):
        return not self.terms

    def add(self, other):
        if not isinstance(other, Ix):
            return Ix(self.terms, sadd(self.const, other))
        d = dict(self.terms)
        for v, c in other.terms:
            d[v] = sadd(d.get(v, 0), c)
        return Ix(d.items(), sadd(self.const, other.const))

    def mul(self, k):
        if isinstance(k, int) and k == 1:
            return self
        return Ix(((v, smul(c, k)) for v, c in self.terms), smul(self.const, k))

    def subs(self, var, ix):
        """Replace a variable by another affine index."""
        c = self.coef(var)
        if isinstance(c, int) and c == 0:
            return self
        rest = Ix([(v, k) for v, k in self.terms if v != var], self.const)
        return rest.add(ix.mul(c))

    def to_sympy(self):
        e = sympy.Integer(self.const) if isinstance(self.const, int) else self.const
        for v, c in self.terms:
            e = e + c * sympy.Symbol(v, integer=True, nonnegative=True)
        return e

    def __eq__(self, other):
        return isinstance(other, Ix) and self._h == other._h and self.terms == other.terms and \
            (self.const == other.const if isinstance(self.const, int) and isinstance(other.const, int)
             else sympy.sympify(self.const) == sympy.sympify(other.const))

    def __hash__(self):
        return self._h

    def __str__(self):
        parts = []
        for v, c in self.terms:
            if isinstance(c, int) and c == 1:
                parts.append(v)
            else:
                cs = fmt_size(c)
                parts.append(f"{cs}*{v}" if isinstance(c, int) or c.is_Symbol else f"({cs})*{v}")
        if not (isinstance(self.const, int) and self.const == 0) or not parts:
            parts.append(fmt_size(self.const))
        return " + ".join(parts)

    __repr__ = __str__


# ---- scalar expressions ----

class Expr:
    __slots__ = ("dtype", "key", "_h")

    def _set(self, dtype, key):
        self.dtype = dtype
        self.key = key
        self._h = hash(key)

    def __hash__(self):
        return self._h

    def __eq__(self, other):
        return type(self) is type(other) and self._h == other._h and self.key == other.key

    def __str__(self):
        from .kernel_print import format_expr
        return format_expr(self)

    __repr__ = __str__


class Const(Expr):
    __slots__ = ("value",)

    def __init__(self, value, dtype: DType):
        if dtype.is_float:
            value = float(value)
        elif dtype.is_bool:
            value = bool(value)
        else:
            value = int(value)
        self.value = value
        # NaN != NaN: key on the repr so equal constants hash and compare equal
        self._set(dtype, ("c", dtype.name, repr(value)))


class Load(Expr):
    __slots__ = ("buf", "index")

    def __init__(self, buf, index):
        self.buf = buf
        self.index = index
        self._set(buf.dtype, ("ld", id(buf), index))


class Var(Expr):
    """The current value of an accumulator (for argmax: its index)."""
    __slots__ = ("acc",)

    def __init__(self, acc):
        self.acc = acc
        self._set(acc.result_dtype, ("var", acc.name))


class IndexValue(Expr):
    """An affine index used as an i64 value (iota, one_hot's class index, loop positions)."""
    __slots__ = ("ix",)

    def __init__(self, ix: Ix):
        self.ix = ix
        self._set(I64, ("ix", ix))


class Op(Expr):
    __slots__ = ("op", "args", "attrs")

    def __init__(self, op, args, dtype, attrs=()):
        self.op = op
        self.args = tuple(args)
        self.attrs = tuple(attrs)
        self._set(dtype, ("op", op, dtype.name, self.args, self.attrs))


class Acc:
    """A scalar accumulator of a reduction: op 'sum' | 'max' | 'argmax' over values of `dtype`."""

    def __init__(self, name, op, dtype):
        self.name = name
        self.op = op
        self.dtype = dtype
        self.result_dtype = I64 if op == "argmax" else dtype
        self.widened_from = None           # a sum of f32 values accumulating in f64 (lower/accum.py): F32

    def __repr__(self):
        return self.name


# ---- statements ----

class Loop:
    __slots__ = ("var", "extent", "body", "parallel")

    def __init__(self, var, extent, body, parallel=False):
        self.var, self.extent, self.body, self.parallel = var, extent, body, parallel


class AccInit:
    __slots__ = ("acc",)

    def __init__(self, acc):
        self.acc = acc


class AccUpdate:
    __slots__ = ("acc", "value", "index")

    def __init__(self, acc, value, index=None):
        self.acc, self.value, self.index = acc, value, index


class Store:
    __slots__ = ("buf", "index", "value")

    def __init__(self, buf, index, value):
        self.buf, self.index, self.value = buf, index, value


class Gemm:
    """C[c_off + i*ldc + j] = alpha * sum_k A(i,k) B(k,j) + beta * C, A(i,k) = a[a_off + (k*lda + i if trans_a
    else i*lda + k)], likewise B; M, N, K, offsets, ld's are ints or sympy (offsets may use loop variables: Ix)."""
    __slots__ = ("dtype", "trans_a", "trans_b", "m", "n", "k", "a", "a_off", "lda", "b", "b_off", "ldb",
                 "c", "c_off", "ldc", "alpha", "beta")

    def __init__(self, dtype, trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc,
                 alpha=1.0, beta=0.0):
        self.dtype, self.trans_a, self.trans_b = dtype, trans_a, trans_b
        self.m, self.n, self.k = m, n, k
        self.a, self.a_off, self.lda = a, a_off, lda
        self.b, self.b_off, self.ldb = b, b_off, ldb
        self.c, self.c_off, self.ldc = c, c_off, ldc
        self.alpha, self.beta = alpha, beta


class HostCall:
    """cb(site, ptrs, dims) where `table` (an i64[1] buffer the runtime fills) holds the address of
    `void cb(i64 site, void **ptrs, i64 *dims)`, ptrs are the data pointers of `args` in order and dims the program's
    dims array. The callback reads the arrays; it writes nothing the kernels see (runtime/callbacks.py)."""
    __slots__ = ("table", "site", "args")

    def __init__(self, table, site, args):
        self.table, self.site, self.args = table, site, tuple(args)
class Lapack:
    """A LAPACK routine called on whole buffers, Fortran-style (every argument by reference, matrices column-major):
    `routine` without its type letter ('gesv', 'getrf', 'potrf', 'syevd', 'gesdd'); `dtype` (F32/F64) picks s or d.
    `args` in the routine's order: ('buf', Buffer) its data pointer, ('int', size) an integer, ('ld', size) a leading
    dimension (max(1, size), as LAPACK requires), ('char', 'L') a character (its hidden length is appended). Integer
    buffers (pivots, info, iwork) are i64: the ILP64 interface. `writes`: the buffers it writes (it may read them)."""
    __slots__ = ("routine", "dtype", "args", "writes")

    def __init__(self, routine, dtype, args, writes):
        self.routine, self.dtype, self.args, self.writes = routine, dtype, tuple(args), tuple(writes)


class Collective:
    """recv = sum over the ranks of send (`count` elements of `dtype`, an int or sympy size). 'start' posts it under
    request `slot` and returns; 'wait' (same slot, same buffers) completes it: it reads send and recv only so that
    the memory plan keeps both alive while MPI still uses them."""
    __slots__ = ("op", "send", "recv", "count", "dtype", "slot")

    def __init__(self, op, send, recv, count, dtype, slot=0):
        assert op in ("allreduce", "start", "wait"), op
        self.op, self.send, self.recv, self.count, self.dtype, self.slot = op, send, recv, count, dtype, slot


# ---- buffers, kernels, programs ----

# The runtime allocates every output of at least this many bytes on a 64-byte boundary (backends/executable.py);
# codegen may promise that alignment to LLVM for such buffers (streaming stores need it to stay whole vectors).
ALIGNED_OUTPUT_BYTES = 1 << 20

class Buffer:
    """One array: a function input, an output, a constant, or a temporary (placed by the memory plan)."""

    def __init__(self, name, dtype, shape, role, value=None, array=None):
        self.name = name
        self.dtype = dtype
        self.shape = tuple(shape)
        self.role = role                   # 'input' | 'output' | 'const' | 'temp' | 'scratch' | 'status'
        self.value = value                 # the graph Value it holds (None for kernel scratch)
        self.array = array                 # constants: the data
        self.slot = None                   # index into the entry's bufs[] (set by the memory plan)
        self.size = sprod(self.shape)

    @property
    def nbytes(self):
        return smul(self.size, self.dtype.np.itemsize)

    def __repr__(self):
        return f"{self.name}: {self.dtype.name}[{','.join(fmt_size(d) for d in self.shape)}]"


class Kernel:
    def __init__(self, name, kind, body, nodes=(), reasons=()):
        self.name = name
        self.kind = kind
        self.body = body
        self.nodes = list(nodes)
        self.reasons = list(reasons)
        self.reads, self.writes = _buffers_of(body)

    @property
    def buffers(self):
        return list(dict.fromkeys(self.reads + self.writes))

    @property
    def bytes_moved(self):
        """Bytes read from and written to memory outside the kernel's own scratch (int or sympy)."""
        total = 0
        for b in self.reads + [w for w in self.writes if w not in self.reads]:
            if b.role != "scratch":
                total = sadd(total, b.nbytes)
        return total

    def __str__(self):
        from .kernel_print import format_kernel
        return format_kernel(self)


class Program:
    """Everything one compiled function runs: buffers (inputs first, in argument order), kernels in order."""

    def __init__(self, name, inputs, outputs, buffers, kernels, dims, dim_sources):
        self.name = name
        self.inputs = inputs               # Buffer per graph input
        self.outputs = outputs             # per graph output: ('buf', Buffer) | ('input', i) | ('copy', j)
        self.buffers = buffers
        self.kernels = kernels
        self.dims = dims                   # sympy Symbols, the order of the runtime dims array
        self.dim_sources = dim_sources     # symbol -> (input index, axis)
        self.n_slots = None                # set by the memory plan
        self.slot_sizes = None             # slot -> list of byte-size expressions (max taken at run time)
        self.status = None                 # the i64[4] error status buffer of run-time checks (lower/checks.py)
        self.check_sites = []              # the checks' table: site -> {exc, message, where, ...}
        self.host_table = None             # the i64[1] const buffer holding the host callback's address
        self.host_sites = []               # HostCall site -> what the host does there (lower_host_call)

    @property
    def bytes_moved(self):
        total = 0
        for k in self.kernels:
            total = sadd(total, k.bytes_moved)
        return total

    def __str__(self):
        lines = [f"program {self.name}  # {len(self.kernels)} kernels, dims: "
                 + (", ".join(str(d) for d in self.dims) or "none")]
        for b in self.buffers:
            slot = "" if b.slot is None else f"  slot {b.slot}"
            lines.append(f"  {b.role:<7} {b}{slot}")
        for k in self.kernels:
            lines.append("")
            lines.append(str(k))
        return "\n".join(lines)


def expr_children(e):
    """The sub-expressions e reads: an Op's args, a Load's index when it is not affine."""
    if isinstance(e, Op):
        return e.args
    if isinstance(e, Load) and isinstance(e.index, Expr):
        return (e.index,)
    return ()


def postorder(roots, seen=None, stop=None):
    """Every distinct expression under roots, operands before their users, once each (keyed by identity), with
    an explicit stack: fused expressions can be thousands of ops deep. `seen` (a set of ids) carries over calls;
    expressions for which stop(e) holds are left out, with everything under them."""
    seen = set() if seen is None else seen
    out = []
    for root in roots:
        if id(root) in seen or (stop is not None and stop(root)):
            continue
        stack = [(root, False)]
        while stack:
            e, ready = stack.pop()
            if ready:
                out.append(e)
                continue
            if id(e) in seen:
                continue
            seen.add(id(e))
            stack.append((e, True))
            stack.extend((a, False) for a in reversed(expr_children(e))
                         if id(a) not in seen and (stop is None or not stop(a)))
    return out


def _buffers_of(body):
    reads, writes = {}, {}          # dicts as ordered sets

    def exprs(roots, seen):
        for e in postorder(roots, seen):
            if isinstance(e, Load):
                reads.setdefault(e.buf, None)
            elif isinstance(e, Op) and e.op == "check_index":
                writes.setdefault(e.attrs[0], None)     # the status buffer (lower/checks.py)

    def stmts(body, seen):
        for s in body:
            if isinstance(s, Loop):
                stmts(s.body, seen)
            elif isinstance(s, Store):
                writes.setdefault(s.buf, None)
                exprs([s.value] + ([s.index] if isinstance(s.index, Expr) else []), seen)
            elif isinstance(s, AccUpdate):
                exprs([s.value] + ([s.index] if s.index is not None else []), seen)
            elif isinstance(s, Gemm):
                reads.setdefault(s.a, None)
                reads.setdefault(s.b, None)
                writes.setdefault(s.c, None)
                if s.beta != 0:
                    reads.setdefault(s.c, None)
            elif isinstance(s, HostCall):
                for b in (s.table,) + s.args:
                    reads.setdefault(b, None)
            elif isinstance(s, Lapack):
                for kind, v in s.args:
                    if kind == "buf":
                        reads.setdefault(v, None)
                for v in s.writes:
                    writes.setdefault(v, None)
            elif isinstance(s, Collective):
                reads.setdefault(s.send, None)
                (reads if s.op == "wait" else writes).setdefault(s.recv, None)

    stmts(body, set())
    return list(reads), list(writes)


# ---- identity of kernels ----

def kernel_signature(k):
    """A hashable description of everything code generation reads from kernel k: its buffers' dtypes, shapes
    and roles in argument order, its statements and expressions, with loop variables and accumulators renamed
    in order of appearance. Kernels with equal signatures compile to the same code (on other buffers)."""
    bufpos = {b: i for i, b in enumerate(k.buffers)}
    names = {}

    def canon(name):
        return names.setdefault(name, len(names))

    def ix(i):
        if isinstance(i, Ix):
            return ("ix", tuple(sorted((canon(v), str(c)) for v, c in i.terms)), str(i.const))
        return ("e", expr_id(i))
    ids, table = {}, []

    def expr_id(e):
        if id(e) not in ids:
            for x in postorder([e], stop=lambda x: id(x) in ids):
                if isinstance(x, Const):
                    t = ("c", x.dtype.name, repr(x.value))
                elif isinstance(x, Load):
                    t = ("ld", bufpos[x.buf], ix(x.index))
                elif isinstance(x, Var):
                    t = ("v", canon(x.acc), x.acc.op, x.acc.dtype.name)
                elif isinstance(x, IndexValue):
                    t = ("iv", ix(x.ix))
                elif isinstance(x, Op):
                    t = ("op", x.op, x.dtype.name, tuple(ids[id(a)] for a in x.args), repr(x.attrs))
                else:
                    raise TypeError(f"unknown expression {x!r}")
                ids[id(x)] = len(table)
                table.append(t)
        return ids[id(e)]

    def stmts(body):
        out = []
        for s in body:
            if isinstance(s, Loop):
                out.append(("L", canon(s.var), str(s.extent), s.parallel, stmts(s.body)))
            elif isinstance(s, AccInit):
                out.append(("AI", canon(s.acc), s.acc.op, s.acc.dtype.name, repr(s.acc.widened_from)))
            elif isinstance(s, AccUpdate):
                out.append(("AU", canon(s.acc), expr_id(s.value), None if s.index is None else expr_id(s.index)))
            elif isinstance(s, Store):
                out.append(("S", bufpos[s.buf], ix(s.index), expr_id(s.value)))
            elif isinstance(s, Gemm):
                out.append(("G", s.dtype.name, s.trans_a, s.trans_b, str(s.m), str(s.n), str(s.k),
                            bufpos[s.a], ix(s.a_off), str(s.lda), bufpos[s.b], ix(s.b_off), str(s.ldb),
                            bufpos[s.c], ix(s.c_off), str(s.ldc), repr(s.alpha), repr(s.beta)))
            elif isinstance(s, HostCall):
                out.append(("H", bufpos[s.table], s.site, tuple(bufpos[a] for a in s.args)))
            elif isinstance(s, Lapack):
                out.append(("LAPACK", s.routine, s.dtype.name,
                            tuple((k, bufpos[v] if k == "buf" else str(v)) for k, v in s.args),
                            tuple(bufpos[v] for v in s.writes)))
            elif isinstance(s, Collective):
                out.append(("MPI", s.op, bufpos[s.send], bufpos[s.recv], str(s.count), s.dtype.name, s.slot))
            else:
                raise TypeError(f"unknown statement {s!r}")
        return tuple(out)
    body = stmts(k.body)
    bufs = tuple((b.dtype.name, tuple(str(d) for d in b.shape), b.role, str(b.nbytes)) for b in k.buffers)
    return bufs, body, tuple(table)




__all__ = ["Ix", "Expr", "Const", "Load", "Var", "IndexValue", "Op", "Acc", "Loop", "AccInit", "AccUpdate",
           "Store", "Gemm", "HostCall", "Lapack", "Collective", "Buffer", "Kernel", "Program", "strides", "smul", "sadd", "sprod", "F32", "F64",
           "BOOL", "I64"]
