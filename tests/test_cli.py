"""The real `vive` command in a subprocess on a model file in a temp dir: stages, all, diff, dot, errors."""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import compiler as cc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = textwrap.dedent('''\
    import numpy as np


    def loss(params, x, y):
        h = np.tanh(x @ params["w1"] + params["b1"])
        logits = h @ params["w2"] * 1.0
        z = logits - logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -(np.take_along_axis(z - lse, y[:, None], axis=1)).mean()


    def branchy(x):
        if x.sum() > 0:
            return x
        return -x


    def shapes(x, w):
        return x @ w


    def crash(x):
        return x.no_such_method()


    def elementwise(x, a, b):
        return np.tanh(x * a + b) * (1 / (1 + np.exp(-x))) + 0.5 * x * x
''')
PARAMS = json.dumps({"w1": "f32[784,H]", "b1": "f32[H]", "w2": "f32[H,10]"})
LOSS_ARGS = ["--arg", PARAMS, "--arg", "f32[N,784]", "--arg", "i64[N]"]


def vive(*args, cwd, env=None):
    """Run the installed `vive` if there is one next to this Python, else `python -m compiler.cli`."""
    exe = os.path.join(os.path.dirname(sys.executable), "vive")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "compiler.cli"]
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("VIVE_DEBUG", None)
    e.pop("VIVE_DUMP_DIR", None)
    e.update(env or {})
    return subprocess.run(cmd + list(args), cwd=cwd, env=e, capture_output=True, text=True, timeout=120)


@pytest.fixture
def model(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    return tmp_path


def _has_backend():
    return callable(getattr(cc, "compile", None))


def _has_cuda_backend():
    if not _has_backend():
        return False
    try:
        cc.compile(lambda x: x, backend="cuda")        # unknown backends raise here
    except cc.ViveError:
        return False
    return True


needs_cpu_backend = pytest.mark.skipif(not _has_backend(), reason="CPU backend (cc.compile().lower()) not landed yet")
needs_ptx_backend = pytest.mark.skipif(not _has_cuda_backend(), reason="CUDA backend (backend='cuda') not landed yet")


# ---- help and version ----

def test_version_and_help(model):
    r = vive("--version", cwd=model)
    assert r.returncode == 0 and r.stdout.strip() == f"vive {cc.__version__}"
    r = vive("--help", cwd=model)
    assert r.returncode == 0 and "dump" in r.stdout
    r = vive("dump", "--help", cwd=model)
    assert r.returncode == 0
    for word in ("--arg", "--grad", "--backend", "--stage", "--diff", "--format", "--traceback", "examples",
                 "traced", "optimized", "kernels", "llvm", "asm", "ptx", "all", "vive dump "):
        assert word in r.stdout, word


def test_help_examples_run_from_the_repository_root(tmp_path):
    import shlex
    r = vive("dump", "--help", cwd=ROOT)
    text = r.stdout[r.stdout.index("examples"):]
    commands = [shlex.split(c.replace("\\\n", " ")) for c in re.split(r"\n(?=  vive dump )", text)[1:]]
    assert len(commands) == 2
    for cmd in commands:
        assert cmd[0] == "vive" and os.path.exists(os.path.join(ROOT, cmd[2].partition(":")[0]))
        if "-o" in cmd:
            cmd[cmd.index("-o") + 1] = str(tmp_path / "page.html")
        r = vive(*cmd[1:], cwd=ROOT)
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")


# ---- graph stages ----

def test_traced_stage_shows_ops_and_symbolic_dims(model):
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--stage", "traced", cwd=model)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("graph loss(")
    assert "%x: f32[N,784]" in out and "%y: i64[N]" in out and "%params.w1: f32[784,H]" in out
    for op in ("dot_general", "tanh", "reduce_max", "exp", "log", "reduce_sum"):
        assert f"= {op} " in out, op
    assert re.search(r"f32\[N,H\] = tanh", out)
    assert "# model.py:5" in out                  # the user's line of the tanh
    cc.parse(re.sub(r"\s+#.*", "", out))           # the printed IR parses back


def test_optimized_is_default_and_simplified(model):
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--no-locs", cwd=model)
    assert r.returncode == 0, r.stderr
    assert "graph loss(" in r.stdout and "f32[N,10]" in r.stdout
    assert "#" not in r.stdout
    traced = vive("dump", "model.py:loss", *LOSS_ARGS, "--no-locs", "--stage", "traced", cwd=model).stdout
    assert "const 1.0" in traced and "= mul" in traced          # `* 1.0` in the model...
    opt_nodes = [l for l in r.stdout.splitlines() if " = " in l]
    assert len(opt_nodes) < len([l for l in traced.splitlines() if " = " in l])


def test_grad_stage(model):
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--stage", "grad", "--no-locs", cwd=model)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("graph value_and_grad_loss(")
    ret = [l for l in out.splitlines() if l.strip().startswith("return")][0]
    assert ret.count("%") == 4                     # value, and the gradient of each of the 3 params
    assert "f32[784,H]" in out and "f32[H,10]" in out


def test_grad_argnums(model):
    r = vive("dump", "model.py:shapes", "--arg", "f32[N,3]", "--arg", "f32[3,K]", "--grad", "0,1",
             "--stage", "traced", cwd=model)
    # shapes() returns a matrix: grad of a non-scalar is a clean error
    assert r.returncode == 0 and "dot_general" in r.stdout
    r = vive("dump", "model.py:shapes", "--arg", "f32[N,3]", "--arg", "f32[3,K]", "--grad", "0,1",
             "--stage", "grad", cwd=model)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "scalar" in r.stderr and "model.py:19" in r.stderr


def test_all_shows_every_pass_in_order(model):
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--stage", "all", cwd=model)
    assert r.returncode == 0, r.stderr
    heads = [l for l in r.stdout.splitlines() if l.startswith("*** ")]
    names = [re.match(r"\*\*\* (?:IR after|stage) (\w+)", h).group(1) for h in heads]
    assert names[0] == "traced"
    from compiler.passes import GENERIC_PIPELINE
    passes = [p.name for p in GENERIC_PIPELINE]
    idx = [names.index(p) for p in passes]          # every generic pass appears...
    assert idx == sorted(idx)                         # ...in pipeline order
    for h in heads[1:]:
        if "IR after" in h:
            assert re.search(r"\(\d+\.\d{3} ms, \d+ nodes\)", h), h
    if _has_backend():
        assert "kernels" in names and "llvm" in names


def test_diff_shows_added_and_removed_lines(model):
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--stage", "all", "--diff", "--no-locs", cwd=model)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "--- fold_constants" in out and "+++ simplify_algebra" in out
    assert re.search(r"^-\s+%\d+: f32\[\] = const 1\.0", out, re.M)       # simplify drops `* 1.0`
    assert re.search(r"^\+\s+%\d+: ", out, re.M)
    assert "(no change)" in out or "@@" in out
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--stage", "optimized", "--diff", "--no-locs", cwd=model)
    assert r.returncode == 0 and "--- traced" in r.stdout and "+++ optimized" in r.stdout


def _parse_dot(text):
    """A small DOT reader (pydot is not a dependency): digraph name, node ids with attrs, edges; checks syntax."""
    text = text.strip()
    m = re.match(r'^digraph\s+("(?:[^"\\]|\\.)*"|\w+)\s*\{(.*)\}$', text, re.S)
    assert m, "not a digraph { ... }"
    nodes, edges = {}, []
    q = r'"(?:[^"\\]|\\.)*"'
    for stmt in [s.strip() for s in m.group(2).split(";\n")]:
        stmt = stmt.rstrip(";").strip()
        if not stmt or re.match(r"^(rankdir|node|edge|graph)\b", stmt):
            continue
        e = re.fullmatch(rf"({q})\s*->\s*({q})(\s*\[.*\])?", stmt, re.S)
        if e:
            edges.append((e.group(1)[1:-1], e.group(2)[1:-1]))
            continue
        n = re.fullmatch(rf"({q})\s*\[(.*)\]", stmt, re.S)
        assert n, f"bad DOT statement: {stmt!r}"
        attrs = dict(re.findall(rf"(\w+)=({q}|\w+)", n.group(2)))
        nodes[n.group(1)[1:-1]] = attrs
    for a, b in edges:
        assert a in nodes and b in nodes, (a, b)
    return nodes, edges


def test_dot_format_parses(model):
    r = vive("dump", "model.py:loss", *LOSS_ARGS, "--stage", "traced", "--format", "dot", cwd=model)
    assert r.returncode == 0, r.stderr
    nodes, edges = _parse_dot(r.stdout)
    import networkx as nx
    G = nx.DiGraph(edges)
    assert nx.is_directed_acyclic_graph(G)
    ops = {a["label"].split("\\n")[-1].strip('"') for a in nodes.values()}
    assert {"tanh", "dot_general", "input", "output"} <= ops
    g = cc.trace(__import__("importlib").import_module("runpy").run_path(str(model / "model.py"))["loss"],
                 {"w1": cc.Spec("f32[784,H]"), "b1": cc.Spec("f32[H]"), "w2": cc.Spec("f32[H,10]")},
                 cc.Spec("f32[N,784]"), cc.Spec("i64[N]"))
    assert len(nodes) == len(g.nodes) + len(g.inputs) + len(g.outputs)


def test_module_target(model):
    pkg = model / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(MODEL)
    r = vive("dump", "-m", "pkg.mod:elementwise", "--arg", "f32[N]", "--arg", "f32[]", "--arg", "f32[]",
             "--stage", "traced", cwd=model)
    assert r.returncode == 0, r.stderr
    assert "graph elementwise(%x: f32[N], %a: f32[], %b: f32[])" in r.stdout and "tanh" in r.stdout


# ---- errors: one line, exit status 2 ----

@pytest.mark.parametrize("args,needle", [
    (["dump", "missing.py:loss"], "no such file: missing.py"),
    (["dump", "model.py:nope", "--arg", "f32[3]"], "has no function 'nope'"),
    (["dump", "model.py"], "expected FILE.py:FUNC"),
    (["dump", "model.py:shapes", "--arg", "f33[N,3]", "--arg", "f32[3,2]"], "cannot parse type 'f33[N,3]'"),
    (["dump", "model.py:shapes", "--arg", '{"a": "f32[', "--arg", "f32[3]"], "--arg 1: not valid JSON"),
    (["dump", "model.py:shapes", "--arg", "f32[().__class__.__base__.__subclasses__().__len__()]", "--arg",
      "f32[3,2]"], "--arg 1: cannot parse type 'f32[().__class__"),
    (["dump", "model.py:shapes", "--arg", "f32[N,3]", "--arg", "f32[3,-2]"], "--arg 2: cannot parse type "
                                                                           "'f32[3,-2]': negative size -2 at column 7"),
    (["dump", "model.py:shapes", "--arg", "f32[N,3]"], "needs 2 --arg"),
    (["dump", "model.py:shapes", "--arg", "f32[N,3]", "--arg", "f32[4,2]"], "model.py:19"),
    (["dump", "model.py:branchy", "--arg", "f32[3]"], "model.py:13"),
    (["dump", "model.py:crash", "--arg", "f32[3]"], "model.py:23"),
    (["dump", "model.py:loss", "--stage", "nope"], "invalid choice"),
    (["dump", "-m", "no_such_pkg.mod:f"], "no module named 'no_such_pkg.mod'"),
    (["bogus"], "invalid choice"),
])
def test_errors_are_one_line_exit_2(model, args, needle):
    r = vive(*args, cwd=model)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("vive: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_trace_error_messages_name_the_problem(model):
    r = vive("dump", "model.py:branchy", "--arg", "f32[3]", cwd=model)
    assert "TraceError" in r.stderr and "np.where" in r.stderr
    r = vive("dump", "model.py:shapes", "--arg", "f32[N,3]", "--arg", "f32[4,2]", cwd=model)
    assert "ShapeError" in r.stderr and "f32[N,3]" in r.stderr and "f32[4,2]" in r.stderr
    r = vive("dump", "model.py:crash", "--arg", "f32[3]", cwd=model)
    assert "AttributeError" in r.stderr and "no_such_method" in r.stderr


def test_traceback_flag(model):
    r = vive("dump", "model.py:branchy", "--arg", "f32[3]", "--traceback", cwd=model)
    assert r.returncode == 2
    assert "Traceback (most recent call last)" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("vive: error: ")


def test_error_in_user_module_at_import(tmp_path):
    (tmp_path / "broken.py").write_text("import numpy as np\n\nx = 1 / 0\n\ndef f(x):\n    return x\n")
    r = vive("dump", "broken.py:f", "--arg", "f32[3]", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "ZeroDivisionError" in r.stderr and "broken.py:3" in r.stderr
    (tmp_path / "syntax.py").write_text("def f(x):\n    return x +\n")
    r = vive("dump", "syntax.py:f", "--arg", "f32[3]", cwd=tmp_path)
    assert r.returncode == 2 and "syntax.py:2" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---- backend stages ----

@needs_cpu_backend
def test_llvm_and_kernels_and_asm_stages(model):
    r = vive("dump", "model.py:elementwise", "--arg", "f32[N]", "--arg", "f32[]", "--arg", "f32[]",
             "--stage", "llvm", cwd=model)
    assert r.returncode == 0, r.stderr
    assert "define " in r.stdout
    r = vive("dump", "model.py:elementwise", "--arg", "f32[N]", "--arg", "f32[]", "--arg", "f32[]",
             "--stage", "kernels", cwd=model)
    assert r.returncode == 0, r.stderr
    assert "kernel" in r.stdout
    r = vive("dump", "model.py:elementwise", "--arg", "f32[N]", "--arg", "f32[]", "--arg", "f32[]",
             "--stage", "asm", cwd=model)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


@needs_ptx_backend
def test_ptx_stage_without_gpu(model):
    r = vive("dump", "model.py:elementwise", "--arg", "f32[N]", "--arg", "f32[]", "--arg", "f32[]",
             "--stage", "ptx", cwd=model)
    assert r.returncode == 0, r.stderr
    assert ".entry" in r.stdout and ".target sm_" in r.stdout
    r = vive("dump", "model.py:elementwise", "--arg", "f32[N]", "--arg", "f32[]", "--arg", "f32[]",
             "--stage", "all", "--backend", "cuda", cwd=model)
    assert r.returncode == 0, r.stderr
    heads = re.findall(r"^\*\*\* (?:IR after|stage) (\w+)", r.stdout, re.M)
    assert heads[0] == "traced" and heads[-1] == "ptx" and "kernels" in heads and "asm" not in heads


def test_grad_argnums_accept_the_list_form():
    from compiler.cli import parse_argnums, UsageError
    assert parse_argnums("0,1") == parse_argnums("[0,1]") == parse_argnums("(0, 1)") == (0, 1)
    assert parse_argnums("[1]") == parse_argnums("1") == 1
    with pytest.raises(UsageError, match=r"\[0,1\]"):
        parse_argnums("[a]")
