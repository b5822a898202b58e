"""Every runtime test gets its own empty code cache and the default call mode."""
import pytest

from runtime_ir_samples import ADD1_IR


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("VIVE_NO_CACHE", "VIVE_CALL", "VIVE_NO_BLAS"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path / "cache"




@pytest.fixture
def add1_ir():
    return ADD1_IR
