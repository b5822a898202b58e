"""cc.compile: CompiledFunction (signatures, the symbolic-version and recompile policy, the calling convention)."""
from __future__ import annotations

import threading
import time
import weakref

import numpy as np
from ..lazy import sympy

import runtime

from .. import calling, debug, guards, inputs, pytree
from .. import value_guard
from . import pause_gc
from ..errors import BackendError, DTypeError, TraceError
from ..ir.types import TensorType, dtype as to_dtype, symbol
from ..programs import PROGRAMS
from ..trace import Tracer, trace_flat
from ..backends.build import BACKENDS, Lowered, build, _env_key
from ..backends.executable import MISS

_C_ALIGNED = inputs.C_ALIGNED
_ndarray = np.ndarray
_MISS = MISS
# value guards (compiler/value_guard.py): a compiled program's failed guard raises ValueGuardFailed
from runtime import status as _rt_status  # noqa: E402
_rt_status.register("ValueGuard", value_guard.ValueGuardFailed)

# symbolic versions per signature kind before a call whose sizes break every version's guards gets a version
# specialised to its shapes instead (a function branching on many sizes does not keep retracing symbolically)
MAX_SYMBOLIC_VERSIONS = 4


# ---- signatures ----

def _leaf_type(x):
    if isinstance(x, np.ndarray):
        inputs.refuse(x)
        if x.dtype == object:
            raise DTypeError("compiled functions take numeric arrays; got an object array")
        return TensorType(to_dtype(inputs.native_dtype(x.dtype)), x.shape)
    if isinstance(x, np.generic):
        return TensorType(to_dtype(inputs.native_dtype(x.dtype)), ())
    if inputs.is_weak(x):
        return TensorType(to_dtype(inputs.weak_dtype(x)), ())     # weak: see compiler/inputs.py
    if isinstance(x, TensorType):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__array__"):
        return TensorType(to_dtype(np.dtype(x.dtype)), tuple(x.shape))     # a device array (backend='cuda')
    if isinstance(x, (list, tuple)) or hasattr(x, "__array__"):
        a = np.asarray(x)
        if a.dtype == object:
            raise DTypeError(f"cannot compile for an argument of type {type(x).__name__}")
        return TensorType(to_dtype(a.dtype), a.shape)
    raise DTypeError(f"compiled functions take NumPy arrays, Python numbers, cc.Spec, or dicts/lists/tuples of "
                     f"them; got {type(x).__name__}{pytree.hint(x)}")


def _sig_of(x):
    if type(x) is np.ndarray:
        return (x.dtype.char, x.shape)
    if inputs.is_weak(x):
        return type(x)                    # weak: the value is a run-time input, never part of the signature
    if isinstance(x, np.ndarray):
        return (x.dtype.char, x.shape)
    if isinstance(x, np.generic):
        return (x.dtype.char, ())
    if isinstance(x, TensorType):
        return ("spec", str(x))
    if hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "__array__"):
        return (np.dtype(x.dtype).char, tuple(x.shape))                     # a device array (backend='cuda')
    return (type(x).__name__, np.shape(x))


# ---- cc.compile ----

class CompiledFunction:
    """What cc.compile returns: call it like the function (keywords too); `.lower(...)` shows every stage.

    On a method (`@cc.compile` above `def forward(self, x)`) it binds like a function: `self` is a pytree argument
    when its class is a registered pytree (cc.pytree.register_dataclass, a namedtuple), else a static argument
    compared by identity: its attributes are read once, at trace time, and baked in (mutate them and the compiled
    code does not see it; register the class to pass its arrays at every call). See compiler/calling.py."""

    def __init__(self, fn, backend="cpu", static_argnums=(), check_indices=True, static_argnames=(), fast_math=False,
                 **options):
        if backend not in ("cpu",) and backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}: available are 'cpu'"
                               + "".join(f", {b!r}" for b in BACKENDS))
        # `@cc.compile` above @staticmethod / @classmethod: compile the function, bind as they would
        self._bind_as = "static" if isinstance(fn, staticmethod) else "class" if isinstance(fn, classmethod) else None
        if self._bind_as:
            fn = fn.__func__
        self.fn = fn
        self.backend = backend
        self._binding = calling.Binding(fn, getattr(fn, "__name__", "f"), static_argnums, static_argnames)
        self.static_argnums = self._binding.static_argnums
        self.static_argnames = tuple(sorted(self._binding.static_argnames))
        self._has_static = bool(self.static_argnums or self.static_argnames)
        self.check_indices = bool(check_indices)
        self.fast_math = bool(fast_math)
        self.options = {k: v for k, v in options.items() if v is not None}     # backend options (cuda: arch)
        if self.options and backend == "cpu":
            raise BackendError(f"options {sorted(self.options)} apply to backend='cuda', not 'cpu'")
        self.__name__ = getattr(fn, "__name__", "f")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._cache = {}             # signature -> Executable
        self._fast = {}              # ((dtype, shape) per array argument) -> Executable
        self._fast_run = {}          # the same keys -> the Executable's runner() (what __call__ calls)
        self._fast1 = {}             # one array argument: shape -> (dtype, runner1): the latest dtype per shape
        self._fast_static = {}       # (static part, the same per dynamic argument) -> Executable
        self._tracked = set()        # ids of methods' selves whose death drops their versions (_track)
        self._symbolic = []          # (static key, Executable) serving many shapes
        self._history = {}           # static key -> list of concrete leaf signatures seen
        self._concrete = {}          # static key -> {(argument, axis)} whose sizes must stay concrete
        self._no_symbolic = set()    # static keys whose symbolic trace failed: exact shapes only
        self._lock = threading.RLock()
        self._stats = {"traces": 0, "compiles": 0, "hits": 0, "shared": 0}
        self._hits = 0               # fast-path hits (not under the lock; an int add is atomic enough here)

    def cache_info(self):
        """{'traces', 'compiles', 'hits', 'signatures', 'shared'}: how often this function was traced/compiled/reused;
        'shared' counts the compiles served by a program another wrapper of the same code made (programs.py)."""
        with self._lock:
            info = dict(self._stats, signatures=len(self._cache) + len(self._symbolic))
            info["hits"] += self._hits
            return info

    def _split(self, args, kwnames=()):
        """A normalised call (compiler/calling.py) -> (dynamic args, static part of the signature): () for a plain
        positional call, else (kwnames, ((index, value), ...))."""
        idx = self._binding.static_indices(len(args), kwnames) if self._has_static else []
        if args and type(args[0]) is calling.Identity and 0 not in idx:       # a method's static self
            idx = [0] + idx
        if not idx and not kwnames:
            return args, ()
        dyn = tuple(a for i, a in enumerate(args) if i not in idx)
        static = (kwnames, tuple((i, args[i]) for i in idx))
        try:
            hash(static)
        except TypeError:
            bad = [self._binding.pos_names[i] if i < len(self._binding.pos_names) else str(i)
                   for i in idx if calling.unhashable(args[i])]
            raise TypeError(f"{self.__name__}: static arguments must be hashable; {', '.join(bad)} is not "
                            f"(pass it as a tuple, or make it a pytree argument)") from None
        return dyn, static

    def _wrapped(self, static, n_args):
        if not static:
            return self.fn
        kwnames, pairs = static
        smap = {i: calling.unwrap(v) for i, v in pairs}
        names = calling.arg_names(self._binding, n_args, kwnames)
        fn = self.fn
        return calling.positional(lambda *dyn: calling.call(fn, calling.merge(smap, dyn, n_args), kwnames), (),
                                  [nm for i, nm in enumerate(names) if i not in smap], self.__name__)

    def __get__(self, obj, objtype=None):
        if self._bind_as == "static":
            return self
        if self._bind_as == "class":
            return calling.BoundCompiled(self, objtype if objtype is not None else type(obj))
        return self if obj is None else calling.BoundCompiled(self, obj)

    def _fast_exe(self, args):
        key = []
        for a in args:
            key.append((a.dtype, a.shape) if type(a) is np.ndarray and a.flags.num & _C_ALIGNED == _C_ALIGNED
                       else None)
        try:
            return self._fast.get(tuple(key))
        except TypeError:
            return None

    def __call__(self, *args, **kwargs):
        # fast path: plain C-contiguous aligned arrays of a signature seen before: no pytree walk, no conversion,
        # the executable's prebuilt runner
        if not kwargs:
            if len(args) == 1:
                a = args[0]
                if type(a) is _ndarray:
                    # keyed by shape alone, the dtype compared by identity (NumPy's builtin dtypes are singletons;
                    # an equal dtype that is another object takes the keyed path below, as does a second dtype)
                    hit = self._fast1.get(a.shape)
                    if hit is not None and hit[0] is a.dtype:
                        out = hit[1](a)             # (the layout is checked there: MISS when it does not fit)
                        if out is not _MISS:
                            self._hits += 1
                            return out
            key = []
            for a in args:      # (a loop: cheaper than a comprehension's frame in CPython 3.11 on this path)
                key.append((a.dtype, a.shape) if type(a) is _ndarray and a.flags.num & _C_ALIGNED == _C_ALIGNED
                           else None)
            try:
                run = self._fast_run.get(tuple(key))
            except TypeError:
                run = None
            if run is not None:
                self._hits += 1
                return run(args)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        kwnames = ()
        if args and isinstance(args[0], type):
            # a class first is a classmethod's cls (@classmethod above @cc.compile binds it positionally on
            # Pythons whose classmethod does not chain __get__): static, like a method's self
            args = (calling.Identity(args[0]),) + args[1:]
        if kwargs:
            args, kwnames = self._binding.normalize(args, kwargs)
        if self._has_static or kwnames or (args and type(args[0]) is calling.Identity):
            dyn, static = self._split(args, kwnames)
        else:
            dyn, static = args, ()
        if static or kwargs:        # (a plain positional call got here having missed the fast path already)
            exe = self._fast_static_exe(static, dyn) if static else self._fast_exe(dyn)
            if exe is not None:
                self._hits += 1
                return exe.run(dyn, True)
        leaves, tree = pytree.flatten(dyn)
        leaves = self._import_dlpack(leaves)
        for x in leaves:
            if isinstance(x, Tracer):      # inside another transform or trace: just inline the function
                return calling.call(self.fn, tuple(map(calling.unwrap, args)), kwnames)
        try:
            sig = (tree, static, tuple(map(_sig_of, leaves)))
            hash(sig)
        except TypeError:
            raise DTypeError(f"{self.__name__}: unsupported argument types "
                             f"{[type(x).__name__ for x in leaves]}") from None
        hit = self._cache.get(sig)
        if hit is not None:
            self._stats["hits"] += 1
            return hit.run(leaves)
        return self._miss(sig, args, dyn, static, leaves, tree)

    def _import_dlpack(self, leaves):
        """Arrays of other libraries (PyTorch, JAX, CuPy: anything with __dlpack__) as NumPy arrays viewing their
        memory, or for backend='cuda' device arrays viewing theirs: no copy either way."""
        if all(type(x) is np.ndarray or not inputs.is_foreign_array(x) for x in leaves):
            return leaves
        out = []
        for i, x in enumerate(leaves):
            if inputs.is_foreign_array(x):
                x = inputs.from_dlpack(x, self.backend, f"{self.__name__}: argument {i}: ")
                if not isinstance(x, np.ndarray):
                    x = _device_view(x)
            out.append(x)
        return out

    def _miss(self, sig, args, dyn, static, leaves, tree):
        with self._lock:
            if static:
                self._track(static)
            hit = self._cache.get(sig)
            if hit is not None:
                self._stats["hits"] += 1
                return hit.run(leaves)
            types = self._types(leaves, tree)
            weak = tuple(map(inputs.is_weak, leaves))
            skey = (tree, static, tuple((t.dtype.name, len(t.shape)) for t in types), weak)
            # a symbolic version compiled earlier may serve these shapes
            for k, exe in self._symbolic:
                if k == skey:
                    conv = exe.convert(leaves)
                    if exe.fits(conv):
                        self._cache[sig] = exe
                        self._remember_fast(dyn, tree, static, exe)
                        self._stats["hits"] += 1
                        return exe.run(conv, checked=False)
            seen = self._history.setdefault(skey, [])
            reason = "first call"
            if self._cache or self._symbolic:
                reason = self._reason(types, tree, static)
            exe = None
            if seen and not any(isinstance(x, TensorType) for x in leaves):
                exe = self._symbolic_version(skey, seen[0], types, leaves, tree, static, len(args), weak, reason)
            if not exe:
                failed, exe = exe is False, self._compile(types, tree, static, len(args), weak, reason)
                if failed:      # the sizes were fine, the symbolic trace was not: don't retrace it every size
                    self._no_symbolic.add(skey)
            seen.append(types)
            self._cache[sig] = exe
            self._remember_fast(dyn, tree, static, exe)
            return exe.run(leaves)

    def _symbolic_version(self, skey, old, types, leaves, tree, static, n_args, weak, reason):
        """A version for every size of the dims that differ from an earlier call (its guards decided with these
        sizes), or None (False: the symbolic trace failed): then the caller compiles for these shapes only."""
        if skey in self._no_symbolic or sum(1 for k, _ in self._symbolic if k == skey) >= MAX_SYMBOLIC_VERSIONS:
            return None
        keep = self._concrete.setdefault(skey, set())
        while True:
            sym_types = _generalize(old, types, keep)
            if sym_types is None:
                return None
            dims = ", ".join(sorted({str(d) for t in sym_types for d in t.shape if not isinstance(d, int)}))
            try:
                exe = self._compile(sym_types, tree, static, n_args, weak,
                                    f"{reason}; compiling a version for every size of {dims}", example=leaves)
            except guards.Specialize as e:
                # those sizes stay concrete in this signature's later versions too
                keep |= {(i, ax) for i, t in enumerate(sym_types) for ax, d in enumerate(t.shape) if d in e.symbols}
                debug.log_compile(self.__name__, f"{e}; keeping those sizes concrete")
                continue
            except Exception as e:      # noqa: BLE001 -- any failure of the symbolic trace: specialise instead
                debug.log_compile(self.__name__, f"symbolic version failed ({type(e).__name__}: {e}); compiling "
                                                 f"for these shapes only")
                return False
            self._symbolic.append((skey, exe))
            return exe

    def _types(self, leaves, tree):
        try:
            return [_leaf_type(x) for x in leaves]
        except DTypeError as e:
            bad = next(i for i, x in enumerate(leaves) if _raises(_leaf_type, x))
            path = "".join(f"[{k!r}]" for k in pytree.leaf_paths(tree)[bad])
            raise DTypeError(f"{self.__name__}: argument {path}: {e}") from None

    def _remember_fast(self, args, tree, static, exe):
        """Calls with only C-contiguous arrays of these dtypes and shapes (and the same static part: keywords,
        static arguments, a method's self) may skip straight to exe."""
        if not all(type(a) is np.ndarray and a.flags.num & _C_ALIGNED == _C_ALIGNED for a in args):
            return
        for a, t in zip(args, exe.in_types):
            if a.dtype != t.dtype.np:       # (also a byte order other than the compiled one: converted first)
                return
        key = tuple((a.dtype, a.shape) for a in args)
        if static:
            self._fast_static[(static, key)] = exe
        else:
            self._fast[key] = exe
            self._fast_run[key] = exe.runner()
            if len(key) == 1:
                self._fast1[args[0].shape] = (args[0].dtype, exe.runner1())

    def _track(self, static):
        """A method's self held by identity: when it dies, drop the versions made for it (they bake its
        attributes in as constants, which would otherwise stay alive with this function)."""
        for _, v in static[1]:
            if type(v) is calling.Identity and v._ref is not None and v._id not in self._tracked:
                obj = v.obj
                if obj is not None:
                    weakref.finalize(obj, self._forget, v._id)
                    self._tracked.add(v._id)

    def _forget(self, oid):
        def dead(static):
            return bool(static) and any(type(v) is calling.Identity and v._id == oid and v.obj is None
                                        for _, v in static[1])
        # NOTE: new containers, never mutated in place: this may run (GC) while a call iterates the old ones
        with self._lock:
            self._tracked.discard(oid)
            self._cache = {k: e for k, e in self._cache.items() if not dead(k[1])}
            self._fast_static = {k: e for k, e in self._fast_static.items() if not dead(k[0])}
            self._symbolic = [(k, e) for k, e in self._symbolic if not dead(k[1])]
            self._history = {k: h for k, h in self._history.items() if not dead(k[1])}
            self._concrete = {k: c for k, c in self._concrete.items() if not dead(k[1])}
            self._no_symbolic = {k for k in self._no_symbolic if not dead(k[1])}

    def _fast_static_exe(self, static, dyn):
        key = []
        for a in dyn:
            if type(a) is not np.ndarray or a.flags.num & _C_ALIGNED != _C_ALIGNED:
                return None
            key.append((a.dtype, a.shape))
        try:
            return self._fast_static.get((static, tuple(key)))
        except TypeError:
            return None

    def _reason(self, types, tree, static):
        prev = None
        for (t2, s2, sigs) in self._cache:
            prev = (t2, s2, sigs)
        if prev is None:
            return "new signature"
        t2, s2, sigs = prev
        if t2 != tree:
            return f"new pytree structure {tree} (was {t2})"
        if s2 != static:
            return f"new static arguments {static}"
        shown = ", ".join(str(t) for t in types)
        return f"new shapes/dtypes ({shown})"

    def _key_options(self, graph):
        """The options the program table keys on: the backend's, index checks, and the Python-int ranges."""
        return dict(self.options, check_indices=self.check_indices, fast_math=self.fast_math,
                    weak_limits=repr(sorted((i, str(d)) for i, d in getattr(graph, "weak_limits", {}).items())))

    def _compile(self, types, tree, static, n_args, weak, reason, example=None, choices=None):
        """Trace and build for these types; symbolic sizes take their example values from the leaves `example`
        (else stand-ins) to decide facts about sizes, and the version checks those guards on each call."""
        with pause_gc.paused():
            return self._compile_now(types, tree, static, n_args, weak, reason, example, choices)

    def _compile_now(self, types, tree, static, n_args, weak, reason, example, choices):
        fn = self._wrapped(static, n_args)
        name = self.__name__
        t0 = time.perf_counter()
        t0_ns = time.perf_counter_ns()
        free = set().union(*(t.free_symbols for t in types)) if types else set()
        self._stats["traces"] += 1
        env = guards.example_sizes(types, example) if example is not None else guards.hints(free)
        with guards.recording(env, hinted=example is None) as gctx, value_guard.scope(choices, fresh=True) as vg:
            graph, captured = trace_flat(fn, tree, types, name, weak=weak)
        graph.guards = list(gctx.guards)
        if debug.profile_path():
            from ..backends.profile import trace_span
            trace_span(f"trace {name}", t0_ns, time.perf_counter_ns())
        if captured:
            raise TraceError(f"{name}: cc.compile of a function that closes over values traced by an "
                             f"enclosing transform; pass them as arguments")
        out_tree = graph.out_tree
        # the same program compiled before in this process (another wrapper of this function) is reused
        key = None if debug.dump_dir() else PROGRAMS.key(graph, name, self.backend, self._key_options(graph),
                                                         _env_key())
        low = PROGRAMS.get(key) if key else None
        shared = low is not None
        if low is None:
            low = build(graph, name, out_tree, self.backend, check_indices=self.check_indices,
                        fast_math=self.fast_math, **self.options)
            low.timings["trace"] = time.perf_counter() - t0 - low.timings.get("total", 0)
            if key:
                PROGRAMS.put(key, low)
        self._stats["compiles"] += 1
        self._stats["shared"] += shared
        debug.log_compile(name, f"{reason} [{', '.join(str(t) for t in types)}] "
                                f"{'(shared)' if shared else '(disk cache)' if low.cache_hit else ''}"
                                f"{(time.perf_counter() - t0) * 1e3:.1f} ms")
        exe = low.executable
        exe.lowered = low
        exe.weak_limits = dict(getattr(graph, "weak_limits", {}))
        if free:
            # NOTE: symbols are positive in sympy (shapes simplify with it): every version relies on sizes >= 1
            exe.set_guards([sympy.Ge(d, 1, evaluate=False) for d in sorted(free, key=str)] + gctx.guards)
        if vg.sites and choices is None:
            # value-guarded choices: the versions with other choices are traced when a call's values need them
            exe = value_guard.Versions(exe, lambda alt, why: self._compile(
                types, tree, static, n_args, weak, f"value guard: {why}", example, alt), self._lock)
        return exe

    def profile(self, *args, repeat=10, warmup=1, **kwargs):
        """Run the function `repeat` times on these arguments in a profiling build of its program and return a
        Profile (backends/profile.py): per-kernel time, bytes, flops, GB/s and GFLOP/s; `.save_trace(path)` (Chrome
        trace JSON for ui.perfetto.dev), `.roofline(path)` (PNG).

            print(step.profile(params, x, y, repeat=20))
        """
        from ..backends import profile as prof
        exe, leaves = self._executable(args, kwargs)
        if self.backend != "cpu":
            return BACKENDS[self.backend]().profile(exe, leaves, repeat=repeat, warmup=warmup)
        return prof.run_profile(exe, leaves, repeat=repeat, warmup=warmup)

    def _executable(self, args, kwargs):
        """(Executable, flat leaves) of a call with these arguments, compiling (and running it once) if needed."""
        self(*args, **kwargs)
        kwnames = ()
        if args and isinstance(args[0], type):
            args = (calling.Identity(args[0]),) + args[1:]
        if kwargs:
            args, kwnames = self._binding.normalize(args, kwargs)
        dyn, static = self._split(args, kwnames)
        leaves, tree = pytree.flatten(dyn)
        leaves = self._import_dlpack(leaves)
        exe = self._cache.get((tree, static, tuple(map(_sig_of, leaves))))
        if exe is None:
            raise BackendError(f"{self.__name__}: these arguments did not select one compiled version to profile")
        return exe, leaves

    def lower(self, *args_or_specs, **kwargs) -> Lowered:
        """Trace and compile for these arguments or cc.Spec's; the result shows every stage and is callable.
        A spec's symbolic dims make this version serve every size of them on later calls."""
        kwnames = ()
        if kwargs:
            args_or_specs, kwnames = self._binding.normalize(args_or_specs, kwargs)
        dyn, static = self._split(args_or_specs, kwnames)
        leaves, tree = pytree.flatten(dyn)
        types = self._types(leaves, tree)
        weak = tuple(map(inputs.is_weak, leaves))
        with self._lock:
            if static:
                self._track(static)
            try:
                exe = self._compile(types, tree, static, len(args_or_specs), weak, "lower()")
            except guards.Specialize as e:
                raise TraceError(f"{self.__name__}: {e}; compile it for concrete sizes") from None
            if any(not isinstance(d, int) for t in types for d in t.shape):
                skey = (tree, static, tuple((t.dtype.name, len(t.shape)) for t in types), weak)
                self._symbolic.insert(0, (skey, exe))
            elif all(not isinstance(x, TensorType) for x in leaves):
                self._cache[(tree, static, tuple(map(_sig_of, leaves)))] = exe
        return exe.lowered

    def __repr__(self):
        return f"<cc.compile {self.__name__} backend={self.backend}>"


def _device_view(x):
    from runtime.cuda import DeviceArray
    try:
        return DeviceArray.from_dlpack(x)
    except Exception as e:
        if type(e).__name__ in ("CudaError", "CudaUnavailable"):
            raise BackendError(f"cuda: {e}") from None
        raise


def _raises(f, x):
    try:
        f(x)
    except DTypeError:
        return True
    return False


def _generalize(old_types, new_types, keep=()):
    """Types with the dims that differ between two calls made symbolic (equal (old, new) pairs share one), but
    not those at (argument, axis) in `keep` nor sizes 0 (symbols are positive)."""
    if len(old_types) != len(new_types):
        return None
    names = {}
    out = []
    changed = False
    for i, (a, b) in enumerate(zip(old_types, new_types)):
        if a.dtype is not b.dtype or len(a.shape) != len(b.shape):
            return None
        shape = []
        for ax, (x, y) in enumerate(zip(a.shape, b.shape)):
            if x == y or y == 0 or (i, ax) in keep:
                shape.append(y)
            else:
                key = (x, y)
                if key not in names:
                    names[key] = symbol("N" if not names else f"N{len(names)}")
                shape.append(names[key])
                changed = True
        out.append(TensorType(b.dtype, shape))
    return out if changed else None


def compile(fn=None, *, backend="cpu", static_argnums=(), static_argnames=(), arch=None, check_indices=True,
            fast_math=False):
    """Compile a NumPy function for the CPU (decorator). Traces per input signature; see the module docstring.
    backend="cuda" runs it on the GPU (arch="sm_90" to change the default PTX target sm_80; see
    compiler/backends/cuda.py for device arrays).
    check_indices=False: data-dependent indices (x[i], np.take, cross_entropy labels) out of range are clamped
    instead of raising IndexError as NumPy does (the checks cost a compare per gathered element; see README).
    fast_math=True: cheaper f32 tanh / logistic (a few ulp more error: bounds in compiler/primitives/mathlib/fast.py)
    and the function's own + - * may fuse into FMAs; results can then differ from NumPy in the last bits.
    static_argnums / static_argnames: arguments (by position / by name; each implies the other through the
    signature) that are compile-time constants, hashed into the signature. Keyword calls bind through the
    signature (compiler/calling.py); on a method, `self` is a pytree if its class is registered, else static by
    identity (see CompiledFunction).

        @cc.compile
        def f(x, w):
            return np.tanh(x @ w)
    """
    if fn is None:
        return lambda f: CompiledFunction(f, backend, static_argnums, check_indices, static_argnames, fast_math,
                                          arch=arch)
    return CompiledFunction(fn, backend, static_argnums, check_indices, static_argnames, fast_math, arch=arch)


def set_num_threads(n: int = 0) -> None:
    """Threads for the calling thread's parallel loops (0: all cores). Uses libgomp's ICV; no-op without it.
    Programs with big gemms read it at each call as their team's size (codegen/llvm_team.py)."""
    if not runtime.has_openmp():
        return
    import ctypes
    import os
    lib = ctypes.CDLL("libgomp.so.1")
    lib.omp_set_num_threads(int(n) if n and n > 0 else (os.cpu_count() or 1))

