"""tests/vectors/python.json is what real Python answers today for what edge_worker/runtime/python.js
emulates (repr, float formatting, len/slicing/strip, urlsplit, unquote, parse_qsl): the committed
file equals a fresh generation, so a Python whose answers differ (another Unicode version, a changed
urllib.parse) fails here and the JavaScript side (edge_worker/test/python.test.js) is checked against
the new answers once the file is regenerated."""

from __future__ import annotations

import json
from pathlib import Path

from tests.vectors import generate_python as gen

VECTORS = Path(gen.__file__).parent
PYTHON = json.loads((VECTORS / "python.json").read_text(encoding="utf-8"))


def test_python_vectors_match_a_fresh_generation() -> None:
    for name, text in gen.generate().items():
        assert (VECTORS / name).read_text(encoding="utf-8") == text, f"{name} is stale: run python tests/vectors/generate_python.py"


def test_python_vectors_hold_the_characters_the_old_copies_disagreed_on() -> None:
    """U+00A0 (left unescaped by one copy), U+00AD, lone surrogates, a character assigned after this
    Python's Unicode version, quotes and backslashes are all in the file, with Python's answers."""
    reprs = {s: r for s, r, _ in PYTHON["repr_str"]}
    assert reprs["a\u00a0b"] == "'a\\xa0b'" and reprs["a\u00adb"] == "'a\\xadb'"
    assert reprs["a\ud800b"] == "'a\\ud800b'" and reprs["a\u2028b"] == "'a\\u2028b'"
    assert reprs["it's"] == '"it\'s"' and reprs["both ' and \""] == "'both \\' and \"'" and reprs["back\\slash"] == "'back\\\\slash'"
    floats = {r: g for _, r, g, _f in PYTHON["floats"]}
    assert floats["1e+16"] == "1e+16" and floats["-0.0"] == "-0" and floats["nan"] == "nan" and floats["1234565.0"] == "1.23456e+06"
