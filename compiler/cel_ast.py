"""CEL abstract syntax tree, independent of the parser that produced it.

Every node carries ``pos``, the character offset in the expression source, so that the checker
can report ``file:line:column``. The checker fills in ``type`` on every node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Node:
    pos: int
    type: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Lit(Node):
    value: Any
    kind: str  # int uint double string bytes bool null


@dataclass(eq=False)
class Ident(Node):
    name: str
    absolute: bool = False  # written with a leading dot: .name


@dataclass(eq=False)
class Select(Node):
    operand: Node
    field: str
    test_only: bool = False  # has(operand.field)


@dataclass(eq=False)
class Index(Node):
    operand: Node
    index: Node


@dataclass(eq=False)
class Call(Node):
    """A function or operator call. Operators use CEL's internal names: ``_&&_``, ``_+_``, ``!_``,
    ``-_``, ``_?_:_``, ``@in``. ``target`` is the receiver of a method-style call."""

    fn: str
    args: list[Node]
    target: Node | None = None


@dataclass(eq=False)
class ListLit(Node):
    items: list[Node]


@dataclass(eq=False)
class MapLit(Node):
    entries: list[tuple[Node, Node]]


@dataclass(eq=False)
class Comprehension(Node):
    """A macro: all, exists, exists_one, map, filter, and the two-variable forms
    (transformList, transformMap, all/exists/existsOne with two variables)."""

    macro: str
    var: str
    range: Node
    body: Node
    var2: str | None = None
    filter: Node | None = None


@dataclass(eq=False)
class Bind(Node):
    """cel.bind(var, init, body)."""

    var: str
    init: Node
    body: Node


# ---------------------------------------------------------------- produced by the checker
@dataclass(eq=False)
class SignalRef(Node):
    name: str


@dataclass(eq=False)
class SegmentRef(Node):
    name: str


@dataclass(eq=False)
class VarRef(Node):
    name: str


@dataclass(eq=False)
class TypeLit(Node):
    name: str


@dataclass(eq=False)
class Present(Node):
    """has() of a whole signal: true when the request provides it (or it has a default)."""

    name: str


@dataclass(eq=False)
class ScoreRef(Node):
    """``score.<model>``: the score of a declared model (a double)."""

    model: str
