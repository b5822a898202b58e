"""VIVE_CHECK_BOUNDS=1: CPU kernels check every load, store and gemm block against its buffer; a bad index makes
the call raise BoundsError instead of reading or writing outside the arrays."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
import runtime
from compiler.compile import Executable
from compiler.backends.build import entry_name, program_meta
from compiler.ir.kernel import Ix, Load, Loop, Op, Store


@pytest.fixture
def check_bounds(monkeypatch):
    monkeypatch.setenv("VIVE_CHECK_BOUNDS", "1")


def test_checked_code_compares_every_index_and_gives_the_same_results(check_bounds):
    f = cc.compile(lambda x, w: np.tanh(x @ w).sum(axis=1) + x[:, :3].max(axis=1))
    low = f.lower(cc.Spec("f32[N,5]"), np.ones((5, 4), np.float32))
    ir = low.llvm_ir()
    assert "icmp ult" in ir and "status" in ir
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    for n in (1, 2, 7, 300):
        x = rng.standard_normal((n, 5)).astype(np.float32)
        np.testing.assert_allclose(f(x, w), np.tanh(x @ w).sum(axis=1) + x[:, :3].max(axis=1), rtol=1e-5)


def test_unchecked_code_has_no_status(monkeypatch):
    monkeypatch.delenv("VIVE_CHECK_BOUNDS", raising=False)
    ir = cc.compile(lambda x: x * 2).lower(cc.Spec("f32[N]")).llvm_ir()
    assert "status" not in ir


def _broken(low, shift):
    """The program of `low` with its one elementwise load moved by `shift` elements: a compiler bug on purpose."""
    program = low.kernels
    (k,) = program.kernels
    (loop,) = k.body
    (store,) = loop.body
    (ld, c) = store.value.args
    bad = Load(ld.buf, Ix(ld.index.terms, shift))
    loop2 = Loop(loop.var, loop.extent, [Store(store.buf, store.index, Op(store.value.op, [bad, c],
                                                                           store.value.dtype))])
    k.body = [loop2]
    from compiler.codegen.llvm import generate
    t = runtime.host_target()
    ir = generate(program, triple=t.triple, data_layout=t.data_layout, entry=entry_name("broken"),
                  check_bounds=True)
    meta, consts = program_meta(program, ir, entry_name("broken"), check_bounds=True)
    module = runtime.compile_module(ir)
    call = runtime.make_caller(module, meta["entry"], meta["n_slots"], len(meta["dims"]) + 1)
    return Executable(meta, call, consts, list(low.graph.in_types), low.out_tree, "broken")


@pytest.mark.parametrize("shift", [1, -1, 1 << 40])
def test_an_index_outside_its_buffer_raises_instead_of_crashing(shift):
    low = cc.compile(lambda x: x * 2).lower(cc.Spec("f32[N]"))
    exe = _broken(low, shift)
    with pytest.raises(cc.BoundsError, match="outside its buffer"):
        exe.run([np.ones(1000, np.float32)])
    with pytest.raises(IndexError):
        exe.run([np.ones(3, np.float32)])
    # still alive, and the same program with sizes that keep the shifted index inside is fine
    np.testing.assert_array_equal(exe.run([np.zeros(0, np.float32)]), np.zeros(0, np.float32))


def test_program_cache_key_depends_on_the_mode(monkeypatch):
    from compiler.backends.build import graph_key
    g = cc.trace(lambda x: x * 2, np.ones(4, np.float32))
    monkeypatch.delenv("VIVE_CHECK_BOUNDS", raising=False)
    plain = graph_key(g, "cpu")
    monkeypatch.setenv("VIVE_CHECK_BOUNDS", "1")
    assert graph_key(g, "cpu") != plain


def test_a_program_compiled_without_checks_is_not_reused_with_them(monkeypatch):
    fn = lambda x: x[1:] * 3      # noqa: E731 -- one function object, wrapped twice
    monkeypatch.delenv("VIVE_CHECK_BOUNDS", raising=False)
    plain = cc.compile(fn).lower(np.ones(5, np.float32))
    monkeypatch.setenv("VIVE_CHECK_BOUNDS", "1")
    checked = cc.compile(fn).lower(np.ones(5, np.float32))
    assert checked.executable.meta["status"] and not plain.executable.meta["status"]
