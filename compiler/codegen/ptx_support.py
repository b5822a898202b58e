"""NVPTX building blocks for the GPU codegen: target machines, LLVM IR -> PTX, math that lowers without libdevice,
thread indices, barriers, warp shuffles, shared memory, kernel declarations, and PTX -> cubin validation."""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Callable, Sequence

from llvmlite import binding as llvm
from llvmlite import ir

from compiler.errors import BackendError
from compiler.primitives import mathlib
from compiler.codegen.scalar_builder import ScalarBuilder

TRIPLE = "nvptx64-nvidia-cuda"
DEFAULT_ARCH = "sm_80"
MIN_ARCH = 75                                  # CUDA 13 ptxas rejects sm_70 and older
GLOBAL, SHARED = 1, 3                          # NVPTX address spaces
I1, I32, I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
VOID = ir.VoidType()
GLOBAL_PTR = ir.PointerType(addrspace=GLOBAL)
FULL_MASK = -1                                 # all 32 lanes, as the i32 that shfl.sync takes
WARP_SIZE = 32

# NOTE: an intrinsic that NVPTX cannot select kills the whole process (SIGABRT or exit 1), so every intrinsic is
# declared through _intrinsic() from this table, and module_to_ptx() refuses any other declaration. Each entry was
# compiled in a subprocess for sm_80 and sm_90 with llvmlite 0.50 / LLVM 22 (notes/toolchain.md §5) and lowers to one
# PTX instruction. Known NOT to select: llvm.nvvm.ex2.approx.d, llvm.exp.*/llvm.log*.* (no libcall), llvm.tanh.* without
# `afn`. Names are the ones LLVM 22 keeps after auto-upgrade (nvvm.barrier0 -> barrier.cta.sync.aligned.all).
_FT = ir.FunctionType
NATIVE_INTRINSICS: dict[str, ir.FunctionType] = {
    "llvm.nvvm.ex2.approx.f32": _FT(F32, [F32]),              # ex2.approx.f32
    "llvm.nvvm.ex2.approx.ftz.f32": _FT(F32, [F32]),
    "llvm.nvvm.lg2.approx.f": _FT(F32, [F32]),                # lg2.approx.f32
    "llvm.nvvm.tanh.approx.f32": _FT(F32, [F32]),             # tanh.approx.f32 (sm_75+), ~2^-11 relative error
    "llvm.nvvm.sin.approx.f": _FT(F32, [F32]),                # sin.approx.f32, good on [-pi, pi]
    "llvm.nvvm.cos.approx.f": _FT(F32, [F32]),
    "llvm.nvvm.rsqrt.approx.f": _FT(F32, [F32]),
    "llvm.nvvm.rsqrt.approx.d": _FT(F64, [F64]),
    "llvm.nvvm.barrier.cta.sync.aligned.all": _FT(VOID, [I32]),   # bar.sync 0
    "llvm.nvvm.shfl.sync.bfly.f32": _FT(F32, [I32, F32, I32, I32]),
    "llvm.nvvm.shfl.sync.bfly.i32": _FT(I32, [I32, I32, I32, I32]),
    "llvm.nvvm.shfl.sync.down.f32": _FT(F32, [I32, F32, I32, I32]),
    "llvm.nvvm.shfl.sync.down.i32": _FT(I32, [I32, I32, I32, I32]),
    **{f"llvm.nvvm.read.ptx.sreg.{r}": _FT(I32, [])
       for r in ("tid.x", "tid.y", "tid.z", "ctaid.x", "ctaid.y", "ctaid.z", "ntid.x", "ntid.y", "ntid.z",
                 "nctaid.x", "nctaid.y", "nctaid.z", "laneid")},
    **{f"llvm.{op}.{s}": _FT(t, [t] * n)
       for s, t in (("f32", F32), ("f64", F64))
       for op, n in (("fma", 3), ("fabs", 1), ("copysign", 2), ("sqrt", 1), ("rint", 1), ("floor", 1), ("ceil", 1),
                     ("trunc", 1), ("maximum", 2), ("minimum", 2), ("maxnum", 2), ("minnum", 2))},
}
# Type-generic intrinsics that the optimizer itself may introduce and that NVPTX always selects.
_SAFE_PREFIXES = ("llvm.fma.", "llvm.fmuladd.", "llvm.fabs.", "llvm.copysign.", "llvm.sqrt.", "llvm.rint.",
                  "llvm.floor.", "llvm.ceil.", "llvm.trunc.", "llvm.maximum.", "llvm.minimum.", "llvm.maxnum.",
                  "llvm.minnum.", "llvm.smax.", "llvm.smin.", "llvm.umax.", "llvm.umin.", "llvm.abs.",
                  "llvm.lifetime.", "llvm.assume", "llvm.memcpy.", "llvm.memset.", "llvm.experimental.noalias")
# Selected only when every call carries `afn` (else "Cannot select: ftanh" aborts). LLVM 22 auto-upgrades
# llvm.nvvm.tanh.approx.f32 to `call afn float @llvm.tanh.f32`.
_AFN_ONLY = frozenset({"llvm.tanh.f32"})

_init_lock = threading.Lock()
_initialized = False


def _init_llvm() -> None:
    global _initialized
    with _init_lock:
        if not _initialized:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
            _initialized = True


def _check_arch(arch: str) -> None:
    m = re.fullmatch(r"sm_(\d+)[af]?", arch)
    if not m:
        raise BackendError(f"ptx: bad arch {arch!r}; expected a name like 'sm_80' or 'sm_90a'")
    if int(m.group(1)) < MIN_ARCH:
        raise BackendError(f"ptx: arch {arch} is too old: CUDA 13 supports sm_{MIN_ARCH} and newer")


def nvptx_target_machine(arch: str = DEFAULT_ARCH, ptx_version: int | None = None) -> llvm.TargetMachine:
    """A fresh NVPTX TargetMachine (never share one: see toolchain notes §7.1). ptx_version=80 emits `.version 8.0`."""
    _check_arch(arch)
    _init_llvm()
    features = f"+ptx{ptx_version}" if ptx_version else ""
    return llvm.Target.from_triple(TRIPLE).create_target_machine(cpu=arch, features=features, opt=3)


def new_module(name: str = "kernels") -> ir.Module:
    """An empty llvmlite module for the NVPTX triple; module_to_ptx sets the data layout."""
    m = ir.Module(name=name)
    m.triple = TRIPLE
    return m


def check_declarations(mod: llvm.ModuleRef) -> None:
    """Raise BackendError for a declared function NVPTX might not select; calling LLVM with it could abort."""
    afn_only = set()
    for f in mod.functions:
        if not f.is_declaration:
            continue
        if f.name in _AFN_ONLY:
            afn_only.add(f.name)
        elif f.name not in NATIVE_INTRINSICS and not f.name.startswith(_SAFE_PREFIXES):
            raise BackendError(f"ptx: no native instruction for call to @{f.name}; "
                               f"use the emitters in compiler.codegen.ptx_support")
    if afn_only:
        for f in mod.functions:
            for block in f.blocks:
                for ins in block.instructions:
                    text = str(ins)
                    if ins.opcode == "call" and " afn " not in text and any(f"@{n}(" in text for n in afn_only):
                        raise BackendError(f"ptx: {text.strip()} needs the `afn` flag to lower on NVPTX")


def module_to_ptx(llvm_ir: str | ir.Module, arch: str = DEFAULT_ARCH, ptx_version: int | None = None) -> str:
    """LLVM IR text (or an llvmlite.ir.Module) -> PTX text: parse, verify, O3, emit.

    >>> ptx = module_to_ptx(str(mod), "sm_90")     # '.target sm_90' ... '.entry k(' ...
    """
    tm = nvptx_target_machine(arch, ptx_version)
    try:
        mod = llvm.parse_assembly(str(llvm_ir))
        mod.verify()
    except RuntimeError as e:
        raise BackendError(f"ptx: invalid LLVM IR for {arch}: {e}") from None
    check_declarations(mod)
    mod.triple = TRIPLE
    mod.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_assembly(mod)


# ---------------------------------------------------------------------------------------------------------------
# Declarations, indices, barriers, memory


def _intrinsic(module: ir.Module, name: str) -> ir.Function:
    fnty = NATIVE_INTRINSICS[name]              # KeyError here = not verified to lower natively
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, fnty, name)


def _call(b: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    return b.call(_intrinsic(b.module, name), args)


def declare_kernel(module: ir.Module, name: str, params: Sequence[ir.Type]) -> ir.Function:
    """A `.entry` kernel. Pointer params should be GLOBAL_PTR; they get `noalias`, which lets NVPTX load the ones
    the kernel only reads through the read-only cache (ld.global.nc)."""
    fn = ir.Function(module, ir.FunctionType(VOID, list(params)), name)
    fn.calling_convention = "ptx_kernel"
    for arg, ty in zip(fn.args, params):
        if isinstance(ty, ir.PointerType):
            arg.add_attribute("noalias")
    return fn


def sreg(b: ir.IRBuilder, reg: str) -> ir.Value:
    """A PTX special register as i32: 'tid.x', 'ctaid.y', 'ntid.x', 'nctaid.x', 'laneid', ..."""
    return _call(b, f"llvm.nvvm.read.ptx.sreg.{reg}")


def tid_x(b: ir.IRBuilder) -> ir.Value:
    return sreg(b, "tid.x")


def ctaid_x(b: ir.IRBuilder) -> ir.Value:
    return sreg(b, "ctaid.x")


def ntid_x(b: ir.IRBuilder) -> ir.Value:
    return sreg(b, "ntid.x")


def nctaid_x(b: ir.IRBuilder) -> ir.Value:
    return sreg(b, "nctaid.x")


def laneid(b: ir.IRBuilder) -> ir.Value:
    return sreg(b, "laneid")


def barrier(b: ir.IRBuilder) -> None:
    """__syncthreads(): every thread of the block must reach it (never put it under a divergent branch)."""
    _call(b, "llvm.nvvm.barrier.cta.sync.aligned.all", ir.Constant(I32, 0))


def global_index(b: ir.IRBuilder) -> ir.Value:
    """ctaid.x * ntid.x + tid.x as i64."""
    i = b.add(b.mul(ctaid_x(b), ntid_x(b), flags=["nuw"]), tid_x(b), flags=["nuw"])
    return b.zext(i, I64)


def grid_stride_loop(b: ir.IRBuilder, n: ir.Value, body: Callable[[ir.IRBuilder, ir.Value], None]) -> None:
    """for (i = global_index; i < n; i += nctaid.x * ntid.x) body(b, i), with i and n as i64.
    The builder is left in the block after the loop."""
    start = global_index(b)
    step = b.zext(b.mul(nctaid_x(b), ntid_x(b), flags=["nuw"]), I64)
    pre = b.block
    head = b.append_basic_block("gs.head")
    loop = b.append_basic_block("gs.body")
    done = b.append_basic_block("gs.done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, "i")
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, n), loop, done)
    b.position_at_end(loop)
    body(b, i)
    i.add_incoming(b.add(i, step, flags=["nsw"]), b.block)
    b.branch(head)
    b.position_at_end(done)


def element_ptr(b: ir.IRBuilder, base: ir.Value, index: ir.Value, ty: ir.Type) -> ir.Value:
    """&base[index] for an opaque global pointer holding elements of type ty."""
    return b.gep(base, [index], inbounds=True, source_etype=ty)


def load(b: ir.IRBuilder, base: ir.Value, index: ir.Value, ty: ir.Type) -> ir.Value:
    return b.load(element_ptr(b, base, index, ty), typ=ty)


def store(b: ir.IRBuilder, value: ir.Value, base: ir.Value, index: ir.Value) -> None:
    b.store(value, element_ptr(b, base, index, value.type))


def shared_array(module: ir.Module, name: str, elem: ir.Type, count: int, align: int = 16) -> ir.GlobalVariable:
    """A static `.shared` array of count elements (one per block, uninitialised)."""
    ty = ir.ArrayType(elem, count)
    gv = ir.GlobalVariable(module, ty, name, addrspace=SHARED)
    gv.linkage = "internal"
    gv.initializer = ir.Constant(ty, ir.Undefined)
    gv.align = align
    return gv


def shared_ptr(b: ir.IRBuilder, arr: ir.GlobalVariable, index: ir.Value) -> ir.Value:
    """&arr[index] in shared memory; load it with b.load(p), store with b.store(v, p)."""
    # NOTE: arr is a typed global, so no source_etype (toolchain notes §7.4).
    return b.gep(arr, [ir.Constant(I32, 0), index], inbounds=True)


def _shfl(b: ir.IRBuilder, kind: str, x: ir.Value, offset: int) -> ir.Value:
    off = ir.Constant(I32, offset)
    clamp = ir.Constant(I32, 0x1F if kind == "bfly" else WARP_SIZE - 1)   # c operand: whole-warp segment
    mask = ir.Constant(I32, FULL_MASK)
    if x.type == F32:
        return _call(b, f"llvm.nvvm.shfl.sync.{kind}.f32", mask, x, off, clamp)
    if x.type == I32:
        return _call(b, f"llvm.nvvm.shfl.sync.{kind}.i32", mask, x, off, clamp)
    if x.type in (F64, I64):                   # two 32-bit shuffles
        bits = b.bitcast(x, I64) if x.type == F64 else x
        lo = _call(b, f"llvm.nvvm.shfl.sync.{kind}.i32", mask, b.trunc(bits, I32), off, clamp)
        hi = _call(b, f"llvm.nvvm.shfl.sync.{kind}.i32", mask, b.trunc(b.lshr(bits, ir.Constant(I64, 32)), I32),
                   off, clamp)
        out = b.or_(b.zext(lo, I64), b.shl(b.zext(hi, I64), ir.Constant(I64, 32)))
        return b.bitcast(out, F64) if x.type == F64 else out
    raise BackendError(f"ptx: no warp shuffle for type {x.type}")


def shfl_bfly(b: ir.IRBuilder, x: ir.Value, lane_mask: int) -> ir.Value:
    """x from lane (laneid ^ lane_mask); all 32 lanes must take part."""
    return _shfl(b, "bfly", x, lane_mask)


def shfl_down(b: ir.IRBuilder, x: ir.Value, delta: int) -> ir.Value:
    """x from lane laneid + delta (own x where that is past lane 31); all 32 lanes must take part."""
    return _shfl(b, "down", x, delta)


def warp_allreduce(b: ir.IRBuilder, x: ir.Value, op: Callable[[ir.IRBuilder, ir.Value, ir.Value], ir.Value]) -> ir.Value:
    """op-reduction over the 32 lanes by butterfly shuffles; every lane gets the result."""
    for m in (16, 8, 4, 2, 1):
        x = op(b, x, shfl_bfly(b, x, m))
    return x


# ---------------------------------------------------------------------------------------------------------------
# Scalar math on f32 and f64 with no libdevice: the shared math library (primitives/mathlib) with f32 kept in f32,
# and f32 exp through ex2.approx. Accuracy (measured against numpy in tests/gpu): a few ulp for exp/log/tanh/
# logistic/expm1, sin/cos while |x| < 1e5 (f32). approx=True picks one MUFU instruction instead (f32 only): fast,
# ~2^-21 absolute (sin, cos, log) or 2^-11 relative (tanh) error.


def _suffix(x: ir.Value) -> str:
    if x.type == F32:
        return "f32"
    if x.type == F64:
        return "f64"
    raise BackendError(f"ptx: math emitters take f32 or f64, got {x.type}")


def _c(x: ir.Value, v: float) -> ir.Constant:
    return ir.Constant(x.type, v)


def fma(b: ir.IRBuilder, x: ir.Value, y: ir.Value, z: ir.Value) -> ir.Value:
    return _call(b, f"llvm.fma.{_suffix(x)}", x, y, z)


def fabs(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return _call(b, f"llvm.fabs.{_suffix(x)}", x)


def copysign(b: ir.IRBuilder, mag: ir.Value, sign: ir.Value) -> ir.Value:
    return _call(b, f"llvm.copysign.{_suffix(mag)}", mag, sign)


def rint(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return _call(b, f"llvm.rint.{_suffix(x)}", x)


def maximum(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """NaN-propagating max, as numpy.maximum (max.NaN.f32 on sm_80+)."""
    return _call(b, f"llvm.maximum.{_suffix(x)}", x, y)


def minimum(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return _call(b, f"llvm.minimum.{_suffix(x)}", x, y)


def sqrt(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Correctly rounded (sqrt.rn)."""
    return _call(b, f"llvm.sqrt.{_suffix(x)}", x)


def rcp(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    """1/x: rcp.rn, or rcp.approx with approx=True."""
    _suffix(x)
    return b.fdiv(_c(x, 1.0), x, flags=("arcp", "afn") if approx else ())


def rsqrt(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    if approx:
        return _call(b, f"llvm.nvvm.rsqrt.approx.{'f' if _suffix(x) == 'f32' else 'd'}", x)
    return b.fdiv(_c(x, 1.0), sqrt(b, x))


def _horner(b: ir.IRBuilder, x: ir.Value, coeffs: Sequence[float]) -> ir.Value:
    """c0 + x*(c1 + x*(c2 + ...)) with fma."""
    acc = _c(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = fma(b, acc, x, _c(x, c))
    return acc


def _select_nan(b: ir.IRBuilder, x: ir.Value, r: ir.Value) -> ir.Value:
    """r, or x itself when x is NaN."""
    return b.select(b.fcmp_unordered("uno", x, x), x, r)


def _to_int(b: ir.IRBuilder, j: ir.Value) -> ir.Value:
    """An integral float j (maybe NaN) -> i32; NaN becomes 0 (fptosi of NaN is poison)."""
    return b.fptosi(b.select(b.fcmp_ordered("ord", j, j), j, _c(j, 0.0)), I32)


def _pow2(b: ir.IRBuilder, k: ir.Value, ty: ir.Type) -> ir.Value:
    """2^k for an i32 k in the normal range of ty, by building the exponent bits."""
    if ty == F32:
        return b.bitcast(b.shl(b.add(k, ir.Constant(I32, 127)), ir.Constant(I32, 23)), F32)
    k64 = b.sext(k, I64)
    return b.bitcast(b.shl(b.add(k64, ir.Constant(I64, 1023)), ir.Constant(I64, 52)), F64)


def _scale(b: ir.IRBuilder, y: ir.Value, k: ir.Value) -> ir.Value:
    """y * 2^k for |k| up to twice the exponent range, in two steps so each power stays normal; overflows to inf and
    underflows to 0 as the product would."""
    k1 = b.ashr(k, ir.Constant(I32, 1))
    k2 = b.sub(k, k1)
    return b.fmul(b.fmul(y, _pow2(b, k1, y.type)), _pow2(b, k2, y.type))


_LOG2E = 1.4426950408889634
_LN2 = {"f32": (0.6931471824645996, -1.9046542121259336e-09), "f64": (0.6931471805599453, 2.3190468138462996e-17)}
_EXP_JMAX = {"f32": 160.0, "f64": 1100.0}         # past these, exp is 0 or inf anyway
_EXP_XMAX = {"f32": (-110.0, 90.0), "f64": (-750.0, 710.0)}   # e^x is 0 below, inf above


def _clamp(b: ir.IRBuilder, x: ir.Value, lo: float, hi: float) -> ir.Value:
    """min(max(x, lo), hi) that keeps NaN (ordered compares are false for it)."""
    x = b.select(b.fcmp_ordered("<", x, _c(x, lo)), _c(x, lo), x)
    return b.select(b.fcmp_ordered(">", x, _c(x, hi)), _c(x, hi), x)


def _reduce_ln2(b: ir.IRBuilder, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """x = j*ln2 + r with integral j (as i32) and |r| <= ln2/2 (Cody-Waite with fma)."""
    s = _suffix(x)
    hi, lo = _LN2[s]
    jmax = _c(x, _EXP_JMAX[s])
    j = rint(b, b.fmul(x, _c(x, _LOG2E)))
    j = b.select(b.fcmp_ordered(">", j, jmax), jmax, j)
    j = b.select(b.fcmp_ordered("<", j, b.fneg(jmax)), b.fneg(jmax), j)
    r = fma(b, j, _c(x, -hi), x)
    r = fma(b, j, _c(x, -lo), r)
    return _to_int(b, j), r


def exp(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    """e^x. f32: ex2.approx on the reduced argument (approx=True: ex2.approx(x*log2e) alone, which loses accuracy
    for large |x|); f64: the shared math library (there is no f64 MUFU ex2)."""
    s = _suffix(x)
    if s == "f32" and approx:
        return _call(b, "llvm.nvvm.ex2.approx.f32", b.fmul(x, _c(x, _LOG2E)))
    if s == "f64":
        return mathlib.exp(_builder(b), x)
    k, r = _reduce_ln2(b, _clamp(b, x, *_EXP_XMAX[s]))
    p = _call(b, "llvm.nvvm.ex2.approx.f32", b.fmul(r, _c(x, _LOG2E)))
    return _select_nan(b, x, _scale(b, p, k))


def _builder(b: ir.IRBuilder) -> ScalarBuilder:
    """The shared math library's builder on NVPTX: f32 stays in f32, exp's core is the function above."""
    return ScalarBuilder(b, fast_f64=False, exp=lambda sb, x: exp(sb.b, x))


def expm1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e^x - 1, accurate near 0: with x = j*ln2 + r, expm1(x) = 2^j*q(r) + (2^j - 1) where q(r) = expm1(r)."""
    s = _suffix(x)
    x = _clamp(b, x, -80.0, _EXP_XMAX[s][1])     # expm1 is -1 to both precisions below -80
    k, r = _reduce_ln2(b, x)
    n = 9 if s == "f32" else 14                    # q(r) = r * sum r^i/(i+1)!
    q = b.fmul(r, _horner(b, r, [1.0 / math.factorial(i + 1) for i in range(n)]))
    two_j = _scale(b, _c(x, 1.0), k)               # inf when e^x overflows anyway
    out = fma(b, two_j, q, b.fsub(two_j, _c(x, 1.0)))
    out = b.select(b.fcmp_ordered("==", two_j, _c(x, math.inf)), two_j, out)   # not inf*q + inf = NaN for q <= 0
    out = b.select(b.fcmp_ordered("==", x, _c(x, 0.0)), x, out)                # expm1(-0) = -0
    return _select_nan(b, x, out)


def tanh(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    """tanh(x) from the shared math library; approx=True (f32): the tanh.approx.f32 instruction, 2^-11 relative."""
    if approx and _suffix(x) == "f32":
        return _call(b, "llvm.nvvm.tanh.approx.f32", x)
    return mathlib.tanh(_builder(b), x)


def logistic(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    """1 / (1 + e^-x) from the shared math library; approx=True: ex2.approx and rcp.approx (exp(-x) = inf for very
    negative x gives exactly 0)."""
    if not approx:
        return mathlib.logistic(_builder(b), x)
    e = exp(b, b.fneg(x), approx=approx)
    return b.fdiv(_c(x, 1.0), b.fadd(_c(x, 1.0), e), flags=("arcp", "afn"))


def log(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    """Natural log from the shared math library; approx=True (f32): lg2.approx(x) * ln2, whose absolute error
    (2^-22) makes the relative error large near x = 1."""
    if approx and _suffix(x) == "f32":
        return b.fmul(_call(b, "llvm.nvvm.lg2.approx.f", x), _c(x, math.log(2.0)))
    return mathlib.log(_builder(b), x)


def sin(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    """sin from the shared math library (f32 reduced in f32); approx=True (f32): sin.approx, good on [-pi, pi]."""
    if approx and _suffix(x) == "f32":
        return _call(b, "llvm.nvvm.sin.approx.f", x)
    return mathlib.sin(_builder(b), x)


def cos(b: ir.IRBuilder, x: ir.Value, approx: bool = False) -> ir.Value:
    if approx and _suffix(x) == "f32":
        return _call(b, "llvm.nvvm.cos.approx.f", x)
    return mathlib.cos(_builder(b), x)


# ---------------------------------------------------------------------------------------------------------------
# PTX -> cubin: in process with nvJitLink when its library loads, else the ptxas executable.

_tool_lock = threading.Lock()
_tool_cache: dict[str, object] = {}


def _nvjitlink():
    """The cuda.bindings.nvjitlink module if libnvJitLink loads, else None."""
    with _tool_lock:
        if "nvjitlink" not in _tool_cache:
            try:
                from cuda.bindings import nvjitlink
                nvjitlink.version()                    # loads the shared library; raises if missing
                _tool_cache["nvjitlink"] = nvjitlink
            except Exception:                          # ImportError, DynamicLibNotFoundError, ...
                _tool_cache["nvjitlink"] = None
        return _tool_cache["nvjitlink"]


def ptxas_path() -> str | None:
    """ptxas on PATH, else the one pip's nvidia-cuda-nvcc wheel installs under site-packages."""
    found = shutil.which("ptxas")
    if found:
        return found
    for root in sys.path:
        for sub in ("nvidia/cu13/bin/ptxas", "nvidia/cuda_nvcc/bin/ptxas"):
            p = os.path.join(root, sub)
            if os.access(p, os.X_OK):
                return p
    return None


def assembler_available() -> str | None:
    """'nvjitlink' or 'ptxas' (whichever assemble() would use), or None when neither exists."""
    if _nvjitlink() is not None:
        return "nvjitlink"
    return "ptxas" if ptxas_path() else None


def assemble(ptx: str, arch: str = DEFAULT_ARCH, tool: str | None = None) -> bytes:
    """Assemble PTX into a cubin for arch, which validates it without a GPU. Raises BackendError with the
    assembler's log when the PTX is rejected, or when no assembler exists (see assembler_available())."""
    _check_arch(arch)
    tool = tool or assembler_available()
    if tool == "nvjitlink":
        return _assemble_nvjitlink(ptx, arch)
    if tool == "ptxas":
        return _assemble_ptxas(ptx, arch)
    raise BackendError("ptx: no PTX assembler: install nvidia-nvjitlink (with cuda-bindings) or put CUDA's ptxas "
                       "on PATH")


def _assemble_nvjitlink(ptx: str, arch: str) -> bytes:
    nj = _nvjitlink()
    if nj is None:
        raise BackendError("ptx: nvJitLink is not available (pip install cuda-bindings nvidia-nvjitlink)")
    data = ptx.encode()
    h = nj.create(2, [f"-arch={arch}", "-O3"])
    try:
        try:
            nj.add_data(h, nj.InputType.PTX, data, len(data), "kernel.ptx")
            nj.complete(h)
        except nj.nvJitLinkError as e:
            log = bytearray(nj.get_error_log_size(h))
            nj.get_error_log(h, log)
            text = log.decode(errors="replace").rstrip("\0").strip()
            raise BackendError(f"ptx: nvJitLink rejected the PTX for {arch}: {e}\n{text}") from None
        cubin = bytearray(nj.get_linked_cubin_size(h))
        nj.get_linked_cubin(h, cubin)
        return bytes(cubin)
    finally:
        nj.destroy(h)


def _assemble_ptxas(ptx: str, arch: str) -> bytes:
    exe = ptxas_path()
    if exe is None:
        raise BackendError("ptx: ptxas not found on PATH or under site-packages/nvidia/cu13/bin")
    with tempfile.TemporaryDirectory(prefix="vive-ptxas-") as d:
        src, out = os.path.join(d, "kernel.ptx"), os.path.join(d, "kernel.cubin")
        with open(src, "w") as f:
            f.write(ptx)
        try:
            p = subprocess.run([exe, f"-arch={arch}", "-O3", src, "-o", out], capture_output=True, text=True,
                               timeout=120)
        except subprocess.TimeoutExpired:
            raise BackendError(f"ptx: ptxas timed out after 120 s for {arch}") from None
        if p.returncode != 0:
            log = (p.stderr + p.stdout).strip()
            raise BackendError(f"ptx: ptxas rejected the PTX for {arch} (exit {p.returncode}):\n{log}")
        with open(out, "rb") as f:
            return f.read()
