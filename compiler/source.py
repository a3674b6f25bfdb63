"""Rule-set source files: YAML with the line and column of every value.

``load`` returns plain Python data (dicts, lists, scalars) plus a ``Locator`` that answers "where
in the file is the value at this path?" and "where in the file is character N of this CEL
expression?". The expression mapping walks the raw text, so it is right for plain, quoted, literal
(``|``) and folded (``>``) scalars alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from . import errors as E
from .errors import CompileError, Diagnostic, Pos

PathKey = tuple[Any, ...]


@dataclass
class Locator:
    path: str
    text: str
    lines: list[str]
    #: JSON path (tuple of keys/indexes) -> (line0, col0) of the value; and of the key for maps.
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def pos(self, path: PathKey, *, key: bool = False) -> Pos:
        """Position of the value at ``path`` (or of its key), falling back to the nearest parent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                line, col = table[p]
                return Pos(self.path, line + 1, col + 1)
            if p in self.values:
                line, col = self.values[p]
                return Pos(self.path, line + 1, col + 1)
            p = p[:-1]
        return Pos(self.path, 1, 1)

    def source_line(self, line: int) -> str | None:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else None

    def diag(self, pos: Pos, parts: tuple[str, str, str | None], severity: str = "error") -> Diagnostic:
        code, message, hint = parts
        return Diagnostic(pos, code, message, hint, severity, self.source_line(pos.line))

    def expr_pos(self, path: PathKey, expr: str, offset: int) -> Pos:
        """Position in the file of character ``offset`` of the expression stored at ``path``.

        Matches the expression's non-blank characters, in order, against the raw text from the
        value's start; block indicators, quotes and escapes in the raw text are skipped over.
        """
        start = self.values.get(tuple(path))
        if start is None:
            return self.pos(path)
        wanted = [i for i, ch in enumerate(expr) if not ch.isspace()]
        j = 0
        last = Pos(self.path, start[0] + 1, start[1] + 1)
        ln, c = start
        while ln < len(self.lines) and j < len(wanted):
            raw = self.lines[ln]
            while c < len(raw) and j < len(wanted):
                if raw[c] == expr[wanted[j]]:
                    here = Pos(self.path, ln + 1, c + 1)
                    if wanted[j] >= offset:
                        return here
                    last = Pos(self.path, ln + 1, c + 2)
                    j += 1
                c += 1
            ln, c = ln + 1, 0
        return last


def _walk(node: Any, path: PathKey, loc: Locator) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for k, v in node.items():
            p = path + (k,)
            try:
                kl, kc = node.lc.key(k)
                loc.keys[p] = (kl, kc)
                vl, vc = node.lc.value(k)
                loc.values[p] = (vl, vc)
            except (KeyError, TypeError, AttributeError):
                pass
            out[str(k) if not isinstance(k, (str, int, float, bool)) else k] = _walk(v, p, loc)
        return out
    if isinstance(node, CommentedSeq):
        out_l = []
        for i, v in enumerate(node):
            p = path + (i,)
            try:
                loc.values[p] = tuple(node.lc.item(i))  # type: ignore[assignment]
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            out_l.append(_walk(v, p, loc))
        return out_l
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def load_text(text: str, path: str) -> tuple[Any, Locator]:
    lines = text.splitlines()
    loc = Locator(path, text, lines)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = Pos(path, (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1)
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise CompileError([loc.diag(pos, E.yaml_syntax(problem))]) from None
    except Exception as e:  # noqa: BLE001 - ruamel raises several unrelated types for bad input
        raise CompileError([loc.diag(Pos(path, 1, 1), E.yaml_syntax(str(e).splitlines()[0]))]) from None
    if doc is None:
        doc = CommentedMap()
    loc.values[()] = (0, 0)
    return _walk(doc, (), loc), loc


def load(path: str | Path) -> tuple[Any, Locator]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CompileError([Diagnostic(Pos(str(path), 1, 1), "io", f"cannot read rule set: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise CompileError([Diagnostic(Pos(str(path), 1, 1), "io", "rule set is not UTF-8 text")]) from None
    return load_text(text, str(path))
