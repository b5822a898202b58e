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

    import sys as _sys
    mods = [trace_mod] + [_sys.modules[m] for m in ("compiler.transforms.api", "compiler.transforms.vmap",
                                                    "compiler.compile")
                          if m in _sys.modules]
    for m in mods:
        m.trace_flat = spy
    try:
        yield
    finally:
        for m in mods:
            m.trace_flat = real
    from compiler.primitives import REGISTRY
    for g in graphs:
        # (tests that define a throwaway primitive unregister it before the check runs)
        if all(REGISTRY.get(n.prim.name) is n.prim for n in g.nodes):
            check_graph(g)
