"""Whether a truth test in a Python frame is the condition of an `assert` statement: read from its bytecode.

`assert c, "msg"` compiles to a conditional jump on c (after a TO_BOOL or a comparison that converts, on 3.13+)
one of whose two ways goes straight to LOAD_ASSERTION_ERROR and a raise. When that is the instruction converting a
traced value (trace.py, Tracer.__bool__), the value the program needs to go on is the other way's: tracing takes
it and records a run-time check instead. `assert a and b` holds a jump per operand, each with a failing way, so
each becomes one check; `assert a or b` has a jump with no failing way and stays an error, as every other truth
test (`if`, `while`, `bool()`, `and`/`or` in expressions) does. Cached per code object: one pass of `dis` each.
"""
from __future__ import annotations

import dis
import threading

# Instructions that carry no meaning between a conversion, its jump and the failing block.
_FILLER = frozenset({"CACHE", "EXTENDED_ARG", "NOP", "NOT_TAKEN"})
# Instructions that convert their operand (or result) to bool for the jump right after them (3.13+).
_CONVERTING = frozenset({"TO_BOOL", "COMPARE_OP", "CONTAINS_OP", "IS_OP"})
# Calls between the message constant and the raise: AssertionError(msg)
_CALLS = frozenset({"PRECALL", "CALL", "CALL_FUNCTION", "PUSH_NULL", "KW_NAMES"})

_cache = {}
_lock = threading.Lock()


def _jump_sense(opname):
    """True / False for a pop-and-jump on the truth / falsehood of the top of stack; None for anything else."""
    if not opname.startswith("POP_JUMP_"):
        return None
    if opname.endswith("IF_TRUE"):
        return True
    if opname.endswith("IF_FALSE"):
        return False
    return None                      # IF_NONE / IF_NOT_NONE test identity, not truth


def _message(instrs, i):
    """The constant str message of the assert whose LOAD_ASSERTION_ERROR is instrs[i], else ""."""
    j = i + 1
    if j < len(instrs) and instrs[j].opname == "RAISE_VARARGS":
        return ""
    if j < len(instrs) and instrs[j].opname in ("LOAD_CONST", "LOAD_SMALL_INT") and isinstance(instrs[j].argval, str):
        msg = instrs[j].argval
        j += 1
        while j < len(instrs) and (instrs[j].opname in _CALLS or instrs[j].opname in _FILLER):
            j += 1
        if j < len(instrs) and instrs[j].opname == "RAISE_VARARGS":
            return msg
    return ""


def _analyse(code):
    """{offset of an instruction that converts to bool for an assert's jump: (value that passes, message)}."""
    instrs = [ins for ins in dis.get_instructions(code) if ins.opname not in _FILLER]
    at = {ins.offset: k for k, ins in enumerate(instrs)}
    out = {}
    for k, ins in enumerate(instrs):
        sense = _jump_sense(ins.opname)
        if sense is None:
            continue
        taken = at.get(ins.argval)
        fall = k + 1
        fails_taken = taken is not None and instrs[taken].opname == "LOAD_ASSERTION_ERROR"
        fails_fall = fall < len(instrs) and instrs[fall].opname == "LOAD_ASSERTION_ERROR"
        if fails_taken == fails_fall:
            continue
        # the jump is taken when the value's truth equals `sense`: the assertion holds on the other way
        passes = (not sense) if fails_taken else sense
        site = (passes, _message(instrs, taken if fails_taken else fall))
        out[ins.offset] = site
        # on 3.13+ the conversion happens one instruction before the jump
        prev = instrs[k - 1] if k else None
        if prev is not None and prev.opname in _CONVERTING:
            out[prev.offset] = site
    return out


def assert_site(frame):
    """(the truth value under which the assert passes, its constant message or "") when `frame` is converting a
    value to bool for an `assert` statement's test, else None."""
    code = frame.f_code
    table = _cache.get(code)
    if table is None:
        table = _analyse(code)
        with _lock:
            if len(_cache) > 4096:
                _cache.clear()
            _cache[code] = table
    return table.get(frame.f_lasti)


__all__ = ["assert_site"]
