"""CEL functions and operators on run-time values, with the semantics of the CEL spec.

Every function here takes plain Python values (see ``values.py``) and returns a value or raises
``CelError``. They dispatch on run-time types, so they are correct for ``dyn`` operands; the code
generator uses native Python operators instead where the checker proved the types (``codegen.py``).

Notable CEL rules implemented here (each differs from plain Python):
- equality is heterogeneous: ``1 == 1.0`` and ``1u == 1`` are true, ``true == 1`` is false, NaN is
  never equal to itself, and ``[1] == [1.0]`` compares element-wise with the same rules;
- int and uint arithmetic is 64-bit with overflow as an error; int division truncates towards
  zero; a double divided by zero is an IEEE infinity or NaN, not an error;
- ``in`` on a map tests keys; list indexes must be integral and in range;
- string functions count code points; ``lowerAscii``/``upperAscii`` touch ASCII letters only.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .values import INT64_MAX, UINT64_MAX, CelError, CelType, UInt, check_int, check_uint, type_name

__all__ = ["type_name"]

def _kind(v: Any) -> str:
    """The CEL type name of a value, or its Python type name if it is no CEL value (for messages)."""
    try:
        return type_name(v)
    except CelError:
        return type(v).__name__


def _is_num(v: Any) -> bool:
    t = type(v)
    return t is int or t is float or t is UInt


def no_overload(name: str, *args: Any) -> CelError:
    kinds = ", ".join(_kind(a) for a in args)
    return CelError(f"no such overload: {name}({kinds})")


# ------------------------------------------------------------------ equality and ordering
def _num_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Operands for a cross-type numeric comparison, as CEL (cel-go) defines it: an int or uint
    compared with a double is converted to double first (so 2^63-1 < 2.0^63 is false); int and
    uint compare exactly."""
    ta, tb = type(a), type(b)
    if ta is float and tb is not float:
        return a, float(b)
    if tb is float and ta is not float:
        return float(a), b
    return a, b


def eq(a: Any, b: Any) -> bool:
    """CEL heterogeneous equality; never raises."""
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if _is_num(a) and _is_num(b):
        x, y = _num_pair(a, b)
        return bool(x == y)  # NaN != NaN, as in CEL
    if ta is not tb:
        if (ta is list or ta is tuple) and (tb is list or tb is tuple):
            pass
        else:
            return False
    if ta is list or ta is tuple:
        return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
    if ta is dict:
        if len(a) != len(b):
            return False
        for k, v in a.items():
            found, w = map_lookup(b, k)
            if not found or not eq(v, w):
                return False
        return True
    return bool(a == b)


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def _cmp_kinds(name: str, a: Any, b: Any) -> None:
    ta, tb = type(a), type(b)
    if _is_num(a) and _is_num(b) and ta is not bool and tb is not bool:
        return
    if ta is tb and ta in (str, bytes, bool):
        return
    raise no_overload(name, a, b)


def lt(a: Any, b: Any) -> bool:
    _cmp_kinds("_<_", a, b)
    x, y = _num_pair(a, b)
    return bool(x < y)


def le(a: Any, b: Any) -> bool:
    _cmp_kinds("_<=_", a, b)
    x, y = _num_pair(a, b)
    return bool(x <= y)


def gt(a: Any, b: Any) -> bool:
    _cmp_kinds("_>_", a, b)
    x, y = _num_pair(a, b)
    return bool(x > y)


def ge(a: Any, b: Any) -> bool:
    _cmp_kinds("_>=_", a, b)
    x, y = _num_pair(a, b)
    return bool(x >= y)


# ------------------------------------------------------------------ arithmetic
def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return check_int(a + b)
    if ta is UInt and tb is UInt:
        return check_uint(a + b)
    if ta is float and tb is float:
        return a + b
    if ta is str and tb is str:
        return a + b
    if ta is bytes and tb is bytes:
        return a + b
    if ta in (list, tuple) and tb in (list, tuple):
        return list(a) + list(b)
    raise no_overload("_+_", a, b)


def sub(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return check_int(a - b)
    if ta is UInt and tb is UInt:
        return check_uint(a - b)
    if ta is float and tb is float:
        return a - b
    raise no_overload("_-_", a, b)


def mul(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return check_int(a * b)
    if ta is UInt and tb is UInt:
        return check_uint(a * b)
    if ta is float and tb is float:
        return a * b
    raise no_overload("_*_", a, b)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def div(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if b == 0:
            raise CelError("division by zero")
        return check_int(_trunc_div(a, b))
    if ta is UInt and tb is UInt:
        if b == 0:
            raise CelError("division by zero")
        return UInt(a // b)
    if ta is float and tb is float:
        if b == 0.0:
            if a == 0.0 or math.isnan(a):
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    raise no_overload("_/_", a, b)


def mod(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if b == 0:
            raise CelError("modulus by zero")
        r = abs(a) % abs(b)
        return check_int(r if a >= 0 else -r)
    if ta is UInt and tb is UInt:
        if b == 0:
            raise CelError("modulus by zero")
        return UInt(a % b)
    raise no_overload("_%_", a, b)


def neg(a: Any) -> Any:
    ta = type(a)
    if ta is int:
        return check_int(-a)
    if ta is float:
        return -a
    raise no_overload("-_", a)


def logical_not(a: Any) -> bool:
    if type(a) is bool:
        return not a
    raise no_overload("!_", a)


# ------------------------------------------------------------------ containers
def map_lookup(m: dict[Any, Any], key: Any) -> tuple[bool, Any]:
    """Find ``key`` in a CEL map with CEL key equality (1, 1u and 1.0 are the same key; true is
    not 1)."""
    tk = type(key)
    if tk is bool:
        for k, v in m.items():
            if type(k) is bool and k == key:
                return True, v
        return False, None
    if tk is float:
        if not key.is_integer():
            return False, None
    elif tk not in (int, UInt, str):
        if tk in (list, tuple, dict) or key is None or tk is bytes:
            raise CelError(f"unsupported map key type: {_kind(key)}")
    if key in m:
        # Python treats True == 1 == 1.0 as one key; CEL keeps bool apart from numbers.
        for k in m:
            if type(k) is not bool and k == key:
                return True, m[k]
    return False, None


def index(c: Any, k: Any) -> Any:
    tc = type(c)
    if tc is list or tc is tuple:
        tk = type(k)
        if tk is int or tk is UInt:
            i = int(k)
        elif tk is float and k.is_integer():
            i = int(k)
        else:
            raise no_overload("_[_]", c, k)
        if i < 0 or i >= len(c):
            raise CelError(f"index out of range: {i}")
        return c[i]
    if tc is dict:
        found, v = map_lookup(c, k)
        if not found:
            raise CelError(f"no such key: {k!r}")
        return v
    raise no_overload("_[_]", c, k)


def select(c: Any, field: str) -> Any:
    if type(c) is dict:
        found, v = map_lookup(c, field)
        if not found:
            raise CelError(f"no such key: {field}")
        return v
    raise CelError(f"type '{_kind(c)}' does not support field selection")


def has_field(c: Any, field: str) -> bool:
    if type(c) is dict:
        return map_lookup(c, field)[0]
    raise CelError(f"invalid type for has(): {_kind(c)}")


def in_(a: Any, c: Any) -> bool:
    tc = type(c)
    if tc is list or tc is tuple:
        return any(eq(a, x) for x in c)
    if tc is dict:
        try:
            return map_lookup(c, a)[0]
        except CelError:
            return False
    raise no_overload("@in", a, c)


def size(v: Any) -> int:
    t = type(v)
    if t is str or t is bytes or t is list or t is tuple or t is dict:
        return len(v)
    raise no_overload("size", v)


def make_map(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for k, v in pairs:
        tk = type(k)
        if tk not in (int, UInt, str, bool):
            raise CelError(f"unsupported map key type: {_kind(k)}")
        repeated = any(type(x) is bool and x == k for x in out) if tk is bool else map_lookup(out, k)[0]
        if repeated:
            raise CelError(f"Failed with repeated key: {k!r}")
        out[k] = v
    return out


# ------------------------------------------------------------------ strings
def _str_args(name: str, *args: Any) -> None:
    for a in args:
        if type(a) is not str:
            raise no_overload(name, *args)


def contains(s: Any, sub: Any) -> bool:
    _str_args("contains", s, sub)
    return sub in s


def starts_with(s: Any, p: Any) -> bool:
    _str_args("startsWith", s, p)
    return bool(s.startswith(p))


def ends_with(s: Any, p: Any) -> bool:
    _str_args("endsWith", s, p)
    return bool(s.endswith(p))


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}
#: Bound the cache of patterns that were not constant at compile time (a hostile signal must not
#: grow memory without limit).
_REGEX_CACHE_MAX = 256


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a CEL (RE2) pattern. Python's ``re`` accepts a superset of the RE2 syntax used in
    practice; constructs RE2 rejects (backreferences, lookaround) are refused here too."""
    if re.search(r"\\[1-9]|\(\?[=!<]|\(\?P=", pattern):
        raise CelError(f"unsupported regular expression (RE2 has no backreferences or lookaround): {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise CelError(f"invalid regular expression {pattern!r}: {e}") from None


def matches(s: Any, pattern: Any) -> bool:
    _str_args("matches", s, pattern)
    rx = _REGEX_CACHE.get(pattern)
    if rx is None:
        rx = compile_regex(pattern)
        if len(_REGEX_CACHE) < _REGEX_CACHE_MAX:
            _REGEX_CACHE[pattern] = rx
    return rx.search(s) is not None


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def lower_ascii(s: Any) -> str:
    _str_args("lowerAscii", s)
    return str(s.translate(_ASCII_LOWER))


def upper_ascii(s: Any) -> str:
    _str_args("upperAscii", s)
    return str(s.translate(_ASCII_UPPER))


# Unicode White_Space, as the CEL strings extension trims.
_WS = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def trim(s: Any) -> str:
    _str_args("trim", s)
    return str(s.strip(_WS))


def _int_arg(name: str, v: Any) -> int:
    if type(v) is not int:
        raise no_overload(name, v)
    return int(v)


def split(s: Any, sep: Any, n: Any = None) -> list[str]:
    _str_args("split", s, sep)
    if n is None:
        limit = -1
    else:
        limit = _int_arg("split", n)
    if limit == 0:
        return []
    if limit == 1:
        return [s]
    if sep == "":
        chars = list(s)
        if limit > 0 and len(chars) > limit:
            return chars[: limit - 1] + ["".join(chars[limit - 1 :])]
        return chars
    return list(s.split(sep, -1 if limit < 0 else limit - 1))


def replace(s: Any, old: Any, new: Any, n: Any = None) -> str:
    _str_args("replace", s, old, new)
    count = -1 if n is None else _int_arg("replace", n)
    return str(s.replace(old, new, count))


def index_of(s: Any, sub: Any, start: Any = None) -> int:
    _str_args("indexOf", s, sub)
    i = 0 if start is None else _int_arg("indexOf", start)
    if i < 0 or i > len(s):
        raise CelError(f"index out of range: {i}")
    return int(s.find(sub, i))


def last_index_of(s: Any, sub: Any, start: Any = None) -> int:
    _str_args("lastIndexOf", s, sub)
    if start is None:
        return int(s.rfind(sub))
    i = _int_arg("lastIndexOf", start)
    if i < 0 or i > len(s):
        raise CelError(f"index out of range: {i}")
    return int(s.rfind(sub, 0, i + len(sub)))


def substring(s: Any, start: Any, end: Any = None) -> str:
    _str_args("substring", s)
    b = _int_arg("substring", start)
    e = len(s) if end is None else _int_arg("substring", end)
    if b < 0 or b > len(s):
        raise CelError(f"index out of range: {b}")
    if e < 0 or e > len(s):
        raise CelError(f"index out of range: {e}")
    if e < b:
        raise CelError(f"invalid substring range. start: {b}, end: {e}")
    return str(s[b:e])


def char_at(s: Any, i: Any) -> str:
    _str_args("charAt", s)
    k = _int_arg("charAt", i)
    if k < 0 or k > len(s):
        raise CelError(f"index out of range: {k}")
    return str(s[k : k + 1])


def join(items: Any, sep: Any = "") -> str:
    if type(items) not in (list, tuple) or type(sep) is not str:
        raise no_overload("join", items, sep)
    for x in items:
        if type(x) is not str:
            raise no_overload("join", items, sep)
    return str(sep.join(items))


def reverse(s: Any) -> str:
    _str_args("reverse", s)
    return str(s[::-1])


# ------------------------------------------------------------------ conversions
def _format_double(v: float) -> str:
    """Format a double as CEL (Go's strconv 'g' with shortest precision) does."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    if "e" in r or "E" in r:
        mant, exp = r.split("e")
        e = int(exp)
    else:
        mant, e = r, 0
    neg = mant.startswith("-")
    mant = mant.lstrip("-")
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    digits = (ip + fp).lstrip("0")
    # decimal exponent of the first significant digit
    if ip.strip("0"):
        exp10 = len(ip.lstrip("0")) - 1 + e
    else:
        lead = len(fp) - len(fp.lstrip("0"))
        exp10 = -lead - 1 + e
    digits = digits.rstrip("0") or "0"
    if v == 0.0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    if exp10 < -4 or exp10 >= 21:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        out = f"{m}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    elif exp10 >= len(digits) - 1:
        out = digits + "0" * (exp10 - len(digits) + 1)
    elif exp10 >= 0:
        out = digits[: exp10 + 1] + "." + digits[exp10 + 1 :]
    else:
        out = "0." + "0" * (-exp10 - 1) + digits
    return ("-" if neg else "") + out


def to_string(v: Any) -> str:
    t = type(v)
    if t is str:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is int or t is UInt:
        return str(int(v))
    if t is float:
        return _format_double(v)
    if t is bytes:
        try:
            return str(v.decode("utf-8"))
        except UnicodeDecodeError:
            raise CelError("invalid UTF-8 in bytes") from None
    raise no_overload("string", v)


_INT_RX = re.compile(r"[+-]?[0-9]+\Z")


def to_int(v: Any) -> int:
    t = type(v)
    if t is int:
        return int(v)
    if t is UInt:
        return check_int(int(v))
    if t is float:
        if math.isnan(v) or not (-(2.0**63) < v < 2.0**63):
            raise CelError("range error converting double to int")
        return int(v)
    if t is str:
        if not _INT_RX.match(v):
            raise CelError(f"cannot convert {v!r} to int")
        return check_int(int(v))
    raise no_overload("int", v)


def to_uint(v: Any) -> UInt:
    t = type(v)
    if t is UInt:
        return UInt(v)
    if t is int:
        return check_uint(v)
    if t is float:
        if math.isnan(v) or not (-1.0 < v < 2.0**64):
            raise CelError("range error converting double to uint")
        return UInt(int(v))
    if t is str:
        if not re.match(r"\+?[0-9]+\Z", v):
            raise CelError(f"cannot convert {v!r} to uint")
        return check_uint(int(v))
    raise no_overload("uint", v)


_FLOAT_RX = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z", re.I)


def to_double(v: Any) -> float:
    t = type(v)
    if t is float:
        return float(v)
    if t is int or t is UInt:
        return float(v)
    if t is str:
        if not _FLOAT_RX.match(v):
            raise CelError(f"cannot convert {v!r} to double")
        return float(v)
    raise no_overload("double", v)


def to_bytes(v: Any) -> bytes:
    t = type(v)
    if t is bytes:
        return bytes(v)
    if t is str:
        return bytes(v.encode("utf-8"))
    raise no_overload("bytes", v)


_BOOL_STRINGS = {
    "1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
    "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False,
}


def to_bool(v: Any) -> bool:
    t = type(v)
    if t is bool:
        return bool(v)
    if t is str:
        if v in _BOOL_STRINGS:
            return _BOOL_STRINGS[v]
        raise CelError(f"cannot convert {v!r} to bool")
    raise no_overload("bool", v)


def dyn(v: Any) -> Any:
    return v


def type_of(v: Any) -> CelType:
    return CelType(type_name(v))


# ------------------------------------------------------------------ math extension
def _numeric_list(name: str, args: tuple[Any, ...]) -> list[Any]:
    if len(args) == 1 and type(args[0]) in (list, tuple):
        items = list(args[0])
    else:
        items = list(args)
    if not items:
        raise CelError(f"{name}(): list must not be empty")
    for x in items:
        if not _is_num(x) or type(x) is bool:
            raise no_overload(name, *args)
    return items


def greatest(*args: Any) -> Any:
    items = _numeric_list("math.greatest", args)
    best = items[0]
    for x in items[1:]:
        if x > best:
            best = x
    return best


def least(*args: Any) -> Any:
    items = _numeric_list("math.least", args)
    best = items[0]
    for x in items[1:]:
        if x < best:
            best = x
    return best


def m_abs(v: Any) -> Any:
    t = type(v)
    if t is int:
        return check_int(abs(v))
    if t is UInt:
        return v
    if t is float:
        return abs(v)
    raise no_overload("math.abs", v)


def m_sign(v: Any) -> Any:
    t = type(v)
    if t is int:
        return (v > 0) - (v < 0)
    if t is UInt:
        return UInt(1 if v > 0 else 0)
    if t is float:
        if math.isnan(v):
            return v
        return 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)
    raise no_overload("math.sign", v)


def _double_only(name: str, v: Any) -> float:
    if type(v) is not float:
        raise no_overload(name, v)
    return float(v)


def m_ceil(v: Any) -> float:
    x = _double_only("math.ceil", v)
    return x if math.isinf(x) or math.isnan(x) else float(math.ceil(x))


def m_floor(v: Any) -> float:
    x = _double_only("math.floor", v)
    return x if math.isinf(x) or math.isnan(x) else float(math.floor(x))


def m_trunc(v: Any) -> float:
    x = _double_only("math.trunc", v)
    return x if math.isinf(x) or math.isnan(x) else float(math.trunc(x))


def m_round(v: Any) -> float:
    x = _double_only("math.round", v)
    if math.isinf(x) or math.isnan(x):
        return x
    r = math.floor(abs(x) + 0.5)
    return math.copysign(float(r), x)


def m_is_nan(v: Any) -> bool:
    return math.isnan(_double_only("math.isNaN", v))


def m_is_inf(v: Any) -> bool:
    return math.isinf(_double_only("math.isInf", v))


def m_is_finite(v: Any) -> bool:
    return math.isfinite(_double_only("math.isFinite", v))


def _bits(name: str, a: Any, b: Any) -> None:
    if not ((type(a) is int and type(b) is int) or (type(a) is UInt and type(b) is UInt)):
        raise no_overload(name, a, b)


def bit_and(a: Any, b: Any) -> Any:
    _bits("math.bitAnd", a, b)
    return type(a)(a & b)


def bit_or(a: Any, b: Any) -> Any:
    _bits("math.bitOr", a, b)
    return type(a)(a | b)


def bit_xor(a: Any, b: Any) -> Any:
    _bits("math.bitXor", a, b)
    return type(a)(a ^ b)


def bit_not(a: Any) -> Any:
    if type(a) is int:
        return ~a
    if type(a) is UInt:
        return UInt(UINT64_MAX ^ a)
    raise no_overload("math.bitNot", a)


def shift_left(a: Any, n: Any) -> Any:
    if type(n) is not int or type(a) not in (int, UInt):
        raise no_overload("math.bitShiftLeft", a, n)
    if n < 0:
        raise CelError("math.bitShiftLeft() negative offset")
    if n >= 64:
        return type(a)(0)
    if type(a) is UInt:
        return UInt((a << n) & UINT64_MAX)
    r = (a << n) & UINT64_MAX
    return r - 2**64 if r > INT64_MAX else r


def shift_right(a: Any, n: Any) -> Any:
    if type(n) is not int or type(a) not in (int, UInt):
        raise no_overload("math.bitShiftRight", a, n)
    if n < 0:
        raise CelError("math.bitShiftRight() negative offset")
    if n >= 64:
        return type(a)(0)
    if type(a) is UInt:
        return UInt(a >> n)
    return (a & UINT64_MAX) >> n if a >= 0 else ((a + 2**64) >> n)


def unknown_function(name: Any, *args: Any) -> Any:
    """Evaluation of a call to a function that does not exist (only in unchecked expressions)."""
    raise CelError(f"no such function: {name}")
