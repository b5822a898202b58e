"""LLVM code of region kernels (lower/regions.py): a control-flow op's sub-programs become functions of the same
module, called from a loop (scan, while_loop) or a branch (cond) in the region kernel's function.

  void @f.<region>.<role>(ptr %table, ptr %dims)     a sub-program: loads its kernels' pointers from its table
                                                     (its own slot order) and calls them, as the entry does
  void @f.<region>(ptr noalias %b0, ..., ptr %dims)  the region kernel: fills each sub-program's table (fixed
                                                     slots once, per-iteration pointers in the loop) and calls it

The code does not depend on the trip count (a scan of 10 and of 1000 steps differ in one constant), and every
sub-program's kernels go through CpuCodegen.kernel, so equal kernels are shared as everywhere else.
"""
from __future__ import annotations

from llvmlite import ir

from ..errors import BackendError
from .llvm_team import team_ok, team_body_fn, team_loop
from .scalar import I1T, I8T, I64T

PTR = ir.PointerType()


def program_fn(cg, program, name):
    """The function running a sub-program from a table of buffer pointers (slots as the memory plan set them)."""
    fns = [cg.kernel(k) for k in program.kernels]
    fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR, PTR]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")        # called from a loop: one copy, whatever the trip count
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    # a profiling build stamps the outer program's kernels only: a sub-program's table has no stamps slot
    saved, cg.profile_slot = cg.profile_slot, None
    try:
        cg._call_kernels(b, fn.args[0], fn.args[1], list(zip(program.kernels, fns)))
    finally:
        cg.profile_slot = saved
    b.ret_void()
    return fn


def region_kernel(cg, k):
    """The function of a RegionKernel k."""
    from .llvm_fn import _Fn
    name = f"{cg.entry_name}.{k.name}"
    bufs = k.buffers
    subs = {role: program_fn(cg, prog, f"{name}.{role}") for role, prog in k.programs.items()}
    fn = cg._kernel_fn(name, bufs)
    f = _Fn(cg, fn, dict(zip(bufs, fn.args[:len(bufs)])), fn.args[len(bufs)])
    bodyb = fn.append_basic_block("body")
    f.b.position_at_end(bodyb)
    tables = {}
    for role, prog in k.programs.items():
        with f.b.goto_block(f.entry):
            f.b.position_at_start(f.entry)
            tables[role] = f.b.alloca(PTR, size=ir.Constant(I64T, max(prog.n_slots, 1)), name=f"{role}.table")
        for slot, (what, x) in k.bindings[role]:
            if what == "buf":
                _put(f, tables[role], slot, f.bufs[x])
    if k.kind == "scan":
        team = team_body_fn(cg, k.programs["body"], f"{name}.body.team") if team_ok(cg, k.programs["body"]) else None
        _scan(f, k, subs, tables, team)
    elif k.kind == "while_loop":
        _while(f, k, subs, tables)
    elif k.kind == "cond":
        _cond(f, k, subs, tables)
    else:
        raise BackendError(f"cpu: unknown region kernel {k.kind}")
    f.finish_checks()
    f.b.ret_void()
    with f.b.goto_block(f.entry):
        f.b.branch(bodyb)
    return fn


def _put(f, table, slot, ptr):
    f.b.store(ptr, f.b.gep(table, [ir.Constant(I64T, slot)], source_etype=PTR))


def _memcpy(f, dst, src, nbytes):
    cg = f.cg
    fn = cg.module.globals.get("llvm.memcpy.p0.p0.i64")
    if fn is None:
        fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64T, I1T]), "llvm.memcpy.p0.p0.i64")
    f.b.call(fn, [dst, src, f.sym(nbytes), ir.Constant(I1T, 0)])


def _offset(f, base, row_bytes, t):
    return f.b.gep(base, [f.b.mul(t, f.sym(row_bytes))], source_etype=I8T)


def _scan(f, k, subs, tables, team=None):
    i_ = k.info
    nc, nk = i_["nc"], i_["nk"]
    binds = [(s, w) for s, w in k.bindings["body"] if w[0] != "buf"]
    one = ir.Constant(I64T, 1)

    def parts(f):
        return ([f.bufs[x] for x in k.operands[nc:nc + nk]], [f.bufs[x] for x in k.operands[nc + nk:]],
                [f.bufs[x] for x in k.results[:nk]], [f.bufs[x] for x in k.alt], [f.bufs[x] for x in k.results[nk:]])

    def row(f, ys, k, t):
        return _offset(f, ys[k], i_["y_rows"][k], t)
    b = f.b
    n = f.sym(i_["length"])
    init = parts(f)[0]
    if i_.get("rows"):       # carries kept in rows of a y: row t(0) starts as the initial carry
        with b.if_then(b.icmp_signed(">", n, ir.Constant(I64T, 0))):
            t0 = b.sub(n, one) if i_["reverse"] else ir.Constant(I64T, 0)
            for j, y in i_["rows"]:
                _memcpy(f, row(f, parts(f)[4], y, t0), init[j], i_["carry_bytes"][j])

    def loop(f, targs):
        """The loop over the steps in function f; a team member (targs: see llvm_team.team_loop) fills a table
        of its own."""
        b = f.b
        n = f.sym(i_["length"])
        last = b.sub(n, one)
        init, xs, P, Q, ys = parts(f)
        if targs is None:
            table, body, args = tables["body"], subs["body"], []
        else:
            with b.goto_block(f.entry):
                b.position_at_start(f.entry)
                table = b.alloca(PTR, size=ir.Constant(I64T, max(k.programs["body"].n_slots, 1)), name="table")
            for slot, (what, x) in k.bindings["body"]:
                if what == "buf":
                    _put(f, table, slot, f.bufs[x])
            body, args = team, targs

        def step():
            i = f.vars["scan.i"]
            # iteration i writes P when (n - 1 - i) is even: the last iteration always writes P
            to_p = b.icmp_signed("==", b.and_(b.sub(last, i), one), ir.Constant(I64T, 0))
            first = b.icmp_signed("==", i, ir.Constant(I64T, 0))
            final = b.icmp_signed("==", i, last)
            t = b.sub(last, i) if i_["reverse"] else i
            t_next = b.sub(t, one) if i_["reverse"] else b.add(t, one)
            for slot, (what, j) in binds:
                if what == "carry_src":
                    p = b.select(first, init[j], b.select(to_p, Q[j], P[j]))
                elif what == "carry_dst":
                    p = b.select(to_p, P[j], Q[j])
                elif what == "row_src":
                    p = b.select(first, init[j[0]], row(f, ys, j[1], t))
                elif what == "row_dst":
                    # (t_next is out of range in the last iteration: the select never takes that row)
                    p = b.select(final, P[j[0]], row(f, ys, j[1], t_next))
                elif what == "x":
                    p = _offset(f, xs[j], i_["x_rows"][j], t)
                else:
                    p = row(f, ys, j, t)
                _put(f, table, slot, p)
            b.call(body, [table, f.dims_ptr] + args)
        f.counted_loop("scan.i", ir.Constant(I64T, 0), n, one, step, name="scan")
    if team is None:
        loop(f, None)
    else:
        team_loop(f, k.buffers, loop)
    if nk:
        with b.if_then(b.icmp_signed("<=", n, ir.Constant(I64T, 0)), likely=False):
            for j in range(nk):
                _memcpy(f, parts(f)[2][j], init[j], i_["carry_bytes"][j])


def _while(f, k, subs, tables):
    b = f.b
    i_ = k.info
    nk = i_["nk"]
    init = [f.bufs[x] for x in k.operands[i_["ncc"] + i_["nbc"]:]]
    P = [f.bufs[x] for x in k.results]
    Q = [f.bufs[x] for x in k.alt]
    flag = f.bufs[k.flag]
    cur = [f.alloca(PTR, f"carry{j}") for j in range(nk)]
    for j in range(nk):
        b.store(init[j], cur[j])
    head = f.fn.append_basic_block("while.head")
    step = f.fn.append_basic_block("while.body")
    done = f.fn.append_basic_block("while.exit")
    b.branch(head)
    b.position_at_end(head)
    now = [b.load(c, typ=PTR) for c in cur]
    for slot, (what, j) in k.bindings["cond"]:
        if what == "carry_src":
            _put(f, tables["cond"], slot, now[j])
    b.call(subs["cond"], [tables["cond"], f.dims_ptr])
    go = b.icmp_unsigned("!=", b.load(flag, typ=I8T), ir.Constant(I8T, 0))
    b.cbranch(go, step, done)
    b.position_at_end(step)
    dst = [b.select(b.icmp_unsigned("==", now[j], P[j]), Q[j], P[j]) for j in range(nk)]
    for slot, (what, j) in k.bindings["body"]:
        if what == "carry_src":
            _put(f, tables["body"], slot, now[j])
        elif what == "carry_dst":
            _put(f, tables["body"], slot, dst[j])
    b.call(subs["body"], [tables["body"], f.dims_ptr])
    for j in range(nk):
        b.store(dst[j], cur[j])
    b.branch(head)
    b.position_at_end(done)
    for j in range(nk):
        with b.if_then(b.icmp_unsigned("!=", now[j], P[j])):
            _memcpy(f, P[j], now[j], i_["carry_bytes"][j])


def _cond(f, k, subs, tables):
    b = f.b
    idx_buf = k.operands[0]
    v = b.load(f.bufs[idx_buf], typ=ir.IntType(idx_buf.dtype.bits))
    if idx_buf.dtype.bits < 64:
        v = b.zext(v, I64T) if idx_buf.dtype.is_bool else b.sext(v, I64T)
    nb = len(subs)
    v = b.select(b.icmp_signed("<", v, ir.Constant(I64T, 0)), ir.Constant(I64T, 0), v)
    v = b.select(b.icmp_signed(">", v, ir.Constant(I64T, nb - 1)), ir.Constant(I64T, nb - 1), v)
    done = f.fn.append_basic_block("cond.exit")
    sw = b.switch(v, done)
    for i, role in enumerate(subs):
        blk = f.fn.append_basic_block(f"cond.{role}")
        sw.add_case(ir.Constant(I64T, i), blk)
        b.position_at_end(blk)
        b.call(subs[role], [tables[role], f.dims_ptr])
        b.branch(done)
    b.position_at_end(done)
