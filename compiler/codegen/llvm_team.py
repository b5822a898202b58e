"""A scan body run by a team of threads: every thread runs the whole loop, each kernel statement is split between
the threads, and a barrier separates statements.

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
from .scalar import I32T, I64T

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


def _chunk(b, ext, tid, nt):
    """Thread tid's [lo, hi) of 0..ext: ceil(ext / nt) rounded up to CHUNK_ALIGN per thread."""
    one = ir.Constant(I64T, 1)
    chunk = b.sdiv(b.add(ext, b.sub(nt, one)), nt)
    chunk = b.and_(b.add(chunk, ir.Constant(I64T, CHUNK_ALIGN - 1)), ir.Constant(I64T, -CHUNK_ALIGN))
    lo = b.mul(tid, chunk)
    hi = b.add(lo, chunk)
    return b.select(b.icmp_signed("<", lo, ext), lo, ext), b.select(b.icmp_signed("<", hi, ext), hi, ext)


def _phase_fn(cg, k, i, s, tag="t"):
    """@f.<kernel>.t<i>(bufs..., dims, lo, hi): statement s of kernel k over outer iterations (gemm: columns of C)
    [lo, hi)."""
    bufs = k.buffers
    fn = cg._kernel_fn(f"{cg.entry_name}.{k.name}.{tag}{i}", bufs, [I64T, I64T])
    fn.attributes.add("noinline")
    f = _Fn(cg, fn, dict(zip(bufs, fn.args[:len(bufs)])), fn.args[len(bufs)])
    lo, hi = fn.args[len(bufs) + 1], fn.args[len(bufs) + 2]
    body = fn.append_basic_block("body")
    f.b.position_at_end(body)
    if isinstance(s, Gemm):
        _gemm_columns(f, s, lo, hi)
    else:
        f.loop(s.var, lo, hi, s.body)
    f.finish_checks()
    f.b.ret_void()
    with f.b.goto_block(f.entry):
        f.b.branch(body)
    return fn


def _gemm_columns(f, g, lo, hi):
    """C[:, lo:hi] = alpha A B[:, lo:hi] + beta C[:, lo:hi]: one single-threaded CBLAS call."""
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

    def ld(x):
        v = f.sym(x)
        return n(b.select(b.icmp_signed("<", v, ir.Constant(I64T, 1)), ir.Constant(I64T, 1), v))

    def ptr(buf, off, extra=None):
        i = f.ix(off)
        if extra is not None:
            i = b.add(i, extra)
        return b.gep(f.bufs[buf], [i], source_etype=ft)
    cols = b.sub(hi, lo)
    m = f.sym(g.m)
    with b.if_then(b.and_(b.icmp_signed(">", m, ir.Constant(I64T, 0)), b.icmp_signed(">", cols, ir.Constant(I64T, 0)))):
        bcol = b.mul(lo, f.sym(g.ldb)) if g.trans_b else lo
        b.call(fn, [ir.Constant(I32T, 101), ir.Constant(I32T, 112 if g.trans_a else 111),
                    ir.Constant(I32T, 112 if g.trans_b else 111), n(m), n(cols), n(f.sym(g.k)),
                    ir.Constant(ft, g.alpha), ptr(g.a, g.a_off), ld(g.lda), ptr(g.b, g.b_off, bcol), ld(g.ldb),
                    ir.Constant(ft, g.beta), ptr(g.c, g.c_off, lo), ld(g.ldc)])


def team_body_fn(cg, program, name):
    """@name(table, dims, tid, nt): thread tid's share of one run of `program`, a barrier after each statement."""
    phases = [(k, [(_phase_fn(cg, k, i, s), s) for i, s in enumerate(k.body)]) for k in program.kernels]
    fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64T, I64T]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    table, dims, tid, nt = fn.args
    f = _Fn(cg, fn, {}, dims)
    body = fn.append_basic_block("body")
    b = f.b
    b.position_at_end(body)
    barrier = _gomp(cg, "GOMP_barrier")
    for k, fns in phases:
        ptrs = []
        for buf in k.buffers:
            p = b.gep(table, [ir.Constant(I64T, buf.slot)], source_etype=PTR)
            ptrs.append(b.load(p, typ=PTR, name=buf.name))
        for pfn, s in fns:
            lo, hi = _chunk(b, f.sym(s.n if isinstance(s, Gemm) else s.extent), tid, nt)
            with b.if_then(b.icmp_signed("<", lo, hi)):
                b.call(pfn, ptrs + [dims, lo, hi])
            b.call(barrier, [])
    b.ret_void()
    with b.goto_block(f.entry):
        b.branch(body)
    return fn


def team_loop(f, bufs, run_loop):
    """In the region kernel f: when the caller's thread count (OpenBLAS's, read at entry) is above 1, fork a team
    in which each thread runs run_loop(g, tid, nt) (g: the _Fn of a function taking the same buffers); otherwise
    run_loop(f, None, None) on this thread."""
    cg, b = f.cg, f.b
    name = f.fn.name
    run = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR] * (len(bufs) + 1) + [I64T, I64T]),
                      name + ".team.run")
    run.linkage = "internal"
    run.attributes.add("nounwind")
    run.attributes.add("noinline")
    g = _Fn(cg, run, dict(zip(bufs, run.args[:len(bufs)])), run.args[len(bufs)])
    body = run.append_basic_block("body")
    g.b.position_at_end(body)
    run_loop(g, run.args[len(bufs) + 1], run.args[len(bufs) + 2])
    g.finish_checks()
    g.b.ret_void()
    with g.b.goto_block(g.entry):
        g.b.branch(body)
    # the OpenMP body: unpack [bufs..., dims]
    ofn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR]), name + ".team")
    ofn.linkage = "internal"
    ob = ir.IRBuilder(ofn.append_basic_block("entry"))
    data = ofn.args[0]
    vals = [ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR) for j in range(len(bufs) + 1)]
    tid = ob.sext(ob.call(_gomp(cg, "omp_get_thread_num"), []), I64T)
    nt = ob.sext(ob.call(_gomp(cg, "omp_get_num_threads"), []), I64T)
    ob.call(run, vals + [tid, nt])
    ob.ret_void()
    threads = b.load(cg._blas_threads_global(), typ=I32T)
    with b.if_else(b.icmp_signed(">", threads, ir.Constant(I32T, 1))) as (then, otherwise):
        with then:
            with b.goto_block(f.entry):
                b.position_at_start(f.entry)
                arr = b.alloca(PTR, size=ir.Constant(I64T, len(bufs) + 1), name="team.data")
            for j, buf in enumerate(bufs):
                b.store(f.bufs[buf], b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
            b.store(f.dims_ptr, b.gep(arr, [ir.Constant(I64T, len(bufs))], source_etype=PTR))
            b.call(_gomp(cg, "GOMP_parallel"), [ofn, arr, threads, ir.Constant(I32T, 0)])
        with otherwise:
            run_loop(f, None, None)


def team_gemm(cg, f, k, i, g):
    """Statement i of kernel k, a big gemm, in a program with a team: its columns split over an OpenMP team of the
    caller's thread count (each thread one single-threaded CBLAS call); on one thread a direct call."""
    bufs = k.buffers
    pfn = _phase_fn(cg, k, i, g, tag="g")
    ofn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR]), pfn.name + ".omp")
    ofn.linkage = "internal"
    ob = ir.IRBuilder(ofn.append_basic_block("entry"))
    data = ofn.args[0]
    vals = [ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR) for j in range(len(bufs) + 1)]
    ext = ob.ptrtoint(ob.load(ob.gep(data, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR), typ=PTR), I64T)
    tid = ob.sext(ob.call(_gomp(cg, "omp_get_thread_num"), []), I64T)
    nt = ob.sext(ob.call(_gomp(cg, "omp_get_num_threads"), []), I64T)
    lo, hi = _chunk(ob, ext, tid, nt)
    with ob.if_then(ob.icmp_signed("<", lo, hi)):
        ob.call(pfn, vals + [lo, hi])
    ob.ret_void()
    b = f.b
    ext = f.sym(g.n)
    args = [f.bufs[x] for x in bufs] + [f.dims_ptr]
    threads = b.load(cg._blas_threads_global(), typ=I32T)
    big = b.icmp_signed(">", threads, ir.Constant(I32T, 1))
    if _gemm_big(g) is None:
        work = b.mul(b.mul(f.sym(g.m), ext), f.sym(g.k))
        big = b.and_(big, b.icmp_signed(">=", work, ir.Constant(I64T, BLAS_THREAD_WORK)))
    with b.if_else(big) as (then, otherwise):
        with then:
            with b.goto_block(f.entry):
                b.position_at_start(f.entry)
                arr = b.alloca(PTR, size=ir.Constant(I64T, len(bufs) + 2), name=f"g{i}.data")
            for j, v in enumerate(args):
                b.store(v, b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
            b.store(b.inttoptr(ext, PTR), b.gep(arr, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR))
            b.call(_gomp(cg, "GOMP_parallel"), [ofn, arr, threads, ir.Constant(I32T, 0)])
        with otherwise:
            b.call(pfn, args + [ir.Constant(I64T, 0), ext])
