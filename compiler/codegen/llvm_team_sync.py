"""How a team's threads share out a statement's chunks: the sync block, the wait, the claim.

A statement's range is cut into C chunks (chunk_count: at most SPLIT per thread, near-equal). Chunk j has an owner
lane, j // ceil(C / lanes): a thread takes its own lane's chunks first, in order, then the chunks other lanes have
not begun (so a thread whose core is busy never holds up work it has not started), and counts each finished chunk
in `done`. A chunk may start once every earlier statement is finished (done >= the statement's base).

  sync block (i64s, each part alone on LINE bytes):  [done] [claims of lane 0] [claims of lane 1] ...
  claim slot of chunk j: holds base + j + 1 once taken (atomic umax: the first thread to raise it owns the chunk;
  values of earlier statements are all <= base, so the block needs zeroing once per call, not per statement).

NOTE: owner first, not first come. With one shared counter the two threads took a statement's chunks in whatever
order they arrived, so a row written by one thread was read by the other in the next statement about half the time.
Measured on a 2-vCPU cloud VM whose vCPUs the host moves between core pairs every few seconds: while the cores'
cache-line round trip was ~330 ns (different core complexes) instead of ~55 ns, LeNet-5's 2-thread step took
9.5-11 ms instead of 5.5 ms, slower than one thread (7 ms). A thread that owns the same rows of consecutive
statements keeps them in its own cache.
"""
from __future__ import annotations

from llvmlite import ir

from .scalar import I32T, I64T

PTR = ir.PointerType()
# bytes a part of the sync block owns: two cache lines (Zen and Intel prefetch lines in pairs)
LINE = 128
SYNC_STRIDE = LINE // 8          # i64 slots from one part to the next
# a statement's range is cut into about this many chunks per thread (llvm_team.chunk_size): a thread whose core is
# busy takes fewer of them instead of setting the time with an equal share
SPLIT = 2
# lanes with claim lines of their own; more threads share lanes. A lane holds at most SYNC_STRIDE chunks, so a team
# has at most MAX_TEAM threads (llvm_team.team_threads caps it)
MAX_LANES = 64
MAX_TEAM = MAX_LANES * SYNC_STRIDE // SPLIT
SYNC_I64S = (1 + MAX_LANES) * SYNC_STRIDE
# a thread waiting for the others polls this many times (with a pause) before it yields its core
SPIN = 4000


def sync_block(b, name):
    """alloca of a sync block (a pointer to it; `done` is its first i64). Emit where the stack does not grow per
    iteration (a function's entry block or a branch taken once per call)."""
    a = b.alloca(I64T, size=ir.Constant(I64T, SYNC_I64S), name=name)
    a.align = LINE
    return a


def reset_sync(b, sync, threads):
    """Zero `done` and the claim lines of the lanes a team of `threads` (i32) uses."""
    lanes = b.select(b.icmp_signed("<", threads, ir.Constant(I32T, MAX_LANES)), threads,
                     ir.Constant(I32T, MAX_LANES))
    n = b.mul(b.add(b.sext(lanes, I64T), ir.Constant(I64T, 1)), ir.Constant(I64T, LINE))
    mod = b.module
    fn = mod.globals.get("llvm.memset.p0.i64") or ir.Function(
        mod, ir.FunctionType(ir.VoidType(), [PTR, ir.IntType(8), I64T, ir.IntType(1)]), "llvm.memset.p0.i64")
    b.call(fn, [sync, ir.Constant(ir.IntType(8), 0), n, ir.Constant(ir.IntType(1), 0)])


def shared_counter(b, name):
    """An i64 counter alone on its LINE bytes (an alloca)."""
    a = b.alloca(I64T, size=ir.Constant(I64T, SYNC_STRIDE), name=name)
    a.align = LINE
    return a


def wait_fn(cg):
    """void @vive.team.wait(ptr %done, i64 %target): return once the i64 at %done (atomic) reaches target; poll
    with a pause SPIN times, then sleep 20 us between polls, so that a waiting thread does not burn a core
    another process needs.
    NOTE: sleep, not sched_yield: a yielding thread stays runnable behind the other process for its whole slice
    (MLP b128 step with the other core busy: 9.5 ms yielding, 3.6 ms sleeping; a thread back from a sleep is
    scheduled ahead of a spinning process)."""
    fn = cg.module.globals.get("vive.team.wait")
    if fn is not None:
        return fn
    fn = ir.Function(cg.module, ir.FunctionType(ir.VoidType(), [PTR, I64T]), "vive.team.wait")
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    ptr, target = fn.args
    entry, head, spin, yld, out = (fn.append_basic_block(n) for n in ("entry", "head", "spin", "yield", "out"))
    zero = ir.Constant(I64T, 0)
    b = ir.IRBuilder(entry)
    b.branch(head)
    b.position_at_end(head)
    n = b.phi(I64T, name="n")
    n.add_incoming(zero, entry)
    v = b.load_atomic(ptr, "acquire", 8, typ=I64T)
    b.cbranch(b.icmp_signed(">=", v, target), out, spin)
    b.position_at_end(spin)
    n1 = b.add(n, ir.Constant(I64T, 1))
    n.add_incoming(n1, spin)
    if "x86" in (cg.module.triple or "x86"):
        pause = cg.module.globals.get("llvm.x86.sse2.pause") or ir.Function(
            cg.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
        b.call(pause, [])
    b.cbranch(b.icmp_signed("<", n1, ir.Constant(I64T, SPIN)), head, yld)
    b.position_at_end(yld)
    sy = cg.module.globals.get("usleep") or ir.Function(cg.module, ir.FunctionType(I32T, [I32T]), "usleep")
    b.call(sy, [ir.Constant(I32T, 20)])
    n.add_incoming(zero, yld)
    b.branch(head)
    b.position_at_end(out)
    b.ret_void()
    return fn


def next_chunk_fn(cg):
    """i64 @vive.team.next(ptr %sync, i64 %tid, i64 %nt, i64 %base, i64 %nchunks, ptr %cursor): the next chunk
    (0 <= j < nchunks) this thread has taken, or -1 when every chunk is taken. *cursor counts the chunks this
    thread has looked at in the statement (0 at its start): its own lane's first, then the following lanes'."""
    fn = cg.module.globals.get("vive.team.next")
    if fn is not None:
        return fn
    fn = ir.Function(cg.module, ir.FunctionType(I64T, [PTR, I64T, I64T, I64T, I64T, PTR]), "vive.team.next")
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    fn.attributes.add("nounwind")
    sync, tid, nt, base, nc, cursor = fn.args
    blocks = ("entry", "setup", "head", "look", "try", "got", "none")
    entry, setup, head, look, try_, got, none = (fn.append_basic_block(n) for n in blocks)
    b = ir.IRBuilder(entry)
    one, zero, stride = ir.Constant(I64T, 1), ir.Constant(I64T, 0), ir.Constant(I64T, SYNC_STRIDE)
    b.cbranch(b.icmp_signed("<=", nc, zero), none, setup)
    b.position_at_end(setup)
    maxl = ir.Constant(I64T, MAX_LANES)
    lanes = b.select(b.icmp_signed("<", nt, maxl), nt, maxl)
    per = b.sdiv(b.add(nc, b.sub(lanes, one)), lanes)
    start = b.urem(b.mul(b.urem(tid, lanes), per), nc)
    b.branch(head)
    b.position_at_end(head)
    i = b.load(cursor, typ=I64T)
    b.cbranch(b.icmp_signed(">=", i, nc), none, look)
    b.position_at_end(look)
    b.store(b.add(i, one), cursor)
    j = b.add(start, i)
    j = b.select(b.icmp_signed(">=", j, nc), b.sub(j, nc), j)
    lane = b.sdiv(j, per)
    slot = b.add(b.mul(b.add(lane, one), stride), b.sub(j, b.mul(lane, per)))
    p = b.gep(sync, [slot], source_etype=I64T)
    tag = b.add(b.add(base, j), one)
    b.cbranch(b.icmp_signed(">=", b.load_atomic(p, "monotonic", 8, typ=I64T), tag), head, try_)
    b.position_at_end(try_)
    b.call(wait_fn(cg), [sync, base])
    old = b.atomic_rmw("umax", p, tag, "acq_rel")
    b.cbranch(b.icmp_unsigned(">=", old, tag), head, got)
    b.position_at_end(got)
    b.ret(j)
    b.position_at_end(none)
    b.ret(ir.Constant(I64T, -1))
    return fn


class TeamSync:
    """A team member's view of its sync block in one function: emits statements (claim_statement)."""

    def __init__(self, cg, b, sync, nt):
        self.cg, self.sync, self.nt = cg, sync, nt
        self.tid = b.sext(b.call(_omp(cg, "omp_get_thread_num"), []), I64T)
        fn = b.function
        with b.goto_block(fn.entry_basic_block):
            b.position_at_start(fn.entry_basic_block)
            self.cursor = b.alloca(I64T, name="team.cursor")
        self.next = next_chunk_fn(cg)

    def statement(self, b, base, ext, nc, align, run):
        """One statement: [0, ext) cut into nc chunks of near-equal size whose bounds are multiples of align (but
        the last), numbered from base, taken with vive.team.next, run(lo, hi) each, then counted in done. Returns
        the next statement's base.
        NOTE: equal chunks, not ceil(ext / nc) rounded up to align: 150 columns in chunks of 48 left a last chunk
        of 6, and a thread done early took its partner's second chunk while the partner was still on its first."""
        fn = b.function
        one = ir.Constant(I64T, 1)
        b.store(ir.Constant(I64T, 0), self.cursor)
        head, take, out = (fn.append_basic_block(n) for n in ("claim.head", "claim.take", "claim.out"))
        b.branch(head)
        b.position_at_end(head)
        j = b.call(self.next, [self.sync, self.tid, self.nt, base, nc, self.cursor])
        b.cbranch(b.icmp_signed("<", j, ir.Constant(I64T, 0)), out, take)
        b.position_at_end(take)
        mask = ir.Constant(I64T, -align)

        def bound(q):      # q * ext / nc to the nearest multiple of align, within [0, ext]; ext for q = nc
            at = b.and_(b.add(b.sdiv(b.mul(q, ext), nc), ir.Constant(I64T, align // 2)), mask)
            at = b.select(b.icmp_signed("<", at, ext), at, ext)
            return b.select(b.icmp_signed(">=", q, nc), ext, at)
        lo, hi = bound(j), bound(b.add(j, one))
        with b.if_then(b.icmp_signed("<", lo, hi)):
            run(lo, hi)
        b.atomic_rmw("add", self.sync, one, "release")
        b.branch(head)
        b.position_at_end(out)
        return b.add(base, nc)


def chunk_count(b, ext, nt, align, small=None):
    """How many chunks a team of nt cuts [0, ext) into: SPLIT per thread (one for a team of one), none shorter than
    align; one (none when ext is 0) where `small` (an i1) says the statement is too little work to share."""
    zero, one = ir.Constant(I64T, 0), ir.Constant(I64T, 1)
    parts = b.select(b.icmp_signed(">", nt, one), b.mul(nt, ir.Constant(I64T, SPLIT)), one)
    most = b.sdiv(b.add(ext, ir.Constant(I64T, align - 1)), ir.Constant(I64T, align))
    nc = b.select(b.icmp_signed("<", parts, most), parts, most)
    if small is not None:
        nc = b.select(small, b.select(b.icmp_signed(">", ext, zero), one, zero), nc)
    return nc


def _omp(cg, name):
    fn = cg.module.globals.get(name)
    if fn is None:
        fn = ir.Function(cg.module, ir.FunctionType(I32T, []), name)
    return fn


# ---- members preempted by other processes: the next calls run with one thread fewer ----

# calls that run with one thread fewer once the team's members were switched out involuntarily often enough (then the
# whole team is tried again)
# NOTE: a team of two on a 2-core machine whose other core runs another process: the members share a core by turns
# and the one waiting for the other spins while the other could run. LeNet-5's step: 7.2 ms that way, 4.1 ms on one
# thread (3.0 ms idle on two). Counted per call over the members (getrusage ru_nivcsw), 500 calls: idle, 0 in 452
# calls, 1 in 46, 3 or more in 2 (kernel threads); one core busy, 0 in 106, 3 or more in 342.
CALM_CALLS = 64
# ... doubled, up to MAX_CALM, when the team is preempted again within RECENT calls of a countdown's end (the other
# process is still there: each try of the whole team costs a few slow calls)
MAX_CALM = 1024
RECENT = 32
# ... once the count passes this: a call adds its switches (at most PREEMPTION_STEP), a call without any takes 1
PREEMPTED = 9
PREEMPTION_STEP = 3
_RUSAGE_THREAD = 1
_RUSAGE_I64S = 18            # struct rusage on 64-bit Linux: two timevals, then 14 longs, ru_nivcsw the last
_NIVCSW = 17


def counts_preemption(cg) -> bool:
    """Whether this target's threads can read their involuntary context switches (getrusage RUSAGE_THREAD)."""
    triple = cg.module.triple or ""
    return "linux" in triple and (triple.startswith("x86_64") or triple.startswith("aarch64"))


def _global(cg, name):
    g = cg.module.globals.get(name)
    if g is None:
        g = ir.GlobalVariable(cg.module, I64T, name)
        g.linkage = "internal"
        g.initializer = ir.Constant(I64T, 0)
    return g


def involuntary_switches(cg, b):
    """i64: the calling thread's involuntary context switches so far (0 where getrusage fails). b must be in its
    function's entry block (the rusage buffer is an alloca there)."""
    fn = cg.module.globals.get("getrusage") or ir.Function(cg.module, ir.FunctionType(I32T, [I32T, PTR]),
                                                           "getrusage")
    buf = b.alloca(I64T, size=ir.Constant(I64T, _RUSAGE_I64S))
    slot = b.gep(buf, [ir.Constant(I64T, _NIVCSW)], source_etype=I64T)
    b.store(ir.Constant(I64T, 0), slot)
    b.call(fn, [ir.Constant(I32T, _RUSAGE_THREAD), buf])
    return b.load(slot, typ=I64T)


def watch_member(cg, b, run):
    """Emit run() (a member's share of a team) at b, in its function's entry block, and add the involuntary
    context switches of this thread meanwhile to the module's count for the call."""
    if not counts_preemption(cg):
        run()
        return
    before = involuntary_switches(cg, b)
    run()
    after = involuntary_switches(cg, b)
    b.atomic_rmw("add", _global(cg, "vive.team.preempted"), b.sub(after, before), "monotonic")


def fewer_threads(cg, b, threads):
    """threads (i32) less one while the module's calm countdown runs (counting this call), else threads; counts the
    calls since the countdown ended (after_team's backoff)."""
    if not counts_preemption(cg):
        return threads
    zero, one64 = ir.Constant(I64T, 0), ir.Constant(I64T, 1)
    calm = _global(cg, "vive.team.calm")
    left = b.load_atomic(calm, "monotonic", 8, typ=I64T)
    on = b.icmp_signed(">", left, zero)
    b.store_atomic(b.select(on, b.sub(left, one64), left), calm, "monotonic", 8)
    since_g = _global(cg, "vive.team.since")
    since = b.load_atomic(since_g, "monotonic", 8, typ=I64T)
    since = b.select(b.icmp_signed("<", since, ir.Constant(I64T, RECENT)), b.add(since, one64), since)
    b.store_atomic(b.select(on, zero, since), since_g, "monotonic", 8)
    one = ir.Constant(I32T, 1)
    return b.select(b.and_(on, b.icmp_signed(">", threads, one)), b.sub(threads, one), threads)


def after_team(cg, b):
    """After the team joined: add the call's switches to the running count (at most PREEMPTION_STEP; a call without
    any takes one off, never below 0); past PREEMPTED, start the calm countdown (CALM_CALLS, or twice the last one
    when the last ended within RECENT calls)."""
    if not counts_preemption(cg):
        return
    zero, one = ir.Constant(I64T, 0), ir.Constant(I64T, 1)
    step = ir.Constant(I64T, PREEMPTION_STEP)
    was = b.atomic_rmw("xchg", _global(cg, "vive.team.preempted"), zero, "monotonic")
    count_g = _global(cg, "vive.team.hits")
    count = b.load_atomic(count_g, "monotonic", 8, typ=I64T)
    up = b.add(count, b.select(b.icmp_unsigned("<", was, step), was, step))
    down = b.select(b.icmp_signed(">", count, zero), b.sub(count, one), zero)
    count = b.select(b.icmp_unsigned("!=", was, zero), up, down)
    calm = b.icmp_signed(">", count, ir.Constant(I64T, PREEMPTED))
    b.store_atomic(b.select(calm, zero, count), count_g, "monotonic", 8)
    with b.if_then(calm):
        # backoff: preempted again within RECENT calls of the last countdown's end: twice as long (to MAX_CALM)
        span_g = _global(cg, "vive.team.span")
        span = b.load_atomic(span_g, "monotonic", 8, typ=I64T)
        span = b.select(b.icmp_signed("<", span, ir.Constant(I64T, CALM_CALLS)), ir.Constant(I64T, CALM_CALLS), span)
        longer = b.mul(span, ir.Constant(I64T, 2))
        longer = b.select(b.icmp_signed("<", longer, ir.Constant(I64T, MAX_CALM)), longer,
                          ir.Constant(I64T, MAX_CALM))
        recent = b.icmp_signed("<", b.load_atomic(_global(cg, "vive.team.since"), "monotonic", 8, typ=I64T),
                               ir.Constant(I64T, RECENT))
        span = b.select(recent, longer, ir.Constant(I64T, CALM_CALLS))
        b.store_atomic(span, span_g, "monotonic", 8)
        b.store_atomic(span, _global(cg, "vive.team.calm"), "monotonic", 8)
