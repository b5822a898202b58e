"""ViveError and its subclasses; formats the user's source line into messages."""
from __future__ import annotations

import linecache


class ViveError(Exception):
    """Base class of every error vive raises on bad input."""


class TraceError(ViveError):
    """Unsupported NumPy function, or Python control flow on a traced value."""


class ShapeError(ViveError, ValueError):
    """Shapes that do not fit an op (the op, both shapes, the user's file:line)."""


class IndexOutOfBounds(ShapeError, IndexError):
    """A constant index or axis out of range for a known size (x[5] of 3 elements): NumPy raises IndexError there
    (numpy.exceptions.AxisError is both a ValueError and an IndexError), so code catching either keeps working."""


class DTypeError(ViveError, TypeError):
    """Unsupported dtype, or dtypes that do not fit an op."""


class BackendError(ViveError):
    """A backend cannot do what was asked (e.g. no CUDA device)."""


class BoundsError(ViveError, IndexError):
    """Compiled code indexed outside a buffer (caught by the VIVE_CHECK_BOUNDS debug build): a vive bug."""


class VerifyError(ViveError):
    """A graph breaks an IR invariant (a compiler bug when a pass produced it)."""


class ParseError(ViveError, ValueError):
    """Text (IR, or a type like cc.Spec("f32[N,784]")) that does not parse; `pos` is the 0-based column when known,
    `reason` the message without the text and caret (one line, for the command line)."""

    def __init__(self, message, text=None, pos=None, reason=None):
        super().__init__(message)
        self.text, self.pos, self.reason = text, pos, reason


def format_loc(loc) -> str:
    """'  at file:line in func:   source' for a SourceLoc, or '' when unknown."""
    if loc is None:
        return ""
    src = linecache.getline(loc.file, loc.line).strip()
    text = f"\n  at {loc.file}:{loc.line} in {loc.func}"
    return text + (f":   {src}" if src else "")
