"""Splitting one LLVM module's text into parts that compile on separate threads, and ELF symbol tables.

LLVM's optimisation and code generation are per function and single-threaded; a program's kernels are independent
functions, so parts of them optimise and compile at the same time in private LLVMContexts (llvmlite drops the GIL
in its ffi calls) and their objects load into one MCJIT engine, which links the calls between them.
"""
from __future__ import annotations

import os
import re
import struct

# below this many lines of IR the thread hand-off costs more than a second core wins (a thread start plus the
# fixed per-module cost of a pass pipeline and a code generator, ~1 ms each)
MIN_SPLIT_LINES = 400
# a part holds at least this many lines, so small programs use fewer threads than the machine has
MIN_PART_LINES = 200
MAX_PARTS = 4

_NAME = r'@(?:"(?:[^"\\]|\\.)*"|[-\w.$]+)'
_REF = re.compile(_NAME)
_GLOBAL = re.compile(rf'^({_NAME})\s*=\s*((?:[\w()]+\s+)*)(global|constant)\s')
# declarations (no storage of their own) and @llvm.compiler.used (each part needs its own) are copied to every part
_NOT_STORAGE = {"external", "extern_weak", "appending"}
_DEFINE = re.compile(rf'^define\s+(internal\s+|private\s+)?(.*?)({_NAME})\(')


def compile_threads() -> int:
    """Threads a compile may use: VIVE_COMPILE_THREADS (1 turns splitting off), else the CPUs this process may
    run on that other processes leave idle, at most MAX_PARTS. Idle by the 1-minute load average (which counts this
    process too) or by the tasks runnable right now, whichever finds more: the average lags a busy spell that just
    ended by a minute (a benchmark's earlier processes, or this program's own computation) and then kept compiles
    on one thread on an idle machine.

    NOTE: on a saturated machine a second thread gains nothing and the parts cost ~5% more CPU than the whole
    (2 cores, load 12: MLP value_and_grad 405 ms whole vs 423 ms split, medians of 5)."""
    env = os.environ.get("VIVE_COMPILE_THREADS", "")
    if env.strip().isdigit():
        return max(1, min(int(env), 16))
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        idle = round(n + 1 - os.getloadavg()[0])
    except OSError:
        idle = n
    running = running_tasks()
    if running is not None:
        idle = max(idle, n + 1 - running)          # `running` counts this thread
    return max(1, min(n, idle, MAX_PARTS))


def running_tasks() -> int | None:
    """Tasks runnable on this machine now (Linux /proc/loadavg's fourth field, this thread included); None where
    it cannot be read."""
    try:
        with open("/proc/loadavg") as fh:
            return int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


class _Function:
    __slots__ = ("name", "lines", "internal", "refs", "pinned")

    def __init__(self, name, lines, internal):
        self.name, self.lines, self.internal = name, lines, internal
        self.refs = set()
        self.pinned = False


def split_module(text: str, parts: int) -> list[str]:
    """The module as `parts` or fewer module texts with the same functions between them; [text] when it is too
    small to split or cannot be split safely.

    Every part keeps the module-level lines (declarations, constants, metadata, attributes); a function called
    from another part loses its internal linkage (hidden instead, so it links inside the engine) and the caller's
    part declares it. Functions that touch a mutable global stay with part 0, which alone defines those globals:
    a copy per part would split their state."""
    lines = text.splitlines()
    if parts < 2 or len(lines) < MIN_SPLIT_LINES:
        return [text]
    parsed = _parse_functions(lines)
    if parsed is None or len(parsed[1]) < 2:
        return [text]
    header, fns = parsed
    mutable = {m.group(1) for m in map(_GLOBAL.match, header) if m and _owned(m)}
    defined = {f.name: f for f in fns}
    for f in fns:
        names = set(_REF.findall("\n".join(f.lines[1:])))
        f.refs = {n for n in names if n in defined and n != f.name}
        f.pinned = bool(names & mutable) or not f.internal
    parts = min(parts, max(1, len(lines) // MIN_PART_LINES))
    if parts < 2:
        return [text]
    # longest first onto the lightest part (LPT); the pinned ones seed part 0
    load = [0] * parts
    where = {}
    for f in fns:
        if f.pinned:
            where[f.name] = 0
            load[0] += len(f.lines)
    for f in sorted((f for f in fns if not f.pinned), key=lambda f: -len(f.lines)):
        p = min(range(parts), key=load.__getitem__)
        where[f.name] = p
        load[p] += len(f.lines)
    used = sorted(set(where.values()))
    if len(used) < 2:
        return [text]
    exported = {r for f in fns for r in f.refs if where[r] != where[f.name]}
    out = []
    for p in used:
        body, needed = [], set()
        for f in fns:
            if where[f.name] != p:
                continue
            head = f.lines[0]
            if f.name in exported:
                head = head.replace("define internal ", "define hidden ", 1).replace("define private ", "define hidden ", 1)
            body.append(head)
            body.extend(f.lines[1:])
            needed |= {r for r in f.refs if where[r] != p}
        hdr = header if p == 0 else [line for line in header
                                     if not ((m := _GLOBAL.match(line)) and m.group(1) in mutable)]
        decls = [_declaration(defined[n].lines[0]) for n in sorted(needed)]
        out.append("\n".join(hdr + decls + body) + "\n")
    return out


def _parse_functions(lines):
    """(header lines, [_Function]) of a module's lines; None when a function does not end."""
    header, fns, cur = [], [], None
    for line in lines:
        if cur is not None:
            cur.lines.append(line)
            if line.startswith("}"):
                cur = None
            continue
        m = _DEFINE.match(line) if line.startswith("define") else None
        if m is not None:
            cur = _Function(m.group(3), [line], bool(m.group(1)))
            fns.append(cur)
        else:
            header.append(line)
    return None if cur is not None else (header, fns)


def merge_duplicates(text: str) -> str:
    """The module with each internal function whose text equals another's but for its name dropped and its uses
    calling that other one (the code generator writes some loop bodies twice, e.g. as an OpenMP region's and as a
    thread team's chunk: 8-12% of the lines of an MLP or LeNet training step, which LLVM would compile twice)."""
    if text.count("\ndefine ") < 2:
        return text
    parsed = _parse_functions(text.splitlines())
    if parsed is None:
        return text
    header, fns = parsed
    first, alias = {}, {}
    for f in fns:
        sig = "\n".join([f.lines[0].replace(f.name, "@", 1)] + f.lines[1:])
        if f.name in sig:                        # names itself (recursion): never merged
            continue
        kept = first.setdefault(sig, f)
        if kept is not f and f.internal:
            alias[f.name] = kept.name
    if not alias:
        return text

    def rename(line):
        if "@" not in line:
            return line
        return _REF.sub(lambda m: alias.get(m.group(0), m.group(0)), line)
    out = [rename(line) for line in header]
    for f in fns:
        if f.name not in alias:
            out.append(f.lines[0])
            out.extend(rename(line) for line in f.lines[1:])
    return "\n".join(out) + "\n"


def _owned(m) -> bool:
    """Whether a global's line defines storage that must exist once: a variable, or a constant other parts could
    link to (a copy of an internal or private constant per part is harmless)."""
    words = set(m.group(2).split())
    if words & _NOT_STORAGE:
        return False
    return m.group(3) == "global" or not words & {"internal", "private"}


def _declaration(define_line: str) -> str:
    """`declare` for a function from its `define` line (linkage dropped, hidden kept by the definer)."""
    m = _DEFINE.match(define_line)
    rest = define_line[m.end(1) if m.group(1) else len("define "):].lstrip()
    rest = rest.rstrip()
    if rest.endswith("{"):
        rest = rest[:-1].rstrip()
    return "declare hidden " + rest


def elf_symbols(obj: bytes) -> tuple[list[str], list[str]] | None:
    """(undefined, defined) names of the global, non-weak symbols of an ELF64-LE relocatable object; None if the
    bytes are not one."""
    if len(obj) < 64 or obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return None
    try:
        shoff, = struct.unpack_from("<Q", obj, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
        undefined, defined = [], []
        for sh in sections:
            if sh[1] != 2:                                   # SHT_SYMTAB
                continue
            off, size, link, entsize = sh[4], sh[5], sh[6], sh[9] or 24
            str_off = sections[link][4]
            for j in range(1, size // entsize):
                st_name, st_info, _other, st_shndx = struct.unpack_from("<IBBH", obj, off + j * entsize)
                if (st_info >> 4) != 1:                      # not STB_GLOBAL (weak may stay null)
                    continue
                end = obj.index(b"\0", str_off + st_name)
                (undefined if st_shndx == 0 else defined).append(obj[str_off + st_name:end].decode())
        return undefined, defined
    except (struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None
