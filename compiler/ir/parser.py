"""Text IR -> Graph, the inverse of the printer: print_graph(parse(text)) == text."""
from __future__ import annotations

import ast
import base64
import re
import textwrap

import numpy as np
from ..lazy import is_sympy, sympy

from ..errors import ParseError
from .graph import Graph, Node, SourceLoc, Value
from .types import DTYPES, parse_type, symbol, as_dim, TensorType, TupleType

_HEAD = re.compile(r"^graph\s+([\w.]+)\s*\((.*)\)\s*\{$")


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
        return as_dim(r) if is_sympy(r) else r
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
    if is_sympy(v):
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
    lines = [l.rstrip() for l in textwrap.dedent(text).strip().splitlines() if l.strip()]
    if not lines:
        raise ParseError("empty text")
    g, end = _parse_graph(lines, 0)
    for extra in lines[end:]:
        if not extra.strip().startswith("#"):
            raise ParseError(f"line {end + 1}: text after the graph's closing brace: {extra.strip()!r}")
    return g


def _split_type(text):
    """'(f32[3], i32[]) = scan ...' or 'f32[3] = add ...' -> (type text, rest after '=')."""
    text = text.strip()
    if text.startswith("("):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                head, rest = text[:i + 1], text[i + 1:].strip()
                return (head, rest[1:]) if rest.startswith("=") else (None, None)
        return None, None
    m = re.match(r"^(\w+\[[^\]]*\])\s*=(.*)$", text)
    return (m.group(1), m.group(2)) if m else (None, None)


def _parse_any_type(text):
    if text.startswith("("):
        inner = text[1:-1].strip()
        parts = [p for p in _split_top(inner)] if inner else []
        return TupleType([parse_type(p) for p in parts])
    return parse_type(text)


# name -> Primitive: compiler/primitives (the layer above the IR) hands its registry over when imported
REGISTRY = {}


def use_registry(registry):
    global REGISTRY
    REGISTRY = registry


def _parse_graph(lines, pos):
    """Parse one `graph NAME(...) { ... }` block starting at lines[pos]; returns (Graph, index after its '}')."""
    m = _HEAD.match(lines[pos].strip())
    if not m:
        raise ParseError(f"line {pos + 1}: expected 'graph NAME(%x: f32[...], ...) {{', got {lines[pos].strip()!r}")
    name, params = m.group(1), m.group(2)
    env, inputs = {}, []
    for p in _split_top(params):
        pm = re.match(r"^%([\w.]+)\s*:\s*(.+)$", p)
        if not pm:
            raise ParseError(f"line {pos + 1}: bad parameter {p!r}")
        v = Value(parse_type(pm.group(2)), None, pm.group(1))
        env[pm.group(1)] = v
        inputs.append(v)
    nodes, outputs = [], None
    i = pos + 1
    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        i += 1
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
            if outputs is None:
                raise ParseError(f"line {lineno}: graph {name}: missing 'return' line")
            return Graph(name, inputs, nodes, outputs), i
        if line.startswith("return"):
            rest = line[len("return"):].strip()
            outputs = [_ref(env, r, lineno) for r in _split_top(rest)] if rest else []
            continue
        if line.startswith("graph "):
            # a sub-graph of the node just before it: `graph body(...)` or `graph branches.1(...)`
            if not nodes:
                raise ParseError(f"line {lineno}: a region graph must follow the node that holds it")
            sub, i = _parse_graph(lines, i - 1)
            key, _, idx = sub.name.partition(".")
            n = nodes[-1]
            if idx:
                if not idx.isdigit() or int(idx) != len(n.params.get(key, ())):
                    raise ParseError(f"line {lineno}: region {sub.name} out of order")
                n.params[key] = tuple(n.params.get(key, ())) + (sub,)
            else:
                n.params[key] = sub
            continue
        nm = re.match(r"^%([\w.]+)\s*:\s*(.*)$", line)
        tstr, rest = _split_type(nm.group(2)) if nm else (None, None)
        pm = re.match(r"^\s*(\w+)\s*(.*)$", rest) if rest is not None else None
        if not pm:
            raise ParseError(f"line {lineno}: cannot parse {raw.strip()!r}")
        vid, (pname, rest) = nm.group(1), pm.groups()
        if pname not in REGISTRY:
            raise ParseError(f"line {lineno}: unknown primitive {pname!r}")
        prim = REGISTRY[pname]
        t = _parse_any_type(tstr)
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
    raise ParseError(f"graph {name}: missing closing '}}'" if outputs is not None else "missing 'return' line")


def _ref(env, tok, lineno):
    tok = tok.strip()
    if not tok.startswith("%") or tok[1:] not in env:
        raise ParseError(f"line {lineno}: undefined value {tok}")
    return env[tok[1:]]
