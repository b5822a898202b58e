"""Depth is free (issue 17): fusion always terminates, kernels stay bounded in size, equal kernels share code,
and the memory plan is n log n while making the choices it always made."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
import zoo_models as zm
from compiler.errors import BackendError
from compiler.lower import lower_plan
from compiler.passes import run_pipeline, GENERIC_PIPELINE
from compiler.passes import fuse as fuse_mod
from compiler.passes.fuse import fuse_graph, FusionReject


def _optimized(maker, *a):
    fn, args = maker(*a)
    return cc.compile(fn).lower(*args)


def _rounds(g, lower_fn):
    calls = []
    real = fuse_mod.fuse

    def spy(*a, **k):
        calls.append(len(k.get("forbid", ())))
        return real(*a, **k)
    fuse_mod.fuse = spy
    try:
        fuse_graph(g, lower_fn)
    finally:
        fuse_mod.fuse = real
    return calls


def test_deep_mlp_gradient_fuses_in_one_round():
    """Each round used to forbid one node (32 layers: 'fusion did not converge'); an elementwise node reading a
    matmul's product is no longer copied into other kernels, so the first plan already lowers."""
    g = run_pipeline(_optimized(zm.tanh_mlp, 32).graph, GENERIC_PIPELINE)
    assert _rounds(g, lambda p: lower_plan(p)) == [0]


def test_rejections_are_taken_all_at_once():
    """An RNN's gradient needs a second round (its epilogue adds are stored for the backward pass), not one
    round per step."""
    g = run_pipeline(_optimized(zm.rnn, 40).graph, GENERIC_PIPELINE)
    assert len(_rounds(g, lambda p: lower_plan(p))) <= 3


def test_fusion_falls_back_to_one_kernel_per_node():
    """A lowering that keeps rejecting new nodes still ends with a plan: one kernel per node."""
    fn, args = zm.elementwise_chain(20)
    g = run_pipeline(cc.trace(fn, *args), GENERIC_PIPELINE)
    seen = set()

    def stubborn(plan):
        fresh = [n for grp in plan.groups for n in grp.order if n not in seen and len(grp.order) > 1]
        if fresh:
            seen.add(fresh[0])
            raise FusionReject(fresh[0], "test: materialize one more node")
        return lower_plan(plan)
    plan, prog = fuse_graph(g, stubborn, max_rounds=3)
    assert all(len(grp.order) == 1 for grp in plan.groups)
    assert len(prog.kernels) == len(g.nodes)


def test_fusion_that_cannot_lower_at_all_is_a_backend_error():
    fn, args = zm.elementwise_chain(6)
    g = run_pipeline(cc.trace(fn, *args), GENERIC_PIPELINE)

    def never(plan):
        raise FusionReject(plan.groups[0].root, "test: never")
    with pytest.raises(BackendError, match="one kernel per node"):
        fuse_graph(g, never, max_rounds=2)


def test_long_chain_is_cut_into_bounded_kernels():
    low = _optimized(zm.elementwise_chain, 700)
    sizes = [len(k.nodes) for k in low.kernels.kernels]
    assert len(sizes) >= 700 // fuse_mod.MAX_GROUP_NODES
    assert max(sizes) <= fuse_mod.MAX_GROUP_NODES


def test_equal_layers_share_one_llvm_function():
    """The kernels of 24 equal layers compile to the functions of one layer (plus the loss and the first/last)."""
    low = _optimized(zm.tanh_mlp, 24)
    ir = low.llvm_ir()
    n_kernels = len(low.kernels.kernels)
    n_defined = ir.count("define internal void")
    assert n_kernels > 24 * 2
    assert n_defined < n_kernels // 4, (n_defined, n_kernels)


def test_shared_kernels_run_on_their_own_buffers():
    """Every layer's kernels share code but read and write their own buffers: gradients of a 12-layer MLP
    match the float64 reference layer by layer."""
    fn, args = zm.tanh_mlp(12)
    got = cc.compile(fn)(*args)
    want = fn(*zm.as_f64(args))
    for g, w in zip(got[1][0], want[1][0]):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4 * np.abs(w).max())


def test_big_programs_call_kernels_from_parts():
    from compiler.codegen import llvm
    low = _optimized(zm.matmul_chain, 3 * llvm.ENTRY_PART)
    ir = low.llvm_ir()
    assert ir.count(".part") >= 3


def test_memory_plan_reuses_slots_of_dead_temporaries():
    """Slot count of a 60-step RNN gradient: the activations live until the backward pass needs them, the
    backward temporaries reuse freed slots (far fewer slots than temporaries)."""
    prog = _optimized(zm.rnn, 60).kernels
    temps = [b for b in prog.buffers if b.role in ("temp", "scratch")]
    slots = {b.slot for b in temps}
    assert len(slots) < len(temps)
    # no two temporaries alive in the same kernel share a slot
    first, last = {}, {}
    for i, k in enumerate(prog.kernels):
        for b in k.buffers:
            if b.role in ("temp", "scratch"):
                first.setdefault(b, i)
                last[b] = i
    by_slot = {}
    for b in first:
        by_slot.setdefault(b.slot, []).append((first[b], last[b]))
    for spans in by_slot.values():
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert a1 < b0
