"""The call path of a signature seen before (CompiledFunction.__call__ -> Executable.runner()): every layout,
dtype and pytree that does not fit the prebuilt runner still takes the checked path and gets NumPy's answer."""
import numpy as np

import compiler as cc


def test_prebuilt_runner_with_constants_matches_numpy():
    c = np.arange(8, dtype=np.float32)
    f = cc.compile(lambda x: x * 2 + c)
    x = np.linspace(-1, 1, 8).astype(np.float32)
    for _ in range(3):                                   # the first call compiles, the others take the runner
        np.testing.assert_allclose(f(x), x * 2 + c, rtol=1e-6)
    assert f.cache_info()["compiles"] == 1 and f.cache_info()["hits"] == 2
    a, b = f(x), f(x)
    assert a is not b and not np.shares_memory(a, b)     # a fresh output each call


def test_layouts_that_miss_the_runner_are_converted():
    f = cc.compile(lambda x: x + 1)
    x = np.arange(8, dtype=np.float32)
    f(x), f(x)
    strided = np.arange(16, dtype=np.float32)[::2]
    np.testing.assert_array_equal(f(strided), strided + 1)
    raw = np.zeros(8 * 4 + 1, np.uint8)[1:].view(np.float32)      # misaligned by one byte
    raw[:] = np.arange(8)
    assert not raw.flags.aligned
    np.testing.assert_array_equal(f(raw), raw + 1)
    np.testing.assert_array_equal(f(x.astype(np.float64)), x.astype(np.float64) + 1)    # another dtype
    np.testing.assert_array_equal(f(x), x + 1)


def test_several_arguments_and_pytrees():
    f = cc.compile(lambda a, b: a * b - 1)
    a, b = np.arange(6.0).reshape(2, 3), np.full((2, 3), 3.0)
    for _ in range(3):
        np.testing.assert_array_equal(f(a, b), a * b - 1)
    np.testing.assert_array_equal(f(a, b.T.copy().T), a * b - 1)     # F-ordered second argument
    g = cc.compile(lambda d: d["u"] + d["v"].sum())
    d = {"u": np.ones(3), "v": np.arange(4.0)}
    for _ in range(3):
        np.testing.assert_array_equal(g(d), d["u"] + 6.0)


def test_host_callbacks_survive_the_runner(capsys):
    def f(x):
        cc.debug.print("s={}", x.sum())
        return x * 2
    g = cc.compile(f)
    x = np.ones(4, np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(g(x), x * 2)
    assert capsys.readouterr().out.count("s=4") == 3


def test_one_shape_several_dtypes_and_byte_orders():
    f = cc.compile(lambda x: x * 3)
    a32, a64 = np.arange(5, dtype=np.float32), np.arange(5, dtype=np.float64)
    big = a32.astype(">f4")
    for _ in range(3):                       # the shape-keyed entry holds one dtype; the others still answer right
        for a in (a32, a64, big, a32.astype(np.int32)):
            r = f(a)
            np.testing.assert_array_equal(r, a * 3)
            assert r.dtype == (a * 3).dtype.newbyteorder("=")


def test_runner_misses_on_layout_for_every_kind_of_executable():
    c = np.float32(0.5) * np.arange(6, dtype=np.float32)
    fns = {"lean": lambda x: x + 1, "two outputs": lambda x: (x + 1, x * 2), "constants": lambda x: x * c,
           "checked gather": lambda x: x[np.array([5, 0, 2])]}
    x = np.arange(6, dtype=np.float32)
    strided = np.arange(12, dtype=np.float32)[::2]
    raw = np.zeros(6 * 4 + 1, np.uint8)[1:].view(np.float32)
    raw[:] = x
    for name, fn in fns.items():
        f = cc.compile(fn)
        for a in (x, x, strided, raw, x):
            np.testing.assert_equal(f(a), fn(a.copy()), err_msg=name)
