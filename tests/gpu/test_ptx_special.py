"""The SciPy compositions (special functions, distributions, logsumexp, convolve) through the cuda backend: PTX
for sm_80 and sm_90 is emitted and assembles, value and gradient; with a device the results equal the CPU
backend's."""
from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special as S
import scipy.stats

import compiler as cc
from test_cuda_catalogue import case_tests

R = np.random.default_rng(0)
X = R.uniform(0.2, 20.0, (3, 5))
K = R.standard_normal(3)


def _many(x):
    return (S.gammaln(x) + S.psi(x) + S.j0(x) + S.y1(x) + S.i0e(x) + S.ndtri(x / 21.0)
            + S.gammaincc(2.5, x) + scipy.stats.t.logcdf(x - 10.0, 3.0)
            + scipy.special.logsumexp(x, axis=1, keepdims=True) + scipy.signal.convolve(x, K[None, :], mode="same"))


def _few(x):
    return S.gammaln(x) + S.i1(x) + scipy.special.logsumexp(x, axis=0) + scipy.stats.norm.logpdf(x, 1.0, 2.0)


# (the gradient of all of _many is one large kernel, which takes ptxas over a minute: a smaller one here)
CASES = {"scipy_special_stats_signal": (_many, (X,)),
         "scipy_special_grad": (cc.grad(lambda x: np.sum(np.tanh(_few(x)))), (X,))}

test_ptx_assembles, test_gpu_equals_cpu = case_tests(CASES)
