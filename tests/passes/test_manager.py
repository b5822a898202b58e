"""The pass manager: naming, identity on no change, verify after each pass, PassError text, logging, PassLog."""
import numpy as np
import pytest

import compiler as cc
from compiler.ir import parse
from compiler.ir.graph import Node
from compiler.passes import graph_pass, run_pipeline, PassLog, PassError
from compiler.primitives import REGISTRY

SRC = """
graph f(%x: f32[3]) {
  %0: f32[3] = exp %x
  %1: f32[3] = neg %0
  return %1
}"""


@graph_pass
def keep(g):
    return g


@graph_pass
def drop_last_node_keep_output(g):
    # a broken pass: the output refers to a node no longer in the graph
    return g.replace(nodes=g.nodes[:-1])


@graph_pass
def wrong_type(g):
    n = g.nodes[0]
    bad = Node(n.prim, n.inputs, n.params, cc.TensorType("f64", (3,)))
    nodes = [bad] + g.nodes[1:]
    return g.replace(nodes=nodes)


@graph_pass
def explode(g):
    raise RuntimeError("boom")


@graph_pass(name="custom_name")
def _renamed(g):
    return g


def test_names():
    assert keep.name == "keep" and keep.__name__ == "keep"
    assert _renamed.name == "custom_name"
    assert "keep" in repr(keep)


def test_identity_and_log():
    g = parse(SRC)
    log = PassLog()
    seen = []
    out = run_pipeline(g, [keep, keep], observer=lambda name, gr, s: seen.append((name, gr, s)), log=log)
    assert out is g
    assert [s[0] for s in seen] == ["keep", "keep"]
    assert all(s[1] is g and s[2] >= 0 for s in seen)
    assert log.names == ["keep", "keep"] and not any(r.changed for r in log)
    assert log.input is g and [n for n, _ in log.stages()] == ["input", "keep", "keep"]
    assert log[0].nodes_before == log[0].nodes_after == 2
    text = log.summary()
    assert "keep" in text and "total" in text


def test_exception_names_pass_and_predecessors():
    g = parse(SRC)
    with pytest.raises(PassError) as ei:
        run_pipeline(g, [keep, _renamed, explode, keep])
    msg = str(ei.value)
    assert msg.startswith("pass explode failed (after keep, custom_name): RuntimeError: boom")
    assert ei.value.pass_name == "explode" and ei.value.after == ("keep", "custom_name")
    assert isinstance(ei.value, cc.ViveError)
    assert isinstance(ei.value.__cause__, RuntimeError)


def test_first_pass_failure_says_first():
    with pytest.raises(PassError, match=r"pass explode failed \(first pass\)"):
        run_pipeline(parse(SRC), [explode])


def test_verify_catches_broken_graph():
    g = parse(SRC)
    with pytest.raises(PassError, match=r"pass drop_last_node_keep_output failed \(after keep\).*output"):
        run_pipeline(g, [keep, drop_last_node_keep_output], verify=True)
    with pytest.raises(PassError, match="wrong_type failed.*differs from the shape rule"):
        run_pipeline(g, [wrong_type], verify=True)
    # verify=False lets it through
    run_pipeline(g, [wrong_type], verify=False)


def test_verify_default_follows_debug_env(monkeypatch):
    g = parse(SRC)
    monkeypatch.setenv("VIVE_DEBUG", "0")
    run_pipeline(g, [wrong_type])                          # not verified
    monkeypatch.setenv("VIVE_DEBUG", "1")
    with pytest.raises(PassError):
        run_pipeline(g, [wrong_type])


def test_non_graph_result_is_an_error():
    with pytest.raises(PassError, match="returned NoneType"):
        run_pipeline(parse(SRC), [graph_pass(lambda g: None, name="nothing")])


def test_invalid_input_graph_is_reported_before_first_pass():
    g = wrong_type(parse(SRC))
    with pytest.raises(PassError, match="invalid \\(before keep\\)"):
        run_pipeline(g, [keep], verify=True)


def test_debug_output(monkeypatch, capsys):
    g = parse(SRC)
    monkeypatch.setenv("VIVE_DEBUG", "1")
    run_pipeline(g, [keep])
    err = capsys.readouterr().err
    assert "[vive] pass keep" in err and "2 -> 2" in err and "ms" in err
    assert "graph f" not in err
    monkeypatch.setenv("VIVE_DEBUG", "2")
    run_pipeline(g, [keep])
    err = capsys.readouterr().err
    assert "IR after keep" in err and "= exp %x" in err
    monkeypatch.setenv("VIVE_DEBUG", "0")
    run_pipeline(g, [keep])
    assert capsys.readouterr().err == ""


def test_partial_pass_name():
    import functools

    def scale_nothing(g, factor):
        return g

    p = functools.partial(scale_nothing, factor=2)
    log = PassLog()
    run_pipeline(parse(SRC), [p], log=log)
    assert log.names == ["scale_nothing"]


def test_a_pass_may_raise_its_own_errors_to_the_user():
    # a rewrite's failure is a compiler bug (PassError); fusion's "no lowering for this op" is the user's to see
    def fail(g):
        raise cc.BackendError("cpu: no lowering for primitive 'x'")
    with pytest.raises(PassError, match="pass fail failed"):
        run_pipeline(parse(SRC), [graph_pass(fail)])
    with pytest.raises(cc.BackendError, match="no lowering") as e:
        run_pipeline(parse(SRC), [graph_pass(fail, raises=(cc.BackendError,))])
    assert not isinstance(e.value, PassError)


def test_fusion_and_memory_planning_are_passes_of_the_log():
    low = cc.compile(lambda x: np.tanh(x * 2.0).sum()).lower(np.ones((4, 3), np.float32))
    program = low.kernels                   # runs the passes (a disk-cache hit skipped them)
    log = low.pass_log
    fuse, memory = log.records[-2:]
    assert (fuse.name, memory.name) == ("fuse", "plan_memory")
    assert fuse.changed and not memory.changed and memory.graph is fuse.graph
    assert fuse.graph.plan is low.plan and fuse.graph.program is program
    assert "kernel k0_row" in str(fuse.graph)
    assert all(b.slot is not None for b in program.buffers)       # what plan_memory assigns


def test_region_bodies_are_fused_and_planned_by_the_pass_manager():
    # a scan inside a cond: each region's sub-program keeps the log of its own fuse and plan_memory passes
    def f(x):
        def step(c, r):
            return c * 0.5 + np.tanh(r), c.sum()
        return cc.cond(x.sum() > 0, lambda v: cc.scan(step, v[0], v)[0], lambda v: -v[0], x)

    x = np.random.default_rng(0).standard_normal((5, 3))
    low = cc.compile(f).lower(x)
    from compiler.lower.regions import RegionKernel, all_kernels
    subs = [p for k in all_kernels(low.kernels) if isinstance(k, RegionKernel) for p in k.programs.values()]
    assert len(subs) == 3                                             # two branches, one scan body
    for prog in subs:
        fuse, memory = prog.pass_log.records
        assert (fuse.name, memory.name) == ("fuse", "plan_memory")
        assert fuse.graph.program is prog and memory.graph is fuse.graph
        assert all(b.slot is not None for b in prog.buffers)
    assert low.pass_log.names[-2:] == ["fuse", "plan_memory"]         # the outer log holds the outer passes only
    np.testing.assert_allclose(low(x), cc.interpret(cc.trace(f, x), x)[0], rtol=1e-12)
