"""`vive dump --format html`: one self-contained page (no network) with every stage, diffs, graphs, kernels."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import compiler as cc
from compiler.dump import collect, html_page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mlp_loss(params, x, y):
    h = cc.nn.relu(x @ params["w1"] + params["b1"])
    return cc.nn.cross_entropy(h @ params["w2"], y)


PARAMS = {"w1": "f32[16,32]", "b1": "f32[32]", "w2": "f32[32,10]"}


class _Page(HTMLParser):
    """Tags with their attributes, ids, the text inside <style>/<script>, and the stack at each tag."""

    def __init__(self):
        super().__init__()
        self.tags, self.ids, self.inline = [], set(), []
        self._in = None
        self.texts = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.add(a["id"])
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            self.inline.append(data)
        self.texts.append(data)

    def find(self, tag, **want):
        return [a for t, a in self.tags if t == tag and all(w in (a.get(k) or "").split() if k == "class_"
                                                            else a.get(k) == w for k, w in want.items())]


def _by_class(page, tag, cls):
    return [a for t, a in page.tags if t == tag and cls in (a.get("class") or "").split()]


@pytest.fixture(scope="module")
def built():
    text = html_page(mlp_loss, PARAMS, "f32[N,16]", "i64[N]", grad=True)
    stages = collect(mlp_loss, (PARAMS, "f32[N,16]", "i64[N]"), grad=True, want={"all"})
    lowered = cc.compile(cc.value_and_grad(mlp_loss)).lower(
        {k: cc.Spec(v) for k, v in PARAMS.items()}, cc.Spec("f32[N,16]"), cc.Spec("i64[N]"))
    p = _Page()
    p.feed(text)
    return text, p, stages, lowered


def test_one_self_contained_file(built):
    text, p, _, _ = built
    assert text.startswith("<!DOCTYPE html>")
    assert [t for t, _ in p.tags].count("html") == 1
    assert not p.find("link") and not p.find("iframe") and not p.find("img")
    assert all("src" not in a for t, a in p.tags if t in ("script", "img", "iframe", "embed", "object"))
    for tag, attrs in p.tags:                     # every link stays inside the page
        for k in ("href", "src", "xlink:href", "action"):
            v = attrs.get(k)
            if v is not None:
                assert v.startswith("#"), (tag, k, v)
    assert not re.search(r"(https?:)?//[\w.-]+\.[a-z]{2,}", text.replace("</", "")), "an external URL"
    for css_js in p.inline:
        assert "@import" not in css_js and not re.search(r"url\((?!#)", css_js)
    assert p.find("style") and p.find("script")


def test_every_stage_in_both_panes(built):
    text, p, stages, _ = built
    want = [s.name for s in stages]
    assert {"traced", "grad", "fuse", "plan_memory", "kernels", "llvm", "asm"} <= set(want)
    for side in ("left", "right"):
        assert f"pane-{side}" in p.ids
    pres = _by_class(p, "pre", "stage")
    assert [a["data-name"] for a in pres] == want + want
    shown = [a["data-name"] for a in pres if "hidden" not in a["class"].split()]
    assert shown == ["traced", "plan_memory"]                 # the traced graph beside the final one
    assert len(p.find("option")) == 2 * len(want)


def test_nodes_link_to_their_source_lines(built):
    text, p, stages, _ = built
    locs = _by_class(p, "a", "loc")
    assert len(locs) >= len(stages[0].graph.nodes)
    for a in locs:
        assert a["href"][1:] in p.ids                         # each link has its target line in the page
    this_file = __file__
    with open(this_file) as f:
        lines = f.read().splitlines()
    relu_line = next(i for i, ln in enumerate(lines, 1) if "cc.nn.relu(x @" in ln)
    targets = {a["href"][1:] for a in locs}
    rows = {a["id"] for a in _by_class(p, "div", "used")}
    assert any(t.endswith(f"-{relu_line}") for t in targets) and targets <= rows
    assert "cc.nn.relu(x @ params[&quot;w1&quot;]" in text or 'cc.nn.relu(x @ params["w1"]' in text


def test_graph_svgs_pass_diffs_and_kernels(built):
    text, p, stages, lowered = built
    traced = stages[0].graph
    svgs = p.find("svg")
    assert len(svgs) == 3                                     # traced, grad, the final graph
    first = text.index("<svg")
    first_svg = text[first:text.index("</svg>", first)]
    assert first_svg.count("<rect") == len(traced.inputs) + len(traced.nodes)
    assert first_svg.count("<line") == sum(len(n.inputs) for n in traced.nodes)
    graphs = [s for s in stages if s.kind == "graph"]
    assert len(_by_class(p, "details", "diff")) + text.count(": no change</summary>") == len(graphs) - 1
    ks = lowered.kernels.kernels
    rows = [a for a in p.tags if a[0] == "tr"]
    assert len(rows) == 1 + len(ks)
    from compiler.ir.types import dim_str
    for k in ks:
        assert f"<code>{k.name}</code></td><td>{k.kind}</td><td class=\"num\">{dim_str(k.bytes_moved)}</td>" in text


def test_cli_writes_the_page(tmp_path):
    (tmp_path / "model.py").write_text("import numpy as np\n\ndef f(x, w):\n    return np.tanh(x @ w).sum()\n")
    out = tmp_path / "page.html"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("VIVE_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "dump", "model.py:f", "--arg", "f32[N,8]", "--arg",
                        "f32[8,4]", "--grad", "[0,1]", "--format", "html", "-o", str(out)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "wrote" in r.stderr
    page = out.read_text()
    p = _Page()
    p.feed(page)
    assert [a["data-name"] for a in _by_class(p, "pre", "stage")][:2] == ["traced", "grad"]
    assert "model.py" in page


def _chromium():
    if os.environ.get("VIVE_CHROMIUM"):          # a Chromium outside PATH (e.g. unpacked from the .deb)
        return os.environ["VIVE_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_page_renders_in_headless_chromium(built, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium here (Debian: apt install chromium, or VIVE_CHROMIUM=path): the page's structure is checked by the "
                    "other tests of this file, its rendering and scripts are not")
    text, *_ = built
    page = tmp_path / "page.html"
    page.write_text(text)
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"]
    shot = tmp_path / "page.png"
    r = subprocess.run(flags + [f"--screenshot={shot}", "--enable-logging=stderr", "--v=0", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln and ("Error" in ln or "error" in ln)]
    assert not console, console
    r = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", r.stdout)
    assert body, r.stderr[-2000:]
    n = len([1 for _ in re.finditer(r'<pre class="stage', text)])
    assert f'data-ready="{n}"' in body.group(0) and "data-error" not in body.group(0), body.group(0)
