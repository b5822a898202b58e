"""CPU code of Collective statements: direct calls of the MPI C API (symbols and handles from runtime/mpi.py),
and the timeline of a program that communicates (per-kernel MPI_Wtime stamps, off unless switched on).

A bucket's request lives in a module global `<entry>.mpi_req.<slot>`: a compiled step is one call on one
thread, and MPI forbids racing collectives on one communicator anyway, so per-call storage would buy nothing.
MPI's default error handler on COMM_WORLD (MPI_ERRORS_ARE_FATAL) aborts the whole job on a failed call, so the
return codes are not inspected here.
"""
from __future__ import annotations

from llvmlite import ir

from ..errors import BackendError
from .scalar import I32T, I64T

PTR = ir.PointerType()
F64T = ir.DoubleType()


def _fn(module, name, ret, args):
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name)
    return fn


def _global(module, name, t, internal=True):
    g = module.globals.get(name)
    if g is None:
        g = ir.GlobalVariable(module, t, name)
        if internal:
            g.linkage = "internal"
        g.initializer = ir.Constant(t, None)
        g.align = 16
    return g


def emit_collective(f, s):
    """Code of one Collective statement inside kernel function f (a codegen.llvm._Fn)."""
    cg, b = f.cg, f.b
    mpi = cg.mpi
    if mpi is None:
        raise BackendError("cpu: a collective in a program compiled without MPI (compiler.distributed.init() "
                           "was not called, or mpi4py is missing)")
    if s.dtype.name not in mpi["types"]:
        raise BackendError(f"cpu: all-reduce of {s.dtype.name} is not supported (f32, f64, i32, i64 are)")
    mod = cg.module
    dt_h, dt_bits = mpi["types"][s.dtype.name]
    comm_t, op_t, dt_t = ir.IntType(mpi["comm_bits"]), ir.IntType(mpi["op_bits"]), ir.IntType(dt_bits)
    count = f.sym(s.count)
    count = b.trunc(count, I32T) if count.type != I32T else count
    args = [f.bufs[s.send], f.bufs[s.recv], count, ir.Constant(dt_t, dt_h), ir.Constant(op_t, mpi["sum"]),
            ir.Constant(comm_t, mpi["comm"])]
    sig = [PTR, PTR, I32T, dt_t, op_t, comm_t]
    if s.op == "allreduce":
        b.call(_fn(mod, "MPI_Allreduce", I32T, sig), args)
        return
    req = _global(mod, f"{cg.entry_name}.mpi_req.{s.slot}", ir.ArrayType(ir.IntType(8), mpi["request_bytes"]))
    if s.op == "start":
        b.call(_fn(mod, "MPI_Iallreduce", I32T, sig + [PTR]), args + [b.bitcast(req, PTR)])
    else:
        status = _global(mod, f"{cg.entry_name}.mpi_status", ir.ArrayType(ir.IntType(8), mpi["status_bytes"]))
        b.call(_fn(mod, "MPI_Wait", I32T, [PTR, PTR]), [b.bitcast(req, PTR), b.bitcast(status, PTR)])


def has_collectives(program):
    from ..ir.kernel import Collective
    return any(isinstance(s, Collective) for k in program.kernels for s in k.body)


def in_flight(program):
    """Per kernel index: the request slots posted by it or earlier and not yet waited for when it ends."""
    from ..ir.kernel import Collective
    live, out = [], []
    for k in program.kernels:
        for s in k.body:
            if isinstance(s, Collective) and s.op == "start":
                live.append(s.slot)
            elif isinstance(s, Collective) and s.op == "wait" and s.slot in live:
                live.remove(s.slot)
        out.append(tuple(live))
    return out


def trace_names(entry):
    """(flag, stamps, done): the globals that switch the timeline on, hold 2 MPI_Wtime stamps per kernel, and
    the time each request slot was first seen complete (0: not seen before its wait)."""
    return f"{entry}.trace_on", f"{entry}.trace", f"{entry}.trace_done"


def traced_call(cg, b, index, call):
    """call() (emitting one kernel call), stamped with MPI_Wtime before and after when the timeline flag is set,
    then an MPI_Test of every all-reduce in flight.

    NOTE: MPICH (like most MPIs) moves a non-blocking collective forward only inside MPI calls; without these
    tests between kernels an MPI_Iallreduce would mostly run inside its MPI_Wait, overlapping nothing. A test
    with nothing to do costs well under a microsecond, against kernels of tens of microseconds and more."""
    if not getattr(cg, "mpi_trace", False):
        call()
        return
    mod = cg.module
    flag_name, stamps_name, done_name = trace_names(cg.entry_name)
    slots = cg._mpi_slots
    flag = _global(mod, flag_name, I32T, internal=False)
    stamps = _global(mod, stamps_name, ir.ArrayType(F64T, 2 * len(cg.p.kernels)), internal=False)
    done = _global(mod, done_name, ir.ArrayType(F64T, max(slots, 1)), internal=False)
    wtime = _fn(mod, "MPI_Wtime", F64T, [])
    on = b.icmp_signed("!=", b.load(flag, typ=I32T), ir.Constant(I32T, 0))

    def stamp(arr, i):
        with b.if_then(on):
            p = b.gep(arr, [ir.Constant(I64T, 0), ir.Constant(I64T, i)], inbounds=True)
            b.store(b.call(wtime, []), p)
    stamp(stamps, 2 * index)
    call()
    stamp(stamps, 2 * index + 1)
    pending = cg._in_flight[index]
    if not pending:
        return
    test = _fn(mod, "MPI_Test", I32T, [PTR, PTR, PTR])
    status = _global(mod, f"{cg.entry_name}.mpi_status", ir.ArrayType(ir.IntType(8), cg.mpi["status_bytes"]))
    fl = _global(mod, f"{cg.entry_name}.mpi_flag", I32T)
    for slot in pending:
        req = _global(mod, f"{cg.entry_name}.mpi_req.{slot}", ir.ArrayType(ir.IntType(8), cg.mpi["request_bytes"]))
        b.store(ir.Constant(I32T, 0), fl)
        b.call(test, [b.bitcast(req, PTR), b.bitcast(fl, PTR), b.bitcast(status, PTR)])
        p = b.gep(done, [ir.Constant(I64T, 0), ir.Constant(I64T, slot)], inbounds=True)
        first = b.and_(on, b.and_(b.icmp_signed("!=", b.load(fl, typ=I32T), ir.Constant(I32T, 0)),
                                  b.fcmp_ordered("==", b.load(p, typ=F64T), ir.Constant(F64T, 0.0))))
        with b.if_then(first):
            b.store(b.call(wtime, []), p)
