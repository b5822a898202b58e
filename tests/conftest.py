import os
import sys

_TESTS = os.path.dirname(os.path.abspath(__file__))
# tests/ holds helpers.py; the repo root goes before it so `runtime` is the package, not tests/runtime/
sys.path.insert(0, _TESTS)
sys.path.insert(0, os.path.dirname(_TESTS))
os.environ.setdefault("VIVE_DEBUG", "1")   # verify the graph after every pass in tests


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _every_traced_graph_round_trips(request):
    """Every graph any test traces (transforms' inner traces too) verifies and prints back to the same text."""
    from trace_checks import trace_mod, check_graph
    if "check_every_trace" in request.fixturenames:      # modules importing trace_checks already check
        yield
        return
    graphs, real = [], trace_mod.trace_flat

    def spy(*a, **k):
        g, captured = real(*a, **k)
        graphs.append(g)
        return g, captured

    trace_mod.trace_flat = spy
    try:
        yield
    finally:
        trace_mod.trace_flat = real
    for g in graphs:
        check_graph(g)
