"""The grammar of type text like `f32[N,784]`: a hand-written tokenizer and precedence parser, never eval.

    type    := dtype '[' [dim (',' dim)*] ']'            (whitespace anywhere between tokens)
    dim     := term (('+' | '-') term)*
    term    := unary ('*' unary)*                         full: also '/'
    unary   := '-' unary | power
    power   := atom ['**' INT]                            (sympy prints N*N as N**2)
    atom    := INT | NAME | '(' dim ')'                   full: also floor/ceiling/Max/Min/Mod '(' dim, ... ')'

`cc.Spec` uses the strict form; the IR printer's output (which may hold `ceiling(N/2)` for a strided slice)
is read back with `full=True`. Sizes are built from sympy.Integer, Symbol, Add, Mul, Pow directly.
"""
from __future__ import annotations

from ..lazy import sympy

from ..errors import ParseError

INT64_MAX = 2 ** 63 - 1
_MAX_DEPTH = 64            # nesting of parentheses; specs are short, and the parser recurses on it
_MAX_POW = 64
_FUNCS = {"floor": ("floor", 1, 1), "ceiling": ("ceiling", 1, 1), "Mod": ("Mod", 2, 2),   # sympy's, by name
          "Max": ("Max", 2, None), "Min": ("Min", 2, None)}
_PUNCT = ("**", "[", "]", "(", ")", ",", "+", "-", "*", "/")


def spec_error(text, pos, reason):
    """A ParseError that names the column and draws a caret under it."""
    col = min(max(pos, 0), len(text))
    shown = text.replace("\n", " ").replace("\t", " ")
    msg = (f"cannot parse type {text!r}: {reason} at column {col + 1}\n  {shown}\n  {' ' * col}^\n"
           f"a type is a dtype (f32 f64 i32 i64 u32 bool) and sizes that are whole numbers, names, or + - * of them: "
           f"f32[N,784], i64[2*B + 1]")
    return ParseError(msg, text=text, pos=col, reason=reason)


def _tokens(text):
    """(kind, value, position) triples; kind is 'int', 'name', a punctuation string, or 'end'."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c.isascii() and c.isdigit():
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j < n and (text[j].isalpha() or text[j] in "._"):
                raise spec_error(text, j, f"unexpected {text[j]!r} after the number {text[i:j]}"
                                 + (" (sizes are whole numbers)" if text[j] in ".eE" else ""))
            if j - i > 19 or int(text[i:j]) > INT64_MAX:
                raise spec_error(text, i, f"size {text[i:j]} is larger than the int64 maximum")
            out.append(("int", int(text[i:j]), i))
            i = j
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append(("name", text[i:j], i))
            i = j
        else:
            for p in _PUNCT:
                if text.startswith(p, i):
                    out.append((p, p, i))
                    i += len(p)
                    break
            else:
                raise spec_error(text, i, f"unexpected character {c!r}")
    out.append(("end", None, n))
    return out


class _Parser:
    def __init__(self, text, symbol, full):
        self.text, self.symbol, self.full = text, symbol, full
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind, what):
        t = self.toks[self.i]
        if t[0] != kind:
            self.fail(t, f"expected {what}")
        self.i += 1
        return t

    def fail(self, tok, expected):
        got = "the end" if tok[0] == "end" else repr(str(tok[1]))
        raise spec_error(self.text, tok[2], f"{expected}, got {got}")

    # dim := term (('+' | '-') term)*
    def dim(self):
        terms = [self.term()]
        while self.peek()[0] in ("+", "-"):
            op = self.toks[self.i][0]
            self.i += 1
            t = self.term()
            terms.append(t if op == "+" else sympy.Mul(sympy.Integer(-1), t))
        return terms[0] if len(terms) == 1 else sympy.Add(*terms)

    def term(self):
        factors = [self.unary()]
        while self.peek()[0] == "*" or (self.full and self.peek()[0] == "/"):
            op = self.toks[self.i]
            self.i += 1
            f = self.unary()
            if op[0] == "/":
                if f == 0:
                    raise spec_error(self.text, op[2], "division by zero")
                f = sympy.Pow(f, sympy.Integer(-1))
            factors.append(f)
        return factors[0] if len(factors) == 1 else sympy.Mul(*factors)

    def unary(self):
        if self.peek()[0] == "-":
            self.i += 1
            self._enter()
            v = sympy.Mul(sympy.Integer(-1), self.unary())
            self.depth -= 1
            return v
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek()[0] != "**":
            return base
        op = self.toks[self.i]
        self.i += 1
        e = self.take("int", "a whole-number exponent")
        # NOTE: checked before sympy multiplies it out, so `2**99999999` costs nothing
        if e[1] > _MAX_POW or (base.is_Integer and abs(int(base)) ** e[1] > INT64_MAX):
            raise spec_error(self.text, op[2], "power too large for a size")
        return sympy.Pow(base, sympy.Integer(e[1]))

    def atom(self):
        t = self.peek()
        if t[0] == "int":
            self.i += 1
            return sympy.Integer(t[1])
        if t[0] == "name":
            self.i += 1
            if self.peek()[0] == "(":
                if not self.full or t[1] not in _FUNCS:
                    raise spec_error(self.text, t[2], f"{t[1]}(...) is not a size: sizes are whole numbers, "
                                                      f"names and + - * of them")
                return self.call(t)
            return self.symbol(t[1])
        if t[0] == "(":
            self.i += 1
            self._enter()
            v = self.dim()
            self.depth -= 1
            self.take(")", "')'")
            return v
        self.fail(t, "expected a size (a whole number or a name)")

    def call(self, name_tok):
        fn, lo, hi = _FUNCS[name_tok[1]]
        self.take("(", "'('")
        self._enter()
        args = [self.dim()]
        while self.peek()[0] == ",":
            self.i += 1
            args.append(self.dim())
        self.depth -= 1
        self.take(")", "')'")
        if len(args) < lo or (hi is not None and len(args) > hi):
            raise spec_error(self.text, name_tok[2], f"{name_tok[1]} takes {lo}"
                             + ("" if hi == lo else " or more") + f" arguments, got {len(args)}")
        return getattr(sympy, fn)(*args)

    def _enter(self):
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise spec_error(self.text, self.peek()[2], f"nested more than {_MAX_DEPTH} deep")


def parse_type_text(text: str, dtypes, symbol, full: bool = False):
    """text -> (dtype name, [sympy dims]); ParseError naming the column for anything outside the grammar.
    `dtypes` holds the accepted dtype names, `symbol(name)` makes a size's symbol."""
    if not isinstance(text, str):
        raise ParseError(f"a type must be a string like 'f32[N,784]', got {type(text).__name__}")
    p = _Parser(text, symbol, full)
    t = p.peek()
    if t[0] != "name":
        p.fail(t, "expected a dtype (f32, f64, i32, i64, u32, bool)")
    if t[1] not in dtypes:
        raise spec_error(text, t[2], f"unknown dtype {t[1]!r} (vive supports f32, f64, i32, i64, u32 and bool)")
    p.i += 1
    p.take("[", "'[' after the dtype")
    dims, positions = [], []
    if p.peek()[0] != "]":
        while True:
            positions.append(p.peek()[2])
            dims.append(p.dim())
            if p.peek()[0] != ",":
                break
            p.i += 1
    p.take("]", "',' or ']'")
    p.take("end", "the end of the type")
    for d, pos in zip(dims, positions):
        _check_size(text, d, pos, full)
    return t[1], dims


def _check_size(text, d, pos, full):
    if d.is_Integer:
        v = int(d)
        if v < 0:
            raise spec_error(text, pos, f"negative size {v}")
        if v > INT64_MAX:
            raise spec_error(text, pos, "size is larger than the int64 maximum")
    elif d.is_Number:
        raise spec_error(text, pos, f"size {d} is not a whole number")
    elif any(abs(int(a)) > INT64_MAX for a in d.atoms(sympy.Integer)):
        # literals within int64 can fold past it (`N + 2**62 + 2**62`): no size of that form fits an int64
        raise spec_error(text, pos, f"size {d} has a constant larger than the int64 maximum")
    elif not full and d.is_negative:
        raise spec_error(text, pos, f"size {d} is negative for every value of {', '.join(sorted(map(str, d.free_symbols)))}")
