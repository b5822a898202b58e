"""Memory plan: temporaries whose lifetimes do not overlap share slots; inputs/outputs never do."""
from __future__ import annotations

import numpy as np

import compiler as cc


def test_dead_temporaries_share_a_slot():
    a = np.ones((64, 64), np.float32)

    def f(a):
        t1 = a @ a          # each product is a temporary read by the next one only
        t2 = t1 @ a
        t3 = t2 @ a
        return t3 @ a
    prog = cc.compile(f).lower(a).kernels
    temps = [b for b in prog.buffers if b.role == "temp"]
    assert len(temps) == 3
    assert len({b.slot for b in temps}) == 2              # t1 and t3 live apart
    r = cc.compile(f)(a)
    np.testing.assert_allclose(r, a @ a @ a @ a @ a, rtol=1e-5)


def test_outputs_and_inputs_get_their_own_slots():
    a = np.ones(16, np.float32)
    prog = cc.compile(lambda a: (a * 2, a + 1, np.exp(a).sum())).lower(a).kernels
    fixed = [b.slot for b in prog.buffers if b.role in ("input", "output")]
    assert len(set(fixed)) == len(fixed)
    temps = [b.slot for b in prog.buffers if b.role in ("temp", "scratch")]
    assert not set(temps) & set(fixed)


def test_symbolic_sizes_scratch_is_sized_per_call():
    f = cc.compile(lambda a: np.tanh(a @ a.T) @ a)
    low = f.lower(cc.Spec("f32[N,8]"))
    for n in (3, 17, 64):
        a = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32)
        np.testing.assert_allclose(low(a), np.tanh(a @ a.T) @ a, rtol=1e-4, atol=1e-5)
