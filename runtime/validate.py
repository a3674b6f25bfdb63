"""Shape validation of a verified payload, before anything is prepared from it.

A signature proves who wrote a bundle, not that the writer was bug-free. Every field the runtime
reads is checked here for type and range, and every IR node for opcode, arity and references
(signal and segment indexes in range, segments referring only to earlier segments so evaluation
cannot recurse forever, comprehension variables in scope), so that preparation and evaluation can
trust the shape. Every map of the payload may hold only the fields the format defines (a field
this runtime does not know is refused, not ignored). Every CALL's declared overload is checked
against its arguments: as many types as arguments, well-formed, and matching every argument whose
type the IR proves (literals, signals, fields of typed signals, results of typed calls,
comprehension variables), because the code generator trusts the overload to pick native operators.
Violations raise ``InvalidIR`` with the path of the offending field.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import InvalidIR
from .format import (
    ARITY,
    BUCKETS,
    CATEGORIES,
    COMPREHENSIONS,
    FEATURE_KINDS,
    FIELDS,
    LAYERS,
    MAX_CALIBRATION_KNOTS,
    MAX_COEFFICIENT,
    MAX_CROSS_PARTS,
    MAX_FEATURE_ARGS,
    MAX_FEATURES,
    MAX_IR_NODES,
    MAX_LEVELS,
    MAX_LITERAL_BYTES,
    MAX_LITERAL_ITEMS,
    MAX_MODELS,
    MAX_NESTING,
    MAX_OVERLOAD_LENGTH,
    MAX_SIGNAL_BOUND,
    MAX_VARIANTS,
    Op,
)
from .regex import regex_error
from .signals import make_checker, split_args
from .stdlib import FUNCTIONS, accepts, arity, result_type
from .values import INT64_MAX, INT64_MIN, TYPE_NAMES

_LIT_TYPES = (type(None), bool, int, float, str, bytes)



def _fail(path: str, msg: str) -> InvalidIR:
    return InvalidIR(f"{'payload.' + path if path else 'payload'}: {msg}; the bundle was written by an incompatible or faulty compiler - recompile it with this version of strata")


def _req(d: Any, key: str, typ: type | tuple[type, ...], path: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise _fail(path, f"missing field '{key}'")
    v = d[key]
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise _fail(f"{path}.{key}", f"expected {getattr(typ, '__name__', typ)}, got {type(v).__name__}")
    return v


def _only(d: Any, allowed: frozenset[str], path: str) -> None:
    """Refuse fields the format does not define (a newer or faulty compiler's)."""
    if not isinstance(d, dict):
        raise _fail(path, "expected a map")
    extra = [k for k in d if k not in allowed]
    if extra:
        shown = ", ".join(repr(k)[:40] for k in sorted(map(str, extra))[:3])
        raise _fail(path, f"unknown field(s) {shown}: this runtime reads format fields {', '.join(sorted(allowed))} only; "
                    "upgrade the runtime or recompile with a matching compiler")


def validate_payload(p: Any) -> None:
    if not isinstance(p, dict):
        raise _fail("", "payload is not a map")
    _only(p, FIELDS["payload"], "")
    _req(p, "name", str, "")
    for k in ("version", "created", "not_before", "expires"):
        _req(p, k, int, "")
    if p.get("compiler") is not None and not isinstance(p["compiler"], str):
        raise _fail("compiler", "expected string")
    records = _req(p, "types", dict, "")
    for rname, fields in records.items():
        if not isinstance(rname, str) or not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
            raise _fail(f"types.{rname}", "record types map field names to type strings")
    rtypes: dict[str, dict[str, _T]] = {}
    for rname, fields in records.items():
        rtypes[rname] = {}
        for fname, ftype in fields.items():
            try:
                make_checker(ftype, records)
                rtypes[rname][fname] = _parse_type(ftype, records)
            except (ValueError, KeyError, RecursionError):
                raise _fail(f"types.{rname}.{fname}", f"unknown or malformed type {ftype[:40]!r}") from None
    signals = _req(p, "signals", list, "")
    sigtypes: list[_T] = []
    for i, s in enumerate(signals):
        path = f"signals[{i}]"
        _only(s, FIELDS["signal"], path)
        _req(s, "name", str, path)
        if s.get("source") is not None and not isinstance(s["source"], str):
            raise _fail(f"{path}.source", "expected string")
        t = _req(s, "type", str, path)
        cat = _req(s, "category", str, path)
        if cat not in CATEGORIES:
            raise _fail(path, f"unknown category {cat!r}")
        for bound in ("max_items", "max_length"):
            v = s.get(bound)
            if v is not None and (type(v) is not int or not 0 <= v <= MAX_SIGNAL_BOUND):
                raise _fail(f"{path}.{bound}", "must be a non-negative integer")
        try:
            check = make_checker(t, records, s.get("max_items"), s.get("max_length"))
            sigtypes.append(_parse_type(t, records))
        except (ValueError, KeyError, RecursionError):
            raise _fail(f"{path}.type", f"unknown or malformed type {t[:40]!r}") from None
        if s.get("default") is not None and not check(s["default"]):
            raise _fail(f"{path}.default", f"default does not conform to {t[:40]}")
    goals = p.get("goals", [])
    if not isinstance(goals, list) or not all(isinstance(g, str) for g in goals):
        raise _fail("goals", "must be a list of strings")
    content = _req(p, "content", list, "")
    ncontent = len(content)
    ir = _IRContext(sigtypes, rtypes)
    models = p.get("models", [])
    if not isinstance(models, list):
        raise _fail("models", "expected a list")
    if len(models) > MAX_MODELS:
        raise _fail("models", f"{len(models)} models, more than {MAX_MODELS}")
    ir.nmodels = len(models)  # SCORE operands are checked against it; the models themselves below
    segments = _req(p, "segments", list, "")
    for i, seg in enumerate(segments):
        path = f"segments[{i}]"
        _only(seg, FIELDS["segment"], path)
        _req(seg, "id", str, path)
        layer = _req(seg, "layer", int, path)
        if not 0 <= layer < len(LAYERS):
            raise _fail(path, f"layer {layer} out of range")
        _req(seg, "consent", bool, path)
        ir.nseg = i  # a segment may use only earlier segments
        _check_ir(_req(seg, "when", list, path), f"{path}.when", ir, (), 0)
    ir.nseg = len(segments)
    experiments = _req(p, "experiments", list, "")
    for i, e in enumerate(experiments):
        path = f"experiments[{i}]"
        _only(e, FIELDS["experiment"], path)
        _req(e, "id", str, path)
        _req(e, "salt", str, path)
        start = _req(e, "start", int, path)
        end = _req(e, "end", int, path)
        if not 0 <= start <= end <= BUCKETS:
            raise _fail(path, f"traffic range outside 0..{BUCKETS}")
        if e.get("group") is not None and not isinstance(e["group"], str):
            raise _fail(f"{path}.group", "expected string or nil")
        variants = _req(e, "variants", list, path)
        total = 0
        if not variants:
            raise _fail(path, "no variants")
        if len(variants) > MAX_VARIANTS:
            raise _fail(path, f"{len(variants)} variants, more than {MAX_VARIANTS}")
        for j, v in enumerate(variants):
            vp = f"{path}.variants[{j}]"
            if not (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and type(v[1]) is int and type(v[2]) is int):
                raise _fail(vp, "expected [id, weight, content]")
            if not 0 <= v[1] <= BUCKETS:
                raise _fail(vp, f"weight outside 0..{BUCKETS}")
            if not 0 <= v[2] < ncontent:
                raise _fail(vp, "content index out of range")
            total += v[1]
        if total != BUCKETS:
            raise _fail(path, f"variant weights sum to {total}, not {BUCKETS}")
    slots = _req(p, "slots", list, "")
    for i, sl in enumerate(slots):
        path = f"slots[{i}]"
        _only(sl, FIELDS["slot"], path)
        _req(sl, "id", str, path)
        d = _req(sl, "default", int, path)
        if not 0 <= d < ncontent:
            raise _fail(path, "default content index out of range")
        for j, c in enumerate(_req(sl, "candidates", list, path)):
            cp = f"{path}.candidates[{j}]"
            _only(c, FIELDS["candidate"], cp)
            _req(c, "id", str, cp)
            layer = _req(c, "layer", int, cp)
            if not 0 <= layer < len(LAYERS):
                raise _fail(cp, f"layer {layer} out of range")
            _req(c, "consent", bool, cp)
            _check_ir(_req(c, "when", list, cp), f"{cp}.when", ir, (), 0)
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
            if seg is not None and not (type(seg) is int and 0 <= seg < ir.nseg):
                raise _fail(cp, "segment index out of range")
    _check_models(models, signals, sigtypes, goals, experiments, slots)
    h = p.get("holdout")
    if h is not None:
        _only(h, FIELDS["holdout"], "holdout")
        bp = _req(h, "bp", int, "holdout")
        _req(h, "salt", str, "holdout")
        if not 0 <= bp <= BUCKETS:
            raise _fail("holdout.bp", f"out of range 0..{BUCKETS}")
    consent = _req(p, "consent", dict, "")
    _only(consent, FIELDS["consent"], "consent")
    if consent.get("without", "contextual") not in ("contextual", "defaults"):
        raise _fail("consent.without", "must be 'contextual' or 'defaults'")
    req = _req(consent, "requires", list, "consent")
    for c in req:
        if c not in CATEGORIES:
            raise _fail("consent.requires", f"unknown category {c!r}")


# ---------------------------------------------------------------------- models
_MODEL_ID = re.compile(r"[a-z_][a-z0-9_]*\Z")
_HEX8 = re.compile(r"[0-9a-f]{8}\Z")
_INT_TYPES = {"int": (-(2**63), 2**63 - 1), "uint": (0, 2**64 - 1)}


def _literal_of(v: Any, t: _T) -> bool:
    """Is ``v`` a literal of the (scalar) type ``t``? ``dyn`` (None): any scalar literal."""
    if t is None:
        return type(v) in (bool, int, float, str, bytes) and (type(v) is not int or INT64_MIN <= v < 2**64)
    base = t[0]
    if base in _INT_TYPES:
        lo, hi = _INT_TYPES[base]
        return type(v) is int and lo <= v <= hi
    want = {"string": str, "bool": bool, "double": float, "bytes": bytes}.get(base)
    return want is not None and type(v) is want


def _number(v: Any, path: str, bound: float | None = None) -> float:
    if type(v) is not int and type(v) is not float or not math.isfinite(v) or type(v) is int and abs(v) >= 2**64:
        raise _fail(path, "expected a finite number")
    if bound is not None and abs(v) > bound:
        raise _fail(path, f"|{v}| is over {bound}")
    return float(v)


def _check_cross(f: dict[str, Any], path: str, earlier: list[tuple[str, int]]) -> int:
    """A cross feature: 2..MAX_CROSS_PARTS distinct indexes of earlier features that are no crosses,
    no signal; its levels are the product of theirs (at most MAX_LEVELS)."""
    if "signal" in f:
        raise _fail(f"{path}.signal", "a cross feature reads no signal (its parts do)")
    args = _req(f, "args", list, path)
    if not 2 <= len(args) <= MAX_CROSS_PARTS or any(type(a) is not int for a in args) or len(set(args)) != len(args):
        raise _fail(f"{path}.args", f"a cross combines 2..{MAX_CROSS_PARTS} distinct features, by index")
    nlevels = 1
    for a in args:
        if not 0 <= a < len(earlier) or earlier[a][0] == "cross":
            raise _fail(f"{path}.args", "a cross combines features declared before it, and no cross")
        nlevels *= earlier[a][1]
    if nlevels > MAX_LEVELS:
        raise _fail(f"{path}.args", f"a cross of {nlevels} levels, more than {MAX_LEVELS}")
    return nlevels


def _check_calibration(c: Any, path: str) -> None:
    """A set's calibration: 1..MAX_CALIBRATION_KNOTS knots [z, l], z finite and strictly ascending,
    l (a calibrated log-odds) finite with |l| <= MAX_COEFFICIENT and non-decreasing."""
    if not isinstance(c, list) or not 1 <= len(c) <= MAX_CALIBRATION_KNOTS:
        raise _fail(path, f"expected 1..{MAX_CALIBRATION_KNOTS} knots [z, l]")
    prev: tuple[float, float] | None = None
    for j, k in enumerate(c):
        if not isinstance(k, list) or len(k) != 2 or any(type(x) is bool for x in k):
            raise _fail(f"{path}[{j}]", "expected a knot [z, l] of two numbers")
        z, lo = _number(k[0], f"{path}[{j}][0]"), _number(k[1], f"{path}[{j}][1]", MAX_COEFFICIENT)
        if prev is not None and not (prev[0] < z and prev[1] <= lo):
            raise _fail(f"{path}[{j}]", "knots must be strictly ascending in z and non-decreasing in l")
        prev = (z, lo)


def _check_feature(f: Any, path: str, signals: list[Any], sigtypes: list[_T], earlier: list[tuple[str, int]] | None = None) -> int:
    """Check one feature of a model (``earlier``: the kind and number of levels of the features
    before it); return its number of levels."""
    _only(f, FIELDS["feature"], path)
    _req(f, "id", str, path)
    if f.get("kind") == "cross":
        nlevels = _check_cross(f, path, earlier or [])
        levels = _req(f, "levels", list, path)
        if len(levels) != nlevels or not all(isinstance(x, str) for x in levels) or len(set(levels)) != len(levels):
            raise _fail(f"{path}.levels", f"a cross of {nlevels} levels needs {nlevels} distinct level names")
        return nlevels
    si = _req(f, "signal", int, path)
    if not 0 <= si < len(signals):
        raise _fail(f"{path}.signal", "signal index out of range")
    kind = _req(f, "kind", str, path)
    args = _req(f, "args", list, path)
    st = sigtypes[si]
    declared = _type_str(st)
    if kind == "values":
        if st is None or st[0] not in ("string", "int", "uint", "bool"):
            raise _fail(path, f"a values feature needs a string, int, uint or bool signal, not {declared}")
        if not 1 <= len(args) <= MAX_FEATURE_ARGS:
            raise _fail(f"{path}.args", f"1..{MAX_FEATURE_ARGS} values, got {len(args)}")
        if not all(_literal_of(a, st) for a in args):
            raise _fail(f"{path}.args", f"values must be literals of the signal's type {declared}")
        if len(set(args)) != len(args):
            raise _fail(f"{path}.args", "values are not distinct")
        nlevels = len(args) + 2
    elif kind == "edges":
        if st is None or st[0] not in ("int", "uint", "double"):
            raise _fail(path, f"an edges feature needs an int, uint or double signal, not {declared}")
        if not 1 <= len(args) <= MAX_FEATURE_ARGS:
            raise _fail(f"{path}.args", f"1..{MAX_FEATURE_ARGS} edges, got {len(args)}")
        for j, a in enumerate(args):
            if type(a) is bool:
                raise _fail(f"{path}.args[{j}]", "expected a number")
            _number(a, f"{path}.args[{j}]")
        if any(not a < b for a, b in zip(args, args[1:])):
            raise _fail(f"{path}.args", "edges are not strictly ascending")
        nlevels = len(args) + 2
    elif kind == "contains":
        if st is None or st[0] not in ("list", "map"):
            raise _fail(path, f"a contains feature needs a list or map signal, not {declared}")
        if len(args) != 1 or not _literal_of(args[0], st[1]):
            raise _fail(f"{path}.args", f"contains takes one literal of the {'element' if st[0] == 'list' else 'key'} type {_type_str(st[1])}")
        nlevels = 3
    else:
        raise _fail(f"{path}.kind", f"unknown feature kind {str(kind)[:20]!r} (one of {', '.join(FEATURE_KINDS)})")
    levels = _req(f, "levels", list, path)
    if len(levels) != nlevels or nlevels > MAX_LEVELS:
        raise _fail(f"{path}.levels", f"{len(levels)} level names, a {kind} feature of {len(args)} has {nlevels}")
    if not all(isinstance(x, str) for x in levels) or len(set(levels)) != len(levels):
        raise _fail(f"{path}.levels", "level names must be distinct strings")
    return nlevels


def _check_models(models: list[Any], signals: list[Any], sigtypes: list[_T], goals: list[str], experiments: list[Any], slots: list[Any]) -> None:
    """The payload's ``models`` (docs/bundle-format.md): every limit the runtime relies on to
    evaluate a score without errors or unbounded work."""
    ids: set[str] = set()
    for i, m in enumerate(models):
        path = f"models[{i}]"
        _only(m, FIELDS["model"], path)
        mid = _req(m, "id", str, path)
        if not _MODEL_ID.match(mid) or mid in ids:
            raise _fail(f"{path}.id", f"model id {mid[:40]!r} is not a distinct lower-case identifier")
        ids.add(mid)
        goal = _req(m, "goal", str, path)
        if goal not in goals:
            raise _fail(f"{path}.goal", f"goal {goal[:40]!r} is not one of the bundle's goals")
        for k in ("spec", "fit"):
            if not _HEX8.match(_req(m, k, str, path)):
                raise _fail(f"{path}.{k}", "expected 8 lower-case hex digits")
        features = _req(m, "features", list, path)
        if len(features) > MAX_FEATURES:
            raise _fail(f"{path}.features", f"{len(features)} features, more than {MAX_FEATURES}")
        earlier: list[tuple[str, int]] = []
        for j, f in enumerate(features):
            earlier.append((f["kind"], _check_feature(f, f"{path}.features[{j}]", signals, sigtypes, earlier)))
        nlevels = [n for _, n in earlier]
        if len({f["id"] for f in features}) != len(features):
            raise _fail(f"{path}.features", "feature ids are not distinct")
        uplift = m.get("uplift")
        if uplift is not None:
            _check_uplift(uplift, f"{path}.uplift", experiments, slots)
        sets = _req(m, "sets", list, path)
        if len(sets) != (1 if uplift is None else 2):
            raise _fail(f"{path}.sets", f"a{'n uplift' if uplift is not None else ' plain'} model has {1 if uplift is None else 2} coefficient set(s), got {len(sets)}")
        for j, st in enumerate(sets):
            sp = f"{path}.sets[{j}]"
            _only(st, FIELDS["set"], sp)
            if "bias" not in st:
                raise _fail(sp, "missing field 'bias'")
            _number(st["bias"], f"{sp}.bias", MAX_COEFFICIENT)
            weights = _req(st, "weights", list, sp)
            if len(weights) != len(features):
                raise _fail(f"{sp}.weights", f"{len(weights)} weight lists for {len(features)} features")
            for fi, (ws, n) in enumerate(zip(weights, nlevels)):
                if not isinstance(ws, list) or len(ws) != n:
                    raise _fail(f"{sp}.weights[{fi}]", f"expected {n} weights, one per level")
                for li, w in enumerate(ws):
                    if type(w) is bool:
                        raise _fail(f"{sp}.weights[{fi}][{li}]", "expected a finite number")
                    _number(w, f"{sp}.weights[{fi}][{li}]", MAX_COEFFICIENT)
            if st.get("calibration") is not None:
                _check_calibration(st["calibration"], f"{sp}.calibration")


def _check_uplift(u: Any, path: str, experiments: list[Any], slots: list[Any]) -> None:
    if isinstance(u, dict) and "experiment" in u:
        _only(u, FIELDS["uplift_experiment"], path)
        ei = _req(u, "experiment", int, path)
        if not 0 <= ei < len(experiments):
            raise _fail(f"{path}.experiment", "experiment index out of range")
        variants = [v[0] for v in experiments[ei]["variants"]]
        t, c = _req(u, "treatment", str, path), _req(u, "control", str, path)
        if t not in variants or c not in variants or t == c:
            raise _fail(path, "treatment and control must be two different variants of the experiment")
        return
    _only(u, FIELDS["uplift_rule"], path)
    sid, rid = _req(u, "slot", str, path), _req(u, "rule", str, path)
    for sl in slots:
        if sl["id"] == sid:
            if any(c["id"] == rid and c.get("content") is not None for c in sl["candidates"]):
                return
            break
    raise _fail(path, f"no rule {rid[:40]!r} in slot {sid[:40]!r}")


# ---------------------------------------------------------------------- static types of IR nodes
#: A type as the validator tracks it: a tuple (base, params...) such as ("list", ("string",)),
#: or None when only known as dyn (then nothing is assumed about it).
_T = Any
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_STRING = ("string",)


def _parse_type(text: str, records: dict[str, Any], depth: int = 0) -> _T:
    """'list(map(string, int))' -> ('list', ('map', ('string',), ('int',))); 'dyn' (or a type
    parameter name) -> None. Raises ValueError when malformed."""
    t = text.strip()
    if depth > 16 or len(t) > 512:
        raise ValueError("type nested too deeply")
    if t == "dyn":
        return None
    if t in TYPE_NAMES or t in records:
        if t in ("list", "map"):
            return (t, None) if t == "list" else (t, None, None)
        return (t,)
    if t.startswith("list(") and t.endswith(")"):
        args = split_args(t[5:-1])
        if len(args) != 1:
            raise ValueError(f"list takes one type: {t[:40]}")
        return ("list", _parse_type(args[0], records, depth + 1))
    if t.startswith("map(") and t.endswith(")"):
        args = split_args(t[4:-1])
        if len(args) != 2:
            raise ValueError(f"map takes two types: {t[:40]}")
        return ("map", _parse_type(args[0], records, depth + 1), _parse_type(args[1], records, depth + 1))
    if _IDENT.match(t):
        return None  # a type parameter of a generic overload (e.g. the A of list(A)): any type
    raise ValueError(f"malformed type {t[:40]!r}")


def _compatible(declared: _T, actual: _T) -> bool:
    if declared is None or actual is None:
        return True
    if declared[0] != actual[0] or len(declared) != len(actual):
        return False
    return all(_compatible(d, a) for d, a in zip(declared[1:], actual[1:]))


def _type_str(t: _T) -> str:
    if t is None:
        return "dyn"
    if t[0] == "list":
        return f"list({_type_str(t[1])})"
    if t[0] == "map":
        return f"map({_type_str(t[1])}, {_type_str(t[2])})"
    return str(t[0])


def _lit_type(v: Any) -> _T:
    if v is None:
        return ("null_type",)
    if type(v) is bool:
        return ("bool",)
    if type(v) is int:
        return ("int",)
    if type(v) is float:
        return ("double",)
    if type(v) is str:
        return _STRING
    return ("bytes",)


def _join(types: list[_T]) -> _T:
    """The one type of all ``types`` when they agree and are all known, else None."""
    if not types or any(t is None for t in types):
        return None
    first = types[0]
    return first if all(t == first for t in types) else None


class _IRContext:
    """What the IR checker needs from the rest of the payload, and the node count so far."""

    def __init__(self, signal_types: list[_T], records: dict[str, dict[str, _T]]):
        self.signal_types = signal_types
        self.records = records
        self.nseg = 0
        self.nmodels = 0
        self.nodes = 0
        self._overloads: dict[str, list[_T]] = {}  # a bundle repeats a few overload strings many times

    def declared(self, overload: str) -> list[_T]:
        """The argument types an overload string declares; ValueError when one is malformed."""
        types = self._overloads.get(overload)
        if types is None:
            types = self._overloads[overload] = [_parse_type(t, self.records) for t in split_args(overload)]
        return types


def _static(node: list[Any], ir: _IRContext, vars: tuple[_T, ...]) -> _T:
    """The type of an already checked node when the IR proves it, else None."""
    op = node[0]
    if op == Op.LIT:
        return _lit_type(node[1])
    if op == Op.ULIT:
        return ("uint",)
    if op == Op.SIG:
        return ir.signal_types[node[1]]
    if op in (Op.SEG, Op.HAS, Op.SIGHAS, Op.AND, Op.OR, Op.NOT):
        return ("bool",)
    if op == Op.SCORE:
        return ("double",)
    if op == Op.TYPE:
        return ("type",)
    if op == Op.VAR:
        return vars[-1 - node[1]]
    if op == Op.SEL:
        return _member(_static(node[1], ir, vars), node[2], ir)
    if op == Op.COND:
        return _join([_static(node[2], ir, vars), _static(node[3], ir, vars)])
    if op == Op.LIST:
        return ("list", _join([_static(a, ir, vars) for a in node[1:]]))
    if op == Op.MAP:
        return ("map", _join([_static(a, ir, vars) for a in node[1::2]]), _join([_static(a, ir, vars) for a in node[2::2]]))
    if op in (Op.COMP, Op.COMP2):
        if node[1] in ("all", "exists", "exists_one"):
            return ("bool",)
        return ("map", None, None) if node[1] == "transformMap" else ("list", None)
    if op == Op.CALL:
        name, ov = node[1], node[2]
        res = result_type(name, ov)  # the catalogue's result for this overload (checked before: _check_call)
        if res is not None:
            return _parse_type(res, ir.records)
        if name == "_[_]" and len(node) == 5:
            c = _static(node[3], ir, vars)
            if c is not None and c[0] in ("list", "map"):
                return c[1] if c[0] == "list" else c[2]
    return None


def _member(container: _T, field: str, ir: _IRContext) -> _T:
    if container is None:
        return None
    if container[0] == "map":
        return container[2]
    fields = ir.records.get(container[0])
    return fields.get(field) if fields is not None else None


def _range_vars(rng: _T, two: bool) -> tuple[_T, ...]:
    """The comprehension variables' types over a range of type ``rng``."""
    if rng is None or rng[0] not in ("list", "map"):
        return (None, None) if two else (None,)
    if rng[0] == "list":
        return (("int",), rng[1]) if two else (rng[1],)
    return (rng[1], rng[2]) if two else (rng[1],)


def _check_ir(node: Any, path: str, ir: _IRContext, vars: tuple[_T, ...], depth: int) -> None:
    if depth > MAX_NESTING:
        raise _fail(path, f"IR nested deeper than {MAX_NESTING}")
    if not isinstance(node, list) or not node or type(node[0]) is not int:
        raise _fail(path, "IR node must be a non-empty array starting with an opcode")
    ir.nodes += 1
    if ir.nodes > MAX_IR_NODES:
        raise _fail(path, f"more than {MAX_IR_NODES} IR nodes in the bundle")
    op = node[0]
    if op not in ARITY:
        raise _fail(path, f"unknown opcode {op}")
    arity = ARITY[op]
    n = len(node) - 1
    if isinstance(arity, int) and n != arity or isinstance(arity, tuple) and n not in arity:
        raise _fail(path, f"opcode {op} takes {arity} operands, got {n}")
    sub = depth + 1
    if op == Op.LIT:
        v = node[1]
        if not isinstance(v, _LIT_TYPES):
            raise _fail(path, f"literal of type {type(v).__name__}")
        if type(v) is int and not INT64_MIN <= v <= INT64_MAX:
            raise _fail(path, "int literal outside the 64-bit range")
        if isinstance(v, (str, bytes)) and len(v) > MAX_LITERAL_BYTES:
            raise _fail(path, f"literal of {len(v)} characters, over {MAX_LITERAL_BYTES}")
    elif op == Op.ULIT:
        if type(node[1]) is not int or not 0 <= node[1] < 2**64:
            raise _fail(path, "uint literal out of range")
    elif op == Op.TYPE:
        if not isinstance(node[1], str) or node[1] not in TYPE_NAMES:
            raise _fail(path, f"unknown type {node[1]!r}")
    elif op in (Op.SIG, Op.SIGHAS):
        if type(node[1]) is not int or not 0 <= node[1] < len(ir.signal_types):
            raise _fail(path, "signal index out of range")
    elif op == Op.SEG:
        if type(node[1]) is not int or not 0 <= node[1] < ir.nseg:
            raise _fail(path, "segment index out of range (segments may only use earlier segments)")
    elif op == Op.SCORE:
        if type(node[1]) is not int or not 0 <= node[1] < ir.nmodels:
            raise _fail(path, "model index out of range")
    elif op == Op.VAR:
        if type(node[1]) is not int or not 0 <= node[1] < len(vars):
            raise _fail(path, "comprehension variable out of scope")
    elif op in (Op.SEL, Op.HAS):
        if not isinstance(node[2], str):
            raise _fail(path, "field name must be a string")
        _check_ir(node[1], path, ir, vars, sub)
    elif op == Op.CALL:
        if n < 2 or not isinstance(node[1], str) or node[1] not in FUNCTIONS:
            raise _fail(path, f"unknown function {str(node[1])[:40]!r}" if n >= 2 else "CALL needs a name and overload")
        if node[2] is not None and not isinstance(node[2], str):
            raise _fail(path, "overload must be a string or nil")
        for a in node[3:]:
            _check_ir(a, path, ir, vars, sub)
        _check_call(node, path, ir, vars)
    elif op in (Op.COMP, Op.COMP2):
        if not isinstance(node[1], str) or node[1] not in COMPREHENSIONS:
            raise _fail(path, f"unknown comprehension {node[1]!r}")
        _check_ir(node[2], path, ir, vars, sub)
        inner = vars + _range_vars(_static(node[2], ir, vars), op == Op.COMP2)
        for a in node[3:]:
            _check_ir(a, path, ir, inner, sub)
    elif op == Op.MAP:
        if n % 2:
            raise _fail(path, "map needs key/value pairs")
        if n > 2 * MAX_LITERAL_ITEMS:
            raise _fail(path, f"map literal of more than {MAX_LITERAL_ITEMS} entries")
        for a in node[1:]:
            _check_ir(a, path, ir, vars, sub)
    else:  # AND OR NOT COND LIST
        if n > MAX_LITERAL_ITEMS:
            raise _fail(path, f"list literal of more than {MAX_LITERAL_ITEMS} items")
        for a in node[1:]:
            _check_ir(a, path, ir, vars, sub)


def _check_matches(node: list[Any], path: str) -> None:
    """``matches`` takes a target and a literal pattern that RE2 accepts (runtime/regex.py): a
    pattern computed at run time, or one RE2 refuses, could not have come from the compiler."""
    if len(node) != 5:
        raise _fail(path, "matches takes a string and a pattern")
    pat = node[4]
    if not (isinstance(pat, list) and len(pat) == 2 and pat[0] == Op.LIT and isinstance(pat[1], str)):
        raise _fail(path, "the pattern of matches must be a string literal")
    err = regex_error(pat[1])
    if err is not None:
        raise _fail(path, f"invalid regular expression {pat[1][:80]!r}: {err}")


def _check_call(node: list[Any], path: str, ir: _IRContext, vars: tuple[_T, ...]) -> None:
    """A CALL whose operands are valid: the argument count fits the function, and a declared
    overload has one well-formed type per argument, each matching what the IR proves about it."""
    name, ov, args = node[1], node[2], node[3:]
    if name == "matches":
        _check_matches(node, path)
    least, most = arity(name)
    if len(args) < least or most is not None and len(args) > most:
        raise _fail(path, f"{name} takes {least}{'' if most == least else '..' + (str(most) if most is not None else '')} arguments, got {len(args)}")
    if ov is None:
        return  # dispatched on run-time types
    if len(ov) > MAX_OVERLOAD_LENGTH:
        raise _fail(path, "overload string too long")
    if not accepts(name, ov, len(args)):
        raise _fail(path, f"{name} has no overload ({ov[:60]}) for {len(args)} argument(s) (docs/cel-functions.md)")
    try:
        declared = ir.declared(ov)
    except ValueError as e:
        raise _fail(path, f"overload {ov[:60]!r} of {name}: {e}") from None
    if len(declared) != len(args):
        raise _fail(path, f"overload {ov[:60]!r} of {name} declares {len(declared)} argument types for {len(args)} arguments")
    for i, (want, arg) in enumerate(zip(declared, args)):
        if not _conforms(want, arg, ir, vars):
            got = _type_str(_static(arg, ir, vars))
            raise _fail(path, f"overload {ov[:60]!r} of {name}: argument {i + 1} is {got}, not {_type_str(want)}")


def _conforms(want: _T, node: list[Any], ir: _IRContext, vars: tuple[_T, ...]) -> bool:
    """Does ``node`` match the declared type ``want``? List and map literals are checked item by
    item (a literal [1, true] is not a list(int), even though its joined type is unknown)."""
    if want is None:
        return True
    op = node[0]
    if op == Op.LIST and want[0] == "list":
        return all(_conforms(want[1], a, ir, vars) for a in node[1:])
    if op == Op.MAP and want[0] == "map":
        return all(_conforms(want[1], k, ir, vars) and _conforms(want[2], v, ir, vars) for k, v in zip(node[1::2], node[2::2]))
    return _compatible(want, _static(node, ir, vars))
