"""`vive dump --format html`: every stage of a compile as one self-contained page (inline CSS and JS, no network).

Two panes show any two stages side by side; `# file:line` columns link to the user's source, embedded at the end;
each pass has its unified diff; the traced and optimized graphs are drawn as inline SVG (a layered layout made
here: a node's layer is one below its deepest operand); the kernels are listed with kind, bytes moved and the
source lines of the nodes fused into them.
"""
from __future__ import annotations

import difflib
import html
import os
import re

# graphs with more nodes than this are not drawn (the text stages still show them)
MAX_DRAWN_NODES = 600
_LOC = re.compile(r"#\s+(?P<file>[^#\n]+?):(?P<line>\d+)\s*$")
_VALUE = re.compile(r"%[A-Za-z0-9_.]+")


def page(stages, kernels, *, title, backend="cpu", args_text=""):
    """The HTML text. stages: dump.Stage list in pipeline order; kernels: Kernel objects (or [])."""
    sources = _Sources()
    for s in stages:
        if s.graph is not None:
            for n in getattr(s.graph, "nodes", ()):
                sources.note(n.loc)
    for k in kernels:
        for n in getattr(k, "nodes", ()):
            sources.note(n.loc)
    names = [s.name for s in stages]
    graphs = [s for s in stages if s.kind == "graph"]
    left = names.index("traced") if "traced" in names else 0
    right = names.index(graphs[-1].name) if graphs else min(1, len(stages) - 1)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>vive: {_e(title)}</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>vive dump: <code>{_e(title)}</code></h1>",
           f'<p class="meta">backend <b>{_e(backend)}</b>; arguments <code>{_e(args_text)}</code>; '
           f"{len(stages)} stages; {len(kernels)} kernels</p>",
           '<nav><a href="#stages">stages</a> <a href="#diffs">pass diffs</a> <a href="#graphs">graphs</a> '
           '<a href="#kernels">kernels</a> <a href="#source">source</a></nav>',
           '<h2 id="stages">Stages side by side</h2><div class="panes">']
    for side, pick in (("left", left), ("right", right)):
        opts = "".join(f'<option value="{i}"{" selected" if i == pick else ""}>{i:02d} {_e(s.header())}</option>'
                       for i, s in enumerate(stages))
        out.append(f'<div class="pane" id="pane-{side}"><select data-pane="{side}">{opts}</select>')
        for i, s in enumerate(stages):
            hidden = "" if i == pick else " hidden"
            out.append(f'<pre class="stage{hidden}" data-stage="{i}" data-name="{_e(s.name)}">'
                       f"{_stage_html(s, sources)}</pre>")
        out.append("</div>")
    out.append("</div>")
    out.append('<h2 id="diffs">What each pass changed</h2>')
    for a, b in zip(graphs, graphs[1:]):
        out.append(_diff_html(a, b))
    out.append('<h2 id="graphs">Graphs</h2>')
    for s in [g for g in graphs if g.name in ("traced", "grad")] + graphs[-1:]:
        out.append(f'<details open><summary>{_e(s.name)} ({len(s.graph.nodes)} nodes)</summary>'
                   f"{_svg(s.graph, sources)}</details>")
    out.append('<h2 id="kernels">Kernels</h2>')
    out.append(_kernels_html(kernels, sources))
    out.append('<h2 id="source">Source</h2>')
    out.append(sources.html())
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"


def _e(s):
    return html.escape(str(s), quote=True)


class _Sources:
    """The user's files that nodes point into: anchors src-<file index>-<line>."""

    def __init__(self):
        self.files = {}             # path -> index
        self.lines = {}             # index -> set of referenced lines

    def note(self, loc):
        if loc is None:
            return None
        i = self.files.setdefault(loc.file, len(self.files))
        self.lines.setdefault(i, set()).add(int(loc.line))
        return i

    def anchor(self, file, line):
        i = self.files.get(file)
        if i is None:
            i = self.files[file] = len(self.files)
            self.lines[i] = set()
        self.lines[i].add(int(line))
        return f"src-{i}-{line}"

    def html(self):
        if not self.files:
            return "<p>(no source lines recorded)</p>"
        parts = []
        for path, i in self.files.items():
            try:
                with open(path) as f:
                    text = f.read().splitlines()
            except OSError:
                parts.append(f"<h3>{_e(path)}</h3><p>(not readable here)</p>")
                continue
            used = self.lines.get(i, set())
            rows = [f'<div id="src-{i}-{n}" class="src{" used" if n in used else ""}"><span class="ln">{n}</span>'
                    f"{_e(line) or ' '}</div>" for n, line in enumerate(text, 1)]
            parts.append(f"<h3>{_e(path)}</h3><pre class=\"source\">{''.join(rows)}</pre>")
        return "\n".join(parts)


def _line_html(line, sources):
    m = _LOC.search(line) if "#" in line else None
    loc = ""
    if m:
        path = m.group("file").strip()
        ref = sources.anchor(path, m.group("line"))
        loc = (f'<a class="loc" href="#{ref}" title="{_e(path)}:{m.group("line")}"># {_e(os.path.basename(path))}:'
               f'{m.group("line")}</a>')
        line = line[:m.start()]
    body = _VALUE.sub(lambda v: f'<span class="v" data-v="{_e(v.group(0))}">{_e(v.group(0))}</span>',
                      html.escape(line, quote=False))
    return body + loc


def _stage_html(s, sources):
    if s.kind != "graph":
        return _e(s.text)
    return "\n".join(_line_html(line, sources) for line in s.text.splitlines())


def _diff_html(a, b):
    lines = list(difflib.unified_diff(a.text.splitlines(), b.text.splitlines(), a.name, b.name, lineterm="", n=2))
    cost = f" ({b.seconds * 1e3:.3f} ms)" if b.seconds else ""
    if not lines:
        return f'<details><summary>{_e(b.name)}{cost}: no change</summary></details>'
    rows = []
    for ln in lines:
        cls = "add" if ln.startswith("+") and not ln.startswith("+++") else \
              "del" if ln.startswith("-") and not ln.startswith("---") else "hunk" if ln.startswith("@@") else ""
        rows.append(f'<span class="{cls}">{_e(ln)}</span>' if cls else _e(ln))
    plus = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
    minus = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
    return (f'<details class="diff"><summary>{_e(a.name)} &rarr; <b>{_e(b.name)}</b>{cost}: +{plus} &minus;{minus}'
            f'</summary><pre>{chr(10).join(rows)}</pre></details>')


def _svg(g, sources):
    """Inline SVG of a graph: layered top to bottom, edges as lines with arrowheads, nodes linked to source."""
    nodes = list(g.nodes)
    if len(nodes) > MAX_DRAWN_NODES:
        return f"<p>({len(nodes)} nodes: too many to draw; the stages above show the text)</p>"
    from .ir.printer import value_names
    names = value_names(g)
    layer, pos, rows = {}, {}, []

    def place(v, lay, label, kind, tip, ref=None):
        while len(rows) <= lay:
            rows.append([])
        layer[v] = lay
        rows[lay].append((v, label, kind, tip, ref))

    for v in g.inputs:
        place(v, 0, f"%{names[v]}", "input", f"%{names[v]}: {v.type}")
    for n in nodes:
        lay = 1 + max((layer.get(v, 0) for v in n.inputs), default=-1)
        ref = sources.anchor(n.loc.file, n.loc.line) if n.loc is not None else None
        tip = f"%{names[n.out]}: {n.out.type} = {n.prim.name}" + (f"  ({n.loc})" if n.loc is not None else "")
        place(n.out, lay, n.prim.name, "node", tip, ref)
    bw, bh, gx, gy = 120, 26, 14, 34
    width = max(len(r) for r in rows) * (bw + gx) + gx if rows else 100
    for li, row in enumerate(rows):
        x0 = (width - len(row) * (bw + gx) + gx) / 2
        for j, (v, *_rest) in enumerate(row):
            pos[v] = (x0 + j * (bw + gx), gy / 2 + li * (bh + gy))
    height = len(rows) * (bh + gy) + gy
    outs = set(g.outputs)
    parts = [f'<svg class="graph" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
             '<defs><marker id="arr" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#667"/></marker></defs>']
    for n in nodes:
        x1, y1 = pos[n.out]
        for v in n.inputs:
            if v in pos:
                x0, y0 = pos[v]
                parts.append(f'<line x1="{x0 + bw / 2:.0f}" y1="{y0 + bh:.0f}" x2="{x1 + bw / 2:.0f}" y2="{y1:.0f}" '
                             f'class="edge" marker-end="url(#arr)"/>')
    for row in rows:
        for v, label, kind, tip, ref in row:
            x, y = pos[v]
            cls = kind + (" out" if v in outs else "")
            box = (f'<g class="{cls}"><title>{_e(tip)}</title><rect x="{x:.0f}" y="{y:.0f}" width="{bw}" '
                   f'height="{bh}" rx="5"/><text x="{x + bw / 2:.0f}" y="{y + bh / 2 + 4:.0f}">'
                   f"{_e(label[:18])}</text></g>")
            parts.append(f'<a href="#{ref}">{box}</a>' if ref else box)
    parts.append("</svg>")
    return f'<div class="svgwrap">{"".join(parts)}</div>'


def _kernels_html(kernels, sources):
    if not kernels:
        return "<p>(no kernels: this backend did not lower the function)</p>"
    from .ir.types import dim_str
    rows = ['<table class="kernels"><tr><th>kernel</th><th>kind</th><th>bytes moved</th><th>fused nodes</th>'
            "<th>source lines</th></tr>"]
    for k in kernels:
        locs = []
        for n in getattr(k, "nodes", ()):
            if n.loc is not None and (n.loc.file, n.loc.line) not in locs:
                locs.append((n.loc.file, n.loc.line))
        links = " ".join(f'<a href="#{sources.anchor(f, ln)}">{_e(os.path.basename(f))}:{ln}</a>' for f, ln in locs[:12])
        fused = " ".join(n.prim.name for n in getattr(k, "nodes", ()))
        rows.append(f'<tr><td><code>{_e(k.name)}</code></td><td>{_e(k.kind)}</td>'
                    f'<td class="num">{_e(dim_str(k.bytes_moved))}</td><td>{_e(fused)}</td><td>{links}</td></tr>')
    rows.append("</table>")
    for k in kernels:
        rows.append(f"<details><summary><code>{_e(k.name)}</code></summary><pre>{_e(str(k))}</pre></details>")
    return "\n".join(rows)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fcfcfd}
code,pre,select{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
nav a{margin-right:1em}.meta{color:#555}
.panes{display:flex;gap:1em;align-items:flex-start}.pane{flex:1;min-width:0}
.pane select{width:100%;margin-bottom:.3em}
pre{background:#f4f5f7;border:1px solid #dde;padding:.6em;overflow:auto;max-height:70vh;margin:0}
pre.hidden{display:none}a.loc{color:#777;text-decoration:none}a.loc:hover{color:#06c;text-decoration:underline}
span.v{color:#245}span.v.hl{background:#ffe680;border-radius:2px}
.diff .add{color:#075e00;background:#e6ffe6;display:inline-block;width:100%}
.diff .del{color:#8b0000;background:#ffecec;display:inline-block;width:100%}.diff .hunk{color:#777}
details{margin:.4em 0}summary{cursor:pointer}
.svgwrap{overflow:auto;max-height:80vh;border:1px solid #dde;background:#fff}
svg.graph .edge{stroke:#99a;stroke-width:1}svg.graph rect{fill:#eef3ff;stroke:#5577aa}
svg.graph .input rect{fill:#eaffea;stroke:#3a3}svg.graph .out rect{stroke:#c33;stroke-width:2}
svg.graph text{font:11px ui-monospace,monospace;text-anchor:middle;fill:#123}
svg.graph a:hover rect{fill:#ffe680}
table.kernels{border-collapse:collapse}table.kernels td,table.kernels th{border:1px solid #ccd;padding:.2em .5em;
vertical-align:top}td.num{text-align:right;font-family:ui-monospace,monospace}
pre.source{max-height:none}.src .ln{display:inline-block;width:3.5em;color:#999;user-select:none}
.src.used{background:#f0f6ff}.src.target{background:#ffe680}
"""

_JS = """
window.addEventListener('error', function(e){ document.body.dataset.error = String(e.message); });
(function(){
  document.querySelectorAll('.pane select').forEach(function(sel){
    sel.addEventListener('change', function(){
      var pane = document.getElementById('pane-' + sel.dataset.pane);
      pane.querySelectorAll('pre.stage').forEach(function(p){
        p.classList.toggle('hidden', p.dataset.stage !== sel.value);
      });
    });
  });
  document.querySelectorAll('pre.stage').forEach(function(pre){
    pre.addEventListener('click', function(ev){
      var t = ev.target;
      if (!t.classList || !t.classList.contains('v')) return;
      pre.querySelectorAll('span.v.hl').forEach(function(s){ s.classList.remove('hl'); });
      pre.querySelectorAll('span.v').forEach(function(s){
        if (s.dataset.v === t.dataset.v) s.classList.add('hl');
      });
    });
  });
  function mark(){
    document.querySelectorAll('.src.target').forEach(function(d){ d.classList.remove('target'); });
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.classList.contains('src')) el.classList.add('target');
  }
  window.addEventListener('hashchange', mark);
  mark();
  // a marker a headless browser's --dump-dom can check: the script ran to its end (tests/test_dump_html.py)
  document.body.dataset.ready = document.querySelectorAll('pre.stage').length;
})();
"""
