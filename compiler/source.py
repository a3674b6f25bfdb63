"""Rule-set source files: YAML (parsed by PyYAML/libyaml) with the line and column of every value.

``load`` returns plain Python data (dicts, lists, scalars) plus a ``Locator`` that answers "where
in the file is the value at this path?" and "where in the file is character N of this CEL
expression?". The expression mapping walks the raw text, so it is right for plain, quoted, literal
(``|``) and folded (``>``) scalars alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.constructor import SafeConstructor

from . import errors as E
from .errors import CompileError, Diagnostic, Pos

PathKey = tuple[Any, ...]

# libyaml's C composer when available (10x faster on large rule sets), else the pure-Python one;
# both give every node its line and column.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


#: Bound on the number of values a document expands to, counting every use of an alias: a
#: "billion laughs" document (aliases of aliases) is refused before anything is built. A
#: 10,000-rule set is about 250,000 values.
MAX_NODES = 2_000_000
MAX_DEPTH = 64


def _expanded_size(root: yaml.Node) -> tuple[int, yaml.Node | None]:
    """Values the document expands to, in time linear in its distinct nodes (memoised per node),
    and the first node found too deep."""
    memo: dict[int, int] = {}
    deep: list[yaml.Node] = []

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            deep.append(node)
            return 1
        got = memo.get(id(node))
        if got is not None:
            return got
        if isinstance(node, yaml.MappingNode):
            n = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(v, depth + 1) for v in node.value)
        else:
            n = 1
        memo[id(node)] = n
        return n

    total = size(root, 0)
    return total, (deep[0] if deep else None)

_SCALARS = SafeConstructor()


class _Walker:
    def __init__(self, loc: Locator):
        self.loc = loc

    def walk(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    raise _Problem(knode, "a mapping key must be a plain value")
                if knode.tag == "tag:yaml.org,2002:merge":
                    raise _Problem(knode, "merge keys (<<) are not supported; write the fields out")
                key = self.scalar(knode)
                p = path + (key,)
                if key in out:
                    raise _Problem(knode, f"duplicate key '{key}' (first at line {self.loc.keys[p][0] + 1})")
                self.loc.keys[p] = (knode.start_mark.line, knode.start_mark.column)
                self.loc.values[p] = (vnode.start_mark.line, vnode.start_mark.column)
                out[key] = self.walk(vnode, p, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, vnode in enumerate(node.value):
                p = path + (i,)
                self.loc.values[p] = (vnode.start_mark.line, vnode.start_mark.column)
                items.append(self.walk(vnode, p, depth + 1))
            return items
        return self.scalar(cast(yaml.ScalarNode, node))  # the composer makes only these three kinds

    @staticmethod
    def scalar(node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == "tag:yaml.org,2002:int":
            return _SCALARS.construct_yaml_int(node)
        if tag == "tag:yaml.org,2002:float":
            return _SCALARS.construct_yaml_float(node)
        if tag == "tag:yaml.org,2002:bool":
            return _SCALARS.construct_yaml_bool(node)
        if tag == "tag:yaml.org,2002:null":
            return None
        return str(node.value)  # strings, and timestamps kept as written


class _Problem(Exception):
    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.node = node


def load_text(text: str, path: str) -> tuple[Any, Locator]:
    lines = text.splitlines()
    loc = Locator(path, text, lines)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = Pos(path, (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1)
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise CompileError([loc.diag(pos, E.yaml_syntax(problem))]) from None
    except yaml.YAMLError as e:
        raise CompileError([loc.diag(Pos(path, 1, 1), E.yaml_syntax(str(e).splitlines()[0]))]) from None
    loc.values[()] = (0, 0)
    if root is None:
        return {}, loc
    total, deep = _expanded_size(root)
    if total > MAX_NODES or deep is not None:
        m = (deep or root).start_mark
        raise CompileError([loc.diag(Pos(path, m.line + 1, m.column + 1), E.yaml_syntax(
            f"document expands to more than {MAX_NODES:,} values or nests deeper than {MAX_DEPTH} (aliases of aliases?)"))])
    try:
        return _Walker(loc).walk(root, (), 0), loc
    except _Problem as e:
        m = e.node.start_mark
        raise CompileError([loc.diag(Pos(path, m.line + 1, m.column + 1), E.yaml_syntax(str(e)))]) from None


def load(path: str | Path) -> tuple[Any, Locator]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CompileError([Diagnostic(Pos(str(path), 1, 1), "io", f"cannot read rule set: {e.strerror}")]) from None
    except UnicodeDecodeError:
        raise CompileError([Diagnostic(Pos(str(path), 1, 1), "io", "rule set is not UTF-8 text")]) from None
    return load_text(text, str(path))
