"""Value guards: a trace that must choose between two specialisations by a property of run-time values.

Some results depend on values in a way a trace cannot see: scipy.linalg.sqrtm of a real matrix is a real array,
unless the matrix has a negative real eigenvalue, when it is complex; the dtype of the result follows the values.
A trace cannot wait for the values, so it takes one specialisation (the common one first) and records a run-time
check that it holds: an assert_true node whose `guard` param names the choice site (primitives/asserts.py). When
the check fails, the compiled call (or the reference interpreter) raises ValueGuardFailed(site) instead of
returning the wrong answer, and the caller traces again with that site's other specialisation:

  - cc.compile (compile/function.py, `_compile`): a version whose trace made choices is wrapped in `Versions`,
    which keeps the versions of one signature side by side (as versions for different shapes are kept), runs the
    latest one that held, and traces and compiles the other specialisation the first time it is needed;
  - the eager transforms (transforms/api.py: grad, value_and_grad, jvp, vjp, ...) trace and evaluate again
    (`retrying`).

Sites are numbered in the order a trace makes its choices (`choose`), which a deterministic trace repeats, so a
retrace with one site flipped meets the same sites in the same order. Nested traces (a transform traced inside
cc.compile) share the outermost scope. When both specialisations of a site fail for one call (values needing
both: lanes of cc.vmap, iterations of a loop body; or values neither serves), the call raises
SpecializationError naming the user's line, never a wrong or NaN answer.

This module sits low (it imports only errors): the primitives' reference raises ValueGuardFailed, the ops choose,
the transforms and cc.compile retry. runtime/status.py builds ValueGuardFailed from a compiled program's status
word (registered by compile/function.py: runtime/ never imports compiler/).
"""
from __future__ import annotations

import contextlib
import functools
import threading

from .errors import ViveError

# How many retraces one call may take before giving up (each flips one site; a site flipped back is refused
# sooner, see _flip): a bound so that no pathological trace loops.
MAX_RETRIES = 16


class ValueGuardFailed(ViveError):
    """The specialisation a trace chose at `site` does not hold for the values of this call (control flow between
    a failed check and the retrace; it reaches the user only where nothing retraces, e.g. cc.interpret)."""

    def __init__(self, message, site):
        super().__init__(message)
        self.site = int(site)

    @classmethod
    def from_site(cls, info, message):
        """From a compiled program's check site (lower/checks.py: {"guard": site, ...}) and its message."""
        return cls(message, info["guard"])


class SpecializationError(ViveError, ValueError):
    """Neither specialisation of a value-guarded site holds for one call's values."""


class _Scope:
    __slots__ = ("alt", "next")

    def __init__(self, alt):
        self.alt = dict(alt or {})     # site -> True where the trace takes the other specialisation
        self.next = 0                  # the site number the next choice gets

    @property
    def sites(self):
        return self.next


_local = threading.local()


def _current():
    return getattr(_local, "scope", None)


@contextlib.contextmanager
def scope(alt=None, fresh=False):
    """The choice scope of one trace: `alt` {site: True} takes those sites' other specialisation. Inside another
    scope (a transform traced inside cc.compile or an eager retry) the outer one is used unless `fresh`."""
    outer = _current()
    if outer is not None and not fresh and alt is None:
        yield outer
        return
    s = _Scope(alt)
    _local.scope = s
    try:
        yield s
    finally:
        _local.scope = outer


def choose():
    """(site, alternative): the next choice site of the current trace and whether it takes the other
    specialisation. Outside any scope (cc.trace, cc.interpret) every site takes the common one and is numbered 0:
    nothing retraces there, and a failed check raises ValueGuardFailed with its message and line."""
    s = _current()
    if s is None:
        return 0, False
    site = s.next
    s.next += 1
    return site, bool(s.alt.get(site, False))


def _key(alt):
    return frozenset(k for k, v in alt.items() if v)


def _flip(alt, failures, tried):
    """The choices with the latest failed site flipped; SpecializationError when that set was tried in this call
    (its message holds what each specialisation of the site met)."""
    site = failures[-1].site
    new = dict(alt)
    new[site] = not new.get(site, False)
    if _key(new) in tried or len(tried) > MAX_RETRIES:
        seen = []
        for f in failures:
            if f.site == site and str(f) not in seen:
                seen.append(str(f))
        raise SpecializationError(
            "\n".join(seen) + "\nNeither specialisation holds for these values: they need both (lanes of cc.vmap, "
            "iterations of a loop body) or neither (e.g. a singular matrix for scipy.linalg.sqrtm); a traced "
            "program has one dtype per result, so vive cannot serve them in one call") from None
    tried.add(_key(new))
    return new


def retrying(thunk):
    """thunk() (which traces and evaluates, as an eager transform does), traced again with a failed site's other
    specialisation until its checks hold. Inside an enclosing scope the outermost one retries."""
    if _current() is not None:
        return thunk()
    alt, tried, failures = {}, {frozenset()}, []
    while True:
        try:
            with scope(alt, fresh=True):
                return thunk()
        except ValueGuardFailed as e:
            failures.append(e)
        alt = _flip(alt, failures, tried)


def retried(fn):
    """fn (an eager transform's entry: it traces and evaluates) made to retry as `retrying` does."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return retrying(lambda: fn(*args, **kwargs))
    return call


class Versions:
    """The versions of one compiled signature that differ in their value-guarded choices, side by side: a call runs
    the latest one that held; a failed guard switches to (tracing and compiling the first time) the version with
    that site flipped. Quacks like the Executable it wraps (attributes read through)."""

    def __init__(self, exe, make, lock):
        self._versions = {frozenset(): exe}
        self._state = (exe, {})       # (current version, its choices): one tuple, swapped whole (threads)
        self._make = make             # choices -> a new Executable traced and compiled with them
        self._lock = lock

    def __getattr__(self, name):
        return getattr(self._state[0], name)

    @property
    def versions(self):
        return len(self._versions)

    def run(self, leaves, checked=False):
        exe, alt = self._state
        try:
            return exe.run(leaves, checked)
        except ValueGuardFailed as e:
            failures = [e]
        tried = {_key(alt)}
        while True:
            alt = _flip(alt, failures, tried)
            key = _key(alt)
            with self._lock:
                exe = self._versions.get(key)
                if exe is None:
                    exe = self._versions[key] = self._make(alt, str(failures[-1]).split("\n")[0])
            self._state = (exe, alt)
            try:
                return exe.run(leaves, checked)
            except ValueGuardFailed as e:
                failures.append(e)

    def runner(self):
        return lambda args: self.run(args, True)

    def runner1(self):
        def run1(a):
            # (an array the checked path cannot take as it is goes through conversion)
            return self.run((a,), a.flags.c_contiguous and a.flags.aligned)
        return run1


__all__ = ["ValueGuardFailed", "SpecializationError", "scope", "choose", "retrying", "retried", "Versions"]
