"""A scan body run by a team of threads: every thread runs the whole loop, each kernel statement is split between
the threads, and a statement's chunks start once the statements before it are done (llvm_team_sync.py).

A loop that calls BLAS otherwise runs on the calling thread and hands OpenBLAS the caller's threads around each big
gemm. For a recurrent step that leaves the other cores idle in the elementwise kernels, and OpenBLAS's own split of a
batch-sized gemm scales poorly (LSTM step, 64x128 @ 128x512, Zen 4: 90 us on 1 thread, 57 us on 2). A team splits
the gemm by columns of C (each thread one single-threaded sgemm: 2 x 64x256x128 runs ~50 us) and every parallel loop
by its outer range, so both halves of a step's work run side by side with one fork per loop instead of per gemm.

  void @f.<region>.body.team(ptr %table, ptr %dims, i64 %tid, i64 %nt)   one thread's share of a body iteration
  void @f.<kernel>.t<i>(ptr noalias %b0, ..., ptr %dims, i64 %lo, i64 %hi)   statement i over [lo, hi)
  void @f.<region>.team(ptr %data)                                       the OpenMP body: one thread's whole loop

Only bodies made of gemms and parallel loops qualify (nothing serial that every thread would repeat), and only when
a gemm is big enough that the serial loop would have threaded it. The statements are functions of their own with
noalias buffers; the function calling them and the barriers has no noalias parameter, so no memory access moves
across a barrier.
"""
from __future__ import annotations

from llvmlite import ir

from ..ir.kernel import Loop, Gemm, HostCall, Collective
from ..lower.regions import RegionKernel, all_kernels
from .llvm_fn import _Fn, _gemm_big, BLAS_THREAD_WORK
from .llvm_gemm import plan_for_statement, declare_gemm
from .. import debug
from .scalar import I32T, I64T
from .llvm_team_sync import (TeamSync, sync_block, reset_sync, shared_counter, chunk_count, SPLIT, MAX_TEAM,
                              watch_member, fewer_threads, after_team)

PTR = ir.PointerType()
# chunks start on multiples of this many iterations (columns): vector loops keep the buffers' alignment
CHUNK_ALIGN = 16


def team_ok(cg, program) -> bool:
    """True when `program` (a scan body) can run as a team (see the module doc)."""
    if not getattr(cg, "team_threads", False):
        return False
    big = False
    for k in program.kernels:
        if isinstance(k, RegionKernel):
            return False
        for s in k.body:
            if isinstance(s, Gemm):
                big = big or _gemm_big(s) is not False
            elif not (isinstance(s, Loop) and s.parallel and not (isinstance(s.extent, int) and s.extent < 2)
                      and not _has_calls(s.body)):
                return False
    return big


def program_has_team(cg, program) -> bool:
    """True when some scan of `program` runs its body as a team. Then the program's other big gemms split their
    columns over the same OpenMP threads too, and its parallel loops use them: OpenBLAS stays on one thread, so
    no idle BLAS worker spins for a core against a team (on 2 cores, an OpenMP worker still spinning after the
    loop made the 2-thread OpenBLAS gemms after it several times slower)."""
    return any(isinstance(k, RegionKernel) and k.kind == "scan" and team_ok(cg, k.programs["body"])
               for k in all_kernels(program))


def _has_calls(body):
    stack = list(body)
    while stack:
        s = stack.pop()
        if isinstance(s, (HostCall, Collective, Gemm)):
            return True
        if isinstance(s, Loop):
            stack.extend(s.body)
    return False


def _gomp(cg, name):
    fn = cg.module.globals.get(name)
    if fn is None:
        if name == "GOMP_parallel":
            fty = ir.FunctionType(ir.VoidType(), [PTR, PTR, I32T, I32T])
        elif name == "GOMP_barrier":
            fty = ir.FunctionType(ir.VoidType(), [])
        else:
            fty = ir.FunctionType(I32T, [])
        fn = ir.Function(cg.module, fty, name)
    return fn


def chunk_align(s) -> int:
    """Iterations a chunk of statement s starts on a multiple of: CHUNK_ALIGN when its own index is the vectorised
    one (a flat loop), 1 when it has loops inside (each iteration is whole rows; and an outer extent below
    CHUNK_ALIGN, like im2col's 5 kernel rows, would otherwise be one chunk on one thread).
    NOTE: LeNet-5's four im2col copies (0.75 ms of a 4.6 ms step on one thread) ran on one thread of two."""
    if isinstance(s, Loop) and any(isinstance(x, Loop) for x in s.body):
        return 1
    return CHUNK_ALIGN


def chunk_size(b, ext, nt, split=SPLIT, align=CHUNK_ALIGN):
    """ceil(ext / (nt * split)) rounded up to a multiple of align (at least align)."""
    parts = b.mul(nt, ir.Constant(I64T, split))
    chunk = b.sdiv(b.add(ext, b.sub(parts, ir.Constant(I64T, 1))), parts)
    chunk = b.and_(b.add(chunk, ir.Constant(I64T, align - 1)), ir.Constant(I64T, -align))
    return b.select(b.icmp_signed("<", chunk, ir.Constant(I64T, align)), ir.Constant(I64T, align), chunk)


def claim_chunks(b, counter, ext, chunk, run):
    """Emit at b: take chunk numbers from *counter (atomic add) until they pass ext; run(lo, hi) for each. The
    caller's builder ends after the loop."""
    fn = b.function
    head = fn.append_basic_block("claim.head")
    body = fn.append_basic_block("claim.body")
    done = fn.append_basic_block("claim.done")
    b.branch(head)
    b.position_at_end(head)
    c = b.atomic_rmw("add", counter, ir.Constant(I64T, 1), "monotonic")
    lo = b.mul(c, chunk)
    b.cbranch(b.icmp_signed("<", lo, ext), body, done)
    b.position_at_end(body)
    hi = b.add(lo, chunk)
    run(lo, b.select(b.icmp_signed("<", hi, ext), hi, ext))
    b.branch(head)
    b.position_at_end(done)


def _phase_fn(cg, k, i, s, tag="t"):
    """@f.<kernel>.t<i>(bufs..., dims, lo, hi): statement s of kernel k over outer iterations (gemm: columns of C)
    [lo, hi)."""
    bufs = k.buffers
    fn = cg._kernel_fn(f"{cg.entry_name}.{k.name}.{tag}{i}", bufs, [I64T, I64T])
    fn.attributes.add("noinline")
    if isinstance(s, Gemm) or (isinstance(s, Loop) and s.body and all(isinstance(g, Gemm) for g in s.body)):
        # a block's pointers and one call per gemm: nothing for the IR pipeline to improve (the MLP value_and_grad
        # module: 180 -> 163 ms of LLVM on one thread)
        fn.attributes.add("optnone")
    f = _Fn(cg, fn, dict(zip(bufs, fn.args[:len(bufs)])), fn.args[len(bufs)])
    lo, hi = fn.args[len(bufs) + 1], fn.args[len(bufs) + 2]
    body = fn.append_basic_block("body")
    f.b.position_at_end(body)
    if isinstance(s, Gemm):
        gemm_block(f, s, lo, hi)
    else:
        f.loop(s.var, lo, hi, s.body)
    f.finish_checks()
    f.b.ret_void()
    with f.b.goto_block(f.entry):
        f.b.branch(body)
    return fn


def split_rows(g) -> bool:
    """True when a team splits gemm g by rows of C (more rows than columns, sizes known), else by columns: each
    chunk's call packs the whole unsplit operand again, so the split goes along the longer side."""
    return isinstance(g.m, int) and isinstance(g.n, int) and g.m > g.n


def gemm_extent(f, g):
    """The range a team splits gemm g along (i64): its rows or its columns (split_rows)."""
    return f.sym(g.m if split_rows(g) else g.n)


def gemm_block(f, g, lo, hi):
    """C[lo:hi, :] = alpha A[lo:hi, :] B + beta C[lo:hi, :] (split_rows), else C[:, lo:hi] = alpha A B[:, lo:hi] +
    beta C[:, lo:hi]: one single-threaded call on a block.

    NOTE: the one place a team's thread multiplies: the own kernel (llvm_gemm.py) for the sizes it covers, else a
    single-threaded CBLAS call."""
    b, cg = f.b, f.cg
    blas = cg.blas
    ib = blas["int_bits"]
    it = ir.IntType(ib)
    ft = ir.FloatType() if g.dtype.bits == 32 else ir.DoubleType()
    name = blas["sgemm" if g.dtype.bits == 32 else "dgemm"]
    fn = cg.module.globals.get(name)
    if fn is None:
        fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [
            I32T, I32T, I32T, it, it, it, ft, PTR, it, PTR, it, ft, PTR, it]), name)

    def n(v):
        return v if ib == 64 else b.trunc(v, it)

    def ld64(x):
        v = f.sym(x)
        return b.select(b.icmp_signed("<", v, ir.Constant(I64T, 1)), ir.Constant(I64T, 1), v)

    def ld(x):
        return n(ld64(x))

    def ptr(buf, off, extra=None):
        i = f.ix(off)
        if extra is not None:
            i = b.add(i, extra)
        return b.gep(f.bufs[buf], [i], source_etype=ft)
    part = b.sub(hi, lo)
    zero = ir.Constant(I64T, 0)
    if split_rows(g):
        m, cols = part, f.sym(g.n)
        a = ptr(g.a, g.a_off, lo if g.trans_a else b.mul(lo, f.sym(g.lda)))
        bb = ptr(g.b, g.b_off)
        c = ptr(g.c, g.c_off, b.mul(lo, f.sym(g.ldc)))
    else:
        m, cols = f.sym(g.m), part
        a = ptr(g.a, g.a_off)
        bb = ptr(g.b, g.b_off, b.mul(lo, f.sym(g.ldb)) if g.trans_b else lo)
        c = ptr(g.c, g.c_off, lo)
    own = plan_for_statement(g, debug.gemm_kernels())
    with b.if_then(b.and_(b.icmp_signed(">", m, zero), b.icmp_signed(">", cols, zero))):
        if own is not None:       # a block of a small gemm: the own kernel (llvm_gemm.py) takes any row/column block
            b.call(declare_gemm(cg.module, own), [m, cols, f.sym(g.k), ir.Constant(ft, g.alpha), a, ld64(g.lda), bb,
                                                  ld64(g.ldb), ir.Constant(ft, g.beta), c, ld64(g.ldc)])
            return
        b.call(fn, [ir.Constant(I32T, 101), ir.Constant(I32T, 112 if g.trans_a else 111),
                    ir.Constant(I32T, 112 if g.trans_b else 111), n(m), n(cols), n(f.sym(g.k)),
                    ir.Constant(ft, g.alpha), a, ld(g.lda), bb, ld(g.ldb), ir.Constant(ft, g.beta), c, ld(g.ldc)])


def _team_member_fn(cg, name):
    """void @name(table, dims, sync, base, nt), one thread's share of a team's work: (fn, its _Fn with the builder
    in the body block, the TeamSync, finish(last base): store it, return, branch the entry to the body)."""
    fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR, I64T]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    fn.attributes.add("optnone")
    f = _Fn(cg, fn, {}, fn.args[1])
    body = fn.append_basic_block("body")
    f.b.position_at_end(body)
    team = TeamSync(cg, f.b, fn.args[2], fn.args[4])

    def finish(base):
        f.b.store(base, fn.args[3])
        f.b.ret_void()
        with f.b.goto_block(f.entry):
            f.b.branch(body)
        return fn
    return fn, f, team, finish


# statements per team member function: a program's team body of ~60 statements was one function of ~2800 lines
# (LeNet-5's step) that took 240 ms of LLVM time alone (O3 pipeline plus code generation grow faster than its size,
# and one function cannot be split across compile threads); in functions of SEGMENT statements it compiles in parts
SEGMENT = 8


def _segmented_member(cg, name, items, emit):
    """void @name(table, dims, sync, base, nt) running `items` in order, each emitted by emit(f, team, base, item,
    ptrs) -> next base (f: the member's _Fn, ptrs: its cache for _kernel_ptrs). More than SEGMENT items go to
    member functions of SEGMENT each (@name.s<j>), which @name calls in turn (base passes through memory)."""
    def member(member_name, group):
        fn, f, team, finish = _team_member_fn(cg, member_name)
        base = f.b.load(fn.args[3], typ=I64T)
        ptrs = {}
        for item in group:
            base = emit(f, team, base, item, ptrs)
        return finish(base)
    groups = [items[i:i + SEGMENT] for i in range(0, len(items), SEGMENT)]
    if len(groups) <= 1:
        return member(name, items)
    parts = [member(f"{name}.s{j}", group) for j, group in enumerate(groups)]
    fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR, I64T]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    for part in parts:
        b.call(part, list(fn.args))
    b.ret_void()
    return fn


def _kernel_ptrs(f, k, ptrs):
    """Kernel k's buffers, loaded from the member's table once per member function."""
    if id(k) not in ptrs:
        table = f.fn.args[0]
        ptrs[id(k)] = [f.b.load(f.b.gep(table, [ir.Constant(I64T, buf.slot)], source_etype=PTR), typ=PTR,
                                name=buf.name) for buf in k.buffers]
    return ptrs[id(k)]


def team_body_fn(cg, program, name):
    """@name(table, dims, sync, base, nt): one thread's share of one run of `program`.

    NOTE: no barrier. Each statement's range is cut into chunks (chunk_count); the team counts finished chunks
    in `done` of its sync block (llvm_team_sync.py). The chunks of the statement numbered [base, end) may start
    once done >= base (every earlier statement finished); a thread claims a chunk only when it can start it at
    once, its own lane's first, so a thread whose core is busy never holds work it has not begun: the others take
    its share. Under a spinning barrier the slowest thread set every statement's time (single LSTM runs of 240 ms
    against 100 ms serial with the other core busy)."""
    items = [(k, _phase_fn(cg, k, i, s), s) for k in program.kernels for i, s in enumerate(k.body)]

    def emit(f, team, base, item, ptrs):
        k, pfn, s = item
        b, nt = f.b, f.fn.args[4]
        ext = gemm_extent(f, s) if isinstance(s, Gemm) else f.sym(s.extent)
        align = chunk_align(s)
        args = _kernel_ptrs(f, k, ptrs) + [f.fn.args[1]]
        return team.statement(b, base, ext, chunk_count(b, ext, nt, align), align,
                              lambda lo, hi: b.call(pfn, args + [lo, hi]))
    return _segmented_member(cg, name, items, emit)


def team_threads(cg, b):
    """The team's size at this call (i32): OpenMP's thread count (omp_get_max_threads: cc.set_num_threads changes
    it between calls; inside another parallel region libgomp gives a nested fork one thread)."""
    n = b.call(_gomp(cg, "omp_get_max_threads"), [])
    return b.select(b.icmp_signed("<", n, ir.Constant(I32T, MAX_TEAM)), n, ir.Constant(I32T, MAX_TEAM))


def team_loop(f, bufs, run_loop):
    """In the region kernel f: when the team has more than one thread (team_threads), fork it; each thread runs
    run_loop(g, [sync, base, nt]) (g: the _Fn of a function taking the same buffers; sync: the team's two shared
    counters, base: this thread's count of chunks passed, see team_body_fn); otherwise run_loop(f, None) here."""
    cg, b = f.cg, f.b
    name = f.fn.name
    run = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR] * (len(bufs) + 2) + [I64T]),
                      name + ".team.run")
    run.linkage = "internal"
    run.attributes.add("nounwind")
    run.attributes.add("noinline")
    g = _Fn(cg, run, dict(zip(bufs, run.args[:len(bufs)])), run.args[len(bufs)])
    body = run.append_basic_block("body")
    g.b.position_at_end(body)
    base = g.alloca(I64T, "team.base")
    g.b.store(ir.Constant(I64T, 0), base)
    run_loop(g, [run.args[len(bufs) + 1], base, run.args[len(bufs) + 2]])
    g.finish_checks()
    g.b.ret_void()
    with g.b.goto_block(g.entry):
        g.b.branch(body)
    # the OpenMP body: unpack [bufs..., dims]
    ofn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR]), name + ".team")
    ofn.linkage = "internal"
    ob = ir.IRBuilder(ofn.append_basic_block("entry"))
    data = ofn.args[0]
    vals = [ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR) for j in range(len(bufs) + 2)]
    nt = ob.sext(ob.call(_gomp(cg, "omp_get_num_threads"), []), I64T)
    ob.call(run, vals + [nt])
    ob.ret_void()
    threads = team_threads(cg, b)
    with b.if_else(b.icmp_signed(">", threads, ir.Constant(I32T, 1))) as (then, otherwise):
        with then:
            with b.goto_block(f.entry):
                b.position_at_start(f.entry)
                arr = b.alloca(PTR, size=ir.Constant(I64T, len(bufs) + 2), name="team.data")
                sync = sync_block(b, "team.sync")
            for j, buf in enumerate(bufs):
                b.store(f.bufs[buf], b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
            b.store(f.dims_ptr, b.gep(arr, [ir.Constant(I64T, len(bufs))], source_etype=PTR))
            reset_sync(b, sync, threads)
            b.store(sync, b.gep(arr, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR))
            b.call(_gomp(cg, "GOMP_parallel"), [ofn, arr, threads, ir.Constant(I32T, 0)])
        with otherwise:
            run_loop(f, None)


def team_gemm(cg, f, k, i, g):
    """Statement i of kernel k, a big gemm, in a program with a team: its columns cut into chunks that the team's
    threads take from a shared counter (each chunk one single-threaded call, gemm_block); on one thread, or for
    symbolic sizes below BLAS_THREAD_WORK, a direct call."""
    bufs = k.buffers
    pfn = _phase_fn(cg, k, i, g, tag="g")
    ofn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR]), pfn.name + ".omp")
    ofn.linkage = "internal"
    ob = ir.IRBuilder(ofn.append_basic_block("entry"))
    data = ofn.args[0]
    vals = [ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR) for j in range(len(bufs) + 1)]
    ext = ob.ptrtoint(ob.load(ob.gep(data, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR), typ=PTR), I64T)
    counter = ob.load(ob.gep(data, [ir.Constant(I64T, len(bufs) + 2)], source_etype=PTR), typ=PTR)
    nt = ob.sext(ob.call(_gomp(cg, "omp_get_num_threads"), []), I64T)
    claim_chunks(ob, counter, ext, chunk_size(ob, ext, nt), lambda lo, hi: ob.call(pfn, vals + [lo, hi]))
    ob.ret_void()
    b = f.b
    ext = gemm_extent(f, g)
    args = [f.bufs[x] for x in bufs] + [f.dims_ptr]
    threads = team_threads(cg, b)
    big = b.icmp_signed(">", threads, ir.Constant(I32T, 1))
    if _gemm_big(g) is None:
        work = b.mul(b.mul(f.sym(g.m), ext), f.sym(g.k))
        big = b.and_(big, b.icmp_signed(">=", work, ir.Constant(I64T, BLAS_THREAD_WORK)))
    with b.if_else(big) as (then, otherwise):
        with then:
            with b.goto_block(f.entry):
                b.position_at_start(f.entry)
                arr = b.alloca(PTR, size=ir.Constant(I64T, len(bufs) + 3), name=f"g{i}.data")
                counter = shared_counter(b, f"g{i}.next")
            for j, v in enumerate(args):
                b.store(v, b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
            b.store(b.inttoptr(ext, PTR), b.gep(arr, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR))
            b.store(ir.Constant(I64T, 0), counter)
            b.store(counter, b.gep(arr, [ir.Constant(I64T, len(bufs) + 2)], source_etype=PTR))
            b.call(_gomp(cg, "GOMP_parallel"), [ofn, arr, threads, ir.Constant(I32T, 0)])
        with otherwise:
            b.call(pfn, args + [ir.Constant(I64T, 0), ext])


# ---- a whole program on one team ----

# bigger programs keep a fork per loop: the team's function holds every kernel's call (one function's code
# generation time grows faster than its size)
TEAM_MAX_KERNELS = 512

def program_team_ok(cg, program) -> bool:
    """True when the whole entry of `program` runs on one team (program_team_fn): a program with a big gemm and
    no region kernels (a scan's own team, a cond's branches, keep their forks)."""
    return (getattr(cg, "team_gemms", False) and cg.profile_slot is None
            and len(program.kernels) <= TEAM_MAX_KERNELS
            and not any(isinstance(k, RegionKernel) for k in program.kernels))


def _splittable(k):
    return all(isinstance(s, Gemm) or (isinstance(s, Loop) and s.parallel and not _has_calls(s.body))
               or batched_gemms(s) for s in k.body)


def batched_gemms(s) -> bool:
    """True for a loop of gemms whose iterations write disjoint blocks of C that no gemm of the loop reads (batched
    matmuls, a convolution's per-image input gradient): the team splits it by iterations like a parallel loop.
    NOTE: LeNet-5's conv2 input gradient (64 per-image gemms) ran as one chunk on one thread, the other waiting."""
    if not (isinstance(s, Loop) and s.body and all(isinstance(g, Gemm) for g in s.body)):
        return False
    for g in s.body:
        step = g.c_off.coef(s.var) if hasattr(g.c_off, "coef") else 0
        span = g.m * g.ldc if isinstance(g.m, int) and isinstance(g.ldc, int) else None
        if (g.beta != 0 or span is None or not isinstance(step, int) or step < span
                or any(g.c is h.a or g.c is h.b for h in s.body)):
            return False
    return len({id(g.c) for g in s.body}) == len(s.body)


def program_team_fn(cg, calls, work_of, min_work):
    """@<entry>.team.body(bufs, dims, sync, base, nt): one thread's share of the whole program (calls: [(kernel,
    its function)] in order). A kernel made of parallel loops and gemms runs statement by statement, each cut into
    chunks as in team_body_fn (a loop of less than min_work element-steps, or a gemm below BLAS_THREAD_WORK, is
    one chunk); any other kernel is one chunk calling its function. One fork per call instead of one per loop:
    the join waits for a late thread once, not at every kernel."""
    items = []
    for k, kfn in calls:
        items += [(k, kfn, i, s) for i, s in enumerate(k.body)] if _splittable(k) else [(k, kfn, None, None)]

    def emit(f, team, base, item, ptrs):
        k, kfn, i, s = item
        b, dims, nt = f.b, f.fn.args[1], f.fn.args[4]
        args = _kernel_ptrs(f, k, ptrs)
        if s is None:
            one = ir.Constant(I64T, 1)
            return team.statement(b, base, one, one, 1, lambda lo, hi: b.call(kfn, args + [dims]))
        pfn = _phase_fn(cg, k, i, s)
        if isinstance(s, Gemm):
            ext = gemm_extent(f, s)
            big = _gemm_big(s)
            small = None if big is None else ir.Constant(ir.IntType(1), int(not big))
            if big is None:
                small = b.icmp_signed("<", b.mul(b.mul(f.sym(s.m), ext), f.sym(s.k)),
                                      ir.Constant(I64T, BLAS_THREAD_WORK))
            align = CHUNK_ALIGN
        elif batched_gemms(s):
            ext = f.sym(s.extent)
            work = sum((g.m * g.n * g.k for g in s.body), 0)
            small = b.icmp_signed("<", b.mul(ext, f.sym(work)), ir.Constant(I64T, BLAS_THREAD_WORK))
            align = 1
        else:
            ext = f.sym(s.extent)
            work = work_of(s)
            small = b.icmp_signed("<", b.mul(ext, f.sym(work)), ir.Constant(I64T, min_work))
            align = chunk_align(s)
        return team.statement(b, base, ext, chunk_count(b, ext, nt, align, small), align,
                              lambda lo, hi: b.call(pfn, args + [dims, lo, hi]))
    return _segmented_member(cg, f"{cg.entry_name}.team.body", items, emit)


def team_splits(k) -> bool:
    """True when the program team runs kernel k statement by statement (it needs no function of its own)."""
    return _splittable(k)


def program_team_entry(cg, b, bufs_arg, dims_arg, team_fn):
    """In the entry (builder b): fork the team running team_fn when it has more than one thread, else run team_fn
    on this thread (a team of one: one chunk per statement)."""
    ofn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR]), f"{cg.entry_name}.team")
    ofn.linkage = "internal"
    ob = ir.IRBuilder(ofn.append_basic_block("entry"))
    data = ofn.args[0]
    vals = [ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR) for j in range(3)]
    base = ob.alloca(I64T, name="base")
    ob.store(ir.Constant(I64T, 0), base)
    nt = ob.sext(ob.call(_gomp(cg, "omp_get_num_threads"), []), I64T)
    watch_member(cg, ob, lambda: ob.call(team_fn, vals + [base, nt]))
    ob.ret_void()
    threads = fewer_threads(cg, b, team_threads(cg, b))
    with b.if_else(b.icmp_signed(">", threads, ir.Constant(I32T, 1))) as (then, otherwise):
        with then:
            arr = b.alloca(PTR, size=ir.Constant(I64T, 3), name="team.data")
            sync = sync_block(b, "team.sync")
            reset_sync(b, sync, threads)
            for j, v in enumerate((bufs_arg, dims_arg, sync)):
                b.store(v, b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
            b.call(_gomp(cg, "GOMP_parallel"), [ofn, arr, threads, ir.Constant(I32T, 0)])
            after_team(cg, b)
        with otherwise:
            sync = sync_block(b, "solo.sync")
            reset_sync(b, sync, ir.Constant(I32T, 1))
            base = b.alloca(I64T, name="solo.base")
            b.store(ir.Constant(I64T, 0), base)
            b.call(team_fn, [bufs_arg, dims_arg, sync, base, ir.Constant(I64T, 1)])
