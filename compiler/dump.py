"""Every stage of a compile as text: cc.dump(fn, *specs, stage=...), what `vive dump` prints and VIVE_DUMP_DIR writes.

    >>> print(cc.dump(loss, cc.Spec("f32[N,784]"), cc.Spec("i64[N]"), stage="optimized"))

Stages, in pipeline order: traced, grad (value_and_grad of the function), one per pass (as `all` shows them),
optimized, kernels, llvm, asm (CPU) or ptx (CUDA). Graph stages, the passes in `all` included, come from the
backend's `.lower()` when it exists; without a backend the target-independent passes stand in for them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from . import debug
from .compile import compile as _compile
from .errors import ViveError, BackendError
from .ir.graph import Graph
from .ir.printer import print_graph
from .transforms import value_and_grad

STAGES = ("traced", "grad", "optimized", "kernels", "llvm", "asm", "ptx", "all")
EXT = {"graph": "txt", "kernels": "txt", "llvm": "ll", "llvm_optimized": "ll", "asm": "s", "ptx": "ptx",
       "text": "txt"}


class DumpError(ViveError):
    """A stage cannot be produced (e.g. its backend is not available)."""


@dataclass
class Stage:
    """One printable stage: its name, kind (graph, kernels, llvm, asm, ptx), text, and for graphs the Graph."""
    name: str
    kind: str
    text: str
    graph: Graph | None = field(default=None, repr=False)
    seconds: float | None = None
    nodes: int | None = None

    @property
    def ext(self):
        return EXT.get(self.kind, "txt")

    def header(self) -> str:
        bits = []
        if self.seconds is not None:
            bits.append(f"{self.seconds * 1e3:.3f} ms")
        if self.nodes is not None:
            bits.append(f"{self.nodes} nodes")
        what = "IR after" if self.kind == "graph" and self.name not in ("traced", "grad", "optimized") else "stage"
        return f"{what} {self.name}" + (f" ({', '.join(bits)})" if bits else "")


# ---- targets: what to trace and compile ----

def _argnums(grad):
    if grad is True:
        return 0
    if isinstance(grad, (list, tuple)):
        return tuple(int(a) for a in grad) if len(grad) != 1 else int(grad[0])
    return int(grad)


def _to_specs(args):
    from .ir.types import Spec
    from . import pytree
    leaves, tree = pytree.flatten(args)
    leaves = [Spec(x) if isinstance(x, str) else x for x in leaves]
    return pytree.unflatten(tree, leaves)


def _value_and_grad(fn, argnums):
    f = value_and_grad(fn, argnums=argnums)
    try:
        f.__name__ = f"value_and_grad_{getattr(fn, '__name__', 'f')}"
    except (AttributeError, TypeError):
        pass
    return f


def lower(fn, args, backend="cpu", what="this stage"):
    """cc.compile(fn, backend=...).lower(*args), or a DumpError naming a backend cc.compile does not have."""
    try:
        return _compile(fn, backend=backend).lower(*args)
    except TypeError as e:
        if "backend" in str(e):
            raise DumpError(f"{what}: cc.compile has no backend={backend!r}") from e
        raise


def _call(obj, name):
    a = getattr(obj, name, None)
    if a is None:
        return None
    return a() if callable(a) else a


# ---- collecting stages ----

def graph_text(g, locs=True) -> str:
    return print_graph(g, locs=locs) if type(g) is Graph else str(g)


def _graph_stage(name, g, locs, seconds=None):
    return Stage(name, "graph", graph_text(g, locs), g, seconds, len(getattr(g, "nodes", ())))


def kernels_text(kernels) -> str:
    if kernels is None:
        return ""
    if isinstance(kernels, str):
        return kernels
    if isinstance(kernels, (list, tuple)):
        return "\n\n".join(str(k) for k in kernels)
    return str(kernels)


def collect(fn, args, *, grad=False, backend="cpu", want=STAGES, locs=True, keep=None):
    """The stages of compiling fn on args, in pipeline order, limited to those `want` names (all: every one).
    keep: a dict that gets the backend's lowered object as keep["lowered"] (the HTML page lists its kernels)."""
    args = _to_specs(tuple(args))
    want = set(want)
    every = "all" in want
    out = []
    from .trace import trace
    if every or "traced" in want:
        out.append(_graph_stage("traced", trace(fn, *args), locs))
    target = fn
    if grad is not False or "grad" in want:
        argnums = _argnums(0 if grad is False else grad)
        target = _value_and_grad(fn, argnums)
        if every or "grad" in want:
            out.append(_graph_stage("grad", trace(target, *args), locs))
    need_backend = every or want & {"optimized", "kernels", "llvm", "asm", "ptx"}
    if not need_backend:
        return out
    if "ptx" in want and backend == "cpu" and not every:
        backend = "cuda"
    what = "stage " + ", ".join(sorted(w for w in want if w not in ("traced", "grad")))
    try:
        lowered = lower(target, args, backend, what)
    except DumpError:
        if want & {"kernels", "llvm", "asm", "ptx"}:
            raise
        return out + _generic_stages(target, args, every, locs)
    if keep is not None:
        keep["lowered"] = lowered
    opt = getattr(lowered, "optimized", None)        # (runs the passes if a cache hit skipped them)
    if every:
        log = getattr(lowered, "pass_log", None) or ()
        for rec in log:
            g = getattr(rec, "graph", None)
            if g is not None:
                out.append(_graph_stage(rec.name, g, locs, getattr(rec, "seconds", None)))
    if (every or "optimized" in want) and opt is not None:
        if not (every and any(s.graph is opt for s in out)):
            out.append(_graph_stage("optimized", opt, locs))
    out.extend(backend_stages(lowered, backend, want))
    return out


def backend_stages(lowered, backend, want=("all",)):
    """kernels / llvm / asm / ptx stages of a lowered object, as far as it provides them."""
    want = set(want)
    every = "all" in want
    out = []
    if every or "kernels" in want:
        k = getattr(lowered, "kernels", None)
        if k is None and "kernels" in want:
            raise DumpError("stage 'kernels': the backend's lowered object has no .kernels")
        if k is not None:
            out.append(Stage("kernels", "kernels", kernels_text(k)))
    for name in ("llvm", "llvm_optimized", "asm", "ptx"):
        if not (every or name in want):
            continue
        if every and name == ("asm" if backend == "cuda" else "ptx"):
            continue           # `all` shows the final code of the one backend compiled for
        attr = {"llvm": "llvm_ir", "llvm_optimized": "optimized_llvm_ir", "asm": "asm", "ptx": "ptx"}[name]
        try:
            text = _call(lowered, attr)
        except BackendError:
            if name in want:
                raise
            continue
        if text is None:
            if name in want:
                raise DumpError(f"stage {name!r}: the {backend} backend does not provide .{attr}() yet")
            continue
        out.append(Stage(name, name, text))
    return out


def _generic_stages(fn, args, every, locs):
    """Without a backend: the target-independent pipeline stands in for `optimized` and `all`."""
    from .trace import trace
    from .passes import pipeline_for, run_pipeline, PassLog
    log = PassLog()
    traced = trace(fn, *args)
    g = run_pipeline(traced, pipeline_for(traced), log=log)
    out = [_graph_stage(r.name, r.graph, locs, r.seconds) for r in log] if every else []
    if not every:
        out.append(_graph_stage("optimized", g, locs))
    return out


# ---- rendering ----

def render(stages, *, diff=False, format="text", banners=None) -> str:
    """Text of the stages: one stage plainly, several with a banner each; diff: unified diffs between them."""
    if format not in ("text", "dot"):
        raise DumpError(f"unknown format {format!r} (text, dot or html)")
    if banners is None:
        banners = len(stages) > 1
    if diff:
        return _render_diff(stages)
    parts = []
    for s in stages:
        body = s.graph.to_dot() if format == "dot" and s.graph is not None and type(s.graph) is Graph else s.text
        if banners and format == "text":
            parts.append(debug.banner(s.header()))
        elif banners:
            parts.append(f"// {s.header()}")
        parts.append(body.rstrip("\n"))
    return "\n".join(parts) + "\n"


def _render_diff(stages):
    if len(stages) < 2:
        raise DumpError("--diff needs two stages or more (e.g. --stage all, or --stage optimized after traced)")
    parts = []
    for a, b in zip(stages, stages[1:]):
        parts.append(debug.banner(f"{a.name} -> {b.name}" + (f" ({b.seconds * 1e3:.3f} ms)" if b.seconds else "")))
        lines = list(difflib.unified_diff(a.text.splitlines(), b.text.splitlines(), a.name, b.name, lineterm=""))
        parts.append("\n".join(lines) if lines else "(no change)")
    return "\n".join(parts) + "\n"


def dump(fn, *args_or_specs, stage="optimized", grad=False, backend="cpu", diff=False, format="text",
         locs=True) -> str:
    """The text `vive dump` prints for fn at `stage` (traced, grad, optimized, kernels, llvm, asm, ptx, all).

    >>> print(cc.dump(lambda x: np.tanh(x) * 2, "f32[N,4]", stage="all"))

    Arguments are arrays, cc.Spec's, or spec strings ("f32[N,784]"), in pytrees as the function takes them.
    grad=True (or argnums) dumps value_and_grad of fn; diff=True gives unified diffs between stages
    (with a single stage: the diff from the stage before it); format="dot" gives Graphviz for graph stages;
    format="html" gives one self-contained page of every stage (compiler/dump_html.py; `stage` is ignored).
    """
    if stage not in STAGES:
        raise DumpError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    if format == "html":
        return html_page(fn, *args_or_specs, grad=grad, backend=backend)
    want = {stage}
    if diff and stage != "all":
        want.add(_previous(stage, grad))
    stages = collect(fn, args_or_specs, grad=grad, backend=backend, want=want, locs=locs)
    if stage != "all" and not diff:
        stages = [s for s in stages if s.name == stage]
    return render(stages, diff=diff, format=format, banners=stage == "all")


def html_page(fn, *args_or_specs, grad=False, backend="cpu") -> str:
    """The `vive dump --format html` page: every stage side by side, pass diffs, graphs, kernels, source."""
    from .dump_html import page
    keep = {}
    stages = collect(fn, args_or_specs, grad=grad, backend=backend, want={"all"}, locs=True, keep=keep)
    kernels = kernel_list(getattr(keep.get("lowered"), "kernels", None)) if keep.get("lowered") is not None else []
    name = getattr(fn, "__name__", "f") + (" (value_and_grad)" if grad is not False else "")
    return page(stages, kernels, title=name, backend=backend,
                args_text=", ".join(str(a) for a in args_or_specs))


def _previous(stage, grad):
    order = ["traced", "grad", "optimized", "kernels", "llvm", "asm"]
    if stage == "ptx":
        return "kernels"
    i = order.index(stage)
    if stage == "optimized":
        return "grad" if grad is not False else "traced"
    return order[max(0, i - 1)] if i else "traced"


# ---- the stages of one compile (what VIVE_DUMP_DIR writes) ----

def lowered_stages(lowered, backend="cpu", locs=True):
    """Every stage of a finished compile, in order: traced, each pass, optimized (if not the last pass), code."""
    out = []
    g = getattr(lowered, "graph", None)
    if g is not None:
        out.append(_graph_stage("traced", g, locs))
    opt = getattr(lowered, "optimized", None)        # (runs the passes if a cache hit skipped them)
    log = getattr(lowered, "pass_log", None) or ()
    for rec in log:
        rg = getattr(rec, "graph", None)
        if rg is not None:
            out.append(_graph_stage(rec.name, rg, locs, getattr(rec, "seconds", None)))
    if opt is not None and not any(s.graph is opt for s in out):
        out.append(_graph_stage("optimized", opt, locs))
    try:
        out.extend(backend_stages(lowered, backend))
    except ViveError:
        pass
    return out


def kernel_list(kernels):
    """The Kernel objects of `.kernels` (a Program with .kernels, or a list)."""
    if kernels is None or isinstance(kernels, str):
        return []
    ks = getattr(kernels, "kernels", kernels)
    try:
        return list(ks)
    except TypeError:
        return []


def summary_text(lowered, stages, name, backend, digest) -> str:
    """summary.txt: function, backend, pass times, node counts, kernel count and bytes moved per kernel."""
    from .ir.types import dim_str
    lines = [f"function: {name}", f"backend:  {backend}", f"hash:     {digest}"]
    g = getattr(lowered, "graph", None)
    if g is not None:
        lines.append("inputs:   " + ", ".join(str(t) for t in g.in_types))
        lines.append("outputs:  " + ", ".join(str(t) for t in g.out_types))
    graphs = [s for s in stages if s.kind == "graph"]
    if graphs:
        lines.append(f"nodes:    {graphs[0].nodes} traced -> {graphs[-1].nodes} after {graphs[-1].name}")
    timings = getattr(lowered, "timings", None)
    if isinstance(timings, dict):
        ts = [f"{k} {v * 1e3:.2f} ms" for k, v in timings.items() if isinstance(v, float)]
        if ts:
            lines.append("times:    " + ", ".join(ts))
    if getattr(lowered, "cache_hit", False):
        lines.append("cache:    program loaded from the disk cache (the passes were rerun for this dump)")
    log = getattr(lowered, "pass_log", None)
    if log is not None and len(log):
        lines.append("")
        lines.append("passes:")
        summary = log.summary() if hasattr(log, "summary") else "\n".join(
            f"{r.name} {r.seconds * 1e3:.3f} ms" for r in log)
        lines.extend("  " + ln for ln in summary.splitlines())
    ks = kernel_list(getattr(lowered, "kernels", None))
    if ks:
        lines.append("")
        lines.append(f"kernels: {len(ks)}")
        w = max(len(str(getattr(k, 'name', '?'))) for k in ks)
        total = 0
        for k in ks:
            bm = getattr(k, "bytes_moved", None)
            kind = getattr(k, "kind", "")
            lines.append(f"  {str(getattr(k, 'name', '?')):<{w}}  {kind:<8}  bytes moved "
                         f"{'?' if bm is None else dim_str(bm)}")
            if bm is not None and total is not None:
                try:
                    total = total + bm
                except TypeError:
                    total = None
        if total is not None:
            lines.append(f"  {'total':<{w}}  {'':<8}  bytes moved {dim_str(total)}")
    return "\n".join(lines) + "\n"


debug.install(stages=lowered_stages, summary=summary_text)     # VIVE_DUMP_DIR (debug.py sits below)
