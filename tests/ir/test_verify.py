"""The verifier catches hand-made broken graphs: use before def, wrong types, duplicate definitions, undefined
outputs; its message names the problem and shows the bad node with the lines around it."""
import pytest

import compiler as cc
from compiler.ir import Graph, GraphBuilder, Node, Value, parse, verify
from compiler.primitives import REGISTRY

P = REGISTRY
T3 = cc.TensorType("f32", (3,))


def _base():
    b = GraphBuilder("f")
    x = b.input(T3, "x")
    e = b.add(P["exp"], [x])
    n = b.add(P["neg"], [e])
    return b, x, e, n


def test_well_formed_graph_verifies():
    b, x, e, n = _base()
    g = b.build([n])
    assert verify(g) is g


def _fails(g, *needles):
    with pytest.raises(cc.VerifyError) as e:
        verify(g, context="pass my_pass")
    for s in needles:
        assert s in str(e.value), str(e.value)
    return str(e.value)


def test_use_before_def():
    b, x, e, n = _base()
    g = Graph("f", [x], [n.node, e.node], [n])        # neg reads exp's result before exp runs
    msg = _fails(g, "verifier in pass my_pass", "used before it is defined")
    assert ">> %0: f32[3] = neg %?" in msg or ">> %0: f32[3] = neg %1" in msg


def test_operand_from_another_graph():
    b, x, e, n = _base()
    stranger = Value(T3, None, "y")
    bad = Node(P["add"], [n, stranger], {}, T3)
    _fails(Graph("f", [x], [e.node, n.node, bad], [bad.out]), "used before it is defined (or not in this graph)")


def test_wrong_result_type():
    b, x, e, n = _base()
    bad = Node(P["exp"], [x], {}, cc.TensorType("f64", (3,)))
    msg = _fails(Graph("f", [x], [bad], [bad.out]), "result type f64[3] differs from the shape rule's f32[3]")
    assert ">> %0: f64[3] = exp %x" in msg


def test_wrong_shape_and_rejected_node():
    x = Value(T3, None, "x")
    bad = Node(P["reshape"], [x], {"shape": (2, 2)}, cc.TensorType("f32", (2, 2)))
    _fails(Graph("f", [x], [bad], [bad.out]), "shape rule rejects the node", "reshape: cannot reshape f32[3]")
    i = Value(cc.TensorType("i32", (3,)), None, "i")
    bad = Node(P["add"], [x, i], {}, T3)
    _fails(Graph("f", [x, i], [bad], [bad.out]), "shape rule rejects the node", "dtypes differ")


def test_duplicate_definition():
    b, x, e, n = _base()
    _fails(Graph("f", [x], [e.node, n.node, e.node], [n]), "node appears twice")
    twin = Node(P["neg"], [e], {}, T3)
    twin.out = n                                         # two nodes define the same value
    _fails(Graph("f", [x], [e.node, n.node, twin], [n]), "value defined twice (not SSA)")
    _fails(Graph("f", [x, x], [], [x]), "an input appears twice")


def test_undefined_output():
    b, x, e, n = _base()
    _fails(Graph("f", [x], [e.node], [n]), "an output is not defined in the graph")
    _fails(Graph("f", [x], [e.node, n.node], [Value(T3, None, "z")]), "an output is not defined")


def test_parsed_graph_with_wrong_type_fails_verification():
    g = parse("""
        graph f(%x: f32[N,3], %w: f32[4,2]) {
          %0: f32[N,2] = dot_general %x, %w {batch=((), ()), contract=((1,), (0,))}
          return %0
        }""")
    _fails(g, "dot_general: dimensions differ")
    g = parse("""
        graph f(%x: f32[N,3]) {
          %0: f32[M,3] = exp %x
          return %0
        }""")
    _fails(g, "result type f32[M,3] differs from the shape rule's f32[N,3]")
