"""CEL values in Python, and the CEL error type.

Mapping: int -> int, uint -> UInt, double -> float, string -> str, bool -> bool, null -> None,
bytes -> bytes, list -> list, map -> dict, type -> CelType. Records (declared object types) are
dicts at run time; only the checker knows their fields.
"""

from __future__ import annotations

from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


class CelError(Exception):
    """An evaluation error as CEL defines it (no such key, overflow, no matching overload...).

    Raised by the function implementations; the exact evaluator turns it into a value so that
    ``false && error`` is ``false``, and a condition that ends in an error is false for that
    request and counted.
    """


class UInt(int):
    """A CEL ``uint``: an int that remembers its CEL type."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{int(self)}u"


class CelType(str):
    """A CEL type value, e.g. the result of ``type(1)`` (``int``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"type({str(self)})"


#: Type names CEL exposes as identifiers that evaluate to type values.
TYPE_NAMES = ("int", "uint", "double", "string", "bool", "bytes", "list", "map", "null_type", "type")


def type_name(value: Any) -> str:
    """The CEL type name of a run-time value."""
    if value is None:
        return "null_type"
    t = type(value)
    if t is bool:
        return "bool"
    if t is UInt:
        return "uint"
    if t is int:
        return "int"
    if t is float:
        return "double"
    if t is str:
        return "string"
    if t is bytes:
        return "bytes"
    if t is list or t is tuple:
        return "list"
    if t is dict:
        return "map"
    if t is CelType:
        return "type"
    raise CelError(f"unsupported value of Python type {t.__name__}")


def check_int(v: int) -> int:
    if v < INT64_MIN or v > INT64_MAX:
        raise CelError("integer overflow")
    return v


def check_uint(v: int) -> UInt:
    if v < 0 or v > UINT64_MAX:
        raise CelError("unsigned integer overflow")
    return UInt(v)
