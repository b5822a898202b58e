"""cc.random on the GPU path: the PTX backend's own scalar emitter (ptx._Gen) run on the host CPU gives the NumPy
reference's Threefry bits, the cuda backend's PTX for a random function has the hash inline and assembles, and with
a device the numbers equal the CPU backend's bit for bit."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from llvmlite import binding as llvm
from llvmlite import ir

import compiler as cc
from compiler.codegen import ptx as ptx_mod
from compiler.codegen import ptx_support as px
from compiler.ir.types import I64, U32
from compiler.ir.kernel import Const, IndexValue, Ix, Op
from compiler.primitives.prng import hash_np

needs_gpu = pytest.mark.gpu
ASSEMBLER = px.assembler_available()


def _host_kernel(expr_of_i, n):
    """expr_of_i(i) (a kernel-IR u32 expression of the loop index i) emitted by the PTX backend's emitter class
    into a host function out[i] = expr, JIT-compiled and run for i in [0, n)."""
    m = ir.Module("host_threefry")
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [ir.PointerType(), ir.IntType(64)]), "f")
    out, count = fn.args
    gen = ptx_mod._Gen.__new__(ptx_mod._Gen)           # the GPU emitter, without a launch around it
    gen.fn, gen.entry = fn, fn.append_basic_block("entry")
    body = fn.append_basic_block("body")
    gen.b, gen.vars, gen.scopes, gen.accs, gen.syms = ir.IRBuilder(body), {}, [{}], {}, {}

    def emit():
        v = gen.val(expr_of_i(IndexValue(Ix([("i", 1)], 0))))
        gen.b.store(v, gen.b.gep(out, [gen.vars["i"]], source_etype=ir.IntType(32)))
    gen.counted_loop("i", ir.Constant(ir.IntType(64), 0), count, ir.Constant(ir.IntType(64), 1), emit)
    gen.b.ret_void()
    with gen.b.goto_block(gen.entry):
        gen.b.branch(body)
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    mod = llvm.parse_assembly(str(m))
    mod.verify()
    ee = llvm.create_mcjit_compiler(mod, llvm.Target.from_default_triple().create_target_machine())
    ee.finalize_object()
    res = np.zeros(n, np.uint32)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(ee.get_function_address("f"))(res.ctypes.data, n)
    return res


@pytest.mark.parametrize("k0,k1,x0,x1", [(0, 0, 0, 0), (0x12345678, 0x9ABCDEF0, 7, 0xFFFFFFF0),
                                         (0xFFFFFFFF, 1, 0xFFFFFFFF, 0xFFFFFFFE)])
def test_ptx_emitter_computes_the_reference_threefry_on_the_host(k0, k1, x0, x1):
    n = 64
    u = [Const(v, U32) for v in (k0, k1, x0, x1)]
    y0, y1 = hash_np(k0, k1, *_counters(x0, x1, n))
    xor = _host_kernel(lambda i: Op("threefry_xor", [Op("threefry2x32", u + [i], I64)], U32), n)
    np.testing.assert_array_equal(xor, y0 ^ y1)
    for w, want in ((0, y0), (1, y1)):
        got = _host_kernel(lambda i: Op("threefry_word", [Op("threefry2x32", u + [i], I64), Const(w, I64)], U32), n)
        np.testing.assert_array_equal(got, want)


def _counters(x0, x1, n):
    c = (np.uint64(x0) << np.uint64(32)) + np.uint64(x1) + np.arange(n, dtype=np.uint64)   # wraps past 2^64
    return (c >> np.uint64(32)).astype(np.uint32), (c & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _draws(k):
    R = cc.random
    return R.bits(k, (300,)), R.uniform(R.fold_in(k, 2), (17, 5)), R.split(k, 4), R.uniform(k, (9,), np.float64)


def test_cuda_backend_emits_the_hash_inline_and_assembles():
    low = cc.compile(_draws, backend="cuda").lower(cc.random.key(0))
    for arch in ("sm_80", "sm_90"):
        text = low.ptx(arch)
        assert ".visible .entry" in text and "xor.b32" in text
        assert ".extern" not in text                    # no library call: the same add/xor/shift code as the CPU
        if ASSEMBLER is not None:
            assert len(px.assemble(text, arch)) > 100


@needs_gpu
def test_same_key_same_numbers_on_cpu_and_gpu():
    f_cpu, f_gpu = cc.compile(_draws), cc.compile(_draws, backend="cuda")
    for seed in (0, 123, 2 ** 32 - 1):
        k = cc.random.key(seed)
        for a, b in zip(f_cpu(k), f_gpu(k)):
            np.testing.assert_array_equal(np.asarray(b), a)
