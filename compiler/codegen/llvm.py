"""Kernels -> LLVM IR text for the host CPU (llvmlite.ir), one module per compiled function.

Layout of the module for a Program named f:
  void @f(ptr %bufs, ptr %dims)                       the entry: loads each buffer pointer, runs every kernel
  void @f.<kernel>(ptr noalias %b0, ..., ptr %dims)   one internal function per kernel (noalias buffers)
  void @f.<kernel>.p<i>(ptr noalias..., ptr %dims, i64 %lo, i64 %hi)   a parallel loop's iterations lo..hi
  void @f.<kernel>.p<i>.omp(ptr %data)                the OpenMP body: its thread's chunk of lo..hi
  void @f.<region>.<role>(ptr %table, ptr %dims)      a control-flow op's sub-program (llvm_regions.py)
One function per kernel (llvm_fn.py); scalar expressions come from scalar.py and the primitives' scalar rules (math:
primitives/mathlib, branch-free, no libm calls); matmuls call CBLAS when given. Only instructions and intrinsics every x86-64 CPU selects are emitted.
"""
from __future__ import annotations

import re

from ..lazy import sympy
from llvmlite import ir

from ..ir.kernel import kernel_signature, ALIGNED_OUTPUT_BYTES, Ix, Loop, Store, Gemm, Op
from ..primitives.base import REGISTRY
from ..lower.regions import RegionKernel, all_kernels
from .llvm_mpi import traced_call, has_collectives, in_flight
from .llvm_regions import region_kernel
from .llvm_team import (program_has_team, team_gemm, claim_chunks, chunk_size, chunk_align, program_team_ok,
                        program_team_fn, program_team_entry, team_splits)
from .llvm_clock import clock_fn
from .scalar import I1T, I32T, I64T
from .llvm_fn import _Fn, _gemm_big, PTR, STATUS_OUT_OF_BOUNDS, BLAS_THREAD_WORK  # noqa: F401  (the constants' old home)

# streaming stores only below this many primitive cost units per stored element (tanh and logistic are 5 each) ...
STREAM_MAX_COST = 8
# ... and with no op dearer than this (exp and log 4: their polynomials stall behind the streaming stores)
STREAM_MAX_OP_COST = 3
# parallelise a loop when it does at least this many element-steps (fork/join costs ~1.5 us)
PARALLEL_WORK = 1 << 15
# functions named with this suffix get non-temporal vector stores from the runtime after vectorisation (the
# runtime never imports compiler/, so runtime/jit.py holds the same string: tests check they agree)
STREAM_SUFFIX = ".stream"
# programs with more kernels call them from parts (below); every kernel is a function of its own (noinline): O3 on
# one entry function holding every kernel grows superlinearly (value_and_grad of a 128-layer MLP, 385 kernels: opt
# 2.9 s inlined, 0.7 s not), and even at 15 kernels (MLP value_and_grad) inlining cost 25% more LLVM time for the
# same run time (the calls are once per kernel)
INLINE_KERNELS = 16
# bigger programs call their kernels from parts of this many kernels each (see build)
ENTRY_PART = 64


class CpuCodegen:
    """Build the LLVM module of a Program. `blas`: runtime.blas_symbols() or None; `openmp`: libgomp usable."""

    def __init__(self, program, *, blas=None, openmp=False, triple="", data_layout="", entry=None,
                 stream_bytes=0, check_bounds=False, profile_slot=None, mpi=None, fast_math=False):
        self.p = program
        self.fast_math = fast_math         # cc.compile(fast_math=True): cheaper math forms, FMA contraction
        self.profile_slot = profile_slot
        self.mpi = mpi                     # runtime.mpi.mpi_symbols() when the program all-reduces
        self.mpi_trace = mpi is not None and has_collectives(program)
        if self.mpi_trace:
            self._in_flight = in_flight(program)
            self._mpi_slots = 1 + max((s for f in self._in_flight for s in f), default=0)
        self.check_bounds = check_bounds
        self.stream_bytes = stream_bytes
        self.blas = blas
        self.openmp = openmp
        self.entry_name = entry or program.name
        self.module = ir.Module(name=self.entry_name)
        if triple:
            self.module.triple = triple
        if data_layout:
            self.module.data_layout = data_layout
        self.dim_index = {s: i for i, s in enumerate(program.dims)}
        # NOTE: OpenBLAS runs its own spinning worker threads; OpenMP teams next to them oversubscribe the cores
        # and a parallel region can wait a whole scheduler tick for its worker. Programs that call BLAS leave
        # the cores to BLAS and run their loops on the calling thread.
        # NOTE: the entry runs OpenBLAS single-threaded and hands it the caller's thread count only around gemms
        # of at least BLAS_THREAD_WORK multiply-adds. Tiny gemms gain nothing from a hand-off, and on a busy
        # machine a worker that is not scheduled stalls a threaded call for a whole tick (a 256^3 sgemm: 0.5 ms
        # on 1 thread, 24 ms on 2 with the other core busy). The bar is low (1M) because idle 2-core timings
        # still favour threads from there (MLP batch-16 step: 0.19 ms at 1M, 0.27 ms at 8M). (Measured for the
        # loops too: LeNet's step ran 7 ms on one thread, 10-30 ms with OpenMP teams on a busy 2-core machine.)
        self._bodies = {}                  # canonical text of a kernel's functions -> its function
        self._by_signature = {}            # kernel_signature -> its function
        self.shared_kernels = 0
        gemms = [g for k in all_kernels(program) for g in _gemms(k.body)]
        self.blas_threads = bool(gemms) and blas is not None and bool(blas.get("set_num_threads"))
        if openmp and blas is not None and gemms:
            self.openmp = False
        # a scan body of gemms and parallel loops may run on an OpenMP team instead (llvm_team.py)
        self.team_threads = openmp and self.blas_threads and not check_bounds and mpi is None
        # NOTE: a program with a big gemm runs every big gemm and parallel loop on the one OpenMP team: the gemms
        # cut into column chunks, each a single-threaded sgemm (llvm_team.team_gemm), OpenBLAS held at one
        # thread. Two pools (OpenMP's and OpenBLAS's spinning workers) on the same cores fought each other; one
        # team whose chunks are taken from a counter lets a thread on a busy core take fewer of them.
        self.team_gemms = self.team_threads and (program_has_team(self, program)
                                                 or any(_gemm_big(g) is not False for g in gemms))
        if self.team_gemms:
            self.openmp = True             # OpenBLAS stays on one thread: the team's threads take the loops

    def build(self) -> str:
        mod = self.module
        entry = ir.Function(mod, ir.FunctionType(ir.VoidType(), [PTR, PTR]), self.entry_name)
        bufs_arg, dims_arg = entry.args
        # NOTE: a program on a team runs its statements through the team body on one thread too (team_ok), so a
        # kernel the team splits needs no function of its own: a serial copy of every statement was ~35% of the
        # IR (MLP step 1132 of 2970 lines, LeNet-5 2994 of 8673) and of LLVM's time
        team_ok = program_team_ok(self, self.p)
        fns = [None if team_ok and team_splits(k) else self.kernel(k) for k in self.p.kernels]
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        if self.blas_threads:
            saved = b.load(self._blas_threads_global(), typ=I32T)
            with b.if_then(b.icmp_signed("==", saved, ir.Constant(I32T, 0))):
                b.store(b.call(self._blas_fn("get"), []), self._blas_threads_global())
            b.call(self._blas_fn("set"), [ir.Constant(I32T, 1)])
        calls = list(zip(self.p.kernels, fns))
        self._kernel_index = {k: i for i, k in enumerate(self.p.kernels)}
        if team_ok:
            team = program_team_fn(self, calls, lambda s: _work(s.body), PARALLEL_WORK)
            program_team_entry(self, b, bufs_arg, dims_arg, team)
        else:
            self._serial_calls(b, bufs_arg, dims_arg, calls)
        if self.blas_threads:
            b.call(self._blas_fn("set"), [b.load(self._blas_threads_global(), typ=I32T)])
        b.ret_void()
        return str(mod)

    def _serial_calls(self, b, bufs_arg, dims_arg, calls):
        mod = self.module
        if len(calls) <= INLINE_KERNELS:
            self._call_kernels(b, bufs_arg, dims_arg, calls)
        else:
            # NOTE: the calls go in parts of ENTRY_PART kernels, each a function loading only the pointers it
            # passes: one entry holding thousands of calls with every buffer pointer live across all of them made
            # LLVM's register allocation superlinear (RNN gradient, 7000 kernels: 21 s of machine code generation)
            fty = ir.FunctionType(ir.VoidType(), [PTR, PTR])
            for i in range(0, len(calls), ENTRY_PART):
                part = ir.Function(mod, fty, f"{self.entry_name}.part{i // ENTRY_PART}")
                part.linkage = "internal"
                part.attributes.add("nounwind")
                part.attributes.add("noinline")
                pb = ir.IRBuilder(part.append_basic_block("entry"))
                self._call_kernels(pb, part.args[0], part.args[1], calls[i:i + ENTRY_PART], first=i)
                pb.ret_void()
                b.call(part, [bufs_arg, dims_arg])

    def _call_kernels(self, b, bufs_arg, dims_arg, calls, first=0):
        """Load the pointers that the kernels of `calls` ([(kernel, function)]) take, then call each in order.
        A profiling build stores the clock before and after kernel first+j at i64 words 2(first+j) and +1 of the
        buffer in slot profile_slot."""
        ptrs = {}
        for k, _ in calls:
            for buf in k.buffers:
                if buf not in ptrs and buf.slot is not None:
                    p = b.gep(bufs_arg, [ir.Constant(I64T, buf.slot)], source_etype=PTR)
                    ptrs[buf] = b.load(p, typ=PTR, name=buf.name)
        if self.profile_slot is None:
            index = getattr(self, "_kernel_index", {})      # the outer program's kernels (a loop body's: none)
            for k, fn in calls:
                if k in index:
                    traced_call(self, b, index[k],
                                lambda k=k, fn=fn: b.call(fn, [ptrs[x] for x in k.buffers] + [dims_arg]))
                else:
                    b.call(fn, [ptrs[x] for x in k.buffers] + [dims_arg])
            return
        p = b.gep(bufs_arg, [ir.Constant(I64T, self.profile_slot)], source_etype=PTR)
        stamps = b.load(p, typ=PTR, name="profile")
        now = clock_fn(self.module)
        for j, (k, fn) in enumerate(calls):
            at = 2 * (first + j)
            b.store(b.call(now, []), b.gep(stamps, [ir.Constant(I64T, at)], source_etype=I64T))
            b.call(fn, [ptrs[x] for x in k.buffers] + [dims_arg])
            b.store(b.call(now, []), b.gep(stamps, [ir.Constant(I64T, at + 1)], source_etype=I64T))

    def _blas_threads_global(self):
        """OpenBLAS's own thread count, read on the first call (the entry runs it at 1 and restores it)."""
        g = self.module.globals.get("vive.blas_threads")
        if g is None:
            g = ir.GlobalVariable(self.module, I32T, "vive.blas_threads")
            g.linkage = "internal"
            g.initializer = ir.Constant(I32T, 0)
        return g

    def _blas_fn(self, which):
        name = self.blas["set_num_threads"]
        if which == "get":
            name = name.replace("set_num_threads", "get_num_threads")
        fn = self.module.globals.get(name)
        if fn is None:
            fty = ir.FunctionType(I32T, []) if which == "get" else ir.FunctionType(ir.VoidType(), [I32T])
            fn = ir.Function(self.module, fty, name)
        return fn

    def _kernel_fn(self, name, bufs, extra=(), streams=()):
        fty = ir.FunctionType(ir.VoidType(), [PTR] * len(bufs) + [PTR] + list(extra))
        fn = ir.Function(self.module, fty, name)
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")         # (also keeps the align-64 parameters of streams through the pipeline)
        aligned = {s.buf for s in streams}
        for buf, a in zip(bufs, fn.args):
            a.add_attribute("noalias")
            if buf in aligned:
                a.attributes.align = 64       # the runtime's promise for big outputs (ALIGNED_OUTPUT_BYTES)
        return fn

    def kernel(self, k):
        """The function running kernel k: a function generated for an identical earlier kernel when there is one.

        NOTE: the kernels of an unrolled loop or a deep stack of equal layers are the same code on other buffers
        (passed as arguments), and LLVM's time is per function: compiling each distinct body once keeps a 1000-step
        RNN's LLVM time that of a few steps. Kernels are compared by kernel_signature (then no code is generated
        at all), and new bodies also as LLVM text with names of locals canonicalized."""
        if isinstance(k, RegionKernel):
            return region_kernel(self, k)      # its sub-programs' kernels come back here (llvm_regions.py)
        sig = kernel_signature(k)
        same = self._by_signature.get(sig)
        if same is not None:
            self.shared_kernels += 1
            return same
        before = set(self.module.globals)
        fn = self._kernel(k)
        self._by_signature[sig] = fn
        prefix = f"{self.entry_name}.{k.name}"
        mine = [n for n in self.module.globals if n not in before and n.startswith(prefix)]
        key = "\n".join(_canonical(str(self.module.globals[n]).replace(prefix, "\0K")) for n in mine)
        same = self._bodies.get(key)
        if same is not None:
            for n in mine:
                del self.module.globals[n]
            self.shared_kernels += 1
            self._by_signature[sig] = same
            return same
        self._bodies[key] = fn
        return fn

    def _kernel(self, k):
        name = f"{self.entry_name}.{k.name}"
        bufs = k.buffers
        streams = _stream_stores(k, self.stream_bytes)
        fn = self._kernel_fn(name + (STREAM_SUFFIX if streams else ""), bufs, streams=streams)
        f = _Fn(self, fn, dict(zip(bufs, fn.args[:len(bufs)])), fn.args[len(bufs)])
        f.streams = streams
        bodyb = fn.append_basic_block("body")
        f.b.position_at_end(bodyb)
        for i, s in enumerate(k.body):
            if isinstance(s, Loop) and s.parallel and self.openmp and _may_parallelize(s) and _big_enough(s):
                self.parallel_loop(f, k, i, s)
            elif isinstance(s, Gemm) and self.team_gemms and _gemm_big(s) is not False:
                team_gemm(self, f, k, i, s)
            else:
                f.stmt(s)
        if streams:
            f.b.fence("seq_cst")
        f.finish_checks()
        f.b.ret_void()
        with f.b.goto_block(f.entry):
            f.b.branch(bodyb)
        return fn

    def parallel_loop(self, f, k, i, s):
        """Outline loop s into name.p<i>(bufs, dims, lo, hi); run it on all threads when the work is large."""
        bufs = k.buffers
        pname = f"{self.entry_name}.{k.name}.p{i}"
        pfn = self._kernel_fn(pname + (STREAM_SUFFIX if f.streams else ""), bufs, [I64T, I64T], streams=f.streams)
        pf = _Fn(self, pfn, dict(zip(bufs, pfn.args[:len(bufs)])), pfn.args[len(bufs)])
        pf.streams = f.streams
        lo, hi = pfn.args[len(bufs) + 1], pfn.args[len(bufs) + 2]
        bodyb = pfn.append_basic_block("body")
        pf.b.position_at_end(bodyb)
        if f.streams:
            # every caller starts a chunk on a multiple of 16 iterations (below): with the aligned base, LLVM can
            # then prove whole-vector alignment of the streaming stores
            assume = self.module.globals.get("llvm.assume") or ir.Function(
                self.module, ir.FunctionType(ir.VoidType(), [I1T]), "llvm.assume")
            pf.b.call(assume, [pf.b.icmp_signed("==", pf.b.and_(lo, ir.Constant(I64T, 15)), ir.Constant(I64T, 0))])
        pf.loop(s.var, lo, hi, s.body)
        if f.streams:
            pf.b.fence("seq_cst")      # non-temporal stores are weakly ordered: drain them before anyone reads
        pf.finish_checks()
        pf.b.ret_void()
        with pf.b.goto_block(pf.entry):
            pf.b.branch(bodyb)
        # the OpenMP body: unpack [bufs..., dims, extent] and take this thread's chunk
        ofn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR]), pname + ".omp")
        ofn.linkage = "internal"
        ob = ir.IRBuilder(ofn.append_basic_block("entry"))
        data = ofn.args[0]
        vals = []
        for j in range(len(bufs) + 1):
            vals.append(ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR))
        ext = ob.ptrtoint(ob.load(ob.gep(data, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR), typ=PTR),
                          I64T)
        counter = ob.load(ob.gep(data, [ir.Constant(I64T, len(bufs) + 2)], source_etype=PTR), typ=PTR)
        nt = ob.sext(ob.call(self._omp_fn("omp_get_num_threads"), []), I64T)
        # chunks of a multiple of 16 iterations (vector loops keep their alignment), taken from a shared counter:
        # a thread that starts late (its core busy) takes fewer
        claim_chunks(ob, counter, ext, chunk_size(ob, ext, nt, align=chunk_align(s)),
                     lambda lo, hi: ob.call(pfn, vals + [lo, hi]))
        ob.ret_void()
        # the call site: decide by the amount of work
        b = f.b
        ext = f.sym(s.extent)
        work = _work(s.body)
        direct_args = [f.bufs[x] for x in bufs] + [f.dims_ptr]
        if isinstance(work, int) and isinstance(s.extent, int):
            big = ir.Constant(I1T, 1 if work * s.extent >= PARALLEL_WORK and s.extent >= 2 else 0)
        else:
            total = b.mul(ext, f.sym(work))
            big = b.and_(b.icmp_signed(">=", total, ir.Constant(I64T, PARALLEL_WORK)),
                         b.icmp_signed(">=", ext, ir.Constant(I64T, 2)))
        with b.if_else(big) as (then, otherwise):
            with then:
                with b.goto_block(f.entry):
                    b.position_at_start(f.entry)
                    arr = b.alloca(PTR, size=ir.Constant(I64T, len(bufs) + 3), name=pname + ".data")
                    counter = b.alloca(I64T, name=pname + ".next")
                for j, v in enumerate(direct_args):
                    b.store(v, b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
                b.store(b.inttoptr(ext, PTR), b.gep(arr, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR))
                b.store(ir.Constant(I64T, 0), counter)
                b.store(counter, b.gep(arr, [ir.Constant(I64T, len(bufs) + 2)], source_etype=PTR))
                b.call(self._omp_fn("GOMP_parallel"), [ofn, arr, ir.Constant(I32T, 0), ir.Constant(I32T, 0)])
            with otherwise:
                b.call(pfn, direct_args + [ir.Constant(I64T, 0), ext])

    def _omp_fn(self, name):
        fn = self.module.globals.get(name)
        if fn is None:
            if name == "GOMP_parallel":
                fty = ir.FunctionType(ir.VoidType(), [PTR, PTR, I32T, I32T])
            else:
                fty = ir.FunctionType(I32T, [])
            fn = ir.Function(self.module, fty, name)
        return fn


_LOCAL = re.compile(r'%("(?:[^"\\]|\\.)*"|[-\w.$]+)|^("(?:[^"\\]|\\.)*"|[-\w.$]+):', re.M)


def _canonical(text):
    """LLVM function text with local value and block names numbered in order of appearance."""
    names = {}

    def sub(m):
        local = m.group(1)
        if local is not None:
            return "%" + names.setdefault(local.strip('"'), f"v{len(names)}")
        return names.setdefault(m.group(2).strip('"'), f"v{len(names)}") + ":"
    return _LOCAL.sub(sub, text)








def _gemms(body):
    for s in body:
        if isinstance(s, Gemm):
            yield s
        elif isinstance(s, Loop):
            yield from _gemms(s.body)




def _stream_stores(k, min_bytes):
    """Stores of k to write with non-temporal (streaming) stores, or ().

    Streaming stores skip the read-for-ownership of each output line and leave the caches to the inputs: ~20% off a
    memory-bound kernel whose data cannot stay cached anyway (4M-element fused chain, 1 thread: 1.73 -> 1.39 ms).
    Only for a flat elementwise kernel (one loop, stores at the loop index) with static sizes that moves at least
    min_bytes (the last-level cache size), writing outputs of at least ALIGNED_OUTPUT_BYTES (aligned to 64 bytes
    by the runtime) of 4- or 8-byte elements: the vector stores are then provably whole aligned vectors (an
    unaligned non-temporal vector store is split into 8-byte pieces on x86).
    Not for compute-heavy bodies (STREAM_MAX_COST): there a streaming store that waits for its write-combining
    buffer stalls the core's arithmetic too (znver4, 4M-element chain tanh(x*a+b)*logistic(x)+0.5x^2: 4.7 -> 3.8
    ms on 1 thread, 2.6 -> 2.0 ms on 2 without them, while x*a+b stays 3.1 vs 4.3 ms with them).
    Nor for any body with a transcendental function (STREAM_MAX_OP_COST), however cheap the rest (znver4, 4M
    elements, 1 thread, streaming vs not: exp(x) + a 4.8 vs 1.9 ms, log|x| + a 3.4 vs 2.8, tanh(x*a+b) 5.7 vs 2.7;
    2 threads 2.5 vs 1.0, 1.7 vs 1.5, 2.8 vs 1.6; x*a+b 1.23 vs 1.64, x/a+b 1.20 vs 1.60, sqrt|x|*a+b 1.54 vs 1.9).
    """
    if not min_bytes or len(k.body) != 1 or not isinstance(k.body[0], Loop):
        return ()
    s = k.body[0]
    bm = k.bytes_moved
    if not (isinstance(s.extent, int) and isinstance(bm, int) and bm >= min_bytes):
        return ()
    if not all(isinstance(t, Store) for t in s.body):
        return ()
    total, most = _body_cost([t.value for t in s.body])
    if total > STREAM_MAX_COST * len(s.body) or most > STREAM_MAX_OP_COST:
        return ()
    for t in s.body:
        if not (t.buf.role == "output" and isinstance(t.buf.nbytes, int) and t.buf.nbytes >= ALIGNED_OUTPUT_BYTES
                and t.buf.dtype.np.itemsize in (4, 8) and isinstance(t.index, Ix)
                and t.index.terms == ((s.var, 1),) and t.index.const == 0):
            return ()
    return tuple(s.body)


def _body_cost(values):
    """(summed, largest) primitive cost units (Primitive.cost) of the distinct ops in these expressions: per
    element."""
    seen, stack, total, most = set(), list(values), 0, 0
    while stack:
        e = stack.pop()
        if not isinstance(e, Op) or id(e) in seen:
            continue
        seen.add(id(e))
        prim = REGISTRY.get(e.op)
        cost = prim.cost if prim is not None else 1
        total, most = total + cost, max(most, cost)
        stack.extend(e.args)
    return total, most


def _big_enough(s):
    """False when the loop is statically too small to be worth a fork/join (then no OpenMP code at all)."""
    work = _work(s.body)
    return not (isinstance(work, int) and isinstance(s.extent, int) and work * s.extent < PARALLEL_WORK)


def _may_parallelize(s):
    return not (isinstance(s.extent, int) and s.extent < 2)


def _work(body):
    """Element-steps of one iteration of a loop with this body (int or sympy)."""
    total = 0
    for s in body:
        if isinstance(s, Loop):
            w = _work(s.body)
            total = total + (s.extent * w if not (isinstance(s.extent, int) and isinstance(w, int))
                             else s.extent * w)
        else:
            total = total + 1
    if not isinstance(total, int):
        total = sympy.expand(total)
        if total.is_Integer:
            total = int(total)
    return total


def generate(program, *, blas=None, openmp=False, triple="", data_layout="", entry=None, stream_bytes=0,
             check_bounds=False, profile_slot=None, mpi=None, fast_math=False) -> str:
    """LLVM IR text of a Program (buffers must have slots: run passes.memory.plan_memory first). stream_bytes:
    flat elementwise kernels moving at least this much use streaming stores (0: never; see _stream_stores).
    check_bounds: every load/store checks its index; the entry then takes the address of an int32 status word
    as one more dim, set to STATUS_OUT_OF_BOUNDS on a bad access.
    profile_slot: a profiling build: bufs[profile_slot] is an i64[2 * kernels] array that gets each kernel's start
    and end time (ns, CLOCK_MONOTONIC); None (the normal build) emits no clock code at all.
    fast_math: the math library's cheaper f32 forms and FMA contraction of + - * (primitives/mathlib/fast.py)."""
    return CpuCodegen(program, blas=blas, openmp=openmp, triple=triple, data_layout=data_layout,
                      entry=entry, stream_bytes=stream_bytes, check_bounds=check_bounds,
                      profile_slot=profile_slot, mpi=mpi, fast_math=fast_math).build()
