"""Lowering of the groups anchored on a matmul or a convolution, and of scatter-add: the GroupLowerer methods for
group kinds 'gemm', 'conv', 'convti', 'convtk' and 'scatter' (im2col + gemm + epilogue, or direct loops)."""
from __future__ import annotations

from ..errors import BackendError
from ..ir.types import I64, BOOL
from ..ir.kernel import Ix, Const, Load, IndexValue, Op, Acc, Loop, AccUpdate, Store, Gemm, Buffer, smul, sadd, sprod
from .index import ZERO, as_expr, c_add, c_mul, flat, _idx_eq, _pair, _all, _tap, _guarded_load, _i64, rewrite_ix
from . import checks


class LinalgLowering:
    """Mixed into GroupLowerer (lowering.py), which supplies ctx, grp, emit, nest, accumulate and the anchor state."""

    def lower_gemm(self):
        grp = self.grp
        d = grp.anchor
        a, b = d.inputs
        (ca, cb), (ba, bb) = d.params["contract"], d.params["batch"]
        dt = d.out.type.dtype
        shape = d.out.type.shape
        root = grp.root
        if root is d:
            return self.matmul_into(self.ctx.buffer(d.out), a, b, ca, cb, ba, bb, dt)
        out_buf = self.ctx.buffer(root.out)
        cbuf = Buffer(self.ctx.name("c"), dt, shape, "scratch")
        self.anchor_buf = cbuf
        self.anchor_map = lambda idx: flat(idx, shape)
        loop_idx = []

        def body(idx):
            loop_idx.append(idx)
            return [Store(out_buf, flat(idx, root.out.type.shape), self.emit(root.out, idx))]
        epilogue = self.nest(root.out.type.shape, body)
        # the epilogue may overwrite the product in place when it reads each element only at its own index
        if dt is root.out.type.dtype and all(_idx_eq(r, loop_idx[0]) for r in self.anchor_reads):
            cbuf = out_buf
            epilogue = _replace_load_buf(epilogue, self.anchor_buf, out_buf)
        else:
            self.ctx.buffers.append(cbuf)
        return self.matmul_into(cbuf, a, b, ca, cb, ba, bb, dt) + epilogue

    def matmul_into(self, cbuf, a, b, ca, cb, ba, bb, dt):
        ctx = self.ctx
        sa, sb = a.type.shape, b.type.shape
        pairs = sorted(zip(ca, cb))
        ca_o, cb_o = [p[0] for p in pairs], [p[1] for p in pairs]
        fa = [i for i in range(len(sa)) if i not in ca and i not in ba]
        fb = [j for j in range(len(sb)) if j not in cb and j not in bb]
        M, N, K = sprod(sa[i] for i in fa), sprod(sb[j] for j in fb), sprod(sa[i] for i in ca_o)
        nbatch = sprod(sa[i] for i in ba)
        abuf, bbuf = ctx.buffer(a), ctx.buffer(b)
        if not (ctx.use_blas and dt.is_float):
            return self.matmul_loops(cbuf, a, b, ca_o, cb_o, ba, bb, fa, fb)
        # A as [batch, M, K], B as [batch, K, N]: each as is, transposed, or packed
        abuf, trans_a, lda, pre_a = self.gemm_operand(abuf, sa, ba, fa, ca_o, M, K)
        bbuf, trans_b, ldb, pre_b = self.gemm_operand(bbuf, sb, bb, cb_o, fb, K, N)
        pre = pre_a + pre_b
        if isinstance(nbatch, int) and nbatch == 1:
            return pre + [Gemm(dt, trans_a, trans_b, M, N, K, abuf, ZERO, lda, bbuf, ZERO, ldb, cbuf, ZERO, N)]
        bv = ctx.var("b")
        bi = Ix.var(bv)
        g = Gemm(dt, trans_a, trans_b, M, N, K, abuf, bi.mul(smul(M, K)), lda, bbuf, bi.mul(smul(K, N)), ldb,
                 cbuf, bi.mul(smul(M, N)), N)
        return pre + [Loop(bv, nbatch, [g], False)]

    def pack(self, buf, shape, perm):
        """Copy `buf` into scratch with its axes in order `perm`."""
        pshape = tuple(shape[p] for p in perm)
        sc = self.ctx.scratch("pack", buf.dtype, pshape)

        def body(idx):
            return [Store(sc, flat(idx, pshape), Load(buf, flat(_placed(len(shape), (perm, idx)), shape)))]
        return sc, self.nest(pshape, body)

    def gemm_operand(self, buf, shape, batch, rows, cols, nrows, ncols):
        """A gemm operand of logical shape [batch, rows, cols]: (buffer, transposed?, leading dim, packing stmts).

        Used as is when its axes are batch + rows + cols (ld = ncols), transposed when batch + cols + rows
        (ld = nrows); otherwise packed into that order first."""
        nb = len(batch)
        rest = list(range(nb, len(shape)))
        if tuple(batch) == tuple(range(nb)) and rest == rows + cols:
            return buf, False, ncols, []
        if tuple(batch) == tuple(range(nb)) and rest == cols + rows:
            return buf, True, nrows, []
        packed, pre = self.pack(buf, shape, list(batch) + rows + cols)
        return packed, False, ncols, pre

    def matmul_loops(self, cbuf, a, b, ca, cb, ba, bb, fa, fb):
        ctx = self.ctx
        sa, sb = a.type.shape, b.type.shape
        shape = cbuf.shape
        dt = cbuf.dtype
        acc = Acc(ctx.var("acc"), "sum", dt)
        abuf, bbuf = ctx.buffer(a), ctx.buffer(b)
        K = [sa[i] for i in ca]

        def body(oidx):
            nbt = len(ba)
            bidx, aidx_f, bidx_f = oidx[:nbt], oidx[nbt:nbt + len(fa)], oidx[nbt + len(fa):]

            def inner(kidx):
                ia = _placed(len(sa), (ba, bidx), (fa, aidx_f), (ca, kidx))
                ib = _placed(len(sb), (bb, bidx), (fb, bidx_f), (cb, kidx))
                prod_ = Op("mul", [Load(abuf, flat(ia, sa)), Load(bbuf, flat(ib, sb))], dt)
                return [AccUpdate(acc, prod_)]
            return self.accumulate(acc, K, inner, cbuf, flat(oidx, shape))
        return self.nest(shape, body)

    # ---- convolution: im2col + gemm + epilogue ----
    def lower_conv(self):
        grp = self.grp
        d = grp.anchor
        x, w, dt, (Nb, C, H, W), (O, KH, KW), (sh, sw), (ph, pw), (dh, dw) = _conv_geometry(d)
        _, _, OH, OW = d.out.type.shape
        ctx = self.ctx
        xbuf, wbuf = ctx.buffer(x), ctx.buffer(w)
        P = sprod((Nb, OH, OW))
        CKK = sprod((C, KH, KW))
        root = grp.root
        out_shape = root.out.type.shape
        out_buf = ctx.buffer(root.out)
        if not (ctx.use_blas and dt.is_float):
            return self.conv_loops(d, out_buf if root is d else None)
        if _direct(C, KH, KW, H, W, OW, (sh, sw), (dh, dw)):
            return self.direct_conv(d)
        col = ctx.scratch("col", dt, (C, KH, KW, Nb, OH, OW))
        tmp = ctx.scratch("convout", dt, (O, Nb, OH, OW))

        def im2col(idx):
            c, a, b, n, i, j = idx
            hh = c_mul(i, sh).add(c_mul(a, dh)).add(-ph)
            ww = c_mul(j, sw).add(c_mul(b, dw)).add(-pw)
            if ph == 0 and pw == 0:
                val = Load(xbuf, flat((n, c, hh, ww), (Nb, C, H, W)))
            else:
                he, we = IndexValue(hh), IndexValue(ww)
                inb = Op("logical_and", [
                    Op("logical_and", [Op("ge", [he, _i64(0)], BOOL), Op("lt", [he, as_expr(H)], BOOL)], BOOL),
                    Op("logical_and", [Op("ge", [we, _i64(0)], BOOL), Op("lt", [we, as_expr(W)], BOOL)], BOOL)],
                    BOOL)
                hc = Op("clamp", [he, _i64(0), as_expr(sadd(H, -1))], I64)
                wc = Op("clamp", [we, _i64(0), as_expr(sadd(W, -1))], I64)
                val = Op("select", [inb, Load(xbuf, flat((n, c, hc, wc), (Nb, C, H, W))), Const(0, dt)], dt)
            return [Store(col, flat(idx, col.shape), val)]
        body = self.nest(col.shape, im2col)
        body.append(Gemm(dt, False, False, O, P, CKK, wbuf, ZERO, CKK, col, ZERO, P, tmp, ZERO, P))
        self.anchor_buf = tmp
        self.anchor_map = lambda idx: flat((idx[1], idx[0], idx[2], idx[3]), tmp.shape)
        body += self.nest(out_shape, lambda idx: [Store(out_buf, flat(idx, out_shape), self.emit(root.out, idx))])
        return body

    def im2col(self, x, KH, KW, sh, sw, ph, pw, OH, OW, dt, dh=1, dw=1):
        """col[c, a, b, n, i, j] = x_padded[n, c, i*sh + a*dh, j*sw + b*dw]: the operand of the convolution gemms."""
        Nb, C, H, W = x.type.shape
        xbuf = self.ctx.buffer(x)
        col = self.ctx.scratch("col", dt, (C, KH, KW, Nb, OH, OW))

        def body(idx):
            c, a, b, n, i, j = idx
            hh = c_mul(i, sh).add(c_mul(a, dh)).add(-ph)
            ww = c_mul(j, sw).add(c_mul(b, dw)).add(-pw)
            if ph == 0 and pw == 0:
                val = Load(xbuf, flat((n, c, hh, ww), (Nb, C, H, W)))
            else:
                val = _guarded_load(xbuf, (Nb, C, H, W), n, c, IndexValue(hh), IndexValue(ww), dt)
            return [Store(col, flat(idx, col.shape), val)]
        return col, self.nest(col.shape, body)

    def _epilogue(self, root):
        out_buf = self.ctx.buffer(root.out)
        shape = root.out.type.shape
        return self.nest(shape, lambda idx: [Store(out_buf, flat(idx, shape), self.emit(root.out, idx))])

    def lower_conv_transpose_input(self):
        """dx = col2im(W^T @ ct): per image cols[c,a,b,i,j] = sum_o w[o,c,a,b] ct[n,o,i,j] (gemm), then each
        input pixel gathers the columns that touched it (no scatter, so no races)."""
        grp = self.grp
        d = grp.anchor
        ct, w = d.inputs
        dt = d.out.type.dtype
        Nb, O, OH, OW = ct.type.shape
        _, C, KH, KW = w.type.shape
        H, W = d.out.type.shape[2:]
        sh, sw = _pair(d.params.get("stride", 1))
        ph, pw = _pair(d.params.get("padding", 0))
        dh, dw = _pair(d.params.get("dilation", 1))
        if not (self.ctx.use_blas and dt.is_float):
            raise BackendError("cpu: conv2d_transpose_input needs BLAS (float operands)")
        ctx = self.ctx
        cbuf, wbuf = ctx.buffer(ct), ctx.buffer(w)
        CKK, P = sprod((C, KH, KW)), sprod((OH, OW))
        static = all(isinstance(v, int) for v in (C, KH, KW, OH, OW, H, W))
        # stride 1 with static sizes: the taps' indices are affine in the pixel (no clamp, so vector loads instead
        # of gathers); a lane whose tap falls outside the image reads a neighbouring row of cols (or the margin at
        # either end of the buffer) and is masked by the select
        margin = (KH * dh) * OW + KW * dw if static and sh == sw == 1 else 0
        cshape = (Nb, C, KH, KW, OH, OW)
        cols = ctx.scratch("cols", dt, (sadd(sprod(cshape), 2 * margin),) if margin else cshape)
        bv = ctx.var("b")
        bi = Ix.var(bv)
        body = [Loop(bv, Nb, [Gemm(dt, True, False, CKK, P, O, wbuf, ZERO, CKK, cbuf, bi.mul(smul(O, P)), P,
                                   cols, bi.mul(smul(CKK, P)).add(margin), P)], False)]
        if static and not margin:
            return body + self.col2im_shifted(cols, (Nb, C, H, W), (KH, KW, OH, OW), (sh, sw, ph, pw, dh, dw), dt)

        def value(idx):
            n, c, h, x_ = idx
            out = None
            for a in range(KH):
                for b in range(KW):
                    if margin:
                        ti, tj = c_add(h, Ix.lit(ph - a * dh)), c_add(x_, Ix.lit(pw - b * dw))
                        ie, je = IndexValue(ti), IndexValue(tj)
                        conds = [Op("ge", [ie, _i64(0)], BOOL), Op("lt", [ie, _i64(OH)], BOOL),
                                 Op("ge", [je, _i64(0)], BOOL), Op("lt", [je, _i64(OW)], BOOL)]
                        v = Load(cols, flat((n, c, Ix.lit(a), Ix.lit(b), ti, tj), cshape).add(margin))
                        v = Op("select", [_all(conds), v, Const(0, dt)], dt)
                        out = v if out is None else Op("add", [out, v], dt)
                        continue
                    th, tw = as_expr(c_add(h, Ix.lit(ph - a * dh))), as_expr(c_add(x_, Ix.lit(pw - b * dw)))
                    conds, ii = _tap(th, sh, OH)
                    c2, jj = _tap(tw, sw, OW)
                    conds += c2
                    v = Load(cols, flat((n, c, Ix.lit(a), Ix.lit(b), ii, jj), cols.shape))
                    v = Op("select", [_all(conds), v, Const(0, dt)], dt)
                    out = v if out is None else Op("add", [out, v], dt)
            return out
        self.anchor_expr = value
        return body + self._epilogue(grp.root)

    def col2im_shifted(self, cols, xshape, kshape, geom, dt):
        """dx[n, c] = sum over taps (a, b) of cols[n, c, a, b] shifted to where tap (a, b) reads the input: per
        (n, c) plane (parallel), zero it, then one rectangle of adds per tap, its bounds known while lowering.
        NOTE: the gather form (each input pixel selecting its KH*KW taps with clamps and masks, lower_conv_
        transpose_input's fallback for symbolic sizes) cost LeNet-5's conv2 input gradient 1.1 ms a step on Zen 4
        (64 x 6 planes of 14 x 14, 25 taps); these adds are affine loads and stores that vectorize along j. The
        taps add in the gather's order, so the sums are the same. Strided convolutions only: with stride 1 the
        padded gather (lower_conv_transpose_input) is faster still (each row's store here is read back shifted by
        the next tap before it leaves the store buffer: 0.65 ms for LeNet's conv2 planes against 1.1 ms gathering)."""
        Nb, C, H, W = xshape
        KH, KW, OH, OW = kshape
        sh, sw, ph, pw, dh, dw = geom
        grp, ctx = self.grp, self.ctx
        root = grp.root
        dx = ctx.buffer(root.out) if root is grp.anchor else ctx.scratch("dx", dt, tuple(xshape))

        def rng(a, step, pad, n_in, n_out):
            # outputs t of tap a land on t*step + a*dil - pad: keep those inside [0, n_in)
            lo = max(0, -(-(pad - a) // step))
            hi = min(n_out, (n_in - 1 + pad - a) // step + 1)
            return lo, hi

        def plane(idx):
            n, c = idx
            z = ctx.var()
            stmts = [Loop(z, H * W, [Store(dx, c_add(flat((n, c), (Nb, C)).mul(H * W), Ix.var(z)), Const(0, dt))])]
            for a in range(KH):
                ilo, ihi = rng(a * dh, sh, ph, H, OH)
                for b in range(KW):
                    jlo, jhi = rng(b * dw, sw, pw, W, OW)
                    if ihi <= ilo or jhi <= jlo:
                        continue
                    iv, jv = ctx.var(), ctx.var()
                    i, j = Ix.var(iv).add(ilo), Ix.var(jv).add(jlo)
                    at = flat((n, c, c_mul(i, sh).add(a * dh - ph), c_mul(j, sw).add(b * dw - pw)), (Nb, C, H, W))
                    src = flat((n, c, Ix.lit(a), Ix.lit(b), i, j), cols.shape)
                    add = Store(dx, at, Op("add", [Load(dx, at), Load(cols, src)], dt))
                    stmts.append(Loop(iv, ihi - ilo, [Loop(jv, jhi - jlo, [add])]))
            return stmts
        body = self.nest((Nb, C), plane)
        if root is grp.anchor:
            return body
        self.anchor_buf = dx
        self.anchor_map = lambda idx: flat(idx, tuple(xshape))
        return body + self._epilogue(root)

    def lower_conv_transpose_kernel(self):
        """dw[o, (c,a,b)] = sum_{n,i,j} ct[n,o,i,j] col[(c,a,b), (n,i,j)]: im2col, ct packed to O x (N,OH,OW), gemm."""
        grp = self.grp
        d = grp.anchor
        x, ct = d.inputs
        dt = d.out.type.dtype
        Nb, O, OH, OW = ct.type.shape
        C = x.type.shape[1]
        KH, KW = d.params["kernel_hw"]
        sh, sw = _pair(d.params.get("stride", 1))
        ph, pw = _pair(d.params.get("padding", 0))
        dh, dw = _pair(d.params.get("dilation", 1))
        if not (self.ctx.use_blas and dt.is_float):
            raise BackendError("cpu: conv2d_transpose_kernel needs BLAS (float operands)")
        ctx = self.ctx
        col, body = self.im2col(x, KH, KW, sh, sw, ph, pw, OH, OW, dt, dh, dw)
        ctp, pack = self.pack(ctx.buffer(ct), ct.type.shape, [1, 0, 2, 3])
        body += pack
        CKK, P = sprod((C, KH, KW)), sprod((Nb, OH, OW))
        shape = d.out.type.shape
        root = grp.root
        if root is d:
            cbuf = ctx.buffer(d.out)
        else:
            cbuf = ctx.scratch("dw", dt, shape)
        body.append(Gemm(dt, False, True, O, CKK, P, ctp, ZERO, P, col, ZERO, P, cbuf, ZERO, CKK))
        if root is d:
            return body
        self.anchor_buf = cbuf
        self.anchor_map = lambda idx: flat(idx, shape)
        return body + self._epilogue(root)

    def lower_scatter(self):
        """out[..., clamp(idx[p]), ...] += updates[..., p, ...]: zero, then one serial pass (no races)."""
        n = self.grp.root
        upd, ind = n.inputs
        axis, size = n.params["axis"], n.params["size"]
        out = self.ctx.buffer(n.out)
        oshape = n.out.type.shape
        dt = n.out.type.dtype
        k = ind.type.ndim
        body = self.nest(oshape, lambda o: [Store(out, flat(o, oshape), Const(0, dt))])
        ubuf, ibuf = self.ctx.buffer(upd), self.ctx.buffer(ind)
        ushape = upd.type.shape

        def acc(idx):
            i = Load(ibuf, flat(idx[axis:axis + k], ind.type.shape))
            if i.dtype is not I64:
                i = Op("cast", [i], I64)
            i = checks.index(self.ctx, i, size, n, axis, src=ind)
            oi = flat(idx[:axis] + (i,) + idx[axis + k:], oshape)
            return [Store(out, oi, Op("add", [Load(out, oi), checks.keep(Load(ubuf, flat(idx, ushape)), i, size)], dt))]
        return body + self.nest(ushape, acc, parallel=False)

    def direct_conv(self, d):
        """A convolution of few taps (_direct) without im2col: each (image, output channel) accumulates tap by tap
        into a row of (OH - 1) * Wp + OW outputs at the input's row pitch Wp (output (i, j) at i * Wp + j), so that
        every tap reads one contiguous run of the (padded) input: long vector loops over a row that stays in L1.
        The epilogue reads the outputs back at their pitch. A padded convolution first copies x into a zero-padded
        scratch (few channels: cheap).
        NOTE: LeNet-5's conv1 (1 -> 6 channels, 5x5, 32x32, batch 64) took 645 us as im2col (5 MB of copies) + a gemm
        with k = 25 + a transposing copy (znver4, one thread); per output row (28 wide: a vector and a scalar tail
        per tap) 1.1 ms."""
        ctx = self.ctx
        x, w, dt, (Nb, C, H, W), (O, KH, KW), _, (ph, pw), _ = _conv_geometry(d)
        _, _, OH, OW = d.out.type.shape
        Hp, Wp = H + 2 * ph, W + 2 * pw
        xbuf, wbuf = ctx.buffer(x), ctx.buffer(w)
        body = []
        if ph or pw:
            src = ctx.scratch("xpad", dt, (Nb, C, Hp, Wp))
            body += self.nest(src.shape, lambda idx: [Store(src, flat(idx, src.shape), _guarded_load(
                xbuf, (Nb, C, H, W), idx[0], idx[1], IndexValue(idx[2].add(-ph)), IndexValue(idx[3].add(-pw)), dt))])
        else:
            src = xbuf
        L = (OH - 1) * Wp + OW
        acc = ctx.scratch("convrow", dt, (Nb, O, L))

        def row(oidx):
            n, o = oidx

            def out(pidx):
                total = None
                for c in range(C):
                    for a in range(KH):
                        for b in range(KW):
                            wv = Load(wbuf, flat((o, Ix.lit(c), Ix.lit(a), Ix.lit(b)), (O, C, KH, KW)))
                            xv = Load(src, flat((n, Ix.lit(c), pidx[0].add(a * Wp + b)), (Nb, C, Hp * Wp)))
                            term = Op("mul", [wv, xv], dt)
                            total = term if total is None else Op("add", [total, term], dt)
                return [Store(acc, flat((n, o, pidx[0]), acc.shape), total)]
            return self.nest((L,), out, parallel=False)
        body += self.nest((Nb, O), row)
        root = self.grp.root
        self.anchor_buf = acc
        self.anchor_map = lambda idx: flat((idx[0], idx[1], c_mul(idx[2], Wp).add(idx[3])), acc.shape)
        out_buf = ctx.buffer(root.out)
        out_shape = root.out.type.shape
        return body + self.nest(out_shape, lambda idx: [
            Store(out_buf, flat(idx, out_shape), self.emit(root.out, idx))])

    def conv_loops(self, d, direct_out):
        ctx = self.ctx
        x, w, dt, (Nb, C, H, W), (O, KH, KW), (sh, sw), (ph, pw), (dh, dw) = _conv_geometry(d)
        shape = d.out.type.shape
        xbuf, wbuf = ctx.buffer(x), ctx.buffer(w)
        tmp = direct_out or ctx.scratch("convout", dt, shape)
        acc = Acc(ctx.var("acc"), "sum", dt)

        def body(oidx):
            n, o, i, j = oidx

            def inner(kidx):
                c, a, b = kidx
                hh = c_mul(i, sh).add(c_add(c_mul(a, dh), Ix.lit(-ph)))
                ww = c_mul(j, sw).add(c_add(c_mul(b, dw), Ix.lit(-pw)))
                he, we = IndexValue(hh), IndexValue(ww)
                inb = Op("logical_and", [
                    Op("logical_and", [Op("ge", [he, _i64(0)], BOOL), Op("lt", [he, as_expr(H)], BOOL)], BOOL),
                    Op("logical_and", [Op("ge", [we, _i64(0)], BOOL), Op("lt", [we, as_expr(W)], BOOL)], BOOL)],
                    BOOL)
                hc = Op("clamp", [he, _i64(0), as_expr(sadd(H, -1))], I64)
                wc = Op("clamp", [we, _i64(0), as_expr(sadd(W, -1))], I64)
                xv = Op("select", [inb, Load(xbuf, flat((n, c, hc, wc), (Nb, C, H, W))), Const(0, dt)], dt)
                return [AccUpdate(acc, Op("mul", [xv, Load(wbuf, flat((o, c, a, b), (O, C, KH, KW)))], dt))]
            return self.accumulate(acc, (C, KH, KW), inner, tmp, flat(oidx, shape))
        body = self.nest(shape, body)
        root = self.grp.root
        if direct_out is not None:
            return body
        self.anchor_buf = tmp
        self.anchor_map = lambda idx: flat(idx, shape)
        out_buf = ctx.buffer(root.out)
        out_shape = root.out.type.shape
        return body + self.nest(out_shape, lambda idx: [
            Store(out_buf, flat(idx, out_shape), self.emit(root.out, idx))])


# a convolution of at most this many taps per output (C * KH * KW) runs as direct_conv: its im2col gemm would have
# k <= 32 (a few FMAs per output element loaded and stored) and copy its input KH * KW times
DIRECT_CONV_TAPS = 32


def _direct(C, KH, KW, H, W, OW, stride, dilation):
    """Whether a conv2d runs as direct_conv: static sizes, few taps, rows of 8+ outputs, stride and dilation 1."""
    return (all(isinstance(v, int) for v in (C, KH, KW, H, W, OW)) and C * KH * KW <= DIRECT_CONV_TAPS and OW >= 8
            and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1))


def _replace_load_buf(stmts, old, new):
    """Statements with loads of `old` reading `new` instead."""
    return rewrite_ix(stmts, lambda ix: ix, load_buf=lambda b: new if b is old else b)


def _placed(n, *placements):
    """A length-n index tuple from (positions, values) pairs: values[k] goes to positions[k]."""
    full = [None] * n
    for positions, values in placements:
        for p, v in zip(positions, values):
            full[p] = v
    return tuple(full)


def _conv_geometry(d):
    """A conv2d node's operands, dtype, input shape, kernel (O, KH, KW), stride, padding and dilation pairs."""
    x, w = d.inputs
    O, _, KH, KW = w.type.shape
    return (x, w, d.out.type.dtype, x.type.shape, (O, KH, KW), _pair(d.params.get("stride", 1)),
            _pair(d.params.get("padding", 0)), _pair(d.params.get("dilation", 1)))
