"""Shared test helpers: IR comparison, same-result checks against the reference interpreter, random inputs."""
from __future__ import annotations

import textwrap
import threading

import numpy as np

from compiler.ir import parse, print_graph
from compiler.trace import interpret


def normalize_ir(text: str) -> str:
    return "\n".join(" ".join(l.split()) for l in textwrap.dedent(text).strip().splitlines() if l.strip())


def assert_ir(graph_or_text, expected: str):
    """Compare printed IR with expected text, whitespace-insensitive; on failure show the actual IR to paste."""
    actual = graph_or_text if isinstance(graph_or_text, str) else print_graph(graph_or_text)
    if normalize_ir(actual) != normalize_ir(expected):
        raise AssertionError("IR differs. Actual IR:\n" + actual + "\n\nExpected:\n" + textwrap.dedent(expected))


def random_inputs(graph, seed=0, sizes=None):
    """Seeded random arrays fitting the graph's input types (symbolic dims get `sizes` or 3)."""
    rng = np.random.default_rng(seed)
    sizes = sizes or {}
    out = []
    for v in graph.inputs:
        shape = tuple(d if isinstance(d, int) else int(d.subs({s: sizes.get(str(s), 3) for s in d.free_symbols}))
                      for d in v.type.shape)
        dt = v.type.dtype
        if dt.is_float:
            out.append(rng.standard_normal(shape).astype(dt.np))
        elif dt.is_int:
            out.append(rng.integers(-5, 6, shape).astype(dt.np))
        else:
            out.append(rng.random(shape) < 0.5)
    return out


def assert_same_result(g1, g2, seed=0, rtol=1e-6, atol=1e-6):
    """Interpret both graphs on the same seeded inputs and compare outputs."""
    args = random_inputs(g1, seed)
    r1, r2 = interpret(g1, *args), interpret(g2, *args)
    assert len(r1) == len(r2)
    for a, b in zip(r1, r2):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def assert_roundtrip(graph):
    """print(parse(text)) == text for the graph's canonical text."""
    text = print_graph(graph)
    assert print_graph(parse(text)) == text, "round trip changed the text:\n" + text
    return text


def assert_contains_in_order(text: str, needles):
    pos = 0
    for n in needles:
        i = text.find(n, pos)
        if i < 0:
            raise AssertionError(f"{n!r} not found (in order) in:\n{text[:3000]}")
        pos = i + len(n)


def run_in_threads(work, n=4):
    """Run work(k) for k in range(n), each on a thread of its own, all at once; re-raise the first exception any
    thread raised (a thread's own exception would otherwise be lost)."""
    errors = []

    def wrapped(k):
        try:
            work(k)
        except Exception as e:          # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
