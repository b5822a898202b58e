"""Host callbacks of a loaded CPU program (cc.debug.print): the Python side of lower/host.py's HostCall sites."""
from __future__ import annotations

import numpy as np

from runtime.callbacks import HostCallbacks, array_at

from ..primitives.effects import format_values, emit
from .executable import _parse_shape, _size_fn


def install(exe, info):
    """Give Executable `exe` the callback its program calls: its address goes into the table constant, and an
    exception raised in a callback is raised by the call that ran it."""
    n_dims = len(exe.dims)
    sites = []
    for s in info["sites"]:
        shapes = [_parse_shape(a["shape"]) for a in s["args"]]
        if all(isinstance(d, int) for sh in shapes for d in sh):
            shape_fn = (lambda d, v=tuple(shapes): v)
        else:
            shape_fn = _size_fn([list(sh) for sh in shapes], exe.dims)
        sites.append((s["fmt"], tuple(s["trees"]), tuple(s["names"]), shape_fn,
                      [np.dtype(a["dtype"]) for a in s["args"]]))

    def on_call(site, ptrs, dims):
        fmt, trees, names, shape_fn, dtypes = sites[site]
        shapes = shape_fn(tuple(dims[i] for i in range(n_dims)))
        emit(format_values(fmt, trees, names, [array_at(ptrs[i], sh, dt)
                                               for i, (sh, dt) in enumerate(zip(shapes, dtypes))]))

    cb = HostCallbacks(on_call)
    exe._consts = list(exe._consts)
    exe._consts[info["table"]] = np.array([cb.address], np.int64)
    call = exe._call

    def call_then_raise(*args):
        call(*args)
        cb.raise_pending()
    exe._call = call_then_raise
    exe._runner = exe._runner1 = exe.soft_call = None       # a runner built before would call the old _call
    exe.host_callbacks = cb         # keeps the C function pointer alive as long as the executable
    return exe
