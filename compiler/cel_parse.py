"""Parse CEL with cel-python's grammar and convert the lark tree into ``cel_ast`` nodes.

cel-python (celpy) provides the grammar and the LALR parser; literal decoding is done here, to the
CEL spec, because celpy keeps some escapes (``\\?``, ``\\```, ``\\X41``) verbatim. Macros are
expanded into ``Comprehension`` nodes and ``has()`` into a test-only ``Select``.
"""

from __future__ import annotations

from typing import Any

from celpy.celparser import CELParseError, CELParser
from lark import Token

from .cel_ast import Bind, Call, Comprehension, Ident, Index, ListLit, Lit, MapLit, Node, Select

#: A node of celpy's lark parse tree: a ``lark.Tree`` whose children are trees or tokens, in the
#: shape of the grammar rule named by ``.data``; the converter reads that shape rule by rule.
ParseTree = Any


class ParseError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


_PARSER: CELParser | None = None


def _parser() -> CELParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = CELParser()
    return _PARSER


#: Deeper expressions are refused: CEL implementations must support 12 levels of nesting; 100 is
#: generous and keeps the recursive checker and code generator far from Python's stack limit.
MAX_DEPTH = 100


def _offset_of(text: str, line: int | None, column: int | None) -> int:
    if not line:
        return 0
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(0, (column or 1) - 1)


def parse(text: str) -> Node:
    if text.count("(") + text.count("[") + text.count("{") > 4 * MAX_DEPTH:
        raise ParseError(f"expression nests deeper than {MAX_DEPTH} levels", 0)
    try:
        tree = _parser().parse(text)
    except CELParseError as e:
        raise ParseError(_describe(e), _offset_of(text, e.line, e.column)) from None
    except RecursionError:
        raise ParseError(f"expression nests deeper than {MAX_DEPTH} levels", 0) from None
    try:
        return _Converter(text).expr(tree)
    except RecursionError:
        raise ParseError(f"expression nests deeper than {MAX_DEPTH} levels", 0) from None


def _describe(e: CELParseError) -> str:
    """A one-line description from the lark error behind celpy's CELParseError."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    cause = e.__context__
    if isinstance(cause, UnexpectedToken):
        tok = cause.token
        if tok.type == "$END":
            return "unexpected end of expression"
        return f"unexpected '{tok}'"
    if isinstance(cause, UnexpectedCharacters):
        if cause.char == "`":
            return "backtick-quoted field names (a.`b-c`) are not supported by the parser; use index syntax a['b-c']"
        return f"unexpected character '{cause.char}'"
    return "syntax error"


_MACROS_1 = {"all", "exists", "exists_one", "map", "filter", "existsOne"}
_MACROS_2 = {"all", "exists", "exists_one", "existsOne", "transformList", "transformMap"}


class _Converter:
    def __init__(self, text: str):
        self.text = text
        self.depth = 0

    def pos(self, t: Any) -> int:
        p = self._pos(t)
        return 0 if p is None else p

    def _pos(self, t: Any) -> int | None:
        # Tokens re-typed by celpy's lexer callback (true/false) carry no position.
        if isinstance(t, Token):
            return t.start_pos
        meta = getattr(t, "meta", None)
        if meta is not None and not getattr(meta, "empty", True) and getattr(meta, "start_pos", None) is not None:
            return int(meta.start_pos)
        for c in getattr(t, "children", []):
            p = self._pos(c)
            if p is not None:
                return p
        return None

    def expr(self, t: ParseTree) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH * 8:
            raise ParseError(f"expression nests deeper than {MAX_DEPTH} levels", self.pos(t))
        try:
            return self._dispatch(t)
        finally:
            self.depth -= 1

    def _dispatch(self, t: ParseTree) -> Node:
        d = t.data
        ch = t.children
        if d == "expr":
            if len(ch) == 1:
                return self.expr(ch[0])
            cond, a, b = (self.expr(c) for c in ch)
            return Call(self.pos(t), "_?_:_", [cond, a, b])
        if d in ("conditionalor", "conditionaland"):
            if len(ch) == 1:
                return self.expr(ch[0])
            op = "_||_" if d == "conditionalor" else "_&&_"
            left, right = self.expr(ch[0]), self.expr(ch[1])
            return Call(self._op_pos(ch[0], "||" if op == "_||_" else "&&"), op, [left, right])
        if d == "relation":
            if len(ch) == 1:
                return self.expr(ch[0])
            optree, rhs = ch
            name = {
                "relation_lt": "_<_", "relation_le": "_<=_", "relation_gt": "_>_", "relation_ge": "_>=_",
                "relation_eq": "_==_", "relation_ne": "_!=_", "relation_in": "@in",
            }[optree.data]
            lhs = self.expr(optree.children[0])
            return Call(self._op_pos(optree.children[0], None), name, [lhs, self.expr(rhs)])
        if d == "addition":
            if len(ch) == 1:
                return self.expr(ch[0])
            optree, rhs = ch
            name = "_+_" if optree.data == "addition_add" else "_-_"
            return Call(self._op_pos(optree.children[0], None), name, [self.expr(optree.children[0]), self.expr(rhs)])
        if d == "multiplication":
            if len(ch) == 1:
                return self.expr(ch[0])
            optree, rhs = ch
            name = {"multiplication_mul": "_*_", "multiplication_div": "_/_", "multiplication_mod": "_%_"}[optree.data]
            return Call(self._op_pos(optree.children[0], None), name, [self.expr(optree.children[0]), self.expr(rhs)])
        if d == "unary":
            if len(ch) == 1:
                return self.expr(ch[0])
            op, operand = ch
            inner = self.expr(operand)
            if op.data == "unary_neg":
                # Fold "-<literal>" so that -9223372036854775808 is representable.
                if isinstance(inner, Lit) and inner.kind in ("int", "double") and not isinstance(inner.value, bool):
                    if inner.kind == "int" and inner.value == 2**63:
                        return Lit(self.pos(t), -(2**63), "int")
                return Call(self.pos(t), "-_", [inner])
            return Call(self.pos(t), "!_", [inner])
        if d == "member":
            return self.expr(ch[0])
        if d == "member_dot":
            operand, ident = ch
            return Select(ident.start_pos if ident.start_pos is not None else self.pos(t), self.expr(operand), str(ident))
        if d == "member_dot_arg":
            operand, ident = ch[0], ch[1]
            args = self.exprlist(ch[2]) if len(ch) > 2 else []
            return self.method(t, operand, str(ident), args, ident.start_pos - 1 if ident.start_pos else self.pos(t))
        if d == "member_index":
            return Index(max(0, self.pos(ch[1]) - 1), self.expr(ch[0]), self.expr(ch[1]))
        if d == "member_object":
            raise ParseError("message construction (Type{field: value}) is not supported by Strata; use a map literal {\"field\": value}", self.pos(t))
        if d == "primary":
            return self.expr(ch[0])
        if d == "literal":
            return self.literal(ch[0])
        if d in ("ident", "dot_ident"):
            tok = ch[0]
            return Ident(self.pos(t), str(tok), absolute=d == "dot_ident")
        if d in ("ident_arg", "dot_ident_arg"):
            name = str(ch[0])
            args = self.exprlist(ch[1]) if len(ch) > 1 else []
            if d == "dot_ident_arg":
                name = "." + name
            return self.global_call(t, name, args)
        if d == "paren_expr":
            return self.expr(ch[0])
        if d == "list_lit":
            return ListLit(self.pos(t), self.exprlist(ch[0]) if ch else [])
        if d == "map_lit":
            entries: list[tuple[Node, Node]] = []
            if ch:
                items = [self.expr(c) for c in ch[0].children]
                entries = list(zip(items[0::2], items[1::2]))
            return MapLit(self.pos(t), entries)
        raise ParseError(f"unsupported syntax ({d})", self.pos(t))

    def _op_pos(self, left: Any, op: str | None) -> int:
        # Position of the operator: first non-blank character after the left operand.
        meta = getattr(left, "meta", None)
        end = getattr(meta, "end_pos", None) if meta is not None and not getattr(meta, "empty", True) else None
        if end is None:
            return self.pos(left)
        i = int(end)
        while i < len(self.text) and self.text[i].isspace():
            i += 1
        return i

    def exprlist(self, t: ParseTree) -> list[Node]:
        return [self.expr(c) for c in t.children]

    def global_call(self, t: ParseTree, name: str, args: list[Node]) -> Node:
        p = self.pos(t)
        if name == "has":
            if len(args) != 1 or not isinstance(args[0], Select):
                raise ParseError("has() needs a field selection, e.g. has(x.field)", p)
            sel = args[0]
            return Select(sel.pos, sel.operand, sel.field, test_only=True)
        return Call(p, name, args)

    def method(self, t: ParseTree, operand_tree: ParseTree, name: str, args: list[Node], p: int) -> Node:
        # cel.bind(x, init, body) and the comprehension macros
        if name == "bind" and len(args) == 3 and isinstance(args[0], Ident):
            target = self.expr(operand_tree)
            if isinstance(target, Ident) and target.name == "cel":
                return Bind(p, args[0].name, args[1], args[2])
        if name in _MACROS_2 and len(args) in (3, 4) and isinstance(args[0], Ident) and isinstance(args[1], Ident) and not (name == "map"):
            rng = self.expr(operand_tree)
            macro = {"existsOne": "exists_one"}.get(name, name)
            if len(args) == 4:
                if macro not in ("transformList", "transformMap"):
                    raise ParseError(f"{name}() takes 3 arguments with two variables", p)
                return Comprehension(p, macro, args[0].name, rng, args[3], var2=args[1].name, filter=args[2])
            if macro in ("transformList", "transformMap") or len(args) == 3:
                return Comprehension(p, macro, args[0].name, rng, args[2], var2=args[1].name)
        if name in _MACROS_1 and len(args) in (2, 3) and isinstance(args[0], Ident):
            rng = self.expr(operand_tree)
            macro = {"existsOne": "exists_one"}.get(name, name)
            if len(args) == 3:
                if macro != "map":
                    raise ParseError(f"{name}() takes 2 arguments", p)
                return Comprehension(p, "map", args[0].name, rng, args[2], filter=args[1])
            return Comprehension(p, macro, args[0].name, rng, args[1])
        target = self.expr(operand_tree)
        return Call(p, name, args, target=target)

    # ------------------------------------------------------------------ literals
    def literal(self, tok: Token) -> Lit:
        p = tok.start_pos or 0
        s = str(tok)
        ty = tok.type
        try:
            if ty == "INT_LIT":
                v = _parse_int(s)
                if not -(2**63) <= v <= 2**63 - 1:
                    if v == 2**63:
                        return Lit(p, v, "int")  # only valid under unary minus; checked later
                    raise ParseError(f"integer literal {s} is out of the int64 range", p)
                return Lit(p, v, "int")
            if ty == "UINT_LIT":
                v = _parse_int(s[:-1])
                if not 0 <= v < 2**64:
                    raise ParseError(f"unsigned literal {s} is out of the uint64 range", p)
                return Lit(p, v, "uint")
            if ty == "FLOAT_LIT":
                return Lit(p, float(s), "double")
            if ty == "BOOL_LIT":
                return Lit(p, s == "true", "bool")
            if ty == "NULL_LIT":
                return Lit(p, None, "null")
            if ty in ("STRING_LIT", "MLSTRING_LIT"):
                return Lit(p, decode_string(s, p), "string")
            if ty == "BYTES_LIT":
                return Lit(p, decode_bytes(s[1:], p), "bytes")
        except ValueError as e:
            raise ParseError(str(e), p) from None
        raise ParseError(f"unknown literal {s}", p)


def _parse_int(s: str) -> int:
    neg = s.startswith("-")
    body = s[1:] if neg else s
    v = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
    return -v if neg else v


_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", "'": "'", '"': '"', "?": "?", "`": "`"}


def _split_quotes(s: str) -> tuple[bool, str]:
    raw = s[:1] in ("r", "R")
    if raw:
        s = s[1:]
    q = 3 if s[:3] in ('"""', "'''") else 1
    return raw, s[q:-q]


def _escapes(body: str, p: int, as_bytes: bool) -> list[int | str]:
    """Decode CEL escapes. Returns str chunks and, for octal/hex escapes in bytes, byte values."""
    out: list[int | str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ParseError("string literal ends with a lone backslash", p)
        e = body[i + 1]
        if e in _SIMPLE:
            out.append(_SIMPLE[e])
            i += 2
        elif e in "xX":
            h = body[i + 2 : i + 4]
            if len(h) != 2 or not all(x in "0123456789abcdefABCDEF" for x in h):
                raise ParseError("invalid \\x escape", p)
            out.append(int(h, 16) if as_bytes else chr(int(h, 16)))
            i += 4
        elif e in "uU":
            if as_bytes:
                raise ParseError("\\u escapes are not allowed in bytes literals", p)
            k = 4 if e == "u" else 8
            h = body[i + 2 : i + 2 + k]
            if len(h) != k or not all(x in "0123456789abcdefABCDEF" for x in h):
                raise ParseError(f"invalid \\{e} escape", p)
            cp = int(h, 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise ParseError(f"invalid code point \\{e}{h}", p)
            out.append(chr(cp))
            i += 2 + k
        elif e in "0123":
            o = body[i + 1 : i + 4]
            if len(o) != 3 or not all(x in "01234567" for x in o):
                raise ParseError("invalid octal escape", p)
            out.append(int(o, 8) if as_bytes else chr(int(o, 8)))
            i += 4
        else:
            raise ParseError(f"invalid escape sequence \\{e}", p)
    return out


def decode_string(s: str, p: int = 0) -> str:
    raw, body = _split_quotes(s)
    if raw:
        return body
    return "".join(x if isinstance(x, str) else chr(x) for x in _escapes(body, p, False))


def decode_bytes(s: str, p: int = 0) -> bytes:
    raw, body = _split_quotes(s)
    if raw:
        return body.encode("utf-8")
    out = bytearray()
    for x in _escapes(body, p, True):
        if isinstance(x, int):
            out.append(x)
        else:
            out += x.encode("utf-8")
    return bytes(out)
