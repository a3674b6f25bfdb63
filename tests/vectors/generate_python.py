"""Generate ``python.json``: Python's own answers for what the JavaScript side emulates of Python
(edge_worker/runtime/python.js, issue #21 point 2), so that the emulation is pinned by real Python:

- ``repr_str``: str -> ``repr(s)`` and ``ascii(s)``: every code point below U+3000 (in strings of 32), a random
  sample of the rest of the code space, and the characters the hand-kept copies disagreed on
  (U+00A0, U+00AD, other non-printables, lone surrogates, quotes, backslashes, characters assigned
  after the Unicode version of this Python, which the JavaScript engine knows as printable);
- ``repr_bytes``: bytes (base64) -> ``repr(b)``;
- ``floats``: IEEE bits (16 hex digits) -> ``repr(x)``, ``format(x, "g")`` and ``format(x, ".3f")``: nan, inf, -0.0,
  1e16, the repr and "g" boundaries, ties, subnormals, random bit patterns and random decimals;
- ``ints``: int (decimal text) -> ``format(n, ",")``;
- ``repr_json``: a JSON value as ``json.loads`` reads it -> its ``repr`` and ``str``;
- ``strings``: str -> ``len(s)``, ``s[:n]`` for several n, ``s.strip()``;
- ``compare``: two strings -> Python's ordering of them (-1, 0, 1), by code point;
- ``urls``: URL -> urlsplit's scheme, netloc, path, query, hostname and port, or the error;
- ``unquote`` and ``parse_qsl``: text -> ``unquote(text)``, ``parse_qsl(text, keep_blank_values=True)``.

``tests/vectors/test_python_vectors.py`` checks that the committed file equals a fresh generation
and ``edge_worker/test/python.test.js`` checks python.js against it. Run
``python tests/vectors/generate_python.py`` after changing either.
"""

from __future__ import annotations

import base64
import json
import math
import random
import struct
import sys
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

HERE = Path(__file__).resolve().parent
SEED = 21

#: The characters the three copies of pyRepr escaped differently, and their neighbours.
TRICKY = ["\u00a0", "\u00ad", "\u0085", "\u007f", "\u0080", "\u009f", "\u00a1", "\u00ff", "\u0100", "\u034f", "\u061c", "\u180e",
          "\u200b", "\u200d", "\u200e", "\u2028", "\u2029", "\u202e", "\u2060", "\u2066", "\u3000", "\ufeff", "\ufff9", "\ufffd",
          "\ufffe", "\uffff", "\ue000", "\U000f0000", "\U0010ffff", "\U000e0001", "\U0001f600", "\U0001d11e", "\U00010000",
          # assigned in Unicode 15.0 to 17.0 (unassigned, so not printable, for Python 3.11's Unicode 14.0)
          "\u0cf3", "\u0ece", "\U0001fae9", "\U00011f00", "\U00031350", "\u0897", "\u1c89", "\U0001cc00", "\U0001fa8f",
          "\ud800", "\udbff", "\udc00", "\udfff", "'", '"', "\\", "\t", "\n", "\r", "\x00", "\x1b", " ", "\x0b", "\x0c"]


def _round_trips(s: str) -> bool:
    """JSON carries ``s`` unchanged to JavaScript (a high then a low surrogate code point would
    arrive as one astral character)."""
    return json.loads(json.dumps(s)) == s


def _strings(rng: random.Random) -> list[str]:
    out = ["", "plain", "it's", 'say "hi"', "both ' and \"", "back\\slash", "\\'", "'\"'", "tab\there", "line\nbreak", "cr\r"]
    out += [f"a{c}b" for c in TRICKY]
    out += ["".join(chr(c) for c in range(start, start + 32)) for start in range(0, 0x3000, 32)]
    outside = [c for c in range(0x3000, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    out += ["".join(chr(c) for c in rng.sample(outside, 24)) for _ in range(200)]
    pool = TRICKY + list("abc'\"\\ é漢")
    out += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    return [s for s in out if _round_trips(s)]


def _comparisons(rng: random.Random) -> list[list[Any]]:
    """[a, b, -1 | 0 | 1] of strings that share prefixes and end in the characters UTF-16 orders
    differently from code points (astral, U+E000..U+FFFF, lone surrogates)."""
    pool = ["a", "\ue000", "\uffff", "\U0001f600", "\U00010000", "\ud800", "\udbff", "\udc00", "\udfff", "\ud7ff", "z"]
    out: list[list[Any]] = []
    while len(out) < 400:
        prefix = "".join(rng.choice(pool) for _ in range(rng.randint(0, 2)))
        a = prefix + "".join(rng.choice(pool) for _ in range(rng.randint(0, 3)))
        b = prefix + "".join(rng.choice(pool) for _ in range(rng.randint(0, 3)))
        if _round_trips(a) and _round_trips(b):
            out.append([a, b, (a > b) - (a < b)])
    return out


def _bytes(rng: random.Random) -> list[bytes]:
    return [b"", b"ab", b"it's", b'say "hi"', b"'\"", b"\\", bytes(range(256))] + [rng.randbytes(rng.randint(1, 16)) for _ in range(50)]


def _bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def _floats(rng: random.Random) -> list[float]:
    xs = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 2.5, 1e16, 1e16 - 2, 9999999999999998.0, 1e15, 123456789012345678.0,
          1e-4, 1e-5, 0.0001234, 0.00009999, 1e-7, 1e22, 1e21, 1e300, -1e-300, 5e-324, 2.2250738585072014e-308, sys.float_info.max,
          123456.0, 1234567.0, 999999.5, 999999.4, 1e6, 1e5, 1234565.0, 1234575.0, 1.234375, 1.2343750000000002, 9.999995, 0.3, 2 / 3,
          100.0, 249.0, 49.9, 1e-6, 0.000123456789, 12345.678, 1_000_000.0, 50.0, 36.0, -36.0, 0.0625, 0.0875, -0.0625, 2.0625, 1e-3, 5e-4, 0.0005, 0.0015, 0.0025, 0.4375, 1e21, 123456789.0625]
    xs += [struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0] for _ in range(300)]
    xs += [round(rng.uniform(-1e7, 1e7), rng.randint(0, 8)) for _ in range(200)]
    xs += [rng.randint(1, 9999999) * 10.0 ** rng.randint(-12, 20) for _ in range(200)]
    return xs


def _json_values() -> list[Any]:
    return [None, True, False, 0, 249, -3, 249.5, 1e16, 1.5e-7, "x", "it's", "\u00a0", [], {}, [1, "a", None, 2.5, [True]],
            {"k": "v", "n": 1, "d": {"x": [1.25]}}, {"it's": "\u2028"}, 12345678901234, -0.0]


def _urls() -> list[str]:
    hosts = ["shop.example", "Shop.Example", "[::1]", "[::1", "::1]", "[v1.x]", "[127.0.0.1]", "[fe80::1%25eth0]", "[fe80::1%]", "[fe80::1%a%b]", "[1.2.3]", "[01.2.3.4]", "[1.2.3.256]", "[::ffff:1.2.3.4]", "[it's]", "user@host", "u:p@h:8080",
             "h:", "h:0", "h:65535", "h:65536", "h:8x", "h:-1", "h:\u0661", "ex\uff0fample", "ex\u2100ample", "exam\u00e9ple", "a@b@c"]
    out = []
    for h in hosts:
        out += [f"https://{h}", f"http://{h}/p?q=1#f", f"//{h}/x"]
    out += ["/", "/path?x=1&y", "//shop/x", "mailto:a@b", "HTTPS://A.B/C", " \t\nhttps://a.b/\tc", "1http://x", "h$x://y", "javascript:alert(1)",
            "https://a.b?x#y?z", "https://a.b#", "", "?q", "#f", "https:", "https:///x", "\x00https://a"]
    return out


def _url(u: str) -> dict[str, Any]:
    try:
        p = urlsplit(u)
        host = p.hostname
    except ValueError as e:
        return {"error": str(e)}
    try:
        port: Any = p.port
    except ValueError as e:
        port = {"error": str(e)}
    return {"scheme": p.scheme, "netloc": p.netloc, "path": p.path, "query": p.query, "hostname": host, "port": port,
            "userinfo": p.username is not None}


def _quoted(rng: random.Random) -> list[str]:
    out = ["", "a%20b", "%", "%2", "%zz", "%41%42", "%e2%82%ac", "%E2%82", "%ff", "a+b", "%C3%A9+%", "caf\u00e9%20x", "%F0%9F%98%80", "%00"]
    out += ["".join(rng.choice(["%", "2", "a", "F", "e", "+", "=", "&", "\u00e9", "%c3", "%a9", "x"]) for _ in range(rng.randint(1, 10))) for _ in range(150)]
    return out


def generate_vectors() -> dict[str, Any]:
    rng = random.Random(SEED)
    strings = _strings(rng)
    return {
        "about": "Python's own answers for edge_worker/runtime/python.js (tests/vectors/generate_python.py)",
        "unidata_version": unicodedata.unidata_version,
        "repr_str": [[s, repr(s), ascii(s)] for s in strings],
        "repr_bytes": [[base64.b64encode(b).decode(), repr(b)] for b in _bytes(rng)],
        "floats": [[_bits(x), repr(x), format(x, "g"), format(x, ".3f")] for x in _floats(rng)],
        "ints": [[str(n), format(n, ",")] for n in (0, 7, 999, 1000, -1000, 10_000, 1234567, -98765432, 2**63 - 1, -(2**63))],
        "repr_json": [[v, repr(v), str(v)] for v in _json_values()],
        "strings": [[s, len(s), {str(n): s[:n] for n in (0, 1, 2, 5, 31)}, s.strip()] for s in strings[:200] + [" \u00a0x\u2029", "\ufeffx\ufeff", "\x1c\x1fx\x85"]],
        "compare": _comparisons(rng),
        "urls": [[u, _url(u)] for u in _urls()],
        "unquote": [[q, unquote(q)] for q in _quoted(rng)],
        "parse_qsl": [[q, parse_qsl(q, keep_blank_values=True)] for q in _quoted(rng) + ["a=1&b=2", "a&b=&=c", "utm_source=x%20y&utm_source=z", "a=1;b=2"]],
    }


def generate() -> dict[str, str]:
    """File name -> JSON text (ASCII: lone surrogates travel as escapes)."""
    return {"python.json": json.dumps(generate_vectors(), indent=0, ensure_ascii=True) + "\n"}


if __name__ == "__main__":
    for name, text in generate().items():
        (HERE / name).write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {HERE / name}\n")
