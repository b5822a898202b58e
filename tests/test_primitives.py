"""Every primitive's shape/dtype rule agrees with its NumPy reference on random inputs.

SAMPLES has a sample-input maker for every primitive in the registry: a new primitive without one fails
test_every_primitive_has_a_sample, so it gets one. Each maker draws random shapes and values from the rng and
returns (args, params, symbolic): symbolic=True when the rule must also hold with every size > 1 made symbolic
(or, per argument, the dims that stay static).
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import compiler as cc
from compiler.ir.types import TensorType, TupleType, dtype as to_dtype, symbol
from compiler.primitives import REGISTRY, UNARY, BINARY

SEEDS = range(8)
FLOATS, INTS = (np.float32, np.float64), (np.int32, np.int64)


def _shape(rng, min_dims=0, max_dims=3, lo=1, hi=5):
    return tuple(int(d) for d in rng.integers(lo, hi, rng.integers(min_dims, max_dims + 1)))


def _arr(rng, shape, dt):
    dt = np.dtype(dt)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind == "i":
        return rng.integers(-5, 6, shape).astype(dt)
    return (rng.standard_normal(shape) * 2).astype(dt)


def _pick(rng, options):
    return options[rng.integers(len(options))]


def _bcast_pair(rng):
    """Two broadcast-compatible shapes: drop leading dims and set some dims to 1 on either side."""
    s = _shape(rng, 0, 3)
    a = tuple(1 if rng.random() < 0.3 else d for d in s)
    b = tuple(1 if rng.random() < 0.3 else d for d in s)
    return a[rng.integers(0, len(a) + 1):], b


UNARY_DTYPES = {"neg": FLOATS + INTS, "abs": FLOATS + INTS, "sign": FLOATS + INTS, "square": FLOATS + INTS,
                "logical_not": (np.bool_,)}


def _unary(name):
    def make(rng):
        return [_arr(rng, _shape(rng), _pick(rng, UNARY_DTYPES.get(name, FLOATS)))], {}, True
    return make


def _accepted(name, dts):
    """The dtypes among dts the primitive's shape rule takes for two operands (float-only ops refuse integers), so
    a new binary primitive needs no entry here."""
    out = []
    for dt in dts:
        t = TensorType(to_dtype(dt), (2,))
        try:
            REGISTRY[name].infer(t, t)
        except cc.DTypeError:
            continue
        out.append(dt)
    return tuple(out)


def _binary(name):
    if name in ("logical_and", "logical_or"):
        dts = (np.bool_,)
    elif name in ("eq", "ne", "lt", "le", "gt", "ge", "maximum", "minimum"):
        dts = FLOATS + INTS + (np.bool_,)
    elif name == "pow":
        dts = FLOATS                  # an integer to a negative power raises
    else:
        dts = _accepted(name, FLOATS + INTS)

    def make(rng):
        sa, sb = _bcast_pair(rng)
        dt = _pick(rng, dts)
        a, b = _arr(rng, sa, dt), _arr(rng, sb, dt)
        if name == "div" and dt in INTS:
            b = np.where(b == 0, 1, b).astype(dt)
        return [a, b], {}, True
    return make


def _select(rng):
    sa, sb = _bcast_pair(rng)
    dt = _pick(rng, FLOATS + INTS + (np.bool_,))
    return [_arr(rng, sb, np.bool_), _arr(rng, sa, dt), _arr(rng, sb[1:], dt)], {}, True


def _cast(rng):
    return [_arr(rng, _shape(rng), _pick(rng, FLOATS + INTS + (np.bool_,)))], {
        "dtype": _pick(rng, list(cc.ir.types.DTYPES.values()))}, True


def _broadcast_in_dim(rng):
    out = _shape(rng, 1, 4)
    dims = tuple(sorted(rng.choice(len(out), rng.integers(0, len(out) + 1), replace=False).tolist()))
    xs = tuple(1 if rng.random() < 0.3 else out[d] for d in dims)
    return [_arr(rng, xs, np.float32)], {"shape": out, "dims": dims}, False


def _reshape(rng):
    s = _shape(rng, 0, 4)
    n = int(np.prod(s))
    divs = [d for d in range(1, n + 1) if n % d == 0]
    d = _pick(rng, divs)
    return [_arr(rng, s, np.float64)], {"shape": _pick(rng, [(d, n // d), (n,), (n // d, 1, d)])}, False


def _transpose(rng):
    s = _shape(rng, 0, 4)
    return [_arr(rng, s, np.int32)], {"perm": tuple(rng.permutation(len(s)).tolist())}, True


def _slice(rng):
    s = _shape(rng, 1, 3, 1, 7)
    start = tuple(int(rng.integers(0, d)) for d in s)
    stop = tuple(int(rng.integers(a, d + 1)) for a, d in zip(start, s))
    step = tuple(int(rng.integers(1, 4)) for _ in s)
    return [_arr(rng, s, np.float32)], {"start": start, "stop": stop, "step": step}, False


def _pad(rng):
    s = _shape(rng, 1, 3)
    lo = tuple(int(rng.integers(0, 3)) for _ in s)
    hi = tuple(int(rng.integers(-1, 3)) if d > 1 else 0 for d in s)
    interior = tuple(int(rng.integers(0, 2)) for _ in s)
    return [_arr(rng, s, np.float32)], {"lo": lo, "hi": hi, "interior": interior, "value": 1.5}, True


def _concatenate(rng):
    s = _shape(rng, 1, 3)
    axis = int(rng.integers(0, len(s)))
    xs = []
    for _ in range(rng.integers(1, 4)):
        t = list(s)
        t[axis] = int(rng.integers(1, 4))
        xs.append(_arr(rng, tuple(t), np.int64))
    return xs, {"axis": axis}, True


def _rev(rng):
    s = _shape(rng, 1, 3)
    return [_arr(rng, s, np.float64)], {"axes": tuple(sorted(set(rng.integers(0, len(s), 2).tolist())))}, True


def _reduce(rng):
    s = _shape(rng, 0, 3)
    axes = tuple(sorted(rng.choice(len(s), rng.integers(0, len(s) + 1), replace=False).tolist())) if s else ()
    return [_arr(rng, s, _pick(rng, FLOATS + INTS))], {"axes": axes}, True


def _argmax(rng):
    s = _shape(rng, 1, 3)
    return [_arr(rng, s, _pick(rng, FLOATS + INTS))], {"axis": int(rng.integers(0, len(s)))}, True


def _dot_general(rng):
    b, m, k, n = (int(x) for x in rng.integers(1, 5, 4))
    dt = _pick(rng, FLOATS + INTS)
    return _pick(rng, [
        ([_arr(rng, (m, k), dt), _arr(rng, (k, n), dt)], {"contract": ((1,), (0,)), "batch": ((), ())}, True),
        ([_arr(rng, (b, m, k), dt), _arr(rng, (b, k, n), dt)], {"contract": ((2,), (1,)), "batch": ((0,), (0,))},
         True),
        ([_arr(rng, (k, b, m), dt), _arr(rng, (n, k, b), dt)], {"contract": ((0,), (1,)), "batch": ((1,), (2,))},
         True),
        ([_arr(rng, (k,), dt), _arr(rng, (k,), dt)], {"contract": ((0,), (0,)), "batch": ((), ())}, True),
    ])


def _conv2d(rng):
    n, c, o = (int(x) for x in rng.integers(1, 4, 3))
    kh, kw = (int(x) for x in rng.integers(1, 4, 2))
    dh, dw = (int(x) for x in rng.integers(1, 3, 2))
    h, w = (kh - 1) * dh + 1 + int(rng.integers(0, 5)), (kw - 1) * dw + 1 + int(rng.integers(0, 5))
    dt = _pick(rng, FLOATS)
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    # symbolic N, H, W and O; channels and kernel sizes stay static
    return [_arr(rng, (n, c, h, w), dt), _arr(rng, (o, c, kh, kw), dt)], {
        "stride": (stride, stride), "padding": (padding, padding), "dilation": (dh, dw)}, ((1,), (1, 2, 3))


def _max_pool2d(rng):
    k, s = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = _arr(rng, (2, 3, k + int(rng.integers(0, 5)), k + int(rng.integers(0, 5))), _pick(rng, FLOATS + INTS))
    return [x], {"size": (k, k), "stride": (s, s)}, True


def _conv_transpose_input(rng):
    (x, w), params, _ = _conv2d(rng)
    ct = np.asarray(REGISTRY["conv2d"].numpy(x, w, **params))
    return [ct, w], {**params, "in_hw": x.shape[2:]}, False


def _conv_transpose_kernel(rng):
    (x, w), params, _ = _conv2d(rng)
    ct = np.asarray(REGISTRY["conv2d"].numpy(x, w, **params))
    return [x, ct], {**params, "kernel_hw": w.shape[2:]}, False


def _max_pool2d_jvp(rng):
    (x,), params, _ = _max_pool2d(rng)
    x = x.astype(_pick(rng, FLOATS))            # derivatives exist for floats only
    return [x, _arr(rng, x.shape, x.dtype)], params, True


def _max_pool2d_vjp(rng):
    (x,), params, _ = _max_pool2d(rng)
    x = x.astype(_pick(rng, FLOATS))            # derivatives exist for floats only
    pooled = np.asarray(REGISTRY["max_pool2d"].numpy(x, **params))
    return [x, _arr(rng, pooled.shape, x.dtype)], params, False


def _scatter_add(rng):
    s = _shape(rng, 1, 3)
    axis = int(rng.integers(0, len(s)))
    idx = rng.integers(0, s[axis], _shape(rng, 0, 2))
    updates = _arr(rng, s[:axis] + idx.shape + s[axis + 1:], _pick(rng, FLOATS))
    return [updates, idx], {"axis": axis, "size": s[axis]}, False


def _const(rng):
    return [], {"value": _arr(rng, _shape(rng), _pick(rng, FLOATS + INTS + (np.bool_,)))}, False


def _dim(rng):
    return [], {"expr": int(rng.integers(1, 9)), "dtype": _pick(rng, [cc.ir.I64, cc.ir.F32])}, False


def _iota(rng):
    return [], {"n": int(rng.integers(0, 9)), "dtype": _pick(rng, [cc.ir.I64, cc.ir.F32, cc.ir.I32])}, False


def _one_hot(rng):
    s = _shape(rng, 0, 2)
    k = int(rng.integers(1, 6))
    return [rng.integers(0, k, s).astype(_pick(rng, INTS))], {"num_classes": k,
                                                               "dtype": _pick(rng, [cc.ir.F32, cc.ir.F64])}, True


def _take(rng):
    s = _shape(rng, 1, 3)
    axis = int(rng.integers(0, len(s)))
    return [_arr(rng, s, np.float32), rng.integers(0, s[axis], _shape(rng, 0, 2))], {"axis": axis}, True


def _check_index(rng):
    size = int(rng.integers(1, 6))
    return [rng.integers(0, size, _shape(rng, 0, 2)).astype(_pick(rng, INTS))], {"size": size, "axis": 0}, True


def _debug_print(rng):
    a, b = _arr(rng, _shape(rng), np.float32), _arr(rng, _shape(rng), np.int64)
    return [a, b], {"fmt": "{} {k}", "trees": ("...", "..."), "names": ("k",)}, False


def _assert_true(rng):
    # a condition that holds (a false one raises AssertionError, as tests/test_asserts.py checks)
    return [np.asarray(True)], {"msg": "holds"}, False


def _call_sample(prim_name, make):
    """Operands and params of the `prim_name` node that tracing make()'s function on random arrays records."""
    def sample(rng):
        fn, args = make(rng)
        g = cc.trace(fn, *args)
        n = next(n for n in g.nodes if n.prim.name == prim_name)
        env = dict(zip(g.inputs, args))
        assert all(v in env for v in n.inputs), "sample calls take the traced function's inputs directly"
        return [env[v] for v in n.inputs], dict(n.params), False
    return sample


def _custom_jvp_fn(rng):
    f = cc.custom_jvp(lambda x, y: np.sin(x) * y)
    f.defjvp(lambda p, t: (f(*p), np.cos(p[0]) * p[1] * t[0] + np.sin(p[0]) * t[1]))
    s = _shape(rng)
    return f, [_arr(rng, s, np.float64), _arr(rng, s, np.float64)]


def _custom_vjp_fn(rng):
    f = cc.custom_vjp(lambda x: [np.exp(x), x * 2])
    f.defvjp(lambda x: (f(x), np.exp(x)), lambda r, ct: (ct[0] * r + ct[1] * 2,))
    return f, [_arr(rng, _shape(rng), np.float32)]


def _remat_fn(rng):
    s = _shape(rng, 1)
    return cc.checkpoint(lambda x, i: (np.tanh(x), i + 1)), [_arr(rng, s, np.float32), _arr(rng, s, np.int32)]


def _threefry2x32(rng):
    batch = _shape(rng, 0, 2)
    words = [rng.integers(0, 2 ** 32, batch, dtype=np.uint64).astype(np.uint32) for _ in range(4)]
    return words, {"shape": _shape(rng, 0, 2), "mode": _pick(rng, ["xor", "pair"])}, False


def _all_reduce(rng):
    return [_arr(rng, _shape(rng), _pick(rng, FLOATS))], {}, True


def _allreduce_start(rng):
    return [_arr(rng, _shape(rng, 1, 1), _pick(rng, FLOATS + INTS))], {"slot": 0}, True


def _allreduce_wait(rng):
    x = _arr(rng, _shape(rng, 1, 1), _pick(rng, FLOATS))
    return [x, x], {"slot": 0}, False


def _region(fn, *args):
    """A control-flow node traced from fn: its operands evaluated, its params, no symbolic check."""
    g = cc.trace(fn, *args)
    k, node = next((k, n) for k, n in enumerate(g.nodes) if n.out.type.is_tuple)
    pre = cc.Graph("pre", g.inputs, g.nodes[:k], list(node.inputs))
    return [np.asarray(a) for a in cc.evaluate(pre, list(args))], dict(node.params), False


def _scan(rng):
    c, xs = rng.standard_normal(3), rng.standard_normal((int(rng.integers(0, 4)), 3))
    reverse = bool(rng.integers(2))
    return _region(lambda c, xs: cc.scan(lambda c, x: (np.tanh(c + x), (c * x, c.sum())), c, xs,
                                         reverse=reverse), c, xs)


def _while(rng):
    return _region(lambda x, n: cc.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 2), (0, x)),
                   rng.standard_normal(2).astype(np.float32), np.int64(rng.integers(0, 4)))


def _cond(rng):
    return _region(lambda i, x: cc.switch(i, [np.sin, np.cos, lambda x: x * 2], x),
                   np.int32(rng.integers(-1, 4)), rng.standard_normal((2, 3)))


def _get(rng):
    return [(rng.standard_normal(2), np.arange(3))], {"index": int(rng.integers(2))}, False


def _linalg(name):
    """Matrices for the decompositions: leading batch axes, square (or any, for svd) float matrices."""
    def make(rng):
        dt = _pick(rng, FLOATS)
        lead = _shape(rng, 0, 2, 1, 4)
        n, m = (int(x) for x in rng.integers(1, 5, 2))
        if name == "cholesky":
            # positive 1x1 matrices: every permutation of their values (test_vmap's lanes) stays positive definite
            return [(rng.random(lead + (1, 1)) + 0.5).astype(dt)], {}, True
        if name in ("svd", "svd_values"):
            return [_arr(rng, lead + (m, n), dt)], {}, False
        a = _arr(rng, lead + (n, n), dt)
        if name == "solve":
            return [a, _arr(rng, lead + (n, m), dt)], {}, True
        return [a], ({"uplo": _pick(rng, ["L", "U"])} if name == "eigh" else {}), True
    return make


SAMPLES = {
    **{n: _linalg(n) for n in ("solve", "slogdet", "cholesky", "eigh", "svd", "svd_values")},
    **{p.name: _unary(p.name) for p in UNARY},
    **{p.name: _binary(p.name) for p in BINARY},
    "select": _select, "cast": _cast,
    "broadcast_in_dim": _broadcast_in_dim, "reshape": _reshape, "transpose": _transpose, "slice": _slice,
    "pad": _pad, "concatenate": _concatenate, "rev": _rev,
    "reduce_sum": _reduce, "reduce_max": _reduce, "argmax": _argmax,
    "dot_general": _dot_general, "conv2d": _conv2d, "max_pool2d": _max_pool2d,
    "conv2d_transpose_input": _conv_transpose_input, "conv2d_transpose_kernel": _conv_transpose_kernel,
    "max_pool2d_jvp": _max_pool2d_jvp, "max_pool2d_vjp": _max_pool2d_vjp, "scatter_add": _scatter_add,
    "const": _const, "dim": _dim, "iota": _iota, "one_hot": _one_hot, "take": _take,
    "check_index": _check_index, "stop_gradient": _unary("stop_gradient"),
    "debug_print": _debug_print, "assert_true": _assert_true, "optimization_barrier": _unary("optimization_barrier"),
    "custom_jvp_call": _call_sample("custom_jvp_call", _custom_jvp_fn),
    "custom_vjp_call": _call_sample("custom_vjp_call", _custom_vjp_fn),
    "remat_call": _call_sample("remat_call", _remat_fn),
    "threefry2x32": _threefry2x32,
    # collectives: in this process (a world of one) they are the identity
    "all_sum": _all_reduce, "all_mean": _all_reduce, "allreduce_start": _allreduce_start,
    "allreduce_wait": _allreduce_wait,
    "scan": _scan, "while_loop": _while, "cond": _cond, "get": _get,
}


def _type(a):
    if isinstance(a, tuple):
        return TupleType([_type(x) for x in a])
    a = np.asarray(a)
    return TensorType(to_dtype(a.dtype), a.shape)


def test_every_primitive_has_a_sample():
    missing = sorted(set(REGISTRY) - set(SAMPLES))
    assert not missing, f"add a sample-input maker to tests/test_primitives.py SAMPLES for: {missing}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_shape_rule_agrees_with_numpy(name):
    if name not in SAMPLES:
        pytest.fail(f"primitive {name} has no sample in SAMPLES")
    prim = REGISTRY[name]
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        args, params, _ = SAMPLES[name](rng)
        t = prim.infer(*[_type(a) for a in args], **params)
        with np.errstate(all="ignore"):
            out = prim.numpy(*args, **params)
        eager = prim(*args, **params)            # binding eagerly runs the same pair
        if t.is_tuple:                           # a control-flow op: one result per element
            assert isinstance(eager, tuple) and len(out) == len(eager) == len(t.types)
            pairs = list(zip(t.types, [np.asarray(o) for o in out], eager))
        else:
            pairs = [(t, np.asarray(out), eager)]
        for ti, o, e in pairs:
            assert ti.shape == o.shape, f"{name}{params}: rule says {ti}, NumPy gives shape {o.shape}"
            assert ti.dtype.np == o.dtype, f"{name}{params}: rule says {ti}, NumPy gives dtype {o.dtype}"
            assert e.dtype == ti.dtype.np and e.shape == ti.shape


def _symbolic(t, names, static=()):
    return TensorType(t.dtype, [d if d == 1 or i in static else names.setdefault(d, symbol("S%d" % d))
                                for i, d in enumerate(t.shape)])


@pytest.mark.parametrize("name", sorted(n for n in SAMPLES if n in REGISTRY))
def test_shape_rule_with_symbolic_sizes(name):
    """With every size > 1 a symbol, the rule gives the same type once the symbols get their values."""
    prim = REGISTRY[name]
    checked = 0
    for seed in SEEDS:
        args, params, symbolic = SAMPLES[name](np.random.default_rng(seed))
        if not symbolic:
            continue
        names = {}
        concrete = prim.infer(*[_type(a) for a in args], **params)
        static = symbolic if isinstance(symbolic, tuple) else ((),) * len(args)
        t = prim.infer(*[_symbolic(_type(a), names, st) for a, st in zip(args, static)], **params)
        env = {s: v for v, s in names.items()}
        sub = tuple(int(sympy.sympify(d).subs(env)) for d in t.shape)
        assert t.dtype is concrete.dtype and sub == concrete.shape, f"{name}{params}: {t} vs {concrete}"
        checked += 1
    if not checked:
        pytest.skip(f"{name}: its params carry sizes, so symbolic sizes do not apply")


# ---- the rules reject what they cannot type, naming the op ----

F = TensorType("f32", (2, 3))
BAD = [
    ("add", [F, TensorType("f32", (4,))], {}, cc.ShapeError, "add: cannot broadcast f32[2,3] with f32[4]"),
    ("add", [F, TensorType("f64", (2, 3))], {}, cc.DTypeError, "dtypes differ"),
    ("sub", [TensorType("bool", (2,)), TensorType("bool", (2,))], {}, cc.DTypeError, "bool"),
    ("exp", [TensorType("i32", (2,))], {}, cc.DTypeError, "float"),
    ("select", [F, F, F], {}, cc.DTypeError, "condition must be bool"),
    ("reshape", [F], {"shape": (4, 2)}, cc.ShapeError, "cannot reshape f32[2,3]"),
    ("transpose", [F], {"perm": (0, 0)}, cc.ShapeError, "permutation"),
    ("broadcast_in_dim", [F], {"shape": (2, 4), "dims": (0, 1)}, cc.ShapeError, "cannot broadcast"),
    ("reduce_sum", [F], {"axes": (2,)}, cc.ShapeError, "out of range"),
    ("dot_general", [F, F], {"contract": ((1,), (0,)), "batch": ((), ())}, cc.ShapeError, "dimensions differ"),
    ("concatenate", [F, TensorType("f32", (2, 3, 1))], {"axis": 0}, cc.ShapeError, "shapes differ"),
    ("conv2d", [TensorType("f32", (1, 3, 8, 8)), TensorType("f32", (4, 2, 3, 3))], {}, cc.ShapeError,
     "input channels differ"),
    ("conv2d", [TensorType("f32", (1, 1, 2, 2)), TensorType("f32", (1, 1, 3, 3))], {}, cc.ShapeError, "does not fit"),
    ("max_pool2d", [F], {}, cc.ShapeError, "NCHW"),
    ("take", [F, TensorType("f32", (2,))], {"axis": 0}, cc.DTypeError, "integers"),
    ("one_hot", [TensorType("f32", (2,))], {"num_classes": 3}, cc.DTypeError, "integers"),
]


@pytest.mark.parametrize("name,types,params,err,text", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_shape_rule_rejects(name, types, params, err, text):
    with pytest.raises(err) as e:
        REGISTRY[name].infer(*types, **params)
    assert str(e.value).startswith(name + ":"), str(e.value)
    assert text in str(e.value)
