"""The pass manager: named pure Graph -> Graph passes, run in order with verify, timing, logging and a PassLog.

    @graph_pass
    def eliminate_dead_code(g: Graph) -> Graph: ...     # same object back when nothing changed

    log = PassLog()
    g = run_pipeline(g, [fold_constants, eliminate_dead_code], log=log)
    print(log.summary())                                # per-pass time and node counts
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from .. import debug
from ..errors import ViveError
from ..ir.graph import Graph
from ..ir.verify import verify as verify_graph


class PassError(ViveError):
    """A pass raised, or produced a graph the verifier rejects: "pass X failed (after a, b): ..." (a compiler bug).

    `.pass_name` is the failing pass, `.after` the passes that ran before it, `.graph` the graph it was given.
    """

    def __init__(self, msg, pass_name=None, after=(), graph=None):
        super().__init__(msg)
        self.pass_name = pass_name
        self.after = tuple(after)
        self.graph = graph


class GraphPass:
    """A named pure Graph -> Graph function. Calling it runs the pass alone (no verify, no logging)."""

    def __init__(self, fn, name=None):
        self.fn = fn
        self.name = name or fn.__name__
        functools.update_wrapper(self, fn)

    def __call__(self, g: Graph) -> Graph:
        return self.fn(g)

    def __repr__(self):
        return f"<graph_pass {self.name}>"


def graph_pass(fn=None, *, name=None):
    """Decorator: make `fn(g) -> g'` a named pass. `@graph_pass` or `@graph_pass(name="...")`."""
    if fn is None:
        return lambda f: GraphPass(f, name)
    return GraphPass(fn, name)


def pass_name(p) -> str:
    """The name of a pass object or a plain function."""
    return getattr(p, "name", None) or getattr(p, "__name__", None) or type(p).__name__


@dataclass
class PassRecord:
    """One pass run: its name, seconds, node counts before/after, whether it changed the graph, the result."""
    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    changed: bool
    graph: Graph = field(repr=False, default=None)


class PassLog:
    """What run_pipeline did, pass by pass; backends keep it as `.pass_log`. Iterates over PassRecords."""

    def __init__(self):
        self.input: Graph | None = None      # the graph the (first) pipeline was given
        self.records: list[PassRecord] = []

    def __iter__(self):
        return iter(self.records)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def append(self, rec: PassRecord):
        self.records.append(rec)

    @property
    def names(self):
        return [r.name for r in self.records]

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def stages(self):
        """[(stage name, graph)] starting with ('input', g): every graph the pipeline went through."""
        out = [("input", self.input)] if self.input is not None else []
        return out + [(r.name, r.graph) for r in self.records]

    def summary(self) -> str:
        """A table: pass, ms, nodes before -> after, changed."""
        w = max([len("pass")] + [len(r.name) for r in self.records])
        lines = [f"{'pass':<{w}}  {'ms':>8}  {'nodes':>13}  changed"]
        for r in self.records:
            lines.append(f"{r.name:<{w}}  {r.seconds * 1e3:8.3f}  {r.nodes_before:>5} -> {r.nodes_after:<5}  "
                         f"{'yes' if r.changed else 'no'}")
        lines.append(f"{'total':<{w}}  {self.total_seconds * 1e3:8.3f}")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<PassLog {len(self.records)} passes, {self.total_seconds * 1e3:.2f} ms>"


def run_pipeline(g: Graph, passes, *, verify=None, observer=None, log: PassLog | None = None) -> Graph:
    """Run `passes` in order on `g` and return the final graph.

    verify: check the graph after each pass (True/False; None: when VIVE_DEBUG >= 1, which tests set).
    observer(pass_name, graph, seconds) is called after each pass; `log` (a PassLog) gets one record per pass.
    VIVE_DEBUG=1 prints each pass with node counts and time to stderr, VIVE_DEBUG=2 also the IR after it.
    A pass that raises, or whose result fails verification, raises PassError naming it and the passes before.
    """
    level = debug.debug_level()
    if verify is None:
        verify = level >= 1
    if log is not None and log.input is None:
        log.input = g
    done = []
    if verify:
        try:
            verify_graph(g, "the pipeline's input")
        except ViveError as e:
            first = pass_name(passes[0]) if passes else "the pipeline"
            raise PassError(f"the graph given to the pipeline is invalid (before {first}): {e}",
                            first, (), g) from e
    for p in passes:
        name = pass_name(p)
        before = len(g.nodes)
        t0 = time.perf_counter()
        try:
            out = p(g)
            if not isinstance(out, Graph):
                raise TypeError(f"returned {type(out).__name__}, not a Graph")
        except Exception as e:
            raise _wrap(name, done, g, e) from e
        dt = time.perf_counter() - t0
        if verify:
            try:
                verify_graph(out, f"pass {name}")
            except ViveError as e:
                raise _wrap(name, done, g, e) from e
        done.append(name)
        rec = PassRecord(name, dt, before, len(out.nodes), out is not g, out)
        if log is not None:
            log.append(rec)
        if level >= 1:
            debug.log(f"pass {name:<36} {before:>6} -> {len(out.nodes):<6} nodes {dt * 1e3:9.3f} ms"
                      + ("" if rec.changed else "  (unchanged)"))
        if level >= 2:
            from ..ir.printer import print_graph
            debug.log_block(f"IR after {name} ({dt * 1e3:.3f} ms, {len(out.nodes)} nodes)",
                            print_graph(out, locs=True), 2)
        if observer is not None:
            observer(name, out, dt)
        g = out
    return g


def _wrap(name, done, g, e):
    after = f" (after {', '.join(done)})" if done else " (first pass)"
    msg = f"pass {name} failed{after}: {type(e).__name__}: {e}" if not isinstance(e, ViveError) \
        else f"pass {name} failed{after}: {e}"
    return PassError(msg, name, done, g)
