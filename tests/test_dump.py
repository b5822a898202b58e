"""cc.dump (the text `vive dump` prints), compiler.debug switches, and the VIVE_DUMP_DIR writer."""
import os
import re

import numpy as np
import pytest

import compiler as cc
from compiler import debug
from compiler.dump import DumpError, STAGES
from compiler.passes import GENERIC_PIPELINE, PassLog, run_pipeline


def f(x, w):
    h = np.tanh(x @ w) * 1.0
    return (h * h).sum()


ARGS = ("f32[N,4]", cc.Spec("f32[4,3]"))


def test_traced_and_optimized():
    t = cc.dump(f, *ARGS, stage="traced", locs=False)
    assert t == cc.print_graph(cc.trace(f, cc.Spec("f32[N,4]"), cc.Spec("f32[4,3]"))) + "\n"
    o = cc.dump(f, *ARGS, stage="optimized", locs=False)
    assert "const 1.0" in t and "const 1.0" not in o and "tanh" in o and "f32[N,3]" in o


def test_locs_column():
    t = cc.dump(f, *ARGS, stage="traced")
    assert re.search(r"= tanh %\d+\s+# .*test_dump\.py:\d+", t)


def test_all_lists_passes_with_times():
    text = cc.dump(f, *ARGS, stage="all")
    heads = re.findall(r"^\*\*\* (?:IR after|stage) (\w+)(.*)$", text, re.M)
    names = [h[0] for h in heads]
    assert names[0] == "traced"
    pos = [names.index(p.name) for p in GENERIC_PIPELINE]
    assert pos == sorted(pos)
    assert all(re.search(r"\(\d+\.\d{3} ms, \d+ nodes\)", h[1]) for h in heads if h[0] in
               [p.name for p in GENERIC_PIPELINE])


def test_grad_stage():
    g = cc.dump(f, *ARGS, stage="grad", locs=False)
    assert g.startswith("graph value_and_grad_f(")
    g1 = cc.dump(f, *ARGS, stage="grad", grad=1, locs=False)
    ret0 = [l for l in g.splitlines() if "return" in l][0]
    ret1 = [l for l in g1.splitlines() if "return" in l][0]
    assert ret0.count("%") == ret1.count("%") == 2
    both = cc.dump(f, *ARGS, stage="grad", grad=(0, 1), locs=False)
    assert [l for l in both.splitlines() if "return" in l][0].count("%") == 3


def test_grad_of_all_stages_uses_value_and_grad():
    text = cc.dump(f, *ARGS, stage="all", grad=True, locs=False)
    names = re.findall(r"^\*\*\* (?:IR after|stage) (\w+)", text, re.M)
    assert names[:2] == ["traced", "grad"]


def test_diff():
    d = cc.dump(f, *ARGS, stage="optimized", diff=True, locs=False)
    assert "--- traced" in d and "+++ optimized" in d
    assert re.search(r"^-\s+%\d+: f32\[\] = const 1.0$", d, re.M)
    with pytest.raises(DumpError, match="two stages"):
        cc.dump(f, *ARGS, stage="traced", diff=True)


def test_dot_and_bad_stage():
    d = cc.dump(f, *ARGS, stage="traced", format="dot")
    assert d.startswith('digraph "f" {') and "->" in d and "tanh" in d
    with pytest.raises(DumpError, match="unknown stage"):
        cc.dump(f, *ARGS, stage="nope")
    with pytest.raises(DumpError, match="unknown format"):
        cc.dump(f, *ARGS, stage="traced", format="svg")


def test_same_text_as_the_cli(tmp_path):
    import subprocess
    import sys
    src = "import numpy as np\n\ndef f(x, w):\n    h = np.tanh(x @ w) * 1.0\n    return (h * h).sum()\n"
    (tmp_path / "m.py").write_text(src)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    env.pop("VIVE_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "dump", "m.py:f", "--arg", "f32[N,4]", "--arg",
                        "f32[4,3]", "--stage", "all", "--no-locs"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import runpy
    fn = runpy.run_path(str(tmp_path / "m.py"))["f"]
    want = cc.dump(fn, "f32[N,4]", "f32[4,3]", stage="all", locs=False)
    def strip(s):           # times (and so the banners' padding) differ run to run
        return re.sub(r" \*+$", "", re.sub(r"\(\d+\.\d+ ms, ", "(", s), flags=re.M)
    assert strip(r.stdout) == strip(want)


def test_backend_stage_without_backend_is_clean_error():
    if callable(getattr(cc, "compile", None)):
        pytest.skip("the CPU backend exists: its stages are tested in test_cli/test_dump_dir")
    with pytest.raises(DumpError, match="backend"):
        cc.dump(f, *ARGS, stage="llvm")


def test_stage_names():
    assert STAGES == ("traced", "grad", "optimized", "kernels", "llvm", "asm", "ptx", "all")


# ---- compiler.debug ----

def test_debug_switches(monkeypatch):
    for raw, level in [("", 0), ("0", 0), ("1", 1), ("2", 2), ("yes", 1), ("junk", 0), ("-3", 0)]:
        monkeypatch.setenv("VIVE_DEBUG", raw)
        assert debug.debug_level() == level
    monkeypatch.delenv("VIVE_DEBUG")
    assert not debug.verify_enabled()
    monkeypatch.setenv("VIVE_DUMP_DIR", "  ")
    assert debug.dump_dir() is None
    monkeypatch.setenv("VIVE_DUMP_DIR", "/tmp/x")
    assert debug.dump_dir() == "/tmp/x"
    monkeypatch.setenv("VIVE_LOG_COMPILES", "0")
    assert not debug.log_compiles()
    monkeypatch.setenv("VIVE_LOG_COMPILES", "1")
    assert debug.log_compiles()


def test_debug_logging(monkeypatch, capsys):
    monkeypatch.setenv("VIVE_DEBUG", "1")
    debug.log("hello\nworld")
    debug.log("hidden", level=2)
    debug.log_block("title", "body", 2)
    monkeypatch.setenv("VIVE_LOG_COMPILES", "1")
    debug.log_compile("loss", "new shape f32[3]")
    err = capsys.readouterr().err
    assert err == "[vive] hello\n[vive] world\n[vive] compile loss: new shape f32[3]\n"
    monkeypatch.setenv("VIVE_DEBUG", "2")
    debug.log_block("IR after x", "graph ...", 2)
    err = capsys.readouterr().err
    assert err.startswith("*** IR after x ***") and "graph ..." in err


# ---- the dump directory, with a stand-in for the backend's lowered object ----

class FakeKernel:
    def __init__(self, name, nbytes):
        self.name, self.kind, self.bytes_moved = name, "loop", nbytes

    def __str__(self):
        return f"kernel {self.name}  # bytes moved {self.bytes_moved}"


class FakeLowered:
    def __init__(self, fn, *specs):
        self.graph = cc.trace(fn, *specs)
        self.pass_log = PassLog()
        self.optimized = run_pipeline(self.graph, GENERIC_PIPELINE, log=self.pass_log)
        N = sorted(self.graph.free_symbols, key=str)[0]
        self.kernels = [FakeKernel("fused_0", 16 * N), FakeKernel("fused_1", 64)]

    def llvm_ir(self):
        return "define void @f() {\n  ret void\n}"

    def asm(self):
        return "f:\n  ret"


def test_dump_compile_writes_numbered_stages(tmp_path, monkeypatch):
    monkeypatch.setenv("VIVE_DUMP_DIR", str(tmp_path))
    low = FakeLowered(f, cc.Spec("f32[N,4]"), cc.Spec("f32[4,3]"))
    path = debug.dump_compile(low)
    assert path and os.path.dirname(path) == str(tmp_path)
    assert re.fullmatch(r"f-[0-9a-f]{10}", os.path.basename(path))
    files = sorted(os.listdir(path))
    n = len(GENERIC_PIPELINE)
    want = (["00_traced.txt"] + [f"{i + 1:02d}_{p.name}.txt" for i, p in enumerate(GENERIC_PIPELINE)]
            + [f"{n + 1:02d}_kernels.txt", f"{n + 2:02d}_llvm.ll", f"{n + 3:02d}_asm.s", "summary.txt"])
    assert files == sorted(want)
    read = lambda n: open(os.path.join(path, n)).read()   # noqa: E731
    assert read("00_traced.txt").startswith("graph f(") and "# " in read("00_traced.txt")
    assert read(f"{n + 2:02d}_llvm.ll") == low.llvm_ir() + "\n"
    assert read("04_eliminate_dead_code.txt").startswith("graph f(")
    s = read("summary.txt")
    assert "function: f" in s and "backend:  cpu" in s
    for p in GENERIC_PIPELINE:
        assert re.search(rf"{p.name}\s+\d+\.\d{{3}}", s)
    assert "kernels: 2" in s and "fused_0" in s and "bytes moved 16*N" in s and "total" in s
    assert re.search(r"nodes:\s+\d+ traced -> \d+ after", s)
    # the same compile again: the same directory, rewritten, nothing stale
    assert debug.dump_compile(low) == path and sorted(os.listdir(path)) == files
    # another signature: another directory
    other = debug.dump_compile(FakeLowered(f, cc.Spec("f64[N,4]"), cc.Spec("f64[4,3]")))
    assert other != path and len(os.listdir(tmp_path)) == 2


def test_dump_compile_off_and_never_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VIVE_DUMP_DIR", raising=False)
    low = FakeLowered(f, cc.Spec("f32[N,4]"), cc.Spec("f32[4,3]"))
    assert debug.dump_compile(low) is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert debug.dump_compile(low, directory=str(blocker)) is None     # cannot mkdir under a file
    assert "could not dump" in capsys.readouterr().err
