"""cc.debug.print: eager printing, and a host callback from compiled code at every call, in program order."""
from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest

import compiler as cc
from compiler import debug
from helpers import run_in_threads


def out_lines(capfd):
    """What was printed, one entry per print (an array's repr may span lines: continuation lines start with ' ')."""
    out = []
    for line in capfd.readouterr().out.splitlines():
        if line.startswith(" ") and out:
            out[-1] += "\n" + line
        elif line:
            out.append(line)
    return out


def test_eager_prints_at_once_with_str_format_semantics(capfd):
    x = np.array([1.0, 2.5])
    cc.debug.print("x={} y={y} s={s:.2f} t={t}", x, y={"a": np.int32(3)}, s=np.float64(1.0 / 3), t=(x[:1], None))
    assert out_lines(capfd) == [f"x={x} y={{'a': {np.asarray(np.int32(3))!r}}} s=0.33 t=({x[:1]!r}, None)"]
    # the old compiler.debug is still there
    assert debug.debug_level() >= 1 and callable(debug.log) and cc.debug is debug


def test_compiled_prints_at_every_call_in_program_order(capfd):
    @cc.compile
    def f(x, w):
        h = np.tanh(x @ w)
        cc.debug.print("h sum {:.6f}", np.sum(h))
        y = h * 2.0
        cc.debug.print("y {y} first {}", y[0, 0], y=y)
        return np.sum(y)

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    assert out_lines(capfd) == []                     # tracing alone prints nothing
    for k in range(3):
        xk = x + k
        out = f(xk, w)
        h = np.tanh(xk @ w)
        assert out_lines(capfd) == [f"h sum {np.sum(h):.6f}", f"y {h * 2.0} first {(h * 2.0)[0, 0]}"]
        np.testing.assert_allclose(out, np.sum(h * 2.0), rtol=1e-12)
    assert f.cache_info()["compiles"] == 1


def test_prints_are_never_dead_merged_or_folded(capfd):
    @cc.compile
    def f(x):
        cc.debug.print("same {}", x)
        cc.debug.print("same {}", x)                 # CSE must not merge it with the first
        cc.debug.print("const {} {}", np.arange(3), 7)    # constants only: printed per call, not at trace time
        unused = np.exp(x)                            # read only by the print: kept
        cc.debug.print("exp {}", unused)
        return x + 1.0

    x = np.array([0.0, 1.0])
    assert out_lines(capfd) == []
    f(x)
    f(x)
    one = ["same [0. 1.]", "same [0. 1.]", "const [0 1 2] 7", f"exp {np.exp(x)}"]
    assert out_lines(capfd) == one + one
    low = f.lower(x)
    assert low.optimized.count("debug_print") == 4
    kernels = [k for k in low.kernels.kernels if any(n.prim.name == "debug_print" for n in k.nodes)]
    assert len(kernels) == 4


def test_order_holds_across_nested_transforms(capfd):
    def inner(x):
        cc.debug.print("inner {}", x)
        return np.sum(np.sin(x))

    def f(x):
        cc.debug.print("before")
        g = cc.grad(inner)(x)
        cc.debug.print("after {}", g)
        return g * 2

    x = np.array([0.5, 1.0])
    want = ["before", f"inner {x}", f"after {np.cos(x)}"]
    f(x)
    assert out_lines(capfd) == want
    cf = cc.compile(f)
    cf(x)
    assert out_lines(capfd) == want
    cf(x)
    assert out_lines(capfd) == want


def test_under_grad_and_jvp_the_primal_values_print(capfd):
    def f(x):
        cc.debug.print("x {} y {}", x, np.sin(x))
        return np.sum(np.sin(x) ** 2)

    x = np.array([0.3, -0.7])
    want = [f"x {x} y {np.sin(x)}"]
    g = cc.grad(f)(x)                                  # eager: the interpreter prints
    assert out_lines(capfd) == want
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x), rtol=1e-14)
    cg = cc.compile(cc.value_and_grad(f))
    for _ in range(2):
        v, g2 = cg(x)
        assert out_lines(capfd) == want
    np.testing.assert_allclose(g2, g, rtol=1e-12)
    cc.jvp(f, (x,), (np.ones_like(x),))
    assert out_lines(capfd) == want
    cc.compile(lambda x: cc.jvp(f, (x,), (np.ones_like(x),)))(x)
    assert out_lines(capfd) == want
    h = cc.hessian(f)(x)
    assert out_lines(capfd) == want                    # the primal part runs once
    assert h.shape == (2, 2)


def test_symbolic_sizes_print_each_calls_arrays(capfd):
    @cc.compile
    def f(x):
        cc.debug.print("n={} x={}", x.shape[0], x * 10)
        return x.sum()

    f.lower(cc.Spec("f64[N]"))
    for n in (2, 5):
        x = np.arange(n, dtype=np.float64)
        f(x)
        assert out_lines(capfd) == [f"n={n} x={x * 10}"]
    assert f.cache_info()["compiles"] == 1


def test_bad_format_fails_at_trace_time_at_the_users_line():
    def f(x):
        cc.debug.print("{} {}", x)
        return x

    with pytest.raises(cc.TraceError, match=r"(?s)does not fit.*IndexError.*test_debug_print.py:\d+"):
        cc.compile(f)(np.ones(2))
    with pytest.raises(cc.TraceError, match="does not fit"):
        cc.compile(lambda x: (cc.debug.print("{z}", x), x)[1])(np.ones(2))
    with pytest.raises(cc.TraceError, match=r"\.2f"):
        cc.compile(lambda x: (cc.debug.print("{:.2f}", x), x)[1])(np.ones(2))
    with pytest.raises(TypeError, match="format must be a str"):
        cc.debug.print(3, np.ones(2))


def test_callback_errors_are_raised_by_the_call():
    from runtime.callbacks import HostCallbacks

    def boom(site, ptrs, dims):
        raise ValueError(f"site {site}")
    cb = HostCallbacks(boom)
    fn = ctypes.cast(ctypes.c_void_p(cb.address), type(cb._c))
    fn(4, None, None)
    fn(5, None, None)                                  # after a failure the rest of the call stays quiet
    with pytest.raises(ValueError, match="site 4"):
        cb.raise_pending()
    cb.raise_pending()                                 # raised once


def test_threads_calling_compiled_prints_do_not_deadlock(capfd):
    f = cc.compile(lambda x: (cc.debug.print("t {}", x[0]), x * 2)[1])
    f(np.zeros(4))
    capfd.readouterr()

    def work(k):
        for i in range(20):
            np.testing.assert_array_equal(f(np.full(4, float(100 * k + i))), np.full(4, 2.0 * (100 * k + i)))
    run_in_threads(work, 4)
    got = sorted(float(re.match(r"t (.*)", line).group(1)) for line in out_lines(capfd))
    assert got == sorted(float(100 * k + i) for k in range(4) for i in range(20))


def test_disk_cached_program_still_prints(capfd, monkeypatch, tmp_path):
    from compiler.programs import clear_program_cache
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path))

    def make():
        return cc.compile(lambda x: (cc.debug.print("cached {}", x + 1), x - 1)[1])
    x = np.array([1.0, 2.0])
    make()(x)
    clear_program_cache()
    f = make()
    f(x)
    assert f.lower(x).cache_hit
    assert out_lines(capfd) == [f"cached {x + 1}"] * 2


def test_cuda_backend_says_it_cannot_print():
    f = cc.compile(lambda x: (cc.debug.print("{}", x), x * 2)[1], backend="cuda")
    with pytest.raises(cc.BackendError, match=r"cuda: cc.debug.print at .*test_debug_print.py:\d+.*backend='cpu'"):
        f.lower(np.ones(3, np.float32)).ptx()


def test_printed_ir_round_trips_with_braces_and_quotes():
    g = cc.trace(lambda x: (cc.debug.print("a {x!r} 'q' \"d\" # {{}} {}", x[0], x=x), x)[1], np.ones(2))
    text = str(g)
    assert "debug_print" in text
    assert str(cc.parse(text)) == text
    cc.verify(cc.parse(text))


def test_prints_inside_a_loop_body_run_every_iteration_and_keep_the_loop(capfd):
    def f(x):
        def body(c, xi):
            cc.debug.print("step {} {}", xi, c)
            return c + xi, c * 2.0
        cc.scan(body, 0.0, x)                     # results unused: the loop stays for its prints
        return np.sum(x)

    x = np.array([1.0, 2.0, 3.0])
    f(x)                                           # eager: the reference loop
    want = ["step 1.0 0.0", "step 2.0 1.0", "step 3.0 3.0"]
    assert out_lines(capfd) == want
    g = cc.trace(f, x)
    assert g.count("scan") == 1
    from compiler.passes import eliminate_dead_code
    assert eliminate_dead_code(g).count("scan") == 1
    cc.interpret(g, x)
    assert out_lines(capfd) == want
    np.testing.assert_allclose(cc.grad(f)(x), np.ones(3))
    assert out_lines(capfd) == want


def test_prints_inside_custom_rules_and_checkpoint_keep_program_order(capfd):
    @cc.checkpoint
    def block(x):
        cc.debug.print("in block {}", x[0])
        return np.tanh(x)

    @cc.custom_jvp
    def f(x):
        cc.debug.print("in f {}", x[0])
        return np.sin(x)
    f.defjvp(lambda p, t: (f(*p), np.cos(p[0]) * t[0]))

    def loss(x):
        cc.debug.print("start")
        y = f(block(x))
        cc.debug.print("end {}", y[0])
        return np.sum(y)

    x = np.array([0.5, 1.0])
    want = ["start", "in block 0.5", f"in f {np.tanh(0.5)}", f"end {np.sin(np.tanh(0.5))}"]
    step = cc.compile(cc.value_and_grad(loss))
    for _ in range(2):
        v, g = step(x)
        assert out_lines(capfd) == want
    np.testing.assert_allclose(g, np.cos(np.tanh(x)) * (1 - np.tanh(x) ** 2), rtol=1e-12)
    opt = step.lower(x).optimized
    prints = [n for n in opt.nodes if n.prim.name == "debug_print"]
    assert len(prints) == 4 and all(p.params["token"] for p in prints[1:])
