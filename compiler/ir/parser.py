"""Text IR -> Graph, the inverse of the printer: print_graph(parse(text)) == text."""
from __future__ import annotations

import ast
import base64
import re
import textwrap

import numpy as np
import sympy

from ..errors import ParseError
from .graph import Graph, Node, SourceLoc, Value
from .types import DTYPES, parse_type, symbol, as_dim, TensorType

_HEAD = re.compile(r"^graph\s+([\w.]+)\s*\((.*)\)\s*\{$")
_NODE = re.compile(r"^%([\w.]+)\s*:\s*(\w+\[[^\]]*\])\s*=\s*(\w+)\s*(.*)$")


def _split_top(s, sep=","):
    out, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur)
    return [p.strip() for p in out]


def _eval(node):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_eval(e) for e in node.elts]
    if isinstance(node, ast.Name):
        if node.id in DTYPES:
            return DTYPES[node.id]
        if node.id in ("inf", "nan"):
            return float(node.id)
        return symbol(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
               ast.FloorDiv: lambda: sympy.floor(sympy.sympify(a) / b), ast.Div: lambda: sympy.sympify(a) / b,
               ast.Pow: lambda: a ** b}
        r = ops[type(node.op)]()
        return as_dim(r) if isinstance(r, sympy.Basic) else r
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "base64":
            return ("__b64__", node.args[0].value)
        if node.func.id in ("floor", "ceiling", "Max", "Min", "Mod"):
            return as_dim(getattr(sympy, node.func.id)(*[_eval(a) for a in node.args]))
    raise ParseError(f"cannot parse value {ast.unparse(node)!r}")


def parse_value(text):
    try:
        return _eval(ast.parse(text.strip(), mode="eval").body)
    except SyntaxError as e:
        raise ParseError(f"cannot parse value {text!r}: {e.msg}") from None


def _tuplify(v):
    if isinstance(v, tuple):
        return tuple(_tuplify(x) for x in v)
    if isinstance(v, sympy.Basic):
        return as_dim(v)
    return v


def _const_array(lit, t: TensorType):
    v = parse_value(lit)
    if isinstance(v, tuple) and v and v[0] == "__b64__":
        a = np.frombuffer(base64.b64decode(v[1]), dtype=t.dtype.np).reshape(t.shape).copy()
    else:
        a = np.array(v, dtype=t.dtype.np).reshape(t.shape)
    return a


def parse(text: str) -> Graph:
    """Parse the canonical text IR into a Graph (nodes get no source locations unless `# file:line` is given)."""
    from ..primitives import REGISTRY
    lines = [l.rstrip() for l in textwrap.dedent(text).strip().splitlines() if l.strip()]
    if not lines:
        raise ParseError("empty text")
    m = _HEAD.match(lines[0].strip())
    if not m:
        raise ParseError(f"line 1: expected 'graph NAME(%x: f32[...], ...) {{', got {lines[0]!r}")
    name, params = m.group(1), m.group(2)
    env, inputs = {}, []
    for p in _split_top(params):
        pm = re.match(r"^%([\w.]+)\s*:\s*(.+)$", p)
        if not pm:
            raise ParseError(f"line 1: bad parameter {p!r}")
        v = Value(parse_type(pm.group(2)), None, pm.group(1))
        env[pm.group(1)] = v
        inputs.append(v)
    nodes, outputs = [], None
    for lineno, raw in enumerate(lines[1:], start=2):
        line, loc = raw.strip(), None
        if "  # " in line or line.startswith("#"):
            line, _, comment = line.partition("#")
            line = line.strip()
            cm = re.match(r"^\s*(.+):(\d+)\s*$", comment)
            if cm:
                loc = SourceLoc(cm.group(1).strip(), int(cm.group(2)))
            if not line:
                continue
        if line == "}":
            break
        if line.startswith("return"):
            rest = line[len("return"):].strip()
            outputs = [_ref(env, r, lineno) for r in _split_top(rest)] if rest else []
            continue
        nm = _NODE.match(line)
        if not nm:
            raise ParseError(f"line {lineno}: cannot parse {raw.strip()!r}")
        vid, tstr, pname, rest = nm.groups()
        if pname not in REGISTRY:
            raise ParseError(f"line {lineno}: unknown primitive {pname!r}")
        prim = REGISTRY[pname]
        t = parse_type(tstr)
        if pname == "const":
            n = Node(prim, [], {"value": _const_array(rest, t)}, t, loc)
        else:
            params = {}
            brace = rest.find("{")
            if brace >= 0:
                body = rest[brace:].strip()
                if not body.endswith("}"):
                    raise ParseError(f"line {lineno}: unterminated params in {raw.strip()!r}")
                for kv in _split_top(body[1:-1]):
                    k, _, v = kv.partition("=")
                    params[k.strip()] = _tuplify(parse_value(v))
                rest = rest[:brace]
            args = [_ref(env, a, lineno) for a in _split_top(rest)] if rest.strip() else []
            n = Node(prim, args, params, t, loc)
        if vid in env:
            raise ParseError(f"line {lineno}: %{vid} defined twice")
        env[vid] = n.out
        nodes.append(n)
    if outputs is None:
        raise ParseError("missing 'return' line")
    return Graph(name, inputs, nodes, outputs)


def _ref(env, tok, lineno):
    tok = tok.strip()
    if not tok.startswith("%") or tok[1:] not in env:
        raise ParseError(f"line {lineno}: undefined value {tok}")
    return env[tok[1:]]
