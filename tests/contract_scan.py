"""Find hand-kept copies of a contract table (runtime/format.json, edge_server/edge_contract.json) in
the sources of both languages: a list of the table written out as a literal, a table name assigned
a literal, a large limit written as a number in a module that reads the table. The port is
edge_worker/test/contract.js; both suites use it so that a copy fails in either language.

Worked example: ``copies(table, ["runtime", "edge_worker/runtime"])`` on a tree where
``validate.js`` still says ``end <= 10000`` returns ``["edge_worker/runtime/validate.js:153: 10000
(BUCKETS) written as a literal"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Source trees of both languages that could hold a copy of a shared table.
SOURCES = ("compiler", "runtime", "edge_server", "edge_worker/runtime", "edge_worker/worker", "edge_worker/worker.js", "edge_worker/browser")
#: Generated from data other than the contract tables (uap-core, client.js): not consumers.
GENERATED = {"edge_worker/worker/uap_regexes.js", "edge_worker/worker/client_js.js"}


def source_files() -> Iterator[Path]:
    for s in SOURCES:
        p = ROOT / s
        files = [p] if p.is_file() else sorted(p.rglob("*"))
        for f in files:
            if f.suffix in (".py", ".js") and f.relative_to(ROOT).as_posix() not in GENERATED:
                yield f


def string_lists(node: Any) -> Iterator[list[str]]:
    """Every list of three or more strings in a JSON table."""
    if isinstance(node, list):
        if len(node) >= 3 and all(isinstance(x, str) for x in node):
            yield node
        for x in node:
            yield from string_lists(x)
    elif isinstance(node, dict):
        for x in node.values():
            yield from string_lists(x)


def constants(node: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every UPPER_CASE key of a table and its value (``{"value": v, "doc": ...}`` gives v), and the
    table's top-level keys upper-cased (``layers`` is ``LAYERS`` in both languages)."""
    if out is None:
        out = {k.upper(): v for k, v in node.items() if re.fullmatch(r"[a-z][a-z0-9_]+", k)}
    if isinstance(node, dict):
        for k, v in node.items():
            if re.fullmatch(r"[A-Z][A-Z0-9_]+", k):
                out[k] = v["value"] if isinstance(v, dict) and "value" in v else v
            constants(v, out)
    elif isinstance(node, list):
        for x in node:
            constants(x, out)
    return out


def messages(node: Any) -> Iterator[str]:
    """The longest literal piece (between placeholders) of every ``message`` template in a table, when
    it has 20 characters or more: shorter ones are too common to call a copy."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "message" and isinstance(v, str):
                piece = max(re.split(r"\{\w+\}", v), key=len)
                if len(piece) >= 20:
                    yield piece
            else:
                yield from messages(v)


def _number_forms(n: int) -> list[str]:
    return [str(n), f"{n:_}"]


#: A literal collection of two or more quoted strings: ("a", "b"), ['a', 'b'], {"a", "b"}.
_STRINGS = re.compile(r"""[(\[{]\s*((?:"[^"\n]*"|'[^'\n]*')(?:\s*,\s*(?:"[^"\n]*"|'[^'\n]*'))+)\s*,?\s*[)\]}]""")
_ITEM = re.compile(r""""([^"\n]*)"|'([^'\n]*)'""")


_OWN_CONSTANT = re.compile(r"^\s*(?:export\s+)?(?:const\s+|static\s+)?[A-Z_][A-Z0-9_]*\s*(?::[^=]*)?=\s*$")


def _in_comment(text: str, pos: int) -> bool:
    """Whether ``pos`` is in a comment or a docstring (a figure in prose is no copy)."""
    before = text[text.rfind("\n", 0, pos) + 1 : pos]
    return "#" in before or "//" in before or before.lstrip().startswith("*") or text.count('"""', 0, pos) % 2 == 1


def copies(table: dict[str, Any], loaders: tuple[str, ...], number_files: tuple[str, ...] = (),
           files: dict[str, str] | None = None, under: tuple[str, ...] = ("",)) -> list[str]:
    """Hand-kept copies of ``table`` in the sources of both languages, as ``path:line: what``.

    A copy is a literal collection of strings holding exactly the items of one of the table's lists
    (in any order), an assignment of a literal to one of the table's UPPER_CASE names, a quoted
    string starting with the literal text of one of its message templates, or, in
    ``number_files`` (the modules that check the table's limits), a limit of 1000 or more written
    as a number. ``loaders``: the modules that read the JSON file itself. ``files``: path -> text to
    scan instead of the sources (the scan's own test); ``under``: the path prefixes the table's
    consumers live under. A number assigned to an UPPER_CASE name of its own, or a cache's
    ``maxsize``, is another constant with the same value, not a copy; nor is a factor of a product
    (``16 * 1024``).
    """
    found = []
    lists = {frozenset(lst): lst for lst in string_lists(table)}
    consts = constants(table)
    assign_rx = re.compile(r"^[ \t]*(?:export\s+)?(?:const\s+|let\s+|var\s+)?(" + "|".join(map(re.escape, consts)) + r")\b\s*(?::[^=\n]*)?=\s*(?:[-0-9\"'\[{(]|frozenset\(\s*[\[{(]|new Set\(\s*\[|b\")", re.M)
    numbers: dict[str, str] = {}
    for name, v in consts.items():
        if type(v) is int and v >= 1000:
            for form in _number_forms(v):
                numbers[form] = f"{numbers[form]}/{name}" if form in numbers else name
    texts = sorted(set(messages(table)))
    text_rx = re.compile("(" + "|".join(map(re.escape, texts)) + ")") if texts else None
    number_rx = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(numbers, key=len, reverse=True))) + r")(?![\w.])")
    if files is None:
        files = {f.relative_to(ROOT).as_posix(): f.read_text(encoding="utf-8") for f in source_files()}
    for rel, text in files.items():
        if rel in loaders or not rel.startswith(under):
            continue

        def line(pos: int, text: str = text) -> int:
            return text.count("\n", 0, pos) + 1

        for m in _STRINGS.finditer(text):
            items = frozenset(a if a or not b else b for a, b in _ITEM.findall(m.group(1)))
            lst = lists.get(items)
            if lst is not None and not _in_comment(text, m.start()):
                found.append(f"{rel}:{line(m.start())}: the list {', '.join(map(repr, lst[:3]))}... written out")
        if text_rx is not None:
            for m in text_rx.finditer(text):
                found.append(f"{rel}:{line(m.start())}: the message {m.group(1)!r}... written out")
        for m in assign_rx.finditer(text):
            found.append(f"{rel}:{line(m.start())}: {m.group(1)} assigned a literal")
        if numbers and rel in number_files:
            for m in number_rx.finditer(text):
                before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
                after = text[m.end() : m.end() + 3]
                if _in_comment(text, m.start()) or before.endswith("maxsize=") or _OWN_CONSTANT.match(before) or before.rstrip().endswith("*") or after.lstrip().startswith("*"):
                    continue
                found.append(f"{rel}:{line(m.start())}: {m.group(1)} ({numbers[m.group(1)]}) written as a literal")
    return found
