"""Where a request body stops being JSON, said the same way by both runtimes.

The server parses bodies with orjson, the worker with ``JSON.parse``; their error messages differ
and so do the texts they accept (``JSON.parse`` takes a lone surrogate escape, ``1e400`` as
Infinity and any nesting depth; orjson refuses all three). :func:`json_problem` is the one
definition of a JSON request body (RFC 8259 text in UTF-8, no byte order mark, arrays and
objects nested at most :data:`MAX_DEPTH` deep, no lone surrogate escape, every number finite as
a double) and of the message when a body is not one: what is wrong and the byte where it is.
edge_worker/worker/json_syntax.js is the worker's port; tests/vectors/bodies.json holds the cases
both must answer alike. The server asks it only after orjson refused a body (orjson accepts
exactly these texts: tests/edge_server/test_json_syntax.py); the worker asks it before JSON.parse.
"""

from __future__ import annotations

import math

#: Arrays and objects nested deeper than this are refused (orjson's own limit).
MAX_DEPTH = 1024
_WS = b" \t\n\r"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = b'"\\/bfnrt'


class _Problem(Exception):
    def __init__(self, what: str, at: int):
        super().__init__(what)
        self.what, self.at = what, at


def json_problem(raw: bytes) -> str | None:
    """``None`` for a JSON body, else ``"<what is wrong> at byte <n>"`` (n counted from 0)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"invalid UTF-8 at byte {e.start}"
    try:
        _check(raw)
    except _Problem as p:
        return f"{p.what} at byte {p.at}"
    return None


def _skip(b: bytes, i: int) -> int:
    while i < len(b) and b[i] in _WS:
        i += 1
    return i


def _expect(b: bytes, i: int, what: str) -> None:
    """A problem at ``i``: the end of the body if there is nothing left, else ``what``."""
    raise _Problem("unexpected end of the body" if i >= len(b) else what, i)


def _string(b: bytes, i: int) -> int:
    """The index after the string starting at ``b[i] == '"'``."""
    j = i + 1
    while True:
        if j >= len(b):
            _expect(b, j, "")
        c = b[j]
        if c == 0x22:
            return j + 1
        if c < 0x20:
            raise _Problem("control character in a string (escape it)", j)
        if c != 0x5C:
            j += 1
            continue
        if j + 1 >= len(b):
            _expect(b, j + 1, "")
        e = b[j + 1]
        if e in _ESCAPES:
            j += 2
            continue
        if e != 0x75:  # u
            raise _Problem("invalid escape in a string", j)
        unit = _hex4(b, j)
        if 0xDC00 <= unit <= 0xDFFF:
            raise _Problem("lone surrogate escape in a string", j)
        if 0xD800 <= unit <= 0xDBFF:
            if b[j + 6 : j + 8] != b"\\u":
                raise _Problem("lone surrogate escape in a string", j)
            low = _hex4(b, j + 6)
            if not 0xDC00 <= low <= 0xDFFF:
                raise _Problem("lone surrogate escape in a string", j)
            j += 12
        else:
            j += 6


def _hex4(b: bytes, j: int) -> int:
    """The code unit of the ``\\uXXXX`` escape at ``j``."""
    for k in range(j + 2, j + 6):
        if k >= len(b):
            _expect(b, k, "")
        if b[k] not in _HEX:
            raise _Problem("invalid \\u escape in a string", j)
    return int(b[j + 2 : j + 6], 16)


def _digits(b: bytes, i: int) -> int:
    while i < len(b) and b[i] in _DIGITS:
        i += 1
    return i


def _number(b: bytes, i: int) -> int:
    """The index after the number starting at ``i``; its value must be a finite double."""
    start, j = i, i
    if b[j] == 0x2D:  # -
        j += 1
    if j >= len(b) or b[j] not in _DIGITS:
        _expect(b, j, "invalid number")
    j = j + 1 if b[j] == 0x30 else _digits(b, j)
    if j < len(b) and b[j] == 0x2E:  # .
        if j + 1 >= len(b) or b[j + 1] not in _DIGITS:
            _expect(b, j + 1, "invalid number")
        j = _digits(b, j + 1)
    if j < len(b) and b[j] in b"eE":
        j += 1
        if j < len(b) and b[j] in b"+-":
            j += 1
        if j >= len(b) or b[j] not in _DIGITS:
            _expect(b, j, "invalid number")
        j = _digits(b, j)
    if math.isinf(float(b[start:j])):
        raise _Problem("number out of range", start)
    return j


def _literal(b: bytes, i: int) -> int:
    for word in (b"true", b"false", b"null"):
        if b[i] == word[0]:
            for k, c in enumerate(word):
                if i + k >= len(b) or b[i + k] != c:
                    _expect(b, i + k, "expected a JSON value")
            return i + len(word)
    raise _Problem("expected a JSON value", i)


def _check(b: bytes) -> None:
    """Raise the first problem of ``b`` as JSON text; iterative, so any nesting is read."""
    stack: list[int] = []  # the open arrays and objects: b"[" or b"{"
    i = _skip(b, 0)
    while True:
        # a value at i
        if i >= len(b):
            _expect(b, i, "")
        c = b[i]
        if c in b"[{":
            if len(stack) == MAX_DEPTH:
                raise _Problem(f"arrays and objects nested deeper than {MAX_DEPTH}", i)
            stack.append(c)
            i = _skip(b, i + 1)
            close = 0x5D if c == 0x5B else 0x7D
            if i < len(b) and b[i] == close:
                stack.pop()
                i += 1
            elif c == 0x7B:
                i = _key(b, i)
                continue
            else:
                continue
        elif c == 0x22:
            i = _string(b, i)
        elif c == 0x2D or c in _DIGITS:
            i = _number(b, i)
        else:
            i = _literal(b, i)
        # after a value: a separator, a close, or the end
        while True:
            i = _skip(b, i)
            if not stack:
                if i < len(b):
                    raise _Problem("text after the JSON value", i)
                return
            close = 0x5D if stack[-1] == 0x5B else 0x7D
            if i < len(b) and b[i] == close:
                stack.pop()
                i += 1
                continue
            if i < len(b) and b[i] == 0x2C:  # ,
                i = _skip(b, i + 1)
                if stack[-1] == 0x7B:
                    i = _key(b, i)
                break
            _expect(b, i, "expected ',' or ']'" if close == 0x5D else "expected ',' or '}'")


def _key(b: bytes, i: int) -> int:
    """The index of the value after the key (and its ':') at ``i``."""
    if i >= len(b) or b[i] != 0x22:
        _expect(b, i, "expected a string key")
    i = _skip(b, _string(b, i))
    if i >= len(b) or b[i] != 0x3A:
        _expect(b, i, "expected ':'")
    return _skip(b, i + 1)
