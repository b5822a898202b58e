"""Generated code calling into native libraries: numpy's bundled CBLAS and libgomp."""
import numpy as np
import pytest

from runtime import abi, blas, compile_module, jit
from runtime_ir_samples import gemm_ir


@pytest.fixture(scope="module")
def syms():
    s = blas.blas_symbols()
    if s is None:
        pytest.skip("no CBLAS found next to numpy")
    return s


def test_blas_symbols_shape(syms):
    assert syms["layout"] == "cblas" and syms["int_bits"] in (32, 64)
    assert syms["sgemm"] and syms["dgemm"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_through_blas_matches_numpy(syms, dtype):
    fty, sym = ("float", syms["sgemm"]) if dtype == np.float32 else ("double", syms["dgemm"])
    call = abi.make_caller(compile_module(gemm_ir(sym, fty, syms["int_bits"])), "mm", 3, 3)
    rng = np.random.default_rng(1)
    for m, n, k in [(1, 1, 1), (3, 5, 7), (64, 33, 100)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        c = np.empty((m, n), dtype)
        call(a, b, c, m, n, k)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(c, a @ b, rtol=tol, atol=tol)


def test_no_blas_env(monkeypatch):
    monkeypatch.setenv("VIVE_NO_BLAS", "1")
    assert blas.blas_symbols() is None


# y[i] = 2*x[i] + 1 split over the team by GOMP_parallel; who[i] = the OpenMP thread that wrote element i.
OMP_IR = """
declare void @GOMP_parallel(ptr, ptr, i32, i32)
declare i32 @omp_get_thread_num()
declare i32 @omp_get_num_threads()

define internal void @body(ptr %data) {
entry:
  %x = load ptr, ptr %data
  %yp = getelementptr i8, ptr %data, i64 8
  %y = load ptr, ptr %yp
  %wp = getelementptr i8, ptr %data, i64 16
  %who = load ptr, ptr %wp
  %np = getelementptr i8, ptr %data, i64 24
  %n = load i64, ptr %np
  %tid32 = call i32 @omp_get_thread_num()
  %nt32 = call i32 @omp_get_num_threads()
  %tid = sext i32 %tid32 to i64
  %nt = sext i32 %nt32 to i64
  %n1 = add i64 %n, %nt
  %n2 = sub i64 %n1, 1
  %chunk = sdiv i64 %n2, %nt
  %s0 = mul i64 %tid, %chunk
  %e0 = add i64 %s0, %chunk
  %sc = icmp slt i64 %s0, %n
  %s = select i1 %sc, i64 %s0, i64 %n
  %ec = icmp slt i64 %e0, %n
  %e = select i1 %ec, i64 %e0, i64 %n
  %any = icmp slt i64 %s, %e
  br i1 %any, label %loop, label %done
loop:
  %i = phi i64 [%s, %entry], [%i1, %loop]
  %xp = getelementptr double, ptr %x, i64 %i
  %v = load double, ptr %xp
  %v2 = fmul double %v, 2.0
  %r = fadd double %v2, 1.0
  %yq = getelementptr double, ptr %y, i64 %i
  store double %r, ptr %yq
  %wq = getelementptr i64, ptr %who, i64 %i
  store i64 %tid, ptr %wq
  %i1 = add i64 %i, 1
  %more = icmp slt i64 %i1, %e
  br i1 %more, label %loop, label %done
done:
  ret void
}

define void @par(ptr %bufs, ptr %dims) {
  %args = alloca [4 x i64], align 8
  %x = load ptr, ptr %bufs
  store ptr %x, ptr %args
  %yp = getelementptr ptr, ptr %bufs, i64 1
  %y = load ptr, ptr %yp
  %a1 = getelementptr i8, ptr %args, i64 8
  store ptr %y, ptr %a1
  %wp = getelementptr ptr, ptr %bufs, i64 2
  %w = load ptr, ptr %wp
  %a2 = getelementptr i8, ptr %args, i64 16
  store ptr %w, ptr %a2
  %n = load i64, ptr %dims
  %a3 = getelementptr i8, ptr %args, i64 24
  store i64 %n, ptr %a3
  %ntp = getelementptr i64, ptr %dims, i64 1
  %nt64 = load i64, ptr %ntp
  %nt = trunc i64 %nt64 to i32
  call void @GOMP_parallel(ptr @body, ptr %args, i32 %nt, i32 0)
  ret void
}
"""


@pytest.mark.skipif(not jit.has_openmp(), reason="libgomp.so.1 is not installed")
def test_gomp_parallel_outlined_body():
    call = abi.make_caller(compile_module(OMP_IR), "par", 3, 2)
    for n in (1, 2, 1001, 100_000):
        x = np.random.default_rng(n).standard_normal(n)
        y = np.empty_like(x)
        who = np.full(n, -1, np.int64)
        call(x, y, who, n, 2)
        np.testing.assert_array_equal(y, 2 * x + 1)
        # Both team members took a contiguous half (only one when there is a single element).
        assert set(who.tolist()) == ({0} if n == 1 else {0, 1})


def test_cached_blas_object_loads_in_fresh_process(syms, _isolated_cache):
    import os
    import subprocess
    import sys
    src = gemm_ir(syms["sgemm"], "float", syms["int_bits"])
    compile_module(src)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Nothing in the child asks for BLAS before loading the cached object that calls it.
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import numpy as np\n"
            "from runtime import compile_module, make_caller\n"
            "cm = compile_module(sys.stdin.read())\n"
            "a = np.ones((2, 3), np.float32); b = np.ones((3, 4), np.float32); c = np.empty((2, 4), np.float32)\n"
            "make_caller(cm, 'mm', 3, 3)(a, b, c, 2, 4, 3)\n"
            "print(cm.cache_hit, float(c.sum()))\n" % root)
    out = subprocess.run([sys.executable, "-c", code], input=src, capture_output=True, text=True,
                         env={**os.environ, "VIVE_CACHE_DIR": str(_isolated_cache)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "24.0"]
