"""examples/per_example_grads.py on a few examples: compiled vmap(grad) equals the loop of per-example gradients."""
from __future__ import annotations

import numpy as np

from test_train import example


def test_per_example_grads_example_matches_its_loop(capsys):
    ex = example("per_example_grads")
    out = ex.main(["--n", "12", "--reps", "1"])
    assert out["norms"].shape == (12,) and np.all(out["norms"] > 0)
    np.testing.assert_allclose(out["norms"], out["loop_norms"], rtol=1e-4)
    assert out["max_abs_err"] < 1e-5 and out["mean_err"] < 1e-5
    assert "compiled vmap(grad)" in capsys.readouterr().out
