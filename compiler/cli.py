"""The `vive` command: `vive dump FILE.py:FUNC --arg SPEC ... --stage STAGE` prints the IR at any stage.

Errors a user can make (missing file or function, a bad spec, a function that does not trace) print one line
on stderr and exit with status 2; `--traceback` shows the Python traceback as well.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import traceback

EXIT_USAGE = 2

_DUMP_EPILOG = """\
stages (in pipeline order):
  traced      the graph traced from the function
  grad        the graph of value_and_grad(FUNC) (w.r.t. argument 0, or --grad ARGNUMS)
  optimized   the graph after the optimization passes
  kernels     the fused loop-level kernels
  llvm        LLVM IR (CPU backend)
  asm         host assembly (CPU backend)
  ptx         PTX (CUDA backend; needs no GPU)
  all         the IR after every pass with its time and node count, then kernels and code

--arg takes one spec per positional argument: a type like "f32[N,784]" (letters are symbolic sizes,
dtypes f32 f64 i32 i64 bool), or a pytree of them as JSON: '{"w": "f32[784,10]", "b": "f32[10]"}'.

examples (from the repository root):
  vive dump examples/train_mlp.py:loss_fn \\
      --arg '{"w1": "f32[64,128]", "b1": "f32[128]", "w2": "f32[128,10]", "b2": "f32[10]"}' \\
      --arg "f32[N,64]" --arg "i64[N]" --grad 0 --stage all --diff
  vive dump examples/train_mlp.py:loss_fn \\
      --arg '{"w1": "f32[64,128]", "b1": "f32[128]", "w2": "f32[128,10]", "b2": "f32[10]"}' \\
      --arg "f32[N,64]" --arg "i64[N]" --grad --format html -o loss.html
"""


class UsageError(Exception):
    """A mistake on the command line or in the user's file: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # one line, not argparse's usage block
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _version():
    from .version import __version__
    return f"vive {__version__}"


def make_parser():
    from .dump import STAGES
    p = _Parser(prog="vive", description="vive: a differentiable-programming compiler for plain NumPy code.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    d = sub.add_parser("dump", help="print the IR of a function at any compiler stage",
                       description="Print the IR of FUNC at a compiler stage.",
                       epilog=_DUMP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("target", metavar="FILE.py:FUNC",
                   help="the function to compile: a file and a function name (or a module with -m)")
    d.add_argument("-m", dest="module", action="store_true",
                   help="TARGET is package.module:FUNC, imported from the current directory or sys.path")
    d.add_argument("--arg", action="append", default=[], metavar="SPEC",
                   help='one per positional argument: "f32[N,784]" or a JSON pytree of specs')
    d.add_argument("--grad", nargs="?", const="0", default=None, metavar="ARGNUMS",
                   help="dump value_and_grad(FUNC) w.r.t. these arguments (default 0; e.g. --grad 0,1)")
    d.add_argument("--backend", choices=("cpu", "cuda"), default="cpu", help="target (default cpu)")
    d.add_argument("--stage", choices=STAGES, default="optimized", help="which stage (default optimized)")
    d.add_argument("--diff", action="store_true",
                   help="print unified diffs between consecutive stages instead (with one stage: from the one before)")
    d.add_argument("--format", choices=("text", "dot", "html"), default="text",
                   help="text IR, Graphviz DOT for graph stages, or html: one self-contained page of every stage "
                        "(default text)")
    d.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write to FILE instead of standard output")
    d.add_argument("--no-locs", dest="locs", action="store_false",
                   help="leave out the '# file:line' column of graph stages")
    d.add_argument("--traceback", action="store_true", help="show the Python traceback of an error")
    w = sub.add_parser("warm", help="compile the kernel library (the own gemm kernels) into the disk cache",
                       description="Compile every kernel of vive's library for this machine that the disk cache "
                                   "lacks (once per machine and vive version, ~1 s), so that no program's first "
                                   "compile pays for one. `make install` runs it.")
    w.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    w.add_argument("--traceback", action="store_true", help="show the Python traceback of an error")
    return p


def cmd_warm(a) -> int:
    from .backends import gemm_kernels
    cache_dir = gemm_kernels.cache_directory
    if cache_dir() is None:
        print("vive: the disk cache is off (VIVE_NO_CACHE / VIVE_CACHE_DIR=): nothing to warm", file=sys.stderr)
        return 0

    def report(done, total):
        if not a.quiet and sys.stderr.isatty():
            print(f"\rvive warm: {done}/{total} kernels compiled", end="", file=sys.stderr, flush=True)
    made, total, stored = gemm_kernels.warm(report)
    if a.quiet and stored == total:
        return 0
    if made and sys.stderr.isatty():
        print(file=sys.stderr)
    if stored < total:        # not an error: programs then compile the kernels they need, as without warm
        print(f"vive warm: only {stored} of {total} kernels could be stored in {cache_dir()}", file=sys.stderr)
    else:
        print(f"vive warm: {total} kernels in {cache_dir()} ({made} compiled now)", file=sys.stderr)
    return 0


# ---- loading the user's function ----

def load_function(target: str, module: bool = False):
    """FILE.py:FUNC (or package.module:FUNC with module=True) -> (function, path of its source file)."""
    if ":" not in target:
        raise UsageError(f"expected FILE.py:FUNC{' (module:FUNC with -m)' if module else ''}, got {target!r}")
    where, _, name = target.rpartition(":")
    if not name or not where:
        raise UsageError(f"expected FILE.py:FUNC, got {target!r}")
    if module:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            mod = importlib.import_module(where)
        except ModuleNotFoundError as e:
            if e.name and where.startswith(e.name):
                raise UsageError(f"no module named {where!r}") from e
            raise _UserCodeError(f"importing {where} failed", e) from e
        except Exception as e:
            raise _UserCodeError(f"importing {where} failed", e) from e
        path = getattr(mod, "__file__", None) or where
    else:
        path = where
        if not os.path.exists(path):
            raise UsageError(f"no such file: {path}")
        if os.path.isdir(path):
            raise UsageError(f"{path} is a directory, not a Python file")
        mod_name = "_vive_user_" + "".join(c if c.isalnum() else "_" for c in os.path.splitext(
            os.path.basename(path))[0])
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot load {path} as Python source")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))   # its sibling imports work
        try:
            spec.loader.exec_module(mod)
        except SyntaxError as e:
            raise UsageError(f"{e.filename or path}:{e.lineno}: syntax error: {e.msg}") from e
        except Exception as e:
            raise _UserCodeError(f"running {path} failed", e) from e
    fn = mod
    for part in name.split("."):
        if not hasattr(fn, part):
            cands = sorted(k for k, v in vars(mod).items() if callable(v) and not k.startswith("_")
                           and getattr(v, "__module__", None) == mod.__name__)
            hint = f" (it defines: {', '.join(cands)})" if cands else ""
            raise UsageError(f"{where} has no function {name!r}{hint}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise UsageError(f"{where}:{name} is a {type(fn).__name__}, not a function")
    return fn, path


class _UserCodeError(Exception):
    """An exception raised by the user's code (importing or tracing it): reported with the user's file:line."""

    def __init__(self, what, exc):
        super().__init__(what)
        self.what, self.exc = what, exc


# ---- specs ----

def parse_arg(text: str, index: int):
    """--arg text -> a Spec, a Python number, or a pytree (dict/list) of them from JSON."""
    from .errors import ParseError
    from .ir.types import Spec
    t = text.strip()
    try:
        if t[:1] in "{[" or t in ("true", "false") or _is_number(t):
            obj = json.loads(t)
        else:
            obj = t
    except json.JSONDecodeError as e:
        raise UsageError(f"--arg {index + 1}: not valid JSON ({e.msg} at column {e.colno}): {text!r}") from None

    def conv(x):
        if isinstance(x, str):
            try:
                return Spec(x)
            except ParseError as e:
                # one line: the caret drawing of the message does not survive a one-line report
                where = f" at column {e.pos + 1}" if e.pos is not None else ""
                raise UsageError(f"--arg {index + 1}: cannot parse type {x!r}: {e.reason or e}{where}") from None
            except Exception as e:
                raise UsageError(f"--arg {index + 1}: {e}") from None
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, list):
            return [conv(v) for v in x]
        if isinstance(x, (bool, int, float)):
            return x
        raise UsageError(f"--arg {index + 1}: cannot use {x!r} as an argument (give a spec like 'f32[N,3]')")
    return conv(obj)


def _is_number(t):
    try:
        float(t)
        return True
    except ValueError:
        return False


def parse_argnums(text):
    if text is None:
        return False
    try:
        # `0,1`, and the list forms `[0,1]` / `(0,1)` people type after reading Python
        nums = tuple(int(p) for p in text.replace(" ", "").strip("[]()").split(",") if p != "")
    except ValueError:
        raise UsageError(f"--grad: expected argument numbers like 0 or 0,1 (or [0,1]), got {text!r}") from None
    if not nums:
        raise UsageError("--grad: expected argument numbers like 0 or 0,1")
    return nums[0] if len(nums) == 1 else nums


def _check_arity(fn, n_args, fname):
    import inspect
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*range(n_args))
    except TypeError:
        params = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        raise UsageError(f"{fname}({', '.join(params)}) needs {len(params)} --arg "
                         f"(one per positional argument), got {n_args}") from None


# ---- errors as one line ----

def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def _user_frame(exc, user_file):
    """file:line of the innermost traceback frame in the user's file (or outside vive and NumPy)."""
    tb = traceback.extract_tb(exc.__traceback__)
    pkg = os.path.dirname(os.path.abspath(__file__))
    real = os.path.realpath(user_file) if user_file else None
    best = None
    for fr in tb:
        f = os.path.realpath(fr.filename)
        if real and f == real:
            best = fr
        elif best is None and not f.startswith(pkg) and "numpy" not in f and "importlib" not in f:
            best = fr
    if best is None:
        return ""
    return f"{os.path.relpath(best.filename) if not os.path.relpath(best.filename).startswith('..') else best.filename}" \
           f":{best.lineno}"


def _report(exc, user_file, show_tb):
    from .errors import ViveError
    if show_tb:
        traceback.print_exception(exc if not isinstance(exc, _UserCodeError) else exc.exc, file=sys.stderr)
    if isinstance(exc, UsageError):
        msg = str(exc)
    elif isinstance(exc, _UserCodeError):
        inner = exc.exc
        where = _user_frame(inner, user_file)
        msg = f"{exc.what}: {type(inner).__name__}: {_one_line(inner)}" + (f" (at {where})" if where else "")
    elif isinstance(exc, ViveError):
        text = _one_line(exc)
        where = "" if " at " in text else _user_frame(exc, user_file)
        msg = f"{type(exc).__name__}: {text}" + (f" (at {where})" if where else "")
    else:
        where = _user_frame(exc, user_file)
        msg = f"{type(exc).__name__}: {_one_line(exc)}" + (f" (at {where})" if where else "")
    print(f"vive: error: {_one_line(msg)}", file=sys.stderr)
    return EXIT_USAGE


# ---- commands ----

def cmd_dump(a) -> str:
    from .dump import dump, DumpError  # noqa: F401
    from .errors import ViveError
    fn, path = load_function(a.target, a.module)
    args = tuple(parse_arg(t, i) for i, t in enumerate(a.arg))
    fname = a.target.rpartition(":")[2]
    _check_arity(fn, len(args), fname)
    grad = parse_argnums(a.grad)
    if a.stage == "grad" and grad is False:
        grad = 0
    try:
        return dump(fn, *args, stage=a.stage, grad=grad, backend=a.backend, diff=a.diff, format=a.format,
                    locs=a.locs)
    except (ViveError, UsageError):
        raise
    except Exception as e:
        # an exception from the user's code while tracing (or a vive bug): report where it happened
        raise _UserCodeError(f"tracing {fname} failed", e) from e


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    show_tb = "--traceback" in argv
    user_file = None
    try:
        a = parser.parse_args(argv)
        if a.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if a.command == "dump":
            user_file = a.target.rpartition(":")[0] if not a.module else None
            text = cmd_dump(a)
            if a.output:
                with open(a.output, "w") as f:
                    f.write(text)
                print(f"vive: wrote {a.output}", file=sys.stderr)
                return 0
            sys.stdout.write(text)
            sys.stdout.flush()
            return 0
        if a.command == "warm":
            return cmd_warm(a)
        raise UsageError(f"unknown command {a.command!r}")
    except BrokenPipeError:          # `vive dump ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        return _report(e, user_file, show_tb)


if __name__ == "__main__":
    sys.exit(main())
