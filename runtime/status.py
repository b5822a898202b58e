"""The error status of run-time checks in compiled code, turned into the exception the check stands for.

A program with checks takes one more array after its scratch: an int64 status of 4 words, zero on entry. A failing
check writes [site + 1, value, bound, 0] (the first failure wins); `sites` (from the program's metadata) says
what each site means: {"exc": "IndexError", "message": "... {value} ... {bound} ...", "where": " at file:line",
"wrap": bool, ...other fields the message names}.
"""
from __future__ import annotations

# the exceptions a site may name (builtins only: runtime/ never imports compiler/)
_EXCEPTIONS = {"IndexError": IndexError, "ValueError": ValueError, "OverflowError": OverflowError,
               "ZeroDivisionError": ZeroDivisionError, "AssertionError": AssertionError}


def error(status, sites) -> Exception | None:
    """The exception for a status array, or None when it reports no failure."""
    code = int(status[0])
    if code == 0:
        return None
    if not 1 <= code <= len(sites):
        return RuntimeError(f"vive: compiled code reported an unknown check failure (status {list(status)})")
    site = sites[code - 1]
    value, bound = int(status[1]), int(status[2])
    if site.get("wrap") and value < 0:
        value -= bound               # NumPy wrapped a negative index by adding the size: show the one written
    fields = {k: v for k, v in site.items() if k not in ("exc", "message", "where")}
    fields.update(value=value, bound=bound)
    cls = _EXCEPTIONS.get(site.get("exc"), RuntimeError)
    message = site["message"].format(**fields) + site.get("where", "")
    make = getattr(cls, "from_site", None)
    return make(site, message) if make is not None else cls(message)


def register(name, cls) -> None:
    """An exception a site may name beyond the builtins, registered by the compiler (which runtime/ never imports);
    built with cls.from_site(site, message) where the class has it."""
    _EXCEPTIONS[name] = cls


def raise_for(status, sites) -> None:
    """Raise the exception a nonzero status stands for (see error())."""
    e = error(status, sites)
    if e is not None:
        raise e
