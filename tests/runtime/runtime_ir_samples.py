"""LLVM IR samples with the runtime ABI's shape, `void f(ptr bufs, ptr dims)`: shared by the runtime tests and
benchmarks/bench_runtime.py."""
from runtime import blas

# y[i] = x[i] + 1 over n = dims[0] floats: the smallest kernel with the ABI's shape (bufs, dims).
ADD1_IR = """
define void @add1(ptr noalias %bufs, ptr noalias %dims) {
entry:
  %x = load ptr, ptr %bufs
  %yp = getelementptr ptr, ptr %bufs, i64 1
  %y = load ptr, ptr %yp
  %n = load i64, ptr %dims
  %c = icmp sgt i64 %n, 0
  br i1 %c, label %loop, label %done
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %xp = getelementptr float, ptr %x, i64 %i
  %v = load float, ptr %xp
  %r = fadd float %v, 1.0
  %yq = getelementptr float, ptr %y, i64 %i
  store float %r, ptr %yq
  %i1 = add i64 %i, 1
  %e = icmp eq i64 %i1, %n
  br i1 %e, label %done, label %loop
done:
  ret void
}
"""


def gemm_ir(sym: str, fty: str, int_bits: int) -> str:
    """C[M,N] = A[M,K] @ B[K,N] (row-major) through CBLAS; bufs = (A, B, C), dims = (M, N, K)."""
    it = f"i{int_bits}"
    cast = (lambda v: v) if int_bits == 64 else (lambda v: f"%{v[1:]}t")
    trunc = "" if int_bits == 64 else "\n".join(
        f"  %{v}t = trunc i64 %{v} to i32" for v in ("m", "n", "k"))
    return f"""
declare void @{sym}(i32, i32, i32, {it}, {it}, {it}, {fty}, ptr, {it}, ptr, {it}, {fty}, ptr, {it})
define void @mm(ptr %bufs, ptr %dims) {{
  %a = load ptr, ptr %bufs
  %bp = getelementptr ptr, ptr %bufs, i64 1
  %b = load ptr, ptr %bp
  %cp = getelementptr ptr, ptr %bufs, i64 2
  %c = load ptr, ptr %cp
  %m = load i64, ptr %dims
  %np = getelementptr i64, ptr %dims, i64 1
  %n = load i64, ptr %np
  %kp = getelementptr i64, ptr %dims, i64 2
  %k = load i64, ptr %kp
{trunc}
  call void @{sym}(i32 {blas.CBLAS_ROW_MAJOR}, i32 {blas.CBLAS_NO_TRANS}, i32 {blas.CBLAS_NO_TRANS}, \
{it} {cast('%m')}, {it} {cast('%n')}, {it} {cast('%k')}, {fty} 1.0, ptr %a, {it} {cast('%k')}, \
ptr %b, {it} {cast('%n')}, {fty} 0.0, ptr %c, {it} {cast('%n')})
  ret void
}}
"""
