"""Thread mapping for the GPU: which launches a loop-level Kernel becomes, and which loops map to threads.

Each top-level statement (or run of statements sharing accumulators) of a Kernel becomes one `.entry` launch:

  flat    grid-stride over the iterations of the loops whose iterations write disjoint elements (elementwise,
          gathers, the kept axes of a column reduction); the other loops run inside each thread, in order
  rows    one block per row (grid-stride over rows): each loop of the row is split across the block's threads,
          reductions finish with warp shuffles and shared memory, row results are stored by thread 0
  gemm    a Gemm statement (or a loop of them: batched, on gridDim.z): the tiled shared-memory matmul; a Gemm
          with few output tiles and a long K is split over K on gridDim.z (split-K): a flat launch first sets
          C = beta*C, then every split adds its partial product with atomic adds
  serial  one thread runs the statements in order (what no analysis could prove parallel)

Small flat launches that touch no common memory (by memory-plan slot) are merged into one launch (`parts`, each
its own range of the grid-stride index) and may move earlier past launches they do not conflict with: the
optimizer's per-parameter updates, the zeroing before reductions (merge_flat). Fewer launches, less host time.

Launches of one kernel run in order on one stream, so a Gemm's epilogue (the next launch) sees its product.
A flat candidate whose threads are few and whose per-thread loops only accumulate into the element they own
(`c[i] = c[i] + f(...)` inside loops, the column reductions: bias gradients, sums over the batch) becomes a rows
launch instead: one block per element (`reduce_into`), the loop nest collapsed into one range split across the
block's threads (coalesced), and across `chunks` blocks on gridDim.y that combine with atomic adds.
The parallel flag of a loop is trusted; everything else is proved from the affine store indices: iterations
that differ in a variable write different elements if every store index holds that variable and the index is
one-to-one over its loop box, and reads of the written buffers are at the written element only.
"""
from __future__ import annotations

from ..lazy import sympy

from ..errors import BackendError
from ..ir.kernel import Ix, Expr, Const, Load, Var, Op, Loop, AccInit, AccUpdate, Store, Gemm, sprod

WARP = 32
FLAT_BLOCK = 256
MAX_ROW_BLOCK = 256
SMALL_ROW = 16            # rows whose loops all have at most this many iterations: one thread per row
GEMM_TILE = 128           # ptx_gemm's BM = BN
GEMM_BK = 8
SPLITK_BLOCKS = 512       # split-K: aim for about this many blocks (several waves of a 100+ SM device) ...
SPLITK_MIN_STEPS = 8      # ... each running at least this many K steps of GEMM_BK
SPLITK_MIN_K = 256        # no split below this K (the extra C = beta*C launch costs more than it saves) ...
SPLITK_MIN_SPLIT = 3      # ... nor into fewer shares than this
REDUCE_MIN_SERIAL = 32    # a flat launch whose threads each run at least this many accumulation steps ...
REDUCE_MAX_THREADS = 16384  # ... over at most this many elements becomes a block-per-element reduction
REDUCE_PER_THREAD = 16    # reduce_into: at least this many elements per thread before splitting into chunks
REDUCE_BLOCKS = 1024      # reduce_into: at most about this many blocks in all (rows x chunks)
MERGE_MAX_WORK = 1 << 16  # merge_flat: flat launches of at most this many (static) iterations ...
MERGE_MAX_TOTAL = 1 << 18  # ... into launches of at most this many


class Launch:
    """One `.entry` of the PTX module and how to launch it.

    kind: 'flat' | 'rows' | 'gemm' | 'serial'. bufs: the Buffers passed (in order) before the dims.
    threads: the loop variables mapped to threads (flat) or blocks (rows), outermost first, with `extents`.
    body: the statements each thread (flat) or block (rows) runs for one iteration of `threads`, with the
    loops of other variables kept. block: threads per block. work: grid.x before capping (int or sympy of
    the dims): flat = iterations, rows = rows, gemm = column tiles; gemm also fills work_yz."""

    def __init__(self, kind, kernel, entry, stmts, threads=(), extents=(), body=None, block=1, work=1):
        self.kind = kind
        self.kernel = kernel
        self.entry = entry
        self.stmts = list(stmts)
        self.threads = list(threads)
        self.extents = list(extents)
        self.body = list(body if body is not None else stmts)
        self.block = block
        self.work = work
        self.work_yz = (1, 1)
        self.gemm = None
        self.batch = None          # gemm: (var, extent) of a batch loop
        self.bufs = []
        self.uniform = []          # rows: prefix loops (var, extent) run by the whole block around the row body
        self.split = None          # gemm: the number of K splits (int or sympy; on gridDim.z), None: no split
        self.reduce_into = None    # rows: (store, [(var, extent)...] collapsed, value) of a block-per-element sum
        self.chunks = 1            # rows with reduce_into: blocks per element (gridDim.y; int or sympy)
        self.parts = None          # flat: merged launches, each over its range of [0, work) in order
        self.overwrite = False     # rows with reduce_into: store the sum (nothing zeroed the element first)

    def __repr__(self):
        th = ", ".join(f"{v}<{e}" for v, e in zip(self.threads, self.extents))
        return f"<Launch {self.entry} {self.kind} block={self.block} threads=[{th}]>"


# ---- walking statements ----

def walk_stmts(stmts):
    for s in stmts:
        yield s
        if isinstance(s, Loop):
            yield from walk_stmts(s.body)


def stmt_exprs(s):
    if isinstance(s, Store):
        return [s.value] + ([s.index] if isinstance(s.index, Expr) else [])
    if isinstance(s, AccUpdate):
        return [s.value] + ([s.index] if s.index is not None else [])
    return []


def walk_exprs(stmts):
    seen = set()
    stack = [e for s in walk_stmts(stmts) for e in stmt_exprs(s)]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, Op):
            stack.extend(e.args)
        elif isinstance(e, Load) and isinstance(e.index, Expr):
            stack.append(e.index)


def loop_extents(stmts, out=None):
    out = {} if out is None else out
    for s in walk_stmts(stmts):
        if isinstance(s, Loop):
            out[s.var] = s.extent
    return out


def accs_initialized(stmts):
    return {s.acc for s in walk_stmts(stmts) if isinstance(s, AccInit)}


def accs_used(stmts):
    used = {s.acc for s in walk_stmts(stmts) if isinstance(s, AccUpdate)}
    used |= {e.acc for e in walk_exprs(stmts) if isinstance(e, Var)}
    return used


def has_gemm(stmts):
    return any(isinstance(s, Gemm) for s in walk_stmts(stmts))


# ---- index facts ----

def _positive(e):
    if isinstance(e, int):
        return e > 0
    e = sympy.sympify(e)
    return bool(e.is_positive)


def _less(a, b):
    """a < b for sizes (ints or sympy of positive dims): True, False, or None when sympy cannot tell."""
    if isinstance(a, int) and isinstance(b, int):
        return a < b
    d = sympy.expand(sympy.sympify(b) - sympy.sympify(a))
    if d.is_positive:
        return True
    if d.is_nonpositive:
        return False
    return None


def injective(ix, extents):
    """Whether the affine index is one-to-one over the box of its loop variables: with the terms sorted by
    coefficient, each coefficient exceeds the largest offset the smaller terms can reach."""
    if not isinstance(ix, Ix):
        return False
    terms = []
    for v, c in ix.terms:
        if v not in extents or not _positive(c):
            return False
        # insertion sort by coefficient, giving up when sympy cannot order two of them
        k = 0
        while k < len(terms):
            lt = _less(terms[k][0], c)
            if lt is None:
                return False
            if not lt:
                break
            k += 1
        terms.insert(k, (c, extents[v]))
    reach = 0
    for c, e in terms:
        if _less(reach, c) is not True:          # c > reach = sum of smaller coef * (extent - 1)
            return False
        step = c * (e - 1) if isinstance(c, int) and isinstance(e, int) else \
            sympy.expand(sympy.sympify(c) * (sympy.sympify(e) - 1))
        reach = reach + step if isinstance(reach, int) and isinstance(step, int) else \
            sympy.expand(sympy.sympify(reach) + step)
        if not isinstance(reach, int) and reach.is_Integer:
            reach = int(reach)
    return True


def disjoint_vars(stmts, extents, candidates):
    """The variables among `candidates` whose iterations write disjoint elements in stmts (see module doc),
    or None when the stores cannot be analysed (a non-affine index, two index forms for one buffer, a read
    of a written buffer at another element)."""
    stores = [s for s in walk_stmts(stmts) if isinstance(s, Store)]
    index_of = {}
    cand = list(candidates)
    for st in stores:
        if not isinstance(st.index, Ix):
            return None
        prev = index_of.setdefault(st.buf, st.index)
        if prev != st.index:
            return None
        if not injective(st.index, extents):
            return None
        present = {v for v, _ in st.index.terms}
        cand = [v for v in cand if v in present]
    for e in walk_exprs(stmts):
        if isinstance(e, Load) and e.buf in index_of and e.index != index_of[e.buf]:
            return None
    for s in walk_stmts(stmts):
        if isinstance(s, Gemm):
            return None
    return cand


def _perfect_prefix(loop):
    """The loops of a perfect nest starting at `loop` (each body exactly one loop) and the innermost body."""
    prefix = [loop]
    while len(prefix[-1].body) == 1 and isinstance(prefix[-1].body[0], Loop):
        prefix.append(prefix[-1].body[0])
    return prefix, prefix[-1].body


def residual(prefix, keep, body):
    """The nest of prefix loops whose variables are not mapped to threads, around body."""
    out = list(body)
    for lp in reversed(prefix):
        if lp.var not in keep:
            out = [Loop(lp.var, lp.extent, out, False)]
    return out


# ---- block (row) mode: which loops of a row body split across a block ----

def _block_ok(body, extents):
    """Whether `body` can run with every top-level loop split across the threads of a block: stores inside a
    split loop write one element per iteration of it, reads of what it writes are at that element, and
    the accumulators a split loop updates (initialised outside it) are not read inside it."""
    outer_accs = {s.acc for s in body if isinstance(s, AccInit)}
    for s in body:
        if isinstance(s, Gemm):
            return False
        if not isinstance(s, Loop):
            continue
        inner = s.body
        stores = [t for t in walk_stmts(inner) if isinstance(t, Store)]
        index_of = {}
        for st in stores:
            if not isinstance(st.index, Ix) or not injective(st.index, extents):
                return False
            if s.var not in {v for v, _ in st.index.terms}:
                return False
            if index_of.setdefault(st.buf, st.index) != st.index:
                return False
        for e in walk_exprs(inner):
            if isinstance(e, Load) and e.buf in index_of and e.index != index_of[e.buf]:
                return False
        updated = {t.acc for t in walk_stmts(inner) if isinstance(t, AccUpdate)} & outer_accs
        private = accs_initialized(inner)
        if updated & private:
            return False
        read = {e.acc for e in walk_exprs(inner) if isinstance(e, Var)}
        if read & updated:
            return False
        # accumulators used here must be initialised here or at the row level
        if not accs_used(inner) <= (private | outer_accs):
            return False
        if has_gemm(inner):
            return False
    # top-level uses of accumulators must be of row-level ones
    top_used = set()
    for s in body:
        if isinstance(s, (Store, AccUpdate)):
            top_used |= {e.acc for e in walk_exprs([s]) if isinstance(e, Var)}
            if isinstance(s, AccUpdate):
                top_used.add(s.acc)
    return top_used <= outer_accs


def _split_extents(body):
    return [s.extent for s in body if isinstance(s, Loop)]


def _row_block(body, single):
    ext = _split_extents(body)
    if ext and all(isinstance(e, int) for e in ext):
        m = max(ext)
        blk = WARP
        while blk < m and blk < (512 if single else MAX_ROW_BLOCK):
            blk *= 2
        return blk
    return 512 if single else MAX_ROW_BLOCK      # 512: at most 128 registers a thread


def _small_rows(body):
    ext = _split_extents(body)
    return all(isinstance(e, int) and e <= SMALL_ROW for e in ext)


# ---- the plan of one kernel ----

def _segments(body):
    """Top-level statements grouped into launch segments: a Gemm, a loop of Gemms, a loop, or a run of
    statements sharing accumulators (from an AccInit to the last statement that uses its accumulator)."""
    segs = []
    i = 0
    n = len(body)
    while i < n:
        s = body[i]
        if isinstance(s, Gemm) or (isinstance(s, Loop) and not (accs_used([s]) - accs_initialized([s]))
                                   and not isinstance(s, AccInit)):
            segs.append([s])
            i += 1
            continue
        # a run: grow it until no later statement shares an accumulator with it
        j, k, accs = i, i, set()
        while k <= j:
            accs |= accs_initialized([body[k]]) | accs_used([body[k]])
            for m in range(j + 1, n):
                if accs & (accs_used([body[m]]) | accs_initialized([body[m]])):
                    j = m
            k += 1
        run = body[i:j + 1]
        if has_gemm(run):
            raise BackendError("ptx: a matmul inside a reduction's statements has no GPU mapping")
        segs.append(run)
        i = j + 1
    return segs


def plan_kernel(kernel, prefix):
    """The launches of one loop-level Kernel; entry names are prefix_<kernel>_<i>."""
    launches = []
    for i, seg in enumerate(_segments(kernel.body)):
        entry = f"{prefix}_{kernel.name}_{i}"
        lc = _plan_segment(kernel, entry, seg)
        for one in (lc if isinstance(lc, list) else [lc]):
            if one.reduce_into is not None and launches and _zeroes_what_it_sums(launches[-1], one):
                launches.pop()             # the sum overwrites every element: no zeroing first
                one.overwrite = True
            launches.append(one)
    return launches


def _zeroes_what_it_sums(prev, red):
    """Whether `prev` only sets buf[i] = 0 for i < size of buf, and the one-chunk reduce-into `red` writes every
    element of that buf once (its store index is one-to-one over its threads, which number the buf's size)."""
    st = red.reduce_into[0]
    if not (isinstance(red.chunks, int) and red.chunks == 1) or prev.kind != "flat" or prev.parts is not None:
        return False
    if len(prev.stmts) != 1 or not isinstance(prev.stmts[0], Loop):
        return False
    loop = prev.stmts[0]
    if len(loop.body) != 1 or not isinstance(loop.body[0], Store):
        return False
    z = loop.body[0]
    if z.buf is not st.buf or z.index != Ix.var(loop.var) or not (isinstance(z.value, Const) and z.value.value == 0):
        return False
    size = st.buf.size
    if not (isinstance(size, int) and loop.extent == size and red.work == size):
        return False
    ext = dict(zip(red.threads, red.extents))
    return injective(st.index, ext) and set(st.index.vars) == set(red.threads)


def _plan_segment(kernel, entry, seg):
    s = seg[0]
    if len(seg) == 1 and isinstance(s, Gemm):
        lc = Launch("gemm", kernel, entry, seg, block=256)
        lc.gemm = s
        lc.work, lc.work_yz = s.n, (s.m, 1)
        return _split_k(kernel, entry, lc)
    if len(seg) == 1 and isinstance(s, Loop) and has_gemm([s]):
        if len(s.body) == 1 and isinstance(s.body[0], Gemm):
            lc = Launch("gemm", kernel, entry, seg, block=256)
            lc.gemm = s.body[0]
            lc.batch = (s.var, s.extent)
            lc.work, lc.work_yz = s.body[0].n, (s.body[0].m, s.extent)
            return lc
        raise BackendError(f"ptx: kernel {kernel.name}: a matmul nested in loops has no GPU mapping")
    extents = loop_extents(seg)
    if len(seg) == 1 and isinstance(s, Loop):
        prefix, body = _perfect_prefix(s)
        pvars = [lp.var for lp in prefix]
        cand = disjoint_vars(body, extents, pvars)
        own = accs_initialized(body)
        if accs_used(body) - own:
            cand = None                  # an accumulator carried across iterations of the prefix loops
        if cand is None:
            cand = [s.var] if s.parallel and not (accs_used(body) - own) else []
        has_acc = bool(own)
        if not has_acc:
            return _flat(kernel, entry, seg, prefix, cand, body)
        row_level = any(isinstance(t, AccInit) for t in body)
        if cand and (_small_rows(body) or not row_level):
            return _flat(kernel, entry, seg, prefix, cand, body)
        if row_level and _block_ok(body, extents):
            return _rows(kernel, entry, seg, prefix, cand, body, extents)
        if cand:
            return _flat(kernel, entry, seg, prefix, cand, body)
        return _serial(kernel, entry, seg)
    # a run of statements at the top level (a whole-array reduction, a scalar store)
    if _block_ok(seg, extents) and any(isinstance(t, Loop) for t in seg):
        return _rows(kernel, entry, seg, [], [], seg, extents)
    return _serial(kernel, entry, seg)


def _flat(kernel, entry, seg, prefix, cand, body):
    if not cand:
        return _serial(kernel, entry, seg)
    order = [lp for lp in prefix if lp.var in cand]
    ext = [lp.extent for lp in order]
    red = _reduce_into(kernel, entry, seg, prefix, set(cand), body, order, ext)
    if red is not None:
        return red
    return Launch("flat", kernel, entry, seg, [lp.var for lp in order], ext,
                  residual(prefix, set(cand), body), FLAT_BLOCK, sprod(ext))


def _rows(kernel, entry, seg, prefix, cand, body, extents):
    order = [lp for lp in prefix if lp.var in cand]
    ext = [lp.extent for lp in order]
    # NOTE: prefix loops not mapped to blocks run uniformly (same trip count in every thread) around the row
    # body, so its barriers stay convergent.
    lc = Launch("rows", kernel, entry, seg, [lp.var for lp in order], ext, body, _row_block(body, not order),
                sprod(ext))
    lc.uniform = [(lp.var, lp.extent) for lp in prefix if lp.var not in cand]
    return lc


def _serial(kernel, entry, seg):
    return Launch("serial", kernel, entry, seg, block=1, work=1)


# ---- split-K gemms and block-per-element reductions ----

def _cdiv(a, b):
    return -(-a // b)


def _split_k(kernel, entry, lc):
    """A gemm launch, or [C = beta*C launch, gemm split over K] when its output has few tiles and K is long
    (the weight gradients of convolutions: M, N tiny, K = batch x pixels)."""
    gm = lc.gemm
    if not (isinstance(gm.m, int) and isinstance(gm.n, int)) or gm.dtype.name not in ("f32", "f64"):
        return lc
    c_off = gm.c_off if isinstance(gm.c_off, Ix) else Ix.lit(gm.c_off)
    if c_off.terms:
        return lc
    tiles = _cdiv(gm.m, GEMM_TILE) * _cdiv(gm.n, GEMM_TILE)
    cap = _cdiv(SPLITK_BLOCKS, tiles)
    if cap < 2:
        return lc
    per = GEMM_BK * SPLITK_MIN_STEPS
    if isinstance(gm.k, int):
        split = min(cap, _cdiv(gm.k, per))
        if gm.k < SPLITK_MIN_K or split < SPLITK_MIN_SPLIT:
            return lc
    else:
        split = sympy.Max(1, sympy.Min(cap, sympy.ceiling(sympy.sympify(gm.k) / per)))
    lc.split = split
    lc.work_yz = (gm.m, split)
    i, j = "_zi", "_zj"
    ix = Ix(((i, gm.ldc), (j, 1)), c_off.const)
    zero = Const(0.0, gm.dtype)
    value = zero if gm.beta == 0.0 else Op("mul", (Load(gm.c, ix), Const(gm.beta, gm.dtype)), gm.dtype)
    store = Store(gm.c, ix, value)
    nest = [Loop(i, gm.m, [Loop(j, gm.n, [store], True)], True)]
    init = Launch("flat", kernel, entry + "_init", nest, [i, j], [gm.m, gm.n], [store], FLAT_BLOCK,
                  gm.m * gm.n)
    return [init, lc]


def _static_at_least(e, n):
    """Whether the size e (int or sympy of dims) is known to be >= n; symbolic sizes count as large."""
    return e >= n if isinstance(e, int) else True


def _reduce_into(kernel, entry, seg, prefix, cand, body, order, ext):
    """The rows launch of a flat candidate whose threads each only run `c[ix] = c[ix] + value` over loops
    (ix of the thread variables, value not reading c), when the threads are few and the loops long."""
    work = sprod(ext)
    if not isinstance(work, int) or work > REDUCE_MAX_THREADS:
        return None
    loops = [lp for lp in prefix if lp.var not in cand]
    if not loops or len(body) != 1 or not isinstance(body[0], Store):
        return None
    st = body[0]
    if not isinstance(st.index, Ix) or not set(st.index.vars) <= cand:
        return None
    v = st.value
    if not (isinstance(v, Op) and v.op == "add" and len(v.args) == 2) or v.dtype.name not in \
            ("f32", "f64", "i32", "i64") or st.buf.dtype != v.dtype:
        return None
    own = Load(st.buf, st.index)
    if v.args[0] == own:
        value = v.args[1]
    elif v.args[1] == own:
        value = v.args[0]
    else:
        return None
    for e in walk_exprs([Store(st.buf, st.index, value)]):
        if isinstance(e, Var) or (isinstance(e, Load) and e.buf is st.buf):
            return None
    serial = sprod([lp.extent for lp in loops])
    if not _static_at_least(serial, REDUCE_MIN_SERIAL):
        return None
    collapse = [(lp.var, lp.extent) for lp in loops]
    block = MAX_ROW_BLOCK
    if isinstance(serial, int):
        block = WARP
        while block < serial and block < MAX_ROW_BLOCK:
            block *= 2
        chunks = max(1, min(_cdiv(serial, block * REDUCE_PER_THREAD), _cdiv(REDUCE_BLOCKS, work)))
    else:
        chunks = sympy.Max(1, sympy.Min(_cdiv(REDUCE_BLOCKS, work),
                                        sympy.ceiling(sympy.sympify(serial) / (block * REDUCE_PER_THREAD))))
    lc = Launch("rows", kernel, entry, seg, [lp.var for lp in order], ext, body, block, work)
    lc.reduce_into = (st, collapse, value)
    lc.chunks = chunks
    lc.work_yz = (chunks, 1)
    return lc


# ---- merging small independent flat launches ----

def _slot_key(buf):
    return ("slot", buf.slot) if buf.slot is not None else ("buf", id(buf))


def _access(lc):
    """(slots read, slots written) of a launch; an accumulating write (split-K, beta, reduce-into) is both."""
    reads, writes = set(), set()
    for s in walk_stmts(lc.stmts):
        if isinstance(s, Gemm):
            reads |= {_slot_key(s.a), _slot_key(s.b), _slot_key(s.c)}
            writes.add(_slot_key(s.c))
        elif isinstance(s, Store):
            writes.add(_slot_key(s.buf))
    for e in walk_exprs(lc.stmts):
        if isinstance(e, Load):
            reads.add(_slot_key(e.buf))
    return reads, writes


def _conflict(a, b):
    ra, wa = a
    rb, wb = b
    return bool(wa & (rb | wb) or ra & wb)


def _mergeable(lc):
    return lc.kind == "flat" and lc.parts is None and isinstance(lc.work, int) and lc.work <= MERGE_MAX_WORK


def merge_flat(launches):
    """Launches in an order that runs the same, with small flat launches merged (see module doc): each one
    joins the earliest group it can move to (no conflicting access with any launch from that group on) that
    is a small flat group, else starts a new group at the end."""
    groups = []                    # [launches, accesses, mergeable]
    for lc in launches:
        acc = _access(lc)
        target = None
        if _mergeable(lc):
            for g in range(len(groups) - 1, -1, -1):
                if any(_conflict(acc, x) for x in groups[g][1]):
                    break
                if groups[g][2] and sum(m.work for m in groups[g][0]) + lc.work <= MERGE_MAX_TOTAL:
                    target = g
        if target is None:
            groups.append([[lc], [acc], _mergeable(lc)])
        else:
            groups[target][0].append(lc)
            groups[target][1].append(acc)
    out = []
    for members, _, _ in groups:
        if len(members) == 1:
            out.append(members[0])
            continue
        first = members[0]
        stmts = [s for m in members for s in m.stmts]
        lc = Launch("flat", first.kernel, f"{first.entry}_m{len(members)}", stmts, block=FLAT_BLOCK,
                    work=sum(m.work for m in members))
        lc.parts = members
        out.append(lc)
    return out
