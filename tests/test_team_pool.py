"""One OpenMP team per call for programs with big gemms (codegen/llvm_team.py): the gemms cut into column chunks
and the parallel loops into row chunks that the threads take from a shared counter. The results equal NumPy's for
sizes that split unevenly, on 1, 2 and 3 threads, when the thread count changes between calls, and with the team's
region nested in control flow and vmap (no deadlock: a nested fork gets one thread)."""
import numpy as np
import pytest

import compiler as cc
import runtime
from compiler.compile import set_num_threads

blas = runtime.blas_symbols()
pytestmark = pytest.mark.skipif(blas is None or not blas.get("set_num_threads") or not runtime.has_openmp(),
                                reason="needs a CBLAS with a thread count and libgomp")
rng = np.random.default_rng(13)


@pytest.fixture
def threads():
    yield set_num_threads
    set_num_threads(0)


def mlp_loss(w1, w2, x, y):
    h = np.tanh(x @ w1)
    z = h @ w2
    return ((z - y) ** 2).mean() + (h * h).sum() * 1e-3


def _data(dtype):
    # 37 x 300 @ 300 x 129: 1.4M multiply-adds (over the team's bar), 129 columns = chunks of 16..48 + a tail
    w1 = (rng.standard_normal((300, 129)) * 0.1).astype(dtype)
    w2 = (rng.standard_normal((129, 11)) * 0.1).astype(dtype)
    x = rng.standard_normal((37, 300)).astype(dtype)
    y = rng.standard_normal((37, 11)).astype(dtype)
    return w1, w2, x, y


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_step_equals_numpy_on_n_threads(threads, n, dtype):
    args = _data(dtype)
    grad = cc.value_and_grad(mlp_loss, argnums=(0, 1))
    step = cc.compile(grad)
    assert ".team.body" in step.lower(*args).llvm_ir()
    threads(n)
    (l, (g1, g2)), (el, (eg1, eg2)) = step(*args), grad(*args)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(l, el, rtol=tol)
    np.testing.assert_allclose(g1, eg1, rtol=tol, atol=tol)
    np.testing.assert_allclose(g2, eg2, rtol=tol, atol=tol)


def test_thread_count_changes_between_calls(threads):
    w1, w2, x, y = _data(np.float64)
    f = cc.compile(lambda w1, w2, x: np.maximum(x @ w1, 0.0) @ w2 + np.exp(x[:, :11]))
    want = np.maximum(x @ w1, 0.0) @ w2 + np.exp(x[:, :11])
    for n in (2, 1, 3, 2, 1):
        threads(n)
        np.testing.assert_allclose(f(w1, w2, x), want, rtol=1e-12)


def test_transposed_operands_and_a_big_elementwise_loop(threads):
    # a.T @ b (the weight gradient's shape) with 203 columns, and a loop of 203 x 257 elements split by rows
    a = rng.standard_normal((257, 131))
    b = rng.standard_normal((257, 203))
    c = rng.standard_normal((203, 257))

    def f(a, b, c):
        return a.T @ b, np.sin(c) * 2.0 + c.T.sum()
    fc = cc.compile(f)
    assert ".team.body" in fc.lower(a, b, c).llvm_ir()
    threads(2)
    for got, want in zip(fc(a, b, c), f(a, b, c)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


def test_nested_in_cond_scan_and_vmap(threads):
    # big gemms inside a cond's branch, inside a scan body, and under vmap: every fork nested in another region
    # gets one thread; none waits for a team that never comes
    w = rng.standard_normal((160, 160)) * 0.05
    xs = rng.standard_normal((3, 64, 160))

    def body(h, x):
        return np.tanh(h @ w + x), (h * h).sum()

    def f(h0, xs, p):
        return cc.cond(p > 0, lambda h: cc.scan(body, h, xs)[0], lambda h: h @ w, h0)

    def ref(h0, xs, p):
        if p > 0:
            h = h0
            for x in xs:
                h = np.tanh(h @ w + x)
            return h
        return h0 @ w
    threads(2)
    h0 = rng.standard_normal((64, 160))
    fc = cc.compile(f)
    for p in (1.0, -1.0):
        np.testing.assert_allclose(fc(h0, xs, p), ref(h0, xs, p), rtol=1e-10, atol=1e-10)
    hb = rng.standard_normal((2, 64, 160))
    vf = cc.compile(cc.vmap(lambda h: cc.scan(body, h, xs)[0]))
    np.testing.assert_allclose(vf(hb), np.stack([ref(h, xs, 1.0) for h in hb]), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n", [2, 3])
def test_tall_gemms_split_by_rows(threads, n):
    # more rows than columns: chunks of rows of C (517 = uneven), A read as is, transposed, and B transposed
    a = rng.standard_normal((517, 200)).astype(np.float32)
    at = np.ascontiguousarray(a.T)
    b = rng.standard_normal((200, 33)).astype(np.float32)
    bt = np.ascontiguousarray(b.T)

    def f(a, at, b, bt):
        return a @ b, at.T @ b, a @ bt.T
    fc = cc.compile(f)
    assert ".team.body" in fc.lower(a, at, b, bt).llvm_ir()
    threads(n)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for got in fc(a, at, b, bt):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_own_kernels_in_team_chunks(threads, ta, tb):
    # 96 x 170 @ 170 x 203 (3.3M multiply-adds: the own kernels' range) in every layout: each chunk of columns (or
    # rows) is one call of an own kernel on a block of the operands; uneven tails
    a = rng.standard_normal((170, 96) if ta else (96, 170)).astype(np.float32)
    b = rng.standard_normal((203, 170) if tb else (170, 203)).astype(np.float32)

    def f(a, b):
        return np.tanh((a.T if ta else a) @ (b.T if tb else b)) * 0.5
    fc = cc.compile(f)
    ir_text = fc.lower(a, b).llvm_ir()
    assert ".team.body" in ir_text and "vive.gemm.f32" in ir_text
    want = np.tanh((a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)) * 0.5
    for n in (2, 3):
        threads(n)
        np.testing.assert_allclose(fc(a, b), want, rtol=2e-5, atol=2e-5)


def test_more_threads_than_claim_lanes(threads):
    # 70 threads share the 64 claim lanes of llvm_team_sync (two threads start on one lane); every chunk still runs
    # exactly once
    w1, w2, x, y = _data(np.float64)
    grad = cc.value_and_grad(mlp_loss, argnums=(0, 1))
    step = cc.compile(grad)
    threads(70)
    (l, (g1, g2)), (el, (eg1, eg2)) = step(w1, w2, x, y), grad(w1, w2, x, y)
    np.testing.assert_allclose(l, el, rtol=1e-10)
    np.testing.assert_allclose(g1, eg1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g2, eg2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_batched_gemm_loops_split_between_threads(threads, n):
    # a batched matmul (a loop of gemms) and a conv input gradient (per-image gemms) in a team program: the team
    # splits their iterations (llvm_team.batched_gemms); results equal the one-thread ones and NumPy's
    a = rng.standard_normal((13, 40, 70)).astype(np.float32)
    b = rng.standard_normal((13, 70, 50)).astype(np.float32)
    x = rng.standard_normal((11, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)

    def f(a, b, x, w):
        conv = lambda x: (cc.nn.conv2d(x, w) ** 2).sum()
        return np.tanh(a @ b), cc.grad(conv)(x)
    fc = cc.compile(f)
    text = fc.lower(a, b, x, w).llvm_ir()
    assert ".team.body" in text and "_convti.t0" in text      # the per-image gemm loop is a team statement
    threads(1)
    one = fc(a, b, x, w)
    threads(n)
    many = fc(a, b, x, w)
    want = np.tanh(a.astype(np.float64) @ b.astype(np.float64))
    np.testing.assert_allclose(many[0], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(many[1], cc.grad(lambda x: (cc.nn.conv2d(x, w) ** 2).sum())(x), rtol=1e-4, atol=1e-3)
    for p, q in zip(one, many):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-6)


def deep_mlp(ws, x):
    h = x
    for w in ws:
        h = np.tanh(h @ w) + 0.5 * h[:, :w.shape[1]]
    return (h * h).mean()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_long_team_bodies_run_in_segments(threads, n):
    # a six-layer step's team body holds well over SEGMENT statements: it is cut into member functions called in
    # turn (each compiles on its own, LLVM time grew faster than the one function's size), and the chunk numbering
    # carried from one to the next still orders every statement after the ones it reads
    from compiler.codegen.llvm_team import SEGMENT
    ws = [(rng.standard_normal((300, 300)) * 0.05).astype(np.float64) for _ in range(6)]
    x = rng.standard_normal((37, 300))
    grad = cc.value_and_grad(deep_mlp)
    step = cc.compile(grad)
    text = step.lower(ws, x).llvm_ir()
    assert '.team.body.s1"' in text
    assert text.count("vive.team.next") >= 2 * SEGMENT
    threads(n)
    (l, g), (el, eg) = step(ws, x), grad(ws, x)
    np.testing.assert_allclose(l, el, rtol=1e-10)
    for a, b in zip(g, eg):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_team_counts_its_members_preemptions(threads):
    # each member reads its involuntary context switches around its share (getrusage RUSAGE_THREAD), the entry adds
    # them up after the join and, past a threshold, runs the next calls with one thread fewer: the IR carries the
    # reads, the count and the countdown, and results stay NumPy's whichever team size a call gets
    from compiler.codegen import llvm_team_sync as sync
    w1, w2, x, y = _data(np.float64)
    f = cc.compile(lambda w1, w2, x: np.maximum(x @ w1, 0.0) @ w2)
    text = f.lower(w1, w2, x).llvm_ir()
    if "linux" not in runtime.host_target().triple:
        pytest.skip("counted on Linux only")
    assert text.count('call i32 @"getrusage"(i32 1,') == 2
    assert '@"vive.team.calm"' in text and '@"vive.team.hits"' in text
    assert sync.PREEMPTED > sync.PREEMPTION_STEP      # one call's burst of switches alone never shrinks the team
    want = np.maximum(x @ w1, 0.0) @ w2
    for n in (2, 3, 2):
        threads(n)
        for _ in range(3):
            np.testing.assert_allclose(f(w1, w2, x), want, rtol=1e-12)
