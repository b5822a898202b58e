"""How a call's arguments reach a function: keywords bound to positional order through the signature (analysed
once per function, one plan cached per (number of positional arguments, keyword names)), static arguments by
position or name, and `self` of a decorated method. Used by cc.compile and the transforms.

A call is normalised to (args, kwnames): the trailing len(kwnames) entries of args go by keyword (keyword-only
parameters and **kwargs, names sorted), all others positionally. So `f(x, w)` and `f(x, w=w)` are one call.
"""
from __future__ import annotations

import inspect
import weakref

from . import pytree

_EMPTY = inspect.Parameter.empty


class Identity:
    """A static argument compared and hashed by identity (an unhashable or mutable `self` of a method).
    Holds the object weakly where it can: a dead entry never matches again, and keeps no model alive."""
    __slots__ = ("_ref", "_obj", "_id", "__weakref__")

    def __init__(self, obj):
        self._id = id(obj)
        try:
            self._ref, self._obj = weakref.ref(obj), None
        except TypeError:
            self._ref, self._obj = None, obj

    @property
    def obj(self):
        return self._obj if self._ref is None else self._ref()

    def __hash__(self):
        return self._id

    def __eq__(self, other):
        return isinstance(other, Identity) and other._id == self._id and other.obj is self.obj is not None

    def __repr__(self):
        return f"<{type(self.obj).__name__} at {self._id:#x}>"


def unwrap(x):
    return x.obj if type(x) is Identity else x


class Binding:
    """The parameters of fn, analysed once: binds calls with keywords, says which arguments are static."""

    def __init__(self, fn, name=None, static_argnums=(), static_argnames=()):
        self.name = name or getattr(fn, "__name__", "f")
        self.qualname = getattr(fn, "__qualname__", self.name)
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        self.known = sig is not None
        params = list(sig.parameters.values()) if sig is not None else []
        pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self.pos_names = tuple(p.name for p in pos)
        self.pos_index = {p.name: i for i, p in enumerate(pos) if p.kind == p.POSITIONAL_OR_KEYWORD}
        self.pos_only = {p.name for p in pos if p.kind == p.POSITIONAL_ONLY}
        self.defaults = tuple(p.default for p in pos)
        self.kwonly = {p.name: p.default for p in params if p.kind == p.KEYWORD_ONLY}
        self.var_pos = any(p.kind == p.VAR_POSITIONAL for p in params)
        self.var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        for n in names:
            if self.known and n not in self.pos_names and n not in self.kwonly and not self.var_kw:
                raise ValueError(f"{self.name}: static_argnames names {n!r}, which is not a parameter of it")
        # as in JAX, each implies the other through the signature
        self.static_argnums = tuple(dict.fromkeys(nums + tuple(self.pos_names.index(n) for n in names
                                                               if n in self.pos_names)))
        self.static_argnames = frozenset(names) | {self.pos_names[i] for i in nums if 0 <= i < len(self.pos_names)}
        self._plans = {}

    # ---- keywords -> positional order ----

    def normalize(self, args, kwargs):
        """(args, kwargs) -> (args, kwnames) as the module docstring says; TypeError as Python gives it."""
        key = (len(args), *kwargs)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(len(args), tuple(kwargs))
        fill, kwnames = plan
        out = list(args)
        for nm, default in fill:
            out.append(default if nm is None else kwargs[nm])
        # a trailing argument given as its own default is the call without it (the same meaning, one signature)
        n, defaults = len(args), self.defaults
        while len(out) > n and out[-1] is defaults[len(out) - 1]:
            out.pop()
        for nm in kwnames:
            out.append(kwargs[nm])
        return tuple(out), kwnames

    def _plan(self, n_args, names):
        # the checks in CPython's order, with its messages: keywords, then the positional count, then missing ones
        f = f"{self.qualname}()"
        if not self.known:
            return (), tuple(sorted(names))
        slots, kw = {}, []
        for nm in names:
            i = self.pos_index.get(nm)
            if i is not None:
                if i < n_args:
                    raise TypeError(f"{f} got multiple values for argument '{nm}'")
                slots[i] = nm
            elif nm in self.kwonly or self.var_kw:
                kw.append(nm)
            else:
                bad = [n for n in names if n in self.pos_only]
                if bad:
                    raise TypeError(f"{f} got some positional-only arguments passed as keyword arguments: "
                                    f"'{', '.join(bad)}'")
                raise TypeError(f"{f} got an unexpected keyword argument '{nm}'")
        n_pos = len(self.pos_names)
        if n_args > n_pos and not self.var_pos:
            n_def = sum(d is not _EMPTY for d in self.defaults)
            takes = f"from {n_pos - n_def} to {n_pos}" if n_def else f"{n_pos}"
            given = f"{n_args} were given" if not kw else (
                f"{n_args} positional argument{'s' if n_args != 1 else ''} (and {len(kw)} keyword-only argument"
                f"{'s' if len(kw) != 1 else ''}) were given")
            raise TypeError(f"{f} takes {takes} positional argument{'s' if n_pos != 1 else ''} but {given}")
        missing = [self.pos_names[i] for i in range(n_args, n_pos)
                   if i not in slots and self.defaults[i] is _EMPTY]
        if missing:
            raise TypeError(f"{f} missing {len(missing)} required positional argument{'s' if len(missing) > 1 else ''}"
                            f": {_listing(missing)}")
        missing = [n for n, d in self.kwonly.items() if d is _EMPTY and n not in names]
        if missing:
            raise TypeError(f"{f} missing {len(missing)} required keyword-only argument"
                            f"{'s' if len(missing) > 1 else ''}: {_listing(missing)}")
        # (name, None) takes the keyword; (None, default) fills a parameter skipped before one given by name
        fill = tuple((slots[i], None) if i in slots else (None, self.defaults[i])
                     for i in range(n_args, max(slots, default=n_args - 1) + 1))
        return fill, tuple(sorted(kw))

    # ---- static arguments ----

    def static_indices(self, n_args, kwnames):
        """Indices into a normalised call's args that are static: static_argnums among the positional ones
        (negative counts from the last positional argument), and keywords named in static_argnames."""
        n_pos = n_args - len(kwnames)
        out = []
        for i in self.static_argnums:
            j = i + n_pos if i < 0 else i
            if j < n_pos:
                if j >= 0:
                    out.append(j)
            elif j >= len(self.pos_names) or self.defaults[j] is _EMPTY:
                # not given and no default: the call itself is wrong, say which static argument is missing
                raise TypeError(f"{self.name}: static_argnums {self.static_argnums} but called with {n_pos} "
                                f"positional arguments")
        out.extend(n_pos + k for k, nm in enumerate(kwnames) if nm in self.static_argnames)
        return sorted(set(out))


def _listing(names):
    q = [f"'{n}'" for n in names]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + f"{',' if len(q) > 2 else ''} and {q[-1]}"


def call(fn, args, kwnames):
    """fn applied to a normalised call."""
    if not kwnames:
        return fn(*args)
    k = len(args) - len(kwnames)
    return fn(*args[:k], **dict(zip(kwnames, args[k:])))


def positional(fn, kwnames, names=None, name=None):
    """fn of a normalised call, taking every argument positionally (what the tracer sees); its inputs carry
    `names` (fn's parameter names) so that graph inputs keep them."""
    def flat(*a):
        return call(fn, a, kwnames)
    flat.__name__ = name or getattr(fn, "__name__", "f")
    flat.__qualname__ = flat.__name__
    if names is not None:
        try:
            flat.__signature__ = inspect.Signature(
                [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names])
        except ValueError:          # repeated or odd names: inputs are numbered instead
            pass
    return flat


def arg_names(binding, n_args, kwnames):
    """Parameter names of a normalised call's args (a{i} where the signature has none)."""
    n_pos = n_args - len(kwnames)
    pos = [binding.pos_names[i] if i < len(binding.pos_names) else f"a{i}" for i in range(n_pos)]
    return pos + list(kwnames)


class KeywordCalls:
    """A transform's keyword calls of fn (cc.grad(f)(x, w=w)): the Binding is made on the first such call.
    bind() gives an all-positional fn, the normalised args and argnums made non-negative: argnums count
    positional parameters however the call passed them (cc.grad(f, 1)(x, w=w) differentiates w)."""
    __slots__ = ("fn", "_binding")

    def __init__(self, fn):
        self.fn, self._binding = fn, None

    def bind(self, args, kwargs, argnums):
        if not kwargs:
            return self.fn, args, argnums             # a positional call needs no binding
        if self._binding is None:
            self._binding = Binding(self.fn)
        full, kwnames = self._binding.normalize(args, kwargs)
        n_pos = len(full) - len(kwnames)

        def fix(a):
            return a + n_pos if isinstance(a, int) and a < 0 else a
        argnums = fix(argnums) if isinstance(argnums, int) else tuple(fix(a) for a in argnums)
        names = arg_names(self._binding, len(full), kwnames)
        return positional(self.fn, kwnames, names, self._binding.name), full, argnums


class BoundCompiled:
    """A compiled method bound to its object (CompiledFunction.__get__ in compiler/compile/function.py): `self` goes
    first, as a pytree argument if its class is a registered pytree, else static by identity. Without keywords
    it looks the arrays up directly, as the unbound function's fast path does."""
    __slots__ = ("compiled", "obj", "_self")

    def __init__(self, compiled, obj):
        self.compiled, self.obj = compiled, obj
        self._self = obj if pytree.is_registered(obj) else Identity(obj)

    def __call__(self, *args, **kwargs):
        cf = self.compiled
        if not kwargs and type(self._self) is Identity and not cf._has_static:
            static = ((), ((0, self._self),))          # what _split makes of this call
            exe = cf._fast_static_exe(static, args)
            if exe is not None:
                cf._hits += 1
                return exe.run(args, True)
        return cf._call((self._self,) + args, kwargs)

    def lower(self, *args, **kwargs):
        return self.compiled.lower(self._self, *args, **kwargs)

    def cache_info(self):
        return self.compiled.cache_info()

    @property
    def __name__(self):
        return self.compiled.__name__

    def __repr__(self):
        return f"<cc.compile {self.compiled.__name__} bound to {self.obj!r}>"


def merge(smap, dyn, n_args):
    """All n_args arguments again: the static ones from smap (index -> value), the others from dyn in order."""
    it = iter(dyn)
    return tuple(smap[i] if i in smap else next(it) for i in range(n_args))


def unhashable(x):
    try:
        hash(x)
    except TypeError:
        return True
    return False
