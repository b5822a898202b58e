"""The pass manager: named pure Graph -> Graph passes, run in order with verify, timing, logging and a PassLog.

    @graph_pass
    def eliminate_dead_code(g: Graph) -> Graph: ...     # same object back when nothing changed

    log = PassLog()
    g = run_pipeline(g, [fold_constants, eliminate_dead_code], log=log)
    print(log.summary())                                # per-pass time and node counts
"""
from __future__ import annotations

import functools
import gc
import time
from dataclasses import dataclass, field

from .. import debug
from ..errors import ViveError
from ..ir.graph import Graph, Node
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
    """A named pure Graph -> Graph function. Calling it runs the pass alone (no verify, no logging).

    `raises`: exception types the pass raises to the user as they are, not as a PassError (fusion and lowering
    report an unsupported program with a BackendError naming the user's line; a rewrite's failure is a bug)."""

    def __init__(self, fn, name=None, raises=()):
        self.fn = fn
        self.name = name or fn.__name__
        self.raises = raises
        functools.update_wrapper(self, fn)

    def __call__(self, g: Graph) -> Graph:
        return self.fn(g)

    def __repr__(self):
        return f"<graph_pass {self.name}>"


def graph_pass(fn=None, *, name=None, raises=()):
    """Decorator: make `fn(g) -> g'` a named pass. `@graph_pass` or `@graph_pass(name="...")`."""
    if fn is None:
        return lambda f: GraphPass(f, name, raises)
    return GraphPass(fn, name, raises)


def pass_name(p) -> str:
    """The name of a pass object or a plain function."""
    name = getattr(p, "name", None) or getattr(p, "__name__", None)
    if name is None and isinstance(p, functools.partial):
        return pass_name(p.func)
    return name or type(p).__name__


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
    # NOTE: every Node/Value pair is a reference cycle, so passes feed the cyclic GC; a full collection
    # mid-pipeline (over the whole heap, sympy's caches included) costs more than the passes themselves.
    # Collect after the pipeline instead of during it.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(g, passes, verify, observer, log, level, done)
    finally:
        if gc_was_enabled:
            gc.enable()


def _run(g, passes, verify, observer, log, level, done):
    for p in passes:
        name = pass_name(p)
        before = len(g.nodes)
        t0 = time.perf_counter()
        try:
            out = p(g)
            if not isinstance(out, Graph):
                raise TypeError(f"returned {type(out).__name__}, not a Graph")
        except Exception as e:
            if isinstance(e, getattr(p, "raises", ())):
                raise
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


# ---- rewriting: the driver the generic passes share ----

class Rewriter:
    """Builds the result of a pass that rewrites nodes one at a time, in topological order.

    Walk `g.nodes`; for each node call `rw.inputs(n)` for its operands with earlier replacements applied,
    then either `rw.keep(n, inputs)` or `rw.replace(n, value)` with a value already built (an earlier
    result, a graph input, or `rw.emit(...)`). `finish()` returns `g` itself when nothing changed, else a
    new graph without the nodes that this rewrite left unused (nodes that were dead before stay: DCE's job).
    Nodes are never mutated: an unchanged node is shared, a node with new operands is copied.
    """
    __slots__ = ("g", "nodes", "subst", "changed", "_live_before", "_origin_live")

    def __init__(self, g: Graph):
        self.g = g
        self.nodes = []
        self.subst = {}
        self.changed = False
        self._live_before = None
        self._origin_live = []       # parallel to nodes: the node of g each one came from (None: new)

    def value(self, v):
        return self.subst.get(v, v)

    def inputs(self, n):
        s = self.subst
        return tuple([s.get(v, v) for v in n.inputs]) if s else n.inputs

    def _live(self, n):
        if self._live_before is None:
            self._live_before = self.g.reachable_from()
        return n in self._live_before

    def keep(self, n, inputs=None):
        """Keep node n, with `inputs` (default: its operands after replacements)."""
        if inputs is None:
            inputs = self.inputs(n)
        if all(a is b for a, b in zip(inputs, n.inputs)):
            self.nodes.append(n)
        else:
            m = Node(n.prim, inputs, n.params, n.out.type, n.loc)
            self.nodes.append(m)
            self.subst[n.out] = m.out
            self.changed = True
        self._origin_live.append(n)
        return self.nodes[-1].out

    def emit(self, prim, inputs, params, out_type, loc=None, origin=None):
        """Append a new node (type given, not inferred: a rewrite preserves types exactly); its result Value."""
        m = Node(prim, inputs, params, out_type, loc)
        self.nodes.append(m)
        self._origin_live.append(origin)
        self.changed = True
        return m.out

    def replace(self, n, v):
        """Uses of n's result read `v` from now on (v must have exactly n's type)."""
        self.subst[n.out] = v
        self.changed = True

    def finish(self, **kw) -> Graph:
        if not self.changed:
            return self.g
        outputs = [self.subst.get(v, v) for v in self.g.outputs]
        out = self.g.replace(nodes=self.nodes, outputs=outputs, **kw)
        live = out.reachable_from()
        if len(live) == len(self.nodes):
            return out
        # drop what this rewrite made dead: nodes unused now whose origin was live (or that are new)
        # (a node that was dead before may read one the rewrite left unused: keep what it reads too)
        was_dead = [m.out for m, o in zip(self.nodes, self._origin_live) if o is not None and not self._live(o)]
        if was_dead:
            live = out.reachable_from(list(outputs) + was_dead)
        keep = [m for m in self.nodes if m in live]
        return out if len(keep) == len(self.nodes) else out.replace(nodes=keep)
