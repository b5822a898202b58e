"""scipy.signal.convolve on traced values (scipy_wrap.py sends it here), as a composition: the larger array is
zero-padded once, and each element of the smaller one scales a shifted window of it; the windows are summed.
That is one pad, then a slice, a multiply and an add per element of the smaller array (convolution commutes), so
the graph grows with the kernel's size, not the signal's: meant for the small kernels of signal processing and
autograd's tests, not for two long signals (use cc.nn.conv1d/conv2d for learned filters). Values are SciPy's
method='direct' ones; derivatives come from pad, slice, multiply and add.
"""
from __future__ import annotations

import numpy as np

from .errors import TraceError
from .ops_shape import _int


def _shape(x):
    return tuple(_int(d, "scipy.signal.convolve of an array of symbolic size") for d in np.shape(x))


def _full_window(a, b, start, size):
    """Entries start .. start+size-1 (per axis) of the full convolution of a with b, looping over b's elements."""
    sa, sb = _shape(a), _shape(b)
    nd = len(sa)
    ap = np.pad(a, [(k - 1, k - 1) for k in sb]) if any(k > 1 for k in sb) else a
    out = None
    for idx in np.ndindex(*sb):
        # full[n] = sum_k a[n - k] b[k]; in ap (offset sb-1), a[n - k] sits at n + sb - 1 - k
        sl = tuple(slice(start[d] + sb[d] - 1 - idx[d], start[d] + sb[d] - 1 - idx[d] + size[d]) for d in range(nd))
        term = ap[sl] * b[idx]
        out = term if out is None else out + term
    return out


def convolve(in1, in2, mode="full", method="auto"):
    """The N-dimensional convolution of in1 and in2, as scipy.signal.convolve (mode 'full', 'valid', 'same')."""
    if method not in ("auto", "direct", "fft"):
        raise ValueError("Acceptable method flags are 'auto', 'direct', or 'fft'.")
    a = in1 if hasattr(in1, "aval") else np.asarray(in1)
    b = in2 if hasattr(in2, "aval") else np.asarray(in2)
    sa, sb = _shape(a), _shape(b)
    if len(sa) != len(sb):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if mode not in ("full", "valid", "same"):
        raise ValueError("Acceptable mode flags are 'valid', 'same', or 'full'.")
    if any(n == 0 for n in sa + sb):
        raise TraceError("scipy.signal.convolve of an empty array on traced values is not supported by vive")
    if len(sa) == 0:
        return a * b
    if mode == "valid":
        if all(p >= q for p, q in zip(sa, sb)):
            pass
        elif all(q >= p for p, q in zip(sa, sb)):
            a, b, sa, sb = b, a, sb, sa
        else:
            raise ValueError("For 'valid' mode, one must be at least as large as the other in every dimension")
    full = tuple(p + q - 1 for p, q in zip(sa, sb))
    if mode == "full":
        start, size = (0,) * len(full), full
    elif mode == "same":
        size = sa
        start = tuple((f - s) // 2 for f, s in zip(full, size))
    else:
        size = tuple(p - q + 1 for p, q in zip(sa, sb))
        start = tuple((f - s) // 2 for f, s in zip(full, size))
    # loop over the smaller array's elements (the full convolution is symmetric in its arguments)
    if int(np.prod(sb)) <= int(np.prod(sa)):
        return _full_window(a, b, start, size)
    return _full_window(b, a, start, size)
