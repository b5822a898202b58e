"""Every runtime test gets its own empty code cache and the default call mode."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("VIVE_NO_CACHE", "VIVE_CALL", "VIVE_NO_BLAS"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path / "cache"


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


@pytest.fixture
def add1_ir():
    return ADD1_IR
