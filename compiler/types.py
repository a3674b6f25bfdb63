"""CEL types as the checker sees them, and the parser for type strings such as
``list(map(string, int))``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from runtime.signals import split_args

PRIMITIVES = ("int", "uint", "double", "string", "bool", "bytes", "null_type", "type")


@dataclass(frozen=True)
class Type:
    kind: str  # a primitive, 'list', 'map', 'record', 'dyn', or 'param' (type parameter)
    params: tuple[Type, ...] = ()
    name: str = ""  # record name, or parameter name

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list({self.params[0]})"
        if self.kind == "map":
            return f"map({self.params[0]}, {self.params[1]})"
        if self.kind in ("record", "param"):
            return self.name
        return self.kind

    @property
    def is_dyn(self) -> bool:
        return self.kind == "dyn"


DYN = Type("dyn")
INT = Type("int")
UINT = Type("uint")
DOUBLE = Type("double")
STRING = Type("string")
BOOL = Type("bool")
BYTES = Type("bytes")
NULL = Type("null_type")
TYPE = Type("type")
NUMERIC = frozenset({"int", "uint", "double"})


def list_of(t: Type) -> Type:
    return Type("list", (t,))


def map_of(k: Type, v: Type) -> Type:
    return Type("map", (k, v))


class TypeSyntaxError(ValueError):
    pass


_ALIASES = {
    "null": "null_type",
    "google.protobuf.Timestamp": "timestamp",
    "google.protobuf.Duration": "duration",
}


def parse_type(text: str, records: Mapping[str, object] = {}) -> Type:
    """Parse ``int``, ``list(T)``, ``map(K, V)``, ``dyn`` or a record name."""
    t = _ALIASES.get(text.strip(), text.strip())
    if t in PRIMITIVES:
        return Type(t)
    if t == "dyn":
        return DYN
    if t in ("timestamp", "duration"):
        raise TypeSyntaxError(f"type {t} is not supported yet; use an int of Unix seconds (e.g. time.epoch)")
    if t.startswith("list(") and t.endswith(")"):
        args = split_args(t[5:-1])
        if len(args) != 1:
            raise TypeSyntaxError(f"list takes one type argument: {text}")
        return list_of(parse_type(args[0], records))
    if t.startswith("map(") and t.endswith(")"):
        args = split_args(t[4:-1])
        if len(args) != 2:
            raise TypeSyntaxError(f"map takes two type arguments: {text}")
        k = parse_type(args[0], records)
        if k.kind not in ("string", "int", "uint", "bool", "dyn"):
            raise TypeSyntaxError(f"map keys must be string, int, uint or bool, not {k}")
        return map_of(k, parse_type(args[1], records))
    if t in records:
        return Type("record", (), t)
    raise TypeSyntaxError(
        f"unknown type '{text}' (types: int, uint, double, string, bool, bytes, dyn, list(T), map(K, V), or a record under 'types:')"
    )


def assignable(target: Type, value: Type) -> bool:
    """Can a value of type ``value`` be used where ``target`` is expected?"""
    if target.kind == "dyn" or value.kind == "dyn":
        return True
    if target.kind != value.kind:
        return False
    if target.kind == "record":
        return target.name == value.name
    return all(assignable(a, b) for a, b in zip(target.params, value.params))


def join(a: Type, b: Type) -> Type:
    """The type of a value that is either ``a`` or ``b`` (used for list literals and ?:)."""
    if a == b:
        return a
    if a.kind == b.kind and a.kind in ("list", "map"):
        return Type(a.kind, tuple(join(x, y) for x, y in zip(a.params, b.params)))
    return DYN


def runtime_name(t: Type, records: Mapping[str, Mapping[str, Type]] | None = None) -> str:
    """The type as written in the bundle's signal table and overload ids (records stay named)."""
    return str(t)
