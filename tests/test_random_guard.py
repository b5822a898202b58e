"""np.random inside a traced function is a TraceError at the user's line (compiler/random_guard.py)."""
import inspect
import threading

import numpy as np
import pytest

import compiler as cc

X = np.linspace(-1, 1, 6)
RNG = np.random.default_rng(0)          # made outside any trace, used inside: the common way to write it
RS = np.random.RandomState(0)


def _line_of(fn, needle):
    src, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(src) if needle in line)


def noisy_module(x):
    return x + np.random.normal(0.0, 1.0, x.shape)          # DRAW


def noisy_rand(x):
    return x * np.random.rand(6)                             # DRAW


def noisy_generator(x):
    return x + RNG.normal(size=x.shape)                      # DRAW


def noisy_fresh_generator(x):
    rng = np.random.default_rng()              # unseeded: new numbers every call
    return x + rng.uniform(size=6)                           # DRAW


def noisy_randomstate(x):
    return x + RS.randn(6)                                   # DRAW


def noisy_raw(x):
    return x + np.random.PCG64(3).random_raw(6).astype(np.float64)   # DRAW


def _helper_draw(n):
    return np.random.standard_normal(n)                      # DRAW


def noisy_via_helper(x):
    return x + _helper_draw(6)


NOISY = [noisy_module, noisy_rand, noisy_generator, noisy_fresh_generator, noisy_randomstate, noisy_raw,
         noisy_via_helper]

TRANSFORMS = {
    "trace": lambda f: cc.trace(f, X),
    "trace_spec": lambda f: cc.trace(f, cc.Spec("f64[6]")),
    "compile": lambda f: cc.compile(f)(X),
    "grad": lambda f: cc.grad(lambda x: f(x).sum())(X),
    "value_and_grad": lambda f: cc.value_and_grad(lambda x: f(x).sum())(X),
    "jvp": lambda f: cc.jvp(f, (X,), (X,)),
    "vjp": lambda f: cc.vjp(f, X),
    "jacrev": lambda f: cc.jacrev(f)(X),
    "compile_grad": lambda f: cc.compile(cc.grad(lambda x: f(x).sum()))(X),
}


@pytest.mark.parametrize("how", sorted(TRANSFORMS))
@pytest.mark.parametrize("fn", NOISY, ids=lambda f: f.__name__)
def test_np_random_in_a_trace_is_a_trace_error_at_the_users_line(fn, how):
    with pytest.raises(cc.TraceError) as e:
        TRANSFORMS[how](fn)
    msg = str(e.value)
    where = _helper_draw if fn is noisy_via_helper else fn
    assert f"test_random_guard.py:{_line_of(where, '# DRAW')} in {where.__name__}" in msg, msg
    assert "pass the noise in as an argument" in msg.lower() and "cc.random" in msg
    assert "called inside a traced function" in msg
    # and nothing stays switched on: the same calls work outside a trace
    assert np.random.rand(2).shape == (2,) and RNG.normal(size=2).shape == (2,)


def test_the_message_names_the_function():
    with pytest.raises(cc.TraceError, match=r"np\.random\.normal called"):
        cc.trace(noisy_module, X)
    with pytest.raises(cc.TraceError, match=r"np\.random\.Generator\.normal called"):
        cc.trace(noisy_generator, X)
    with pytest.raises(cc.TraceError, match=r"np\.random\.RandomState\.randn called"):
        cc.trace(noisy_randomstate, X)


@pytest.mark.parametrize("name,args", [("rand", (3,)), ("randn", (3,)), ("random", (3,)), ("uniform", ()),
                                       ("normal", ()), ("randint", (5,)), ("choice", (5,)), ("permutation", (5,)),
                                       ("standard_normal", ()), ("binomial", (3, 0.5)), ("exponential", ())])
def test_every_module_draw_is_guarded(name, args):
    with pytest.raises(cc.TraceError, match=f"np.random.{name} called"):
        cc.trace(lambda x: x + getattr(np.random, name)(*args), X)


@pytest.mark.parametrize("name,args", [("normal", ()), ("uniform", ()), ("random", (3,)), ("integers", (5,)),
                                       ("standard_normal", (2,)), ("choice", (4,)), ("permutation", (4,)),
                                       ("exponential", ()), ("bytes", (2,))])
def test_every_generator_draw_is_guarded(name, args):
    rng = np.random.default_rng(5)
    with pytest.raises(cc.TraceError, match=f"Generator.{name} called"):
        cc.trace(lambda x: x + np.float64(len(np.atleast_1d(getattr(rng, name)(*args)))), X)


def test_making_or_seeding_a_generator_is_not_a_draw():
    def f(x):
        np.random.default_rng(0)
        np.random.seed(0)
        np.random.get_state()
        return x * 2
    np.testing.assert_array_equal(cc.compile(f)(X), X * 2)


def test_outside_a_trace_the_numbers_are_numpys():
    # the guards call the original methods: the same seed gives the same stream as the unguarded code
    a = np.random.default_rng(42)
    b = np.random.default_rng(42)
    np.testing.assert_array_equal(a.normal(size=5), np.random.Generator.normal.__wrapped__(b, size=5))
    np.random.seed(7)
    first = np.random.rand(4)
    np.random.seed(7)
    np.testing.assert_array_equal(first, np.random.mtrand._rand.rand(4))       # the global RandomState
    assert np.random.rand.__wrapped__.__self__ is np.random.mtrand._rand


def test_noise_passed_as_an_argument_is_fresh_every_call():
    f = cc.compile(lambda x, noise: x + 0.1 * noise)
    rng = np.random.default_rng(3)
    n1, n2 = rng.normal(size=6), rng.normal(size=6)
    np.testing.assert_allclose(f(X, n1), X + 0.1 * n1)
    np.testing.assert_allclose(f(X, n2), X + 0.1 * n2)
    assert not np.allclose(f(X, n1), f(X, n2))


def test_a_trace_in_one_thread_leaves_np_random_alone_in_others():
    inside, release = threading.Event(), threading.Event()
    errors, drawn = [], []

    def slow(x):
        inside.set()
        release.wait(10)
        return x + np.random.rand(6)

    def tracer():
        try:
            cc.trace(slow, X)
        except cc.TraceError as e:
            errors.append(e)

    t = threading.Thread(target=tracer)
    t.start()
    assert inside.wait(10)
    try:
        # this thread is not tracing while the other one is mid-trace
        drawn.append(np.random.rand(3))
        drawn.append(RNG.normal(size=3))
        drawn.append(np.random.RandomState(1).randn(3))
    finally:
        release.set()
        t.join(10)
    assert len(drawn) == 3 and all(d.shape == (3,) for d in drawn)
    assert len(errors) == 1 and "np.random.rand called" in str(errors[0])


def test_a_generator_seeded_inside_the_trace_is_a_constant():
    # the Python function draws the same numbers at every call too: baking them in is what it means
    def f(x):
        w = np.random.default_rng(3).standard_normal(6)
        return x * w + np.random.default_rng(seed=4).permutation(6)
    want = X * np.random.default_rng(3).standard_normal(6) + np.random.default_rng(4).permutation(6)
    np.testing.assert_allclose(cc.compile(f)(X), want)
    np.testing.assert_allclose(cc.grad(lambda x: f(x).sum())(X), np.random.default_rng(3).standard_normal(6))


def test_a_generator_seeded_in_one_trace_is_refused_in_the_next():
    kept = []

    def make(x):
        kept.append(np.random.default_rng(0))
        return x + kept[0].normal()             # fine: seeded inside this trace

    def reuse(x):
        return x + kept[0].normal()             # its state moved on since: a draw like any outside generator

    cc.trace(make, X)
    with pytest.raises(cc.TraceError, match="Generator.normal called"):
        cc.trace(reuse, X)


def test_an_unseeded_generator_inside_the_trace_is_refused():
    with pytest.raises(cc.TraceError, match="Generator.normal called"):
        cc.trace(lambda x: x + np.random.default_rng().normal(), X)
