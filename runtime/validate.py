"""Shape validation of a verified payload, before anything is prepared from it.

A signature proves who wrote a bundle, not that the writer was bug-free. Every field the runtime
reads is checked here for type and range, and every IR node for opcode, arity and references
(signal and segment indexes in range, segments referring only to earlier segments so evaluation
cannot recurse forever, comprehension variables in scope), so that preparation and evaluation can
trust the shape. Violations raise ``InvalidIR`` with the path of the offending field.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidIR
from .format import ARITY, COMPREHENSIONS, LAYERS, MAX_NESTING, Op
from .signals import make_checker
from .stdlib import FUNCTIONS, accepts
from .values import TYPE_NAMES

_LIT_TYPES = (type(None), bool, int, float, str, bytes)


def _fail(path: str, msg: str) -> InvalidIR:
    return InvalidIR(f"payload.{path}: {msg}; the bundle was written by an incompatible or faulty compiler - recompile it with this version of strata")


def _req(d: Any, key: str, typ: type | tuple[type, ...], path: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise _fail(path, f"missing field '{key}'")
    v = d[key]
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise _fail(f"{path}.{key}", f"expected {getattr(typ, '__name__', typ)}, got {type(v).__name__}")
    return v


def validate_payload(p: Any) -> None:
    if not isinstance(p, dict):
        raise _fail("", "payload is not a map")
    _req(p, "name", str, "")
    for k in ("version", "created", "not_before", "expires"):
        _req(p, k, int, "")
    records = _req(p, "types", dict, "")
    for rname, fields in records.items():
        if not isinstance(rname, str) or not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
            raise _fail(f"types.{rname}", "record types map field names to type strings")
    signals = _req(p, "signals", list, "")
    for i, s in enumerate(signals):
        path = f"signals[{i}]"
        _req(s, "name", str, path)
        t = _req(s, "type", str, path)
        cat = _req(s, "category", str, path)
        if cat not in ("contextual", "technical", "behavioral"):
            raise _fail(path, f"unknown category {cat!r}")
        for bound in ("max_items", "max_length"):
            v = s.get(bound)
            if v is not None and (type(v) is not int or not 0 <= v <= 1_000_000):
                raise _fail(f"{path}.{bound}", "must be a non-negative integer")
        try:
            check = make_checker(t, records, s.get("max_items"), s.get("max_length"))
        except (ValueError, KeyError, RecursionError):
            raise _fail(f"{path}.type", f"unknown or malformed type {t[:40]!r}") from None
        if s.get("default") is not None and not check(s["default"]):
            raise _fail(f"{path}.default", f"default does not conform to {t[:40]}")
    goals = p.get("goals", [])
    if not isinstance(goals, list) or not all(isinstance(g, str) for g in goals):
        raise _fail("goals", "must be a list of strings")
    content = _req(p, "content", list, "")
    nsig, ncontent = len(signals), len(content)
    segments = _req(p, "segments", list, "")
    for i, seg in enumerate(segments):
        path = f"segments[{i}]"
        _req(seg, "id", str, path)
        layer = _req(seg, "layer", int, path)
        if not 0 <= layer < len(LAYERS):
            raise _fail(path, f"layer {layer} out of range")
        _req(seg, "consent", bool, path)
        _check_ir(_req(seg, "when", list, path), f"{path}.when", nsig, i, 0, 0)
    nseg = len(segments)
    experiments = _req(p, "experiments", list, "")
    for i, e in enumerate(experiments):
        path = f"experiments[{i}]"
        _req(e, "id", str, path)
        _req(e, "salt", str, path)
        start = _req(e, "start", int, path)
        end = _req(e, "end", int, path)
        if not 0 <= start <= end <= 10_000:
            raise _fail(path, "traffic range outside 0..10000")
        if e.get("group") is not None and not isinstance(e["group"], str):
            raise _fail(f"{path}.group", "expected string or nil")
        variants = _req(e, "variants", list, path)
        total = 0
        if not variants:
            raise _fail(path, "no variants")
        for j, v in enumerate(variants):
            vp = f"{path}.variants[{j}]"
            if not (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and type(v[1]) is int and type(v[2]) is int):
                raise _fail(vp, "expected [id, weight, content]")
            if not 0 <= v[2] < ncontent:
                raise _fail(vp, "content index out of range")
            total += v[1]
        if total != 10_000:
            raise _fail(path, f"variant weights sum to {total}, not 10000")
    slots = _req(p, "slots", list, "")
    for i, sl in enumerate(slots):
        path = f"slots[{i}]"
        _req(sl, "id", str, path)
        d = _req(sl, "default", int, path)
        if not 0 <= d < ncontent:
            raise _fail(path, "default content index out of range")
        for j, c in enumerate(_req(sl, "candidates", list, path)):
            cp = f"{path}.candidates[{j}]"
            _req(c, "id", str, cp)
            layer = _req(c, "layer", int, cp)
            if not 0 <= layer < len(LAYERS):
                raise _fail(cp, f"layer {layer} out of range")
            _req(c, "consent", bool, cp)
            _check_ir(_req(c, "when", list, cp), f"{cp}.when", nsig, nseg, 0, 0)
            has_content = c.get("content") is not None
            has_exp = c.get("experiment") is not None
            if has_content == has_exp:
                raise _fail(cp, "needs exactly one of content and experiment")
            if has_content and not (type(c["content"]) is int and 0 <= c["content"] < ncontent):
                raise _fail(cp, "content index out of range")
            if has_exp and not (type(c["experiment"]) is int and 0 <= c["experiment"] < len(experiments)):
                raise _fail(cp, "experiment index out of range")
            cap = c.get("cap")
            if cap is not None and not (isinstance(cap, list) and len(cap) == 2 and all(type(x) is int and x >= 0 for x in cap)):
                raise _fail(cp, "cap must be [per_session, cooldown_seconds]")
            seg = c.get("segment")
            if seg is not None and not (type(seg) is int and 0 <= seg < nseg):
                raise _fail(cp, "segment index out of range")
    h = p.get("holdout")
    if h is not None:
        bp = _req(h, "bp", int, "holdout")
        _req(h, "salt", str, "holdout")
        if not 0 <= bp <= 10_000:
            raise _fail("holdout.bp", "out of range 0..10000")
    consent = _req(p, "consent", dict, "")
    if consent.get("without", "contextual") not in ("contextual", "defaults"):
        raise _fail("consent.without", "must be 'contextual' or 'defaults'")
    req = _req(consent, "requires", list, "consent")
    for c in req:
        if c not in ("contextual", "technical", "behavioral"):
            raise _fail("consent.requires", f"unknown category {c!r}")


def _check_ir(node: Any, path: str, nsig: int, nseg: int, nvars: int, depth: int) -> None:
    if depth > MAX_NESTING:
        raise _fail(path, f"IR nested deeper than {MAX_NESTING}")
    if not isinstance(node, list) or not node or type(node[0]) is not int:
        raise _fail(path, "IR node must be a non-empty array starting with an opcode")
    op = node[0]
    if op not in ARITY:
        raise _fail(path, f"unknown opcode {op}")
    arity = ARITY[op]
    n = len(node) - 1
    if isinstance(arity, int) and n != arity or isinstance(arity, tuple) and n not in arity:
        raise _fail(path, f"opcode {op} takes {arity} operands, got {n}")
    sub = depth + 1
    if op == Op.LIT:
        if not isinstance(node[1], _LIT_TYPES):
            raise _fail(path, f"literal of type {type(node[1]).__name__}")
    elif op == Op.ULIT:
        if type(node[1]) is not int or not 0 <= node[1] < 2**64:
            raise _fail(path, "uint literal out of range")
    elif op == Op.TYPE:
        if not isinstance(node[1], str) or node[1] not in TYPE_NAMES:
            raise _fail(path, f"unknown type {node[1]!r}")
    elif op in (Op.SIG, Op.SIGHAS):
        if type(node[1]) is not int or not 0 <= node[1] < nsig:
            raise _fail(path, "signal index out of range")
    elif op == Op.SEG:
        if type(node[1]) is not int or not 0 <= node[1] < nseg:
            raise _fail(path, "segment index out of range (segments may only use earlier segments)")
    elif op == Op.VAR:
        if type(node[1]) is not int or not 0 <= node[1] < nvars:
            raise _fail(path, "comprehension variable out of scope")
    elif op in (Op.SEL, Op.HAS):
        if not isinstance(node[2], str):
            raise _fail(path, "field name must be a string")
        _check_ir(node[1], path, nsig, nseg, nvars, sub)
    elif op == Op.CALL:
        if n < 2 or not isinstance(node[1], str) or node[1] not in FUNCTIONS:
            raise _fail(path, f"unknown function {node[1]!r}" if n >= 2 else "CALL needs a name and overload")
        if node[2] is not None and not isinstance(node[2], str):
            raise _fail(path, "overload must be a string or nil")
        if not accepts(node[1], node[2], n - 2):
            raise _fail(path, f"{node[1]} has no overload ({node[2]}) for {n - 2} argument(s) (docs/cel-functions.md)")
        for a in node[3:]:
            _check_ir(a, path, nsig, nseg, nvars, sub)
    elif op in (Op.COMP, Op.COMP2):
        if not isinstance(node[1], str) or node[1] not in COMPREHENSIONS:
            raise _fail(path, f"unknown comprehension {node[1]!r}")
        _check_ir(node[2], path, nsig, nseg, nvars, sub)
        inner = nvars + (2 if op == Op.COMP2 else 1)
        for a in node[3:]:
            _check_ir(a, path, nsig, nseg, inner, sub)
    elif op == Op.MAP:
        if n % 2:
            raise _fail(path, "map needs key/value pairs")
        for a in node[1:]:
            _check_ir(a, path, nsig, nseg, nvars, sub)
    else:  # AND OR NOT COND LIST
        for a in node[1:]:
            _check_ir(a, path, nsig, nseg, nvars, sub)
