"""NVPTX emission and PTX assembly without a GPU: kernel structure, both archs assembled, the intrinsic guard, and
the math emitters' accuracy (run on the host CPU through the JIT)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from llvmlite import ir

import gpu_kernels as K
from compiler.codegen import ptx_support as px
from compiler.errors import BackendError

ARCHS = ["sm_80", "sm_90"]
KERNELS = {"ew_tanh": K.elementwise_tanh_module, "row_max_sum": K.row_reduce_module}
ASSEMBLER = px.assembler_available()
needs_assembler = pytest.mark.skipif(
    ASSEMBLER is None, reason="no PTX assembler: neither nvJitLink (pip install cuda-bindings nvidia-nvjitlink) "
                              "nor ptxas (CUDA toolkit, or pip install nvidia-cuda-nvcc) is present")


def assert_no_external_calls(ptx: str) -> None:
    assert ".extern" not in ptx, "PTX calls a function it does not define"
    # the only calls allowed are to functions the module defines (sin/cos's out-of-line huge-argument reduction)
    defined = set(re.findall(r"^\.func\s+(?:\([^)]*\)\s*)?(\w+)\(", ptx, re.M))
    called = set(re.findall(r"^\s*call(?:\.uni)?\s+(?:\([^)]*\),\s*)?(\w+)", ptx, re.M))
    assert called <= defined, f"PTX calls {sorted(called - defined)}"


@pytest.mark.parametrize("arch", ARCHS)
def test_elementwise_ptx_structure(arch):
    ptx = px.module_to_ptx(K.elementwise_tanh_module(), arch)
    assert f".target {arch}" in ptx
    assert ".visible .entry ew_tanh(" in ptx
    assert ".param .u64 .ptr .global" in ptx
    assert "ld.global.nc" in ptx                    # noalias input pointer reads through the read-only cache
    assert "%nctaid.x" in ptx                       # grid-stride step
    assert_no_external_calls(ptx)


@pytest.mark.parametrize("arch", ARCHS)
def test_row_reduce_ptx_structure(arch):
    ptx = px.module_to_ptx(K.row_reduce_module(), arch)
    assert f".target {arch}" in ptx
    assert ".visible .entry row_max_sum(" in ptx
    assert ".shared" in ptx and "st.shared" in ptx and "ld.shared" in ptx
    assert "bar.sync" in ptx
    assert "shfl.sync.bfly.b32" in ptx
    assert "max.NaN.f32" in ptx                     # NaN-propagating like numpy.max
    assert_no_external_calls(ptx)


@needs_assembler
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_assemble(kernel, arch):
    cubin = px.assemble(px.module_to_ptx(KERNELS[kernel](), arch), arch)
    assert cubin[:4] == b"\x7fELF"


@pytest.mark.parametrize("tool", ["nvjitlink", "ptxas"])
def test_each_assembler(tool):
    have = {"nvjitlink": px._nvjitlink() is not None, "ptxas": px.ptxas_path() is not None}[tool]
    if not have:
        pytest.skip(f"{tool} is not installed here")
    ptx = px.module_to_ptx(K.row_reduce_module(), "sm_90")
    assert px.assemble(ptx, "sm_90", tool=tool)[:4] == b"\x7fELF"
    bad = ptx.replace("bar.sync", "bar.bogus", 1)
    with pytest.raises(BackendError, match=f"(?s){'nvJitLink' if tool == 'nvjitlink' else 'ptxas'} rejected.*bogus"):
        px.assemble(bad, "sm_90", tool=tool)


@needs_assembler
@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("approx", [False, True])
def test_math_emitters_lower_and_assemble(dtype, approx):
    ptx = px.module_to_ptx(K.math_module(dtype, approx), "sm_80")
    assert_no_external_calls(ptx)
    if dtype == "f32" and approx:
        for op in ("ex2.approx", "lg2.approx", "tanh.approx.f32", "sin.approx", "cos.approx"):
            assert op in ptx
    if dtype == "f64":
        assert "ex2.approx" not in ptx and "lg2.approx" not in ptx     # f64 math is pure f64 arithmetic
    px.assemble(ptx, "sm_80")


def test_f64_and_i32_shuffles_lower():
    m = px.new_module()
    fn = px.declare_kernel(m, "k", [px.GLOBAL_PTR, px.GLOBAL_PTR])
    b = ir.IRBuilder(fn.append_basic_block())
    i = b.zext(px.tid_x(b), px.I64)
    px.store(b, px.warp_allreduce(b, px.load(b, fn.args[0], i, px.F64), lambda b, p, q: b.fadd(p, q)), fn.args[0], i)
    px.store(b, px.shfl_down(b, px.laneid(b), 1), fn.args[1], i)
    b.ret_void()
    ptx = px.module_to_ptx(m, "sm_80")
    assert ptx.count("shfl.sync.bfly.b32") == 10 and "shfl.sync.down.b32" in ptx


def test_unknown_intrinsic_is_refused_not_an_abort():
    # llvm.exp.f32 has no NVPTX lowering: handed to LLVM it would kill the process ("no libcall available")
    ir_text = """
        declare float @llvm.exp.f32(float)
        define ptx_kernel void @k(ptr addrspace(1) %p) {
          %x = load float, ptr addrspace(1) %p
          %y = call float @llvm.exp.f32(float %x)
          store float %y, ptr addrspace(1) %p
          ret void
        }"""
    with pytest.raises(BackendError, match="llvm.exp.f32"):
        px.module_to_ptx(ir_text, "sm_80")
    tanh_no_afn = ir_text.replace("llvm.exp.f32", "llvm.tanh.f32")
    with pytest.raises(BackendError, match="afn"):
        px.module_to_ptx(tanh_no_afn, "sm_80")


def test_bad_ir_and_bad_arch():
    with pytest.raises(BackendError, match="invalid LLVM IR"):
        px.module_to_ptx("define void @k( {", "sm_80")
    with pytest.raises(BackendError, match="too old"):
        px.nvptx_target_machine("sm_70")
    with pytest.raises(BackendError, match="bad arch"):
        px.nvptx_target_machine("compute_80")


def test_default_ptx_version_and_override():
    assert ".version 7.0" in px.module_to_ptx(K.elementwise_tanh_module(), "sm_80")
    assert ".version 8.0" in px.module_to_ptx(K.elementwise_tanh_module(), "sm_80", ptx_version=80)


# Max error in ulps on the host JIT (f32 exp/logistic use exp2 there instead of ex2.approx: see gpu_kernels).
HOST_ULP = {"exp": 2, "expm1": 2, "log": 2, "tanh": 3, "logistic": 3, "sin": 2, "cos": 2, "sqrt": 0.5}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", K.MATH)
def test_math_accuracy_on_host(name, dtype):
    f = K.host_math(name, dtype)
    x = K.math_inputs(name, dtype)
    assert K.max_ulp(f(x), x, name) <= HOST_ULP[name] + (1 if dtype == np.float64 else 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", K.MATH)
def test_math_special_values_on_host(name, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -1.0, 1.0, 1000.0, -1000.0], dtype)
    with np.errstate(all="ignore"):
        ref = K.NUMPY_MATH[name](x.astype(np.float64)).astype(dtype)
        got = K.host_math(name, dtype)(x)
    close = np.isclose(got, ref, rtol=4 * np.finfo(dtype).eps, atol=0) | (np.isnan(got) & np.isnan(ref))
    assert close.all(), f"{name}({x[~close]}) = {got[~close]}, numpy says {ref[~close]}"
    assert np.array_equal(np.signbit(got[3:5]), np.signbit(ref[3:5])), "signed zero"
