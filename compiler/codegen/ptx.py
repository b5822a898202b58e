"""Loop-level kernels -> NVPTX LLVM IR (llvmlite) -> PTX text, one module per compiled function.

Each Kernel becomes one or more launches (ptx_plan.py decides the thread mapping), each an `.entry`:

  void @<entry>(ptr addrspace(1) noalias %buf, ..., i64 %dim, ...)      ptx_kernel calling convention

taking the buffers it touches (in Launch.bufs order) and then every symbolic dim of the Program (Program.dims
order). Scalar expressions come from scalar.py, each primitive's from its own scalar rule (math: primitives/mathlib,
the same as the CPU's), except the faster NVPTX forms in OVERRIDES: f32 exp/tanh/logistic through ex2.approx and
rcp.approx with range reduction (a few ulp), rounding in one instruction. Only what NVPTX selects natively is used.
"""
from __future__ import annotations

import re

from llvmlite import ir

from ..errors import BackendError, format_loc
from ..ir.types import BOOL
from ..ir.kernel import Load, Op, Var, Loop, AccInit, AccUpdate, Store, Gemm, sprod
from ..lower.accum import new_acc, cast_to, identity
from ..lower.regions import RegionKernel
from . import ptx_support as px
from ..primitives import mathlib as M
from .ptx_math import OVERRIDES, exp_core
from .ptx_plan import plan_kernel, merge_flat, walk_stmts, walk_exprs, WARP
from .scalar import ScalarEmitter, ll_type, mem_type, const as _const, I1T, I32T, I64T

UNROLL = 8                    # elements per thread per grid-stride step of a pure elementwise launch


# ---- one kernel function ----

class _Gen(ScalarEmitter):
    """State of one `.entry` being built: builder, buffer params, dims, loop vars, value scopes, accumulators."""

    TARGET = "ptx"
    OVERRIDES = OVERRIDES
    EXP = staticmethod(exp_core)
    FAST_F64 = False

    def __init__(self, cg, fn, lc):
        self.cg = cg
        self.lc = lc
        self.fn = fn
        self.entry = fn.append_basic_block("entry")
        body = fn.append_basic_block("body")
        self.b = ir.IRBuilder(body)
        self._body = body
        nb = len(lc.bufs)
        self.bufs = dict(zip(lc.bufs, fn.args[:nb]))
        self.dims = {s: fn.args[nb + i] for i, s in enumerate(cg.program.dims)}
        self.vars = {}
        self.scopes = [{}]
        self.accs = {}
        self.syms = {}
        self._tid = None

    def finish(self):
        self.b.ret_void()
        with self.b.goto_block(self.entry):
            self.b.branch(self._body)

    # ---- sizes and values: what the GPU does its own way ----
    def symbol(self, s):
        if s not in self.dims:
            raise BackendError(f"ptx: size {s} is not a dim of the program")
        return self.dims[s]

    def acc_value(self, e):
        slots = self.accs[e.acc]
        if e.acc.op == "argmax":
            return self.b.load(slots[1], typ=I64T)
        return self.b.load(slots[0], typ=ll_type(e.acc.dtype))

    def where(self):
        return f" in kernel {self.lc.kernel.name}"

    # ---- thread indices ----
    def tid(self):
        if self._tid is None:
            with self.b.goto_block(self.entry):
                self._tid = self.b.zext(px.tid_x(self.b), I64T, name="tid")
        return self._tid

    def sreg64(self, name):
        with self.b.goto_block(self.entry):
            return self.b.zext(px.sreg(self.b, name), I64T)

    def stmt(self, s):
        if isinstance(s, Loop):
            self.loop(s.var, ir.Constant(I64T, 0), self.sym(s.extent), ir.Constant(I64T, 1),
                      lambda: self.stmts(s.body))
        elif isinstance(s, Store):
            self.store(s)
        elif isinstance(s, AccInit):
            self.acc_init(s.acc)
        elif isinstance(s, AccUpdate):
            self.acc_update(s)
        elif isinstance(s, Gemm):
            raise BackendError(f"ptx: kernel {self.lc.kernel.name}: a matmul inside a loop nest")
        else:
            raise BackendError(f"ptx: unknown statement {s!r}")

    def store(self, s):
        self.store_value(s)
        self.forget(lambda k: isinstance(k, Load) and k.buf is s.buf)

    def loop(self, var, lo, hi, step, emit_body, name=None):
        self.counted_loop(var, lo, hi, step, emit_body, name=name)

    def alloca(self, t, name):
        with self.b.goto_block(self.entry):
            return self.b.alloca(t, name=name)

    def acc_identity(self, acc):
        return _const(acc.dtype, identity(acc.op, acc.dtype))

    def acc_init(self, acc):
        if acc not in self.accs:
            a = self.alloca(ll_type(acc.dtype), acc.name)
            ia = self.alloca(I64T, acc.name + ".at") if acc.op == "argmax" else None
            self.accs[acc] = (a, ia)
        a, ia = self.accs[acc]
        self.b.store(self.acc_identity(acc), a)
        if ia is not None:
            self.b.store(ir.Constant(I64T, 0), ia)
        self.forget(lambda k: isinstance(k, Var) and k.acc is acc)

    def combine(self, op, dt, old, v):
        """The accumulator step acc = op(acc, v) for 'sum' and 'max' (NaN-propagating, as the CPU)."""
        b = self.b
        if dt is BOOL:
            return b.or_(old, v)
        if op == "sum":
            return b.fadd(old, v) if dt.is_float else b.add(old, v)
        if dt.is_float:
            return M.maximum(self.scalar_builder(), v, old)
        return b.select(b.icmp_signed(">", v, old), v, old)

    def acc_update(self, s):
        b = self.b
        acc = s.acc
        a, ia = self.accs[acc]
        t = ll_type(acc.dtype)
        v = self.val(s.value)
        old = b.load(a, typ=t)
        if acc.op in ("sum", "max"):
            b.store(self.combine(acc.op, acc.dtype, old, v), a)
        else:
            self.argmax_step(s, a, ia, old, v)
        self.forget(lambda k: isinstance(k, Var) and k.acc is acc)

    # ---- block mode: a row body run by all threads of a block ----
    def block_stmts(self, body):
        b = self.b
        self.row_accs = {s.acc for s in body if isinstance(s, AccInit)}
        loaded = {e.buf for e in walk_exprs(body) if isinstance(e, Load)}
        for s in body:
            if isinstance(s, AccInit):
                self.acc_init(s.acc)
            elif isinstance(s, AccUpdate):
                self.acc_update(s)           # every thread holds the row's full value: update it uniformly
            elif isinstance(s, Store):
                with b.if_then(b.icmp_unsigned("==", self.tid(), ir.Constant(I64T, 0))):
                    self.scopes.append({})
                    self.store(s)
                    self.scopes.pop()
                if s.buf in loaded:
                    px.barrier(b)
            elif isinstance(s, Loop):
                self.split_loop(s, loaded)
            else:
                raise BackendError(f"ptx: unexpected statement in a row of kernel {self.lc.kernel.name}")

    def split_loop(self, s, loaded):
        """The loop's iterations strided over the block's threads; the row accumulators it updates are
        combined across the block afterwards (warp shuffles, then one value per warp in shared memory)."""
        b = self.b
        updated = []
        for t in walk_stmts(s.body):
            if isinstance(t, AccUpdate) and t.acc in self.row_accs and t.acc not in updated:
                updated.append(t.acc)
        pre = {}
        for acc in updated:
            a, ia = self.accs[acc]
            pre[acc] = (b.load(a, typ=ll_type(acc.dtype)), b.load(ia, typ=I64T) if ia is not None else None)
            b.store(self.acc_identity(acc), a)
            if ia is not None:
                b.store(ir.Constant(I64T, 0), ia)
        self.forget(lambda k: isinstance(k, Var) and k.acc in pre)
        step = ir.Constant(I64T, self.lc.block)
        self.loop(s.var, self.tid(), self.sym(s.extent), step, lambda: self.stmts(s.body))
        if updated:
            self.block_reduce(updated, pre)
        writes = {t.buf for t in walk_stmts(s.body) if isinstance(t, Store)}
        if writes & loaded:
            px.barrier(b)

    def _shfl(self, v, m):
        b = self.b
        if v.type == I1T:
            return b.trunc(px.shfl_bfly(b, b.zext(v, I32T), m), I1T)
        return px.shfl_bfly(b, v, m)

    def _argmax_better(self, dt, v1, i1, v2, i2):
        """Whether (v2, i2) beats (v1, i1): NaN first, then the larger value, then the smaller index."""
        b = self.b
        earlier = b.icmp_signed("<", i2, i1)
        if dt.is_float:
            n1 = b.fcmp_unordered("uno", v1, v1)
            n2 = b.fcmp_unordered("uno", v2, v2)
            both = b.and_(n1, n2)
            gt = b.fcmp_ordered(">", v2, v1)
            eq = b.fcmp_ordered("==", v2, v1)
            plain = b.or_(gt, b.and_(eq, earlier))
            return b.select(both, earlier, b.select(n2, ir.Constant(I1T, 1),
                                                    b.select(n1, ir.Constant(I1T, 0), plain)))
        gt = b.icmp_signed(">", v2, v1)
        eq = b.icmp_signed("==", v2, v1)
        return b.or_(gt, b.and_(eq, earlier))

    def _merge(self, acc, x, y):
        """Combine two partial results (value, index) of acc."""
        b = self.b
        if acc.op == "argmax":
            take = self._argmax_better(acc.dtype, x[0], x[1], y[0], y[1])
            return b.select(take, y[0], x[0]), b.select(take, y[1], x[1])
        return self.combine(acc.op, acc.dtype, x[0], y[0]), None

    def block_reduce(self, accs, pre):
        b = self.b
        nw = max(1, self.lc.block // WARP)
        parts = []
        for acc in accs:
            a, ia = self.accs[acc]
            v = (b.load(a, typ=ll_type(acc.dtype)), b.load(ia, typ=I64T) if ia is not None else None)
            if self.lc.block > 1:
                for m in (16, 8, 4, 2, 1):
                    other = (self._shfl(v[0], m), self._shfl(v[1], m) if v[1] is not None else None)
                    v = self._merge(acc, v, other)
            parts.append(v)
        if nw > 1:
            tid = self.tid()
            lane0 = b.icmp_unsigned("==", b.and_(tid, ir.Constant(I64T, WARP - 1)), ir.Constant(I64T, 0))
            warp = b.trunc(b.lshr(tid, ir.Constant(I64T, 5)), I32T)
            smem = []
            for k, (acc, v) in enumerate(zip(accs, parts)):
                st = ll_type(acc.dtype)
                st = I32T if st == I1T else st
                arr = px.shared_array(b.module, f"{self.fn.name}.red{self.cg.next_id()}", st, WARP)
                iarr = (px.shared_array(b.module, f"{self.fn.name}.red{self.cg.next_id()}", I64T, WARP)
                        if v[1] is not None else None)
                smem.append((arr, iarr, st))
            with b.if_then(lane0):
                for (arr, iarr, st), v in zip(smem, parts):
                    x = b.zext(v[0], I32T) if v[0].type == I1T else v[0]
                    b.store(x, px.shared_ptr(b, arr, warp))
                    if iarr is not None:
                        b.store(v[1], px.shared_ptr(b, iarr, warp))
            px.barrier(b)
            out = []
            for (arr, iarr, st), acc in zip(smem, accs):
                r = None
                for w in range(nw):
                    wi = ir.Constant(I32T, w)
                    x = b.load(px.shared_ptr(b, arr, wi))
                    x = b.trunc(x, I1T) if ll_type(acc.dtype) == I1T else x
                    xi = b.load(px.shared_ptr(b, iarr, wi)) if iarr is not None else None
                    r = (x, xi) if r is None else self._merge(acc, r, (x, xi))
                out.append(r)
            px.barrier(b)
            parts = out
        for acc, v in zip(accs, parts):
            a, ia = self.accs[acc]
            full = self._merge(acc, pre[acc], v)
            b.store(full[0], a)
            if ia is not None:
                b.store(full[1], ia)
        self.forget(lambda k: isinstance(k, Var) and k.acc in accs)

    # ---- launches ----
    def decompose(self, lin, names, extents):
        """Set loop variables `names` (outermost first) from a linear index over their extents."""
        b = self.b
        for k in range(len(names) - 1, -1, -1):
            if k == 0:
                self.vars[names[k]] = lin
            else:
                e = self.sym(extents[k])
                self.vars[names[k]] = b.urem(lin, e)
                lin = b.udiv(lin, e)

    def emit_flat(self):
        lc = self.lc
        b = self.b
        total = self.sym(lc.work)
        start = b.add(b.mul(self.sreg64("ctaid.x"), ir.Constant(I64T, lc.block), flags=["nuw"]), self.tid(),
                      flags=["nuw"])
        stride = b.mul(self.sreg64("nctaid.x"), ir.Constant(I64T, lc.block), flags=["nuw"])

        def one(i):
            self.scopes.append({})
            self.decompose(i, lc.threads, lc.extents)
            self.stmts(lc.body)
            self.scopes.pop()
        simple = all(isinstance(s, Store) for s in lc.body)
        if not simple:
            self.loop("gs", start, total, stride, lambda: one(self.vars["gs"]), name="gs")
            return
        # NOTE: UNROLL independent elements per step keep several loads in flight per thread; a remainder loop
        # takes the last ones.
        last = b.mul(stride, ir.Constant(I64T, UNROLL - 1))
        pre = b.block
        head = self.fn.append_basic_block("gs4.head")
        body = self.fn.append_basic_block("gs4.body")
        done = self.fn.append_basic_block("gs4.exit")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64T, name="gs4")
        i.add_incoming(start, pre)
        b.cbranch(b.icmp_signed("<", b.add(i, last), total), body, done)
        b.position_at_end(body)
        # NOTE: every element's loads first, then the arithmetic and stores: UNROLL loads in flight per thread
        # is what it takes to approach copy bandwidth (latency x bandwidth bytes in flight per SM).
        loads = [e for e in walk_exprs(lc.body) if isinstance(e, Load) and e.buf not in
                 {st.buf for st in lc.body}]
        scopes = []
        for k in range(UNROLL):
            idx = i if k == 0 else b.add(i, b.mul(stride, ir.Constant(I64T, k)))
            self.scopes.append({})
            self.decompose(idx, lc.threads, lc.extents)
            for e in loads:
                self.val(e)
            scopes.append((self.scopes.pop(), dict(self.vars)))
        for sc, vs in scopes:
            self.scopes.append(sc)
            self.vars.update(vs)
            self.stmts(lc.body)
            self.scopes.pop()
        i.add_incoming(b.add(i, b.mul(stride, ir.Constant(I64T, UNROLL))), b.block)
        b.branch(head)
        b.position_at_end(done)
        self.loop("gs", i, total, stride, lambda: one(self.vars["gs"]), name="gs")

    def emit_merged(self):
        """Merged flat launches: one grid-stride loop over the concatenated ranges; each index runs the part
        whose range holds it (parts are independent, so their order inside the launch does not matter)."""
        lc = self.lc
        b = self.b
        total = self.sym(lc.work)
        start = b.add(b.mul(self.sreg64("ctaid.x"), ir.Constant(I64T, lc.block), flags=["nuw"]), self.tid(),
                      flags=["nuw"])
        stride = b.mul(self.sreg64("nctaid.x"), ir.Constant(I64T, lc.block), flags=["nuw"])

        def one():
            i = self.vars["gs"]
            off = 0
            for part in lc.parts:
                hi = off + part.work
                inside = b.icmp_signed("<", i, ir.Constant(I64T, hi))
                if off:
                    inside = b.and_(b.icmp_signed(">=", i, ir.Constant(I64T, off)), inside)
                with b.if_then(inside):
                    self.scopes.append({})
                    self.decompose(b.sub(i, ir.Constant(I64T, off)) if off else i, part.threads, part.extents)
                    self.stmts(part.body)
                    self.scopes.pop()
                off = hi
        self.loop("gs", start, total, stride, one, name="gs")

    def emit_rows(self):
        lc = self.lc
        rows = self.sym(lc.work)

        def row():
            self.scopes.append({})
            if lc.threads:
                self.decompose(self.vars["row"], lc.threads, lc.extents)
            if lc.reduce_into is not None:
                self.reduce_into(*lc.reduce_into)
            else:
                self.uniform(list(lc.uniform), lc.body)
            self.scopes.pop()
        self.loop("row", self.sreg64("ctaid.x"), rows, self.sreg64("nctaid.x"), row, name="row")

    def reduce_into(self, st, collapse, value):
        """c[ix] += sum of value over the collapsed loops: this block's chunk (gridDim.y chunks) of the range
        strided over its threads, a block reduction, then thread 0 adds it (atomically when chunked)."""
        b = self.b
        lc = self.lc
        names = [v for v, _ in collapse]
        exts = [e for _, e in collapse]
        # a long f32 sum accumulates in f64 (lower/accum.py; the CPU's column scratch in kernel IR): each thread's
        # share, the block tree, then one rounding to the output type before the store or atomic add
        acc = new_acc(f"red{self.cg.next_id()}", "sum", value.dtype, sprod(exts))
        value = cast_to(value, acc.dtype)
        self.acc_init(acc)
        total = self.sym(sprod(exts))
        one = ir.Constant(I64T, 1)
        nchunk = self.sreg64("nctaid.y")
        size = b.sdiv(b.add(total, b.sub(nchunk, one)), nchunk)
        lo = b.mul(self.sreg64("ctaid.y"), size)
        hi = b.add(lo, size)
        hi = b.select(b.icmp_signed("<", hi, total), hi, total)

        def body():
            self.scopes.append({})
            self.decompose(self.vars["_red"], names, exts)
            self.acc_update(AccUpdate(acc, value))
            self.scopes.pop()
        self.loop("_red", b.add(lo, self.tid()), hi, ir.Constant(I64T, lc.block), body, name="red")
        self.block_reduce([acc], {acc: (self.acc_identity(acc), None)})
        with b.if_then(b.icmp_unsigned("==", self.tid(), ir.Constant(I64T, 0))):
            v = b.load(self.accs[acc][0], typ=ll_type(acc.dtype))
            dt = st.buf.dtype
            if dt is not acc.dtype:
                v = b.fptrunc(v, ll_type(dt))
            p = b.gep(self.bufs[st.buf], [self.ix(st.index)], source_etype=mem_type(dt))
            if lc.overwrite:
                b.store(v, p)
            elif isinstance(lc.chunks, int) and lc.chunks == 1:
                old = b.load(p, typ=mem_type(dt))
                b.store(self.combine("sum", dt, old, v), p)
            else:
                b.atomic_rmw("fadd" if dt.is_float else "add", p, v, "monotonic")
        self.forget(lambda k: isinstance(k, Load) and k.buf is st.buf)

    def uniform(self, loops, body):
        if not loops:
            self.block_stmts(body)
            return
        var, ext = loops[0]
        self.loop(var, ir.Constant(I64T, 0), self.sym(ext), ir.Constant(I64T, 1),
                  lambda: self.uniform(loops[1:], body))

    def emit_serial(self):
        self.stmts(self.lc.stmts)


# ---- the module of a program ----

class PtxProgram:
    """The NVPTX module of a Program: `.llvm_ir` (text), `.launches` (ptx_plan.Launch, in run order),
    `.ptx(arch)` (cached), `.entry_names`."""

    def __init__(self, program, name):
        self.program = program
        self.name = name
        self.launches = []
        self._ids = 0
        self._ptx = {}
        self.module = px.new_module(name)
        prefix = _c_name(name)
        # control-flow ops (lower/regions.py): their sub-programs' launches are in `launches` too (with the slots
        # of their sub-program's table); `steps` says what runs in order (cuda_regions.py loops on the host)
        self.regions = []
        self.steps = self._steps(program, prefix)
        for lc in self.launches:
            lc.entry = _c_name(lc.entry)
            lc.bufs = _launch_buffers(lc.stmts)
            self._emit(lc)
        self.llvm_ir = str(self.module)

    def _steps(self, program, prefix):
        """[("launches", [index into self.launches]) | ("region", RegionKernel, {role: steps})] of a program, in
        run order; small flat launches merge only between two region kernels (merge_flat may reorder them)."""
        steps, seg = [], []

        def flush():
            if seg:
                start = len(self.launches)
                self.launches.extend(merge_flat(seg))
                steps.append(("launches", list(range(start, len(self.launches)))))
                seg.clear()
        for k in program.kernels:
            if isinstance(k, RegionKernel):
                flush()
                self.regions.append(k)
                steps.append(("region", k, {role: self._steps(p, prefix) for role, p in k.programs.items()}))
            else:
                seg.extend(plan_kernel(k, prefix))
        flush()
        return steps

    def next_id(self):
        self._ids += 1
        return self._ids

    def _emit(self, lc):
        params = [px.GLOBAL_PTR] * len(lc.bufs) + [I64T] * len(self.program.dims)
        fn = px.declare_kernel(self.module, lc.entry, params)
        for a, buf in zip(fn.args, lc.bufs):
            a.name = buf.name
        for a, d in zip(fn.args[len(lc.bufs):], self.program.dims):
            a.name = f"dim_{d}"
        g = _Gen(self, fn, lc)
        if lc.kind == "flat" and lc.parts is not None:
            g.emit_merged()
        elif lc.kind == "flat":
            g.emit_flat()
        elif lc.kind == "rows":
            g.emit_rows()
        elif lc.kind == "serial":
            g.emit_serial()
        elif lc.kind == "gemm":
            from .ptx_gemm import emit_gemm
            emit_gemm(g)
        else:
            raise BackendError(f"ptx: unknown launch kind {lc.kind}")
        g.finish()

    def ptx(self, arch=px.DEFAULT_ARCH):
        text = self._ptx.get(arch)
        if text is None:
            text = self._ptx[arch] = px.module_to_ptx(self.llvm_ir, arch)
        return text

    @property
    def entry_names(self):
        return [lc.entry for lc in self.launches]

    def describe(self):
        """One line per launch: entry, mapping, block size, grid work."""
        out = []
        for lc in self.launches:
            th = ",".join(lc.threads) or "-"
            extra = ""
            if lc.split is not None:
                extra = f" split-K {lc.split}"
            elif lc.reduce_into is not None:
                extra = f" reduce-into chunks {lc.chunks}"
            elif lc.parts is not None:
                extra = " merged " + " + ".join(f"{p.entry}({p.work})" for p in lc.parts)
            out.append(f"{lc.entry}: {lc.kind} over [{th}] block {lc.block} work {lc.work}{extra}")
        return "\n".join(out)


def _c_name(s):
    s = re.sub(r"[^A-Za-z0-9_]", "_", s)
    return s if s and not s[0].isdigit() else "_" + s


def _launch_buffers(stmts):
    out = []

    def add(buf):
        if buf not in out:
            out.append(buf)
    for s in walk_stmts(stmts):
        if isinstance(s, Gemm):
            for x in (s.a, s.b, s.c):
                add(x)
        elif isinstance(s, Store):
            add(s.buf)
    for e in walk_exprs(stmts):
        if isinstance(e, Load):
            add(e.buf)
        elif isinstance(e, Op) and e.op == "check_index":
            add(e.attrs[0])                       # the status word of index checks (lower/checks.py)
    return out


def _all_stmts(body):
    stack = list(body)
    while stack:
        s = stack.pop()
        yield s
        stack.extend(getattr(s, "body", None) or ())


def generate(program, name=None) -> PtxProgram:
    """The NVPTX module of a Program (buffers need not have slots); `.ptx(arch)` for the PTX text."""
    for site in getattr(program, "host_sites", ()):
        where = f" at {site['where']}" if site.get("where") else ""
        raise BackendError(f"cuda: cc.debug.print{where} needs a call back into Python, which the cuda backend "
                           f"does not make; compile with backend='cpu' to print runtime values, or remove it")
    from ..ir.kernel import Collective, Lapack
    for k in program.kernels:
        if any(isinstance(s, Lapack) for s in _all_stmts(k.body)):
            ops = ", ".join(sorted({n.prim.name for n in k.nodes})) or k.name
            where = next((format_loc(n.loc) for n in k.nodes if getattr(n, "loc", None)), "")
            raise BackendError(f"cuda: np.linalg's {ops} (kernel {k.name}) has no GPU lowering: vive calls LAPACK "
                               f"on the CPU for it; compile with backend='cpu'{where}")
        if any(isinstance(s, Collective) for s in k.body):
            raise BackendError(f"ptx: kernel {k.name} all-reduces over MPI, which the CPU backend only does "
                               f"(a GPU all-reduce through NCCL is not implemented)")
    return PtxProgram(program, "vive_" + _c_name(name or program.name))


__all__ = ["generate", "PtxProgram"]
