"""Debug switches and dumps: the one place reading VIVE_DEBUG, VIVE_DUMP_DIR, VIVE_LOG_COMPILES, VIVE_CHECK_BOUNDS,
VIVE_PROFILE; and cc.debug.print, which prints runtime values from traced and compiled code (debug_print.py).

This module sits below every other one of compiler/ and imports none of them: what it needs from above (the body of
cc.debug.print, the stage renderer of VIVE_DUMP_DIR) those modules install here when imported (`install`).

VIVE_DEBUG=1 logs each pass with node count and time (and verifies after each pass); 2 adds the IR after
each pass; 3 LLVM IR before/after optimization; 4 assembly/PTX. VIVE_DUMP_DIR=dir makes every compile
write every stage to dir/<function>-<hash>/NN_<stage>.txt (.ll, .s, .ptx) plus summary.txt.
"""
from __future__ import annotations

import builtins
import hashlib
import os
import re
import sys
import threading

_lock = threading.Lock()
_print = builtins.print          # NOTE: this module's `print` is cc.debug.print
_hooks = {}                      # 'print': debug_print.debug_print; 'stages', 'summary': dump.py's stage renderer


def install(**hooks):
    """Called by the modules above this one when they are imported: print= (debug_print.py, the body of
    cc.debug.print), stages= and summary= (dump.py: lowered_stages, summary_text, which VIVE_DUMP_DIR writes)."""
    _hooks.update(hooks)


def print(fmt, *args, **kwargs):  # noqa: A001  (cc.debug.print, JAX's name)
    """Print fmt.format(*args, **kwargs) with the values args have when the code runs (JAX's jax.debug.print).

    >>> @cc.compile
    ... def f(x):
    ...     cc.debug.print("x = {}, sum = {s}", x, s=np.sum(x))     # printed at every call of f
    ...     return x * 2
    Outside a trace it prints at once. In traced code (cc.compile, grad, jvp, ...) it prints each time the code
    runs, in program order, the primal values under differentiation. Arguments are arrays or pytrees of arrays.
    """
    _hooks["print"](fmt, args, kwargs)


# ---- switches (read on every call, so tests can monkeypatch the environment) ----

def debug_level() -> int:
    """VIVE_DEBUG as an int (unset or unparsable: 0; 'true'/'yes' count as 1)."""
    raw = os.environ.get("VIVE_DEBUG", "").strip().lower()
    if not raw:
        return 0
    if raw in ("true", "yes", "on"):
        return 1
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def verify_enabled() -> bool:
    """Whether passes verify the graph after each step (VIVE_DEBUG >= 1; tests set it)."""
    return debug_level() >= 1


def dump_dir() -> str | None:
    """VIVE_DUMP_DIR, or None when unset/empty."""
    d = os.environ.get("VIVE_DUMP_DIR", "").strip()
    return d or None


def log_compiles() -> bool:
    """VIVE_LOG_COMPILES=1 (or VIVE_DEBUG>=1): print each compile with its reason."""
    raw = os.environ.get("VIVE_LOG_COMPILES", "").strip().lower()
    return raw not in ("", "0", "false", "no", "off") or debug_level() >= 1


def check_bounds() -> bool:
    """VIVE_CHECK_BOUNDS=1: CPU kernels check every load and store against its buffer; a bad index makes the call
    raise BoundsError (a debug build: slower, never a crash)."""
    raw = os.environ.get("VIVE_CHECK_BOUNDS", "").strip().lower()
    return raw not in ("", "0", "false", "no", "off")


def gemm_kernels() -> str:
    """VIVE_GEMM: 'auto' (default: own small-matrix kernels where measured faster, OpenBLAS otherwise), 'own' (own
    kernels for every gemm of known size or not), 'blas' (OpenBLAS for every gemm). Read per compile."""
    raw = os.environ.get("VIVE_GEMM", "").strip().lower()
    return raw if raw in ("own", "blas") else "auto"


def profile_path() -> str | None:
    """VIVE_PROFILE=path.json: every compile builds the profiling variant of its program, and every compiled call
    and compile is traced into one Chrome trace written at exit (compiler/backends/profile.py)."""
    p = os.environ.get("VIVE_PROFILE", "").strip()
    return p or None


# ---- logging ----

def log(msg: str, level: int = 1, file=None) -> None:
    """Print `[vive] msg` to stderr when VIVE_DEBUG >= level."""
    if debug_level() >= level:
        _emit(msg, file)


def log_compile(fn_name: str, reason: str, file=None) -> None:
    """`[vive] compile loss: new shape f32[128,784]` when VIVE_LOG_COMPILES (or VIVE_DEBUG) is on."""
    if log_compiles():
        _emit(f"compile {fn_name}: {reason}", file)


def _emit(msg, file=None):
    out = file or sys.stderr
    with _lock:
        for line in str(msg).splitlines() or [""]:
            _print(f"[vive] {line}", file=out)
        try:
            out.flush()
        except Exception:
            pass


def banner(title: str, width: int = 72) -> str:
    """'*** IR after fold_constants (0.12 ms, 40 nodes) ***' padded with '*' to `width`."""
    t = f"*** {title} "
    return t + "*" * max(3, width - len(t))


def log_block(title: str, text: str, level: int, file=None) -> None:
    """A banner and a block of text (IR, LLVM, PTX) to stderr when VIVE_DEBUG >= level."""
    if debug_level() >= level:
        out = file or sys.stderr
        with _lock:
            _print(banner(title), file=out)
            _print(text, file=out)
            try:
                out.flush()
            except Exception:
                pass


# ---- names ----

def safe_name(name: str) -> str:
    """A file-system-safe stage or function name."""
    return re.sub(r"[^\w.-]+", "_", str(name)).strip("_") or "f"


def short_hash(*parts) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:10]


# ---- VIVE_DUMP_DIR ----

def dump_compile(lowered, name=None, backend="cpu", directory=None):
    """Write every stage of a finished compile to dir/<function>-<hash>/NN_<stage>.<ext> plus summary.txt.

    Backends call this after each compile with their lowered object (.graph, .pass_log, .optimized,
    .kernels, .llvm_ir(), .asm(), .ptx()); without VIVE_DUMP_DIR (and no `directory`) it does nothing.
    Returns the directory written, or None. A failure to write is logged, never raised: dumps must not
    break a compile.
    """
    root = directory or dump_dir()
    if not root:
        return None
    lowered_stages, summary_text = _hooks["stages"], _hooks["summary"]
    try:
        g = getattr(lowered, "graph", None)
        name = name or getattr(g, "name", None) or "f"
        stages = lowered_stages(lowered, backend)
        digest = short_hash(backend, *(s.text for s in stages[:1]), *(str(t) for t in getattr(g, "in_types", ())))
        path = os.path.join(root, f"{safe_name(name)}-{digest}")
        write_stages(path, stages, summary_text(lowered, stages, name, backend, digest))
        log(f"dumped {len(stages)} stages of {name} to {path}", 1)
        return path
    except Exception as e:      # noqa: BLE001 - a dump is a debugging aid
        _emit(f"VIVE_DUMP_DIR: could not dump {name}: {type(e).__name__}: {e}")
        return None


def write_stages(path, stages, summary=None):
    """NN_<stage>.<ext> for each stage in order (00_traced.txt, 01_fold_constants.txt, ..., 07_llvm.ll)."""
    os.makedirs(path, exist_ok=True)
    for old in os.listdir(path):         # a rerun with a different pipeline leaves no stale stages behind
        if re.match(r"^\d+_.*\.(txt|ll|s|ptx)$", old):
            try:
                os.remove(os.path.join(path, old))
            except OSError:
                pass
    width = max(2, len(str(len(stages) - 1)))
    for i, s in enumerate(stages):
        fname = f"{i:0{width}d}_{safe_name(s.name)}.{s.ext}"
        _write(os.path.join(path, fname), s.text)
    if summary is not None:
        _write(os.path.join(path, "summary.txt"), summary)


def _write(fname, text):
    tmp = f"{fname}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    os.replace(tmp, fname)      # atomic: racing compiles of one function never leave half a file
