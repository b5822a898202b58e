"""Data-dependent indices are checked as NumPy checks them: IndexError at the user's line, never junk or a clamp."""
from __future__ import annotations

import re

import numpy as np
import pytest

import compiler as cc
from compiler import primitives as P
from compiler.lower.checks import STATUS_WORDS
from runtime import status as rt_status

_HERE = "test_index_checks.py"


def _numpy_error(fn, *args):
    with pytest.raises(IndexError) as e:
        fn(*args)
    return str(e.value)


def _line_of(text):
    """The line number of the first line of this file holding `text`."""
    with open(__file__) as fh:
        for k, line in enumerate(fh, 1):
            if text in line:
                return k
    raise AssertionError(text)


def gather(t, i):
    return t[i] * 2.0                                      # LINE gather


def test_gather_out_of_range_raises_numpy_index_error_at_the_users_line():
    f = cc.compile(gather)
    t = np.arange(5.0)
    np.testing.assert_array_equal(f(t, np.array([0, 4, -1, -5])), t[[0, 4, -1, -5]] * 2)
    for bad in ([7], [1, 5], [-6], [2, -7, 0]):
        i = np.array(bad)
        want = _numpy_error(lambda: t[i])
        with pytest.raises(IndexError) as e:
            f(t, i)
        msg = str(e.value)
        assert msg.splitlines()[0] == want                  # "index 7 is out of bounds for axis 0 with size 5"
        assert f"{_HERE}:{_line_of('# LINE gather')} in gather" in msg
    assert f.cache_info()["compiles"] == 2                 # the second index length: the symbolic version
    np.testing.assert_array_equal(f(t, np.array([3])), [6.0])     # a failed call leaves nothing behind


def test_take_modes():
    t = np.arange(10.0).reshape(2, 5)
    raise_ = cc.compile(lambda t, i: np.take(t, i, axis=1))
    clip = cc.compile(lambda t, i: np.take(t, i, axis=1, mode="clip"))
    flat = cc.compile(lambda t, i: np.take(t, i))
    i = np.array([[0, 4], [-1, 2]])
    np.testing.assert_array_equal(raise_(t, i), np.take(t, i, axis=1))
    bad = np.array([6, -1, 9, -8])
    # several bad indices: NumPy names the first, compiled code one of them (checks are reductions, see llvm.py)
    with pytest.raises(IndexError, match=r"^index (6|9|-8) is out of bounds for axis 1 with size 5"):
        raise_(t, bad)
    np.testing.assert_array_equal(clip(t, bad), np.take(t, bad, axis=1, mode="clip"))
    with pytest.raises(IndexError, match="index 10 is out of bounds for axis 0 with size 10"):
        flat(t, np.array([3, 10]))


def test_multi_axis_index_checks_each_component():
    x = np.arange(12.0).reshape(4, 3)
    f = cc.compile(lambda x, i, j: x[i, j])
    np.testing.assert_array_equal(f(x, np.array([0, 3, -1]), np.array([2, 0, -3])),
                                  x[np.array([0, 3, -1]), np.array([2, 0, -3])])
    for i, j in (([0], [3]), ([4], [0]), ([0], [-4]), ([-5], [1])):
        i, j = np.array(i), np.array(j)
        want = _numpy_error(lambda: x[i, j])
        with pytest.raises(IndexError, match=re.escape(want)):
            f(x, i, j)
    # the classic NumPy cross entropy: rows by arange, columns by label
    g = cc.compile(lambda lp, y: -lp[np.arange(lp.shape[0]), y].mean())
    lp = np.log(np.full((2, 3), 1 / 3))
    assert np.isclose(g(lp, np.array([0, 2])), np.log(3))
    with pytest.raises(IndexError, match=re.escape(_numpy_error(lambda: lp[np.arange(2), np.array([0, 3])]))):
        g(lp, np.array([0, 3]))


def test_cross_entropy_labels():
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], np.float32)
    f = cc.compile(cc.nn.cross_entropy)

    def ref(lg, y):
        lg = lg.astype(np.float64)
        ls = lg - lg.max(-1, keepdims=True)
        ls = ls - np.log(np.exp(ls).sum(-1, keepdims=True))
        return -ls[np.arange(len(y)), y].mean()
    for y in ([0, 2], [2, -1], [-3, 1]):                   # negative labels wrap, as NumPy indexing does
        y = np.array(y)
        np.testing.assert_allclose(f(logits, y), ref(logits, y), rtol=1e-6)
        np.testing.assert_allclose(cc.nn.cross_entropy(logits, y), ref(logits, y), rtol=1e-6)
    for y in ([0, 3], [-4, 0], [1, 7]):
        y = np.array(y)
        want = _numpy_error(lambda: ref(logits, y))
        with pytest.raises(IndexError, match=re.escape(want)):
            f(logits, y)
        with pytest.raises(IndexError, match=re.escape(want)):
            cc.nn.cross_entropy(logits, y)                   # eager (reference) too
    vg = cc.compile(cc.value_and_grad(cc.nn.cross_entropy))
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        vg(logits, np.array([0, 3]))


def test_take_along_axis_labels():
    x = np.arange(6.0).reshape(2, 3)
    f = cc.compile(lambda x, i: np.take_along_axis(x, i, axis=1))
    np.testing.assert_array_equal(f(x, np.array([[2], [-1]])), np.take_along_axis(x, np.array([[2], [-1]]), 1))
    with pytest.raises(IndexError, match="out of bounds for axis 1 with size 3"):
        f(x, np.array([[0], [3]]))


def test_gradient_of_a_gather_checks_its_indices():
    # the forward gather is dead in grad's graph: the scatter of its transpose checks the same indices
    g = cc.compile(cc.grad(lambda x, i: (x[i] ** 2).sum()))
    x = np.arange(5.0)
    i = np.array([1, 1, -1])
    want = np.zeros(5)
    np.add.at(want, i, 2 * x[i])
    np.testing.assert_allclose(g(x, i), want)
    with pytest.raises(IndexError, match="index 9 is out of bounds for axis 0 with size 5"):
        g(x, np.array([1, 9]))
    with pytest.raises(IndexError, match="index -6 is out of bounds"):
        cc.grad(lambda x, i: (x[i] ** 2).sum())(x, np.array([-6]))


def test_symbolic_and_large_parallel_gathers():
    f = cc.compile(lambda t, i: np.tanh(t[i]))
    low = f.lower(cc.Spec("f32[N]"), cc.Spec("i64[M]"))
    assert "check_index" in str(low.kernels)
    rng = np.random.default_rng(0)
    for n, m in ((5, 3), (1000, 1 << 16), (7, 0)):
        t = rng.standard_normal(n).astype(np.float32)
        i = rng.integers(-n, n, m)
        np.testing.assert_allclose(f(t, i), np.tanh(t[i]), rtol=1e-6)
        if m:
            bad = i.copy()
            bad[m // 2] = n + 3                               # one bad index among many, threads racing
            with pytest.raises(IndexError, match=f"index {n + 3} is out of bounds for axis 0 with size {n}"):
                f(t, bad)
    # the empty i gets a version of its own: symbolic versions rely on sizes >= 1 (a guard, see compiler/guards.py)
    assert f.cache_info()["compiles"] == 2


def test_check_indices_false_clamps_and_never_raises():
    f = cc.compile(lambda t, i: t[i], check_indices=False)
    t = np.arange(5.0)
    np.testing.assert_array_equal(f(t, np.array([1, 7, -1, -9])), t[np.clip(np.array([1, 7, 4, -4]), 0, 4)])
    assert "check_index" not in str(f.lower(t, np.array([1])).kernels)
    assert "status" not in str(f.lower(t, np.array([1])).kernels)
    ce = cc.compile(cc.nn.cross_entropy, check_indices=False)
    assert np.isfinite(ce(np.zeros((2, 3), np.float32), np.array([0, 5])))


def test_programs_without_data_dependent_indices_have_no_status():
    f = cc.compile(lambda x: x[1:3] * 2 + x[np.array([0, 2])])
    low = f.lower(np.arange(4.0))
    assert "status" not in str(low.kernels) and not low.executable._checks


def test_each_function_reports_its_own_line_through_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path))

    def first(t, i):
        return t[i]                                         # LINE first

    def second(t, i):
        return t[i]                                         # LINE second
    t, bad = np.arange(3.0), np.array([3])
    for fn, tag in ((first, "first"), (second, "second"), (first, "first")):
        with pytest.raises(IndexError) as e:
            cc.compile(fn)(t, bad)
        assert f"{_HERE}:{_line_of('# LINE ' + tag)} in {tag}" in str(e.value)


def test_status_runtime_maps_sites_to_exceptions():
    sites = [{"exc": "IndexError", "message": "index {value} is out of bounds for axis {axis} with size {bound}",
              "axis": 1, "wrap": True, "where": "\n  at m.py:3 in f"},
             {"exc": "ValueError", "message": "size {value} < {bound}", "where": ""}]
    st = np.zeros(STATUS_WORDS, np.int64)
    assert rt_status.error(st, sites) is None
    st[:3] = [1, -2, 5]
    e = rt_status.error(st, sites)
    assert isinstance(e, IndexError) and str(e) == "index -7 is out of bounds for axis 1 with size 5\n  at m.py:3 in f"
    st[:3] = [2, 1, 4]
    with pytest.raises(ValueError, match="size 1 < 4"):
        rt_status.raise_for(st, sites)
    st[0] = 9
    assert isinstance(rt_status.error(st, sites), RuntimeError)


def test_reference_primitives_raise_like_numpy():
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        P.take(np.arange(3.0), np.array([3]), axis=0)
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 1 with size 4"):
        P.one_hot(np.array([4]), num_classes=4)
    with pytest.raises(IndexError, match="index 2 is out of bounds for axis 0 with size 2"):
        P.check_index(np.array([0, 2]), size=2, axis=0)


def test_cuda_backend_emits_the_status_word():
    f = cc.compile(lambda t, i: t[i] + 1, backend="cuda")
    low = f.lower(np.zeros(5, np.float32), np.zeros(3, np.int64))
    ptx = low.ptx()
    assert re.search(r"atom\.[\w.]*cas\.b64", ptx)
    assert low.executable._checks[0]["exc"] == "IndexError"
    n_params = len(re.findall(r"\.param \.u64", ptx.split("{")[0]))
    assert n_params >= 4                                     # t, i, out, status


def test_check_index_primitive_compiled_keeps_its_dtype():
    f = cc.compile(lambda i: P.check_index(i, size=4, axis=0) * 2)
    out = f(np.array([1, 3], np.int32))
    assert out.dtype == np.int32 and out.tolist() == [2, 6]
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 0 with size 4"):
        f(np.array([1, 4], np.int32))


def test_threads_report_only_their_own_failures():
    from helpers import run_in_threads
    f = cc.compile(lambda t, i: t[i] + 1.0)
    t = np.arange(100.0)
    good, bad = np.arange(50) % 100, np.full(50, 120)
    f(t, good)

    def work(k):
        for r in range(40):
            if (k + r) % 3 == 0:
                with pytest.raises(IndexError, match="index 120 is out of bounds"):
                    f(t, bad)
            else:
                np.testing.assert_array_equal(f(t, good), t[good] + 1.0)
    run_in_threads(work, n=4)


def test_gather_from_an_empty_axis():
    f = cc.compile(lambda t, i: t[i] + 1)
    with pytest.raises(IndexError, match=re.escape(_numpy_error(lambda: np.zeros(0)[np.array([0, 0])]))):
        f(np.zeros(0), np.array([0, 0]))
    assert f(np.zeros(0), np.zeros(0, np.int64)).shape == (0,)


def test_python_int_argument_as_an_index():
    f = cc.compile(lambda x, k: x[k] * 2)
    x = np.arange(5.0)
    assert f(x, 3) == 6.0 and f(x, -1) == 8.0
    with pytest.raises(IndexError, match=re.escape(_numpy_error(lambda: x[7]))):
        f(x, 7)
    assert f.cache_info()["compiles"] == 1


def test_program_table_keeps_checked_and_unchecked_apart():
    def f(t, i):
        return t[i]
    t, bad = np.arange(3.0), np.array([5])
    with pytest.raises(IndexError):
        cc.compile(f)(t, bad)
    assert cc.compile(f, check_indices=False)(t, bad).tolist() == [2.0]
    with pytest.raises(IndexError):
        cc.compile(f)(t, bad)
