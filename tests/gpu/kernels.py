"""Hand-written NVPTX kernels built with compiler.codegen.ptx_support: the shapes a future codegen will emit."""
from __future__ import annotations

from llvmlite import ir

from compiler.codegen import ptx_support as px

ROW_BLOCK = 256                                # threads per block of the row-reduction kernel


def elementwise_tanh_module(dtype: str = "f32") -> ir.Module:
    """ew_tanh(x, y, a, b, n): y[i] = tanh(a*x[i] + b) for i < n, grid-stride."""
    ty = px.F32 if dtype == "f32" else px.F64
    m = px.new_module("ew")
    fn = px.declare_kernel(m, "ew_tanh", [px.GLOBAL_PTR, px.GLOBAL_PTR, ty, ty, px.I64])
    x, y, a, c, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def body(b: ir.IRBuilder, i: ir.Value) -> None:
        v = px.load(b, x, i, ty)
        px.store(b, px.tanh(b, px.fma(b, a, v, c)), y, i)

    px.grid_stride_loop(b, n, body)
    b.ret_void()
    return m


def row_reduce_module() -> ir.Module:
    """row_max_sum(x, rowmax, rowsum, ncols): one block of ROW_BLOCK threads per row of a row-major f32 matrix.
    Strided accumulate, warp butterfly, then one value per warp through shared memory."""
    m = px.new_module("rows")
    fn = px.declare_kernel(m, "row_max_sum", [px.GLOBAL_PTR, px.GLOBAL_PTR, px.GLOBAL_PTR, px.I64])
    x, rmax, rsum, ncols = fn.args
    nwarps = ROW_BLOCK // px.WARP_SIZE
    smax = px.shared_array(m, "smem_max", px.F32, nwarps)
    ssum = px.shared_array(m, "smem_sum", px.F32, nwarps)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    tid = px.tid_x(b)
    row = b.zext(px.ctaid_x(b), px.I64)
    base = b.mul(row, ncols)
    entry = b.block
    head, body, done = (b.append_basic_block(s) for s in ("acc.head", "acc.body", "acc.done"))
    b.branch(head)
    b.position_at_end(head)
    j = b.phi(px.I64, "j")
    acc_max = b.phi(px.F32, "acc_max")
    acc_sum = b.phi(px.F32, "acc_sum")
    j.add_incoming(_zext(b, tid, entry), entry)
    acc_max.add_incoming(ir.Constant(px.F32, float("-inf")), entry)
    acc_sum.add_incoming(ir.Constant(px.F32, 0.0), entry)
    b.cbranch(b.icmp_signed("<", j, ncols), body, done)
    b.position_at_end(body)
    v = px.load(b, x, b.add(base, j), px.F32)
    acc_max.add_incoming(px.maximum(b, acc_max, v), body)
    acc_sum.add_incoming(b.fadd(acc_sum, v), body)
    j.add_incoming(b.add(j, ir.Constant(px.I64, ROW_BLOCK)), body)
    b.branch(head)
    b.position_at_end(done)
    wmax = px.warp_allreduce(b, acc_max, px.maximum)
    wsum = px.warp_allreduce(b, acc_sum, lambda b, p, q: b.fadd(p, q))
    lane = b.and_(tid, ir.Constant(px.I32, 31))
    warp = b.lshr(tid, ir.Constant(px.I32, 5))
    with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(px.I32, 0))):
        b.store(wmax, px.shared_ptr(b, smax, warp))
        b.store(wsum, px.shared_ptr(b, ssum, warp))
    px.barrier(b)
    with b.if_then(b.icmp_unsigned("==", warp, ir.Constant(px.I32, 0))):
        # warp 0 reduces the per-warp values; lanes past nwarps contribute the identities
        has = b.icmp_unsigned("<", lane, ir.Constant(px.I32, nwarps))
        idx = b.select(has, lane, ir.Constant(px.I32, 0))
        pm = b.select(has, b.load(px.shared_ptr(b, smax, idx)), ir.Constant(px.F32, float("-inf")))
        ps = b.select(has, b.load(px.shared_ptr(b, ssum, idx)), ir.Constant(px.F32, 0.0))
        tmax = px.warp_allreduce(b, pm, px.maximum)
        tsum = px.warp_allreduce(b, ps, lambda b, p, q: b.fadd(p, q))
        with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(px.I32, 0))):
            px.store(b, tmax, rmax, row)
            px.store(b, tsum, rsum, row)
    b.ret_void()
    return m


def _zext(b: ir.IRBuilder, v: ir.Value, block: ir.Block) -> ir.Value:
    """zext of v placed at the end of block (before its terminator), for a phi's incoming value."""
    with b.goto_block(block):
        return b.zext(v, px.I64)
