"""Scores: the models of a bundle (docs/models.md), planned once, evaluated per decision.

A model is a logistic model over a few *features* of the decision's signals. Each feature maps the
signal map ``s`` (defaults merged, consent-stripped: exactly what conditions read) to one of its
*levels* (an index; the names are in the bundle), and the score is
``sigmoid(bias + weight[level of f1] + weight[level of f2] + ...)`` (an uplift model: the
difference of two such sigmoids, treatment minus control). The level rules (docs/models.md,
"Scores at decision time"):

- ``values``: the index of the first declared value equal to the signal's value *and of the same
  CEL type* (bool is not int; int, uint and double differ); none: ``(other)``;
- ``edges``: the number of edges ``e <= v`` (NaN, or a value that is not a number: 0);
- ``contains``: a list holding the literal (same CEL type), or a map with it as a key: ``yes``;
  else ``no``;
- a signal not in ``s``: ``(absent)``, the last level.

Everything that can be resolved once per bundle is (a dict per ``values`` feature, the edges as a
sorted list for ``bisect``, the Python types that count as the feature's CEL type), so a score is
one pass over the features. :func:`sigmoid` uses only ``+ - * /`` and ``floor``, so the JavaScript
runtime computes the same bits (tests/vectors/scores.json).
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .format import SCORE_BUCKETS, UPLIFT_BUCKETS
from .values import UInt

__all__ = ["ABSENT", "Feature", "Model", "SCORE_KEYS", "bucket_name", "build_models", "calibration", "calibration_tag", "score_bucket", "sigmoid", "uplift_bucket", "uplift_bucket_name"]

#: The decision memo (``decide.py``) keeps model ``i``'s score under ``SCORE_KEYS + i``: far below
#: the segment keys (``i`` and ``~i`` for segment ``i``, never 2**40 segments) and the budget's
#: counts (``budget.COUNT`` and up), so the three can never collide.
SCORE_KEYS = -(1 << 41)

#: The sentinel a lookup returns for a signal not in the map (``None`` is a value a signal may hold).
ABSENT: Any = object()

_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_LOG2E = 1.4426950408889634


def _inverse_factorials() -> tuple[float, ...]:
    c, out = 1.0, [1.0]
    for n in range(1, 14):
        c = c / n  # each by one division, as the JavaScript runtime does
        out.append(c)
    return tuple(out)


_C = _inverse_factorials()
_ldexp = math.ldexp
_floor = math.floor


def sigmoid(z: float) -> float:
    """``1 / (1 + e**-z)`` from ``+ - * /`` and ``floor`` only, so that Python and JavaScript agree
    bit for bit (``math.exp`` is not specified to the last bit, and differs between platforms).

    ``e**x`` is ``2**k * e**r`` with ``k = round(x / ln 2)`` and ``|r| <= ln(2) / 2``; ``e**r`` is
    its Taylor polynomial of degree 13 (error below 1e-16 on that interval), evaluated by Horner's
    rule (written out: the same operations in the same order as the loop of docs/models.md); the
    ``2**k`` is exact (``ldexp``, the same as ``|k|`` doublings or halvings: ``e**r`` is in
    [0.7, 1.42] and ``|k| <= 52``, so no step leaves the normal range). ``z`` is clamped to
    [-36, 36] (the sigmoid is 1 - 2.3e-16 there).

    >>> sigmoid(0.0)
    0.5
    """
    if z > 36.0:
        z = 36.0
    elif z < -36.0:
        z = -36.0
    x = -z
    k = _floor(x * 1.4426950408889634 + 0.5)  # _LOG2E; the constants are literals here for speed
    r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10  # _LN2_HI, _LN2_LO
    # C[13] .. C[0] (1/n!, asserted equal to _C below)
    p = ((((((((((((1.6059043836821616e-10 * r + 2.08767569878681e-09) * r + 2.505210838544172e-08) * r + 2.7557319223985894e-07) * r
                 + 2.7557319223985893e-06) * r + 2.48015873015873e-05) * r + 0.0001984126984126984) * r + 0.001388888888888889) * r
             + 0.008333333333333333) * r + 0.041666666666666664) * r + 0.16666666666666666) * r + 0.5) * r + 1.0) * r + 1.0
    return 1.0 / (1.0 + _ldexp(p, k))


assert _C == (1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333, 0.001388888888888889, 0.0001984126984126984,
              2.48015873015873e-05, 2.7557319223985893e-06, 2.7557319223985894e-07, 2.505210838544172e-08, 2.08767569878681e-09,
              1.6059043836821616e-10)


def sigmoid_reference(z: float) -> float:
    """The sigmoid exactly as docs/models.md writes it (loops): the test of :func:`sigmoid`."""
    z = min(max(z, -36.0), 36.0)
    x = -z
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _C[13]
    for n in range(12, -1, -1):
        p = p * r + _C[n]
    for _ in range(k):
        p = p * 2.0
    for _ in range(-k):
        p = p * 0.5
    return 1.0 / (1.0 + p)


_B_LOW, _B_PER_UNIT, _B_COUNT, _B_FIRST, _B_LEGACY = SCORE_BUCKETS  # low, per_unit, buckets, first, legacy


def score_bucket(z: float) -> int:
    """The counting bucket of a log-odds ``z`` as a cookie stores it (docs/models.md, "Counting"):
    ``first + floor((z - low) * per_unit)``, clamped to the ``buckets``; the same IEEE
    operations as the JavaScript runtime, so the same bucket."""
    i = math.floor((z - _B_LOW) * _B_PER_UNIT)
    return _B_FIRST + (0 if i < 0 else _B_COUNT - 1 if i >= _B_COUNT else i)


def bucket_name(b: int) -> str | None:
    """The level name of a stored bucket: its lower bound in log-odds with three decimals (exact:
    multiples of 1/per_unit), ``None`` for a legacy index (an old 0.05-wide bucket of the score,
    counted nowhere any more) or one out of range.

    >>> bucket_name(score_bucket(-100.0)), bucket_name(score_bucket(0.0)), bucket_name(score_bucket(-2.3)), bucket_name(3)
    ('-8.000', '0.000', '-2.375', None)
    """
    i = b - _B_FIRST
    if not 0 <= i < _B_COUNT:
        return None
    return f"{_B_LOW + i / _B_PER_UNIT:.3f}"


def bucket_names() -> tuple[str, ...]:
    """Every bucket's name, lowest first."""
    return tuple(f"{_B_LOW + i / _B_PER_UNIT:.3f}" for i in range(_B_COUNT))


def bucket_range(name: str) -> tuple[float, float]:
    """The log-odds interval ``[lo, hi)`` a bucket name stands for (the first and the last bucket
    also hold everything below and above)."""
    lo = float(name)
    return lo, lo + 1.0 / _B_PER_UNIT


_U_LOW, _U_PER_UNIT, _U_COUNT, _U_FIRST = UPLIFT_BUCKETS  # low, per_unit, buckets, first


def uplift_bucket(u: float) -> int:
    """The counting bucket of an uplift score ``u`` (the calibrated uplift ``score_of`` returns) as a
    cookie stores it (docs/models.md, "Thresholds of an uplift score"): ``first + floor((u - low) *
    per_unit)``, clamped to the ``buckets``; the same IEEE operations as the JavaScript runtime."""
    i = math.floor((u - _U_LOW) * _U_PER_UNIT)
    return _U_FIRST + (0 if i < 0 else _U_COUNT - 1 if i >= _U_COUNT else i)


def uplift_bucket_name(b: int) -> str | None:
    """The level name of a stored uplift bucket: its lower bound with two decimals, ``None`` for 0
    (no uplift bucket: an entry written before them) or an index out of range.

    >>> uplift_bucket_name(uplift_bucket(-2.0)), uplift_bucket_name(uplift_bucket(0.055)), uplift_bucket_name(uplift_bucket(-0.001))
    ('-0.50', '0.05', '-0.01')
    """
    i = b - _U_FIRST
    if not 0 <= i < _U_COUNT:
        return None
    return f"{_U_LOW + i / _U_PER_UNIT:.2f}"


def uplift_bucket_range(name: str) -> tuple[float, float]:
    """The uplift interval ``[lo, hi)`` a bucket name stands for (the first and the last bucket also
    hold everything below and above)."""
    lo = float(name)
    return lo, lo + 1.0 / _U_PER_UNIT


def calibration_tag(calibrations: Sequence[Sequence[Sequence[float]] | None]) -> int:
    """A 16-bit tag of a model's calibrations (one knot list or None per set), 0 when no set is
    calibrated: FNV-1a (32-bit) over, per set, a byte 0 (none) or 1 followed by each knot's ``z`` and
    ``l`` as little-endian IEEE doubles, folded to 16 bits (``hi ^ lo``; 1 if that is 0). It tells
    the uplift rows of one fit's calibrations apart (model_counts.py: a recalibration keeps the fit
    but changes every uplift score); the JavaScript runtime's ``calibrationTag`` is the same."""
    if not any(calibrations):
        return 0
    h = 0x811C9DC5
    for knots in calibrations:
        data = b"\x01" + b"".join(struct.pack("<dd", float(k[0]), float(k[1])) for k in knots) if knots else b"\x00"
        for byte in data:
            h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return ((h >> 16) ^ (h & 0xFFFF)) or 1


def uplift_label(fit: str, tag: int) -> str:
    """The ``spec`` label of an uplift model's ``@uplift`` rows: its fit, and the calibration tag
    (:func:`calibration_tag`) when the sets are calibrated (``"1a2b3c4d~0f3e"``)."""
    return f"{fit}~{tag:04x}" if tag else fit


def calibration(knots: Sequence[Sequence[float]]) -> Callable[[float], float]:
    """The calibration map of validated knots ``[[z, l], ...]`` (z strictly ascending, l a
    calibrated log-odds, non-decreasing): ``l`` interpolated linearly in ``z`` between knots, the
    first or last ``l`` beyond them (the score is then ``sigmoid(l + the crosses' weights)``). The slopes are divided once, here; a score is one ``bisect``, one
    subtraction, multiplication and addition and a ``min`` (never past the next knot), the same
    operations as the JavaScript runtime's ``calibration``."""
    zs = [float(k[0]) for k in knots]
    ps = [float(k[1]) for k in knots]
    n = len(zs)
    slopes = [(ps[j + 1] - ps[j]) / (zs[j + 1] - zs[j]) for j in range(n - 1)]
    z_lo, z_hi, p_lo, p_hi = zs[0], zs[-1], ps[0], ps[-1]

    def calibrated(z: float) -> float:
        if z <= z_lo:
            return p_lo
        if z >= z_hi:
            return p_hi
        j = bisect_right(zs, z) - 1
        p = ps[j] + (z - zs[j]) * slopes[j]
        q = ps[j + 1]
        return p if p < q else q

    return calibrated


#: Python types of a value whose declared CEL type is the key (a uint signal may hold plain ints:
#: ``signals.make_checker`` accepts both).
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "int": (int,), "uint": (int, UInt), "bool": (bool,), "double": (float,), "bytes": (bytes,),
}


def _py_types(declared: str | None, literal: Any) -> tuple[type, ...]:
    """The Python types that count as the CEL type of a feature's literal: the declared type of the
    signal (or of its elements or keys); for ``dyn``, the literal's own type."""
    if declared is not None and declared in _PY_TYPES:
        return _PY_TYPES[declared]
    return (type(literal),)


Level = Callable[[Mapping[str, Any]], int]


def _values_level(name: str, args: Sequence[Any], types: tuple[type, ...]) -> Level:
    n = len(args)
    index: dict[Any, int] = {}
    for i, a in enumerate(args):
        index.setdefault(a, i)
    if types == (str,):
        # Only a str equals a str: one dict lookup, the absent sentinel included.
        table: dict[Any, int] = dict(index)
        table[ABSENT] = n + 1

        def level_str(s: Mapping[str, Any]) -> int:
            try:
                return table.get(s.get(name, ABSENT), n)
            except TypeError:  # an unhashable value where a string is declared (unchecked input)
                return n

        return level_str

    def level(s: Mapping[str, Any]) -> int:
        v = s.get(name, ABSENT)
        if v is ABSENT:
            return n + 1
        if type(v) not in types:  # True == 1 in Python, not in CEL
            return n
        return index.get(v, n)

    return level


def _edges_level(name: str, args: Sequence[Any]) -> Level:
    edges = list(args)
    absent = len(edges) + 1

    def level(s: Mapping[str, Any]) -> int:
        v = s.get(name, ABSENT)
        if v is ABSENT:
            return absent
        t = type(v)
        if t is not int and t is not float and t is not UInt or v != v:  # not a number, or NaN
            return 0
        return bisect_right(edges, v)

    return level


def _contains_level(name: str, literal: Any, types: tuple[type, ...]) -> Level:
    exact = types == (str,)  # a str is only ever equal to a str

    def level(s: Mapping[str, Any]) -> int:
        v = s.get(name, ABSENT)
        if v is ABSENT:
            return 2
        t = type(v)
        if t is list or t is tuple:
            if exact:
                return 1 if literal in v else 0
            for e in v:
                if type(e) in types and e == literal:
                    return 1
            return 0
        if t is dict:
            if literal not in v:
                return 0
            if exact:
                return 1
            return 1 if any(type(k) in types and k == literal for k in v) else 0
        return 0

    return level


def _element_type(declared: str, kind: str) -> str | None:
    """'list(string)' -> 'string'; 'map(int, bool)' -> 'int' (the key); else the type itself."""
    if kind != "contains":
        return declared.strip()
    t = declared.strip()
    inner = t[t.index("(") + 1 : -1] if "(" in t else ""
    depth = 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            return inner[:i].strip()
    return inner.strip() or None


class Feature:
    """One feature of a model: its signal, kind, literals and level names, and ``level(s)``."""

    __slots__ = ("id", "signal", "kind", "args", "levels", "level", "types", "strides")

    def __init__(self, raw: Mapping[str, Any], signal_name: str, signal_type: str):
        self.strides: tuple[int, ...] = ()
        self.id: str = raw["id"]
        self.signal = signal_name
        self.kind: str = raw["kind"]
        self.args: tuple[Any, ...] = tuple(raw["args"])
        self.levels: tuple[str, ...] = tuple(raw["levels"])
        elem = _element_type(signal_type, self.kind)
        #: the Python types of a value (values) or element/key (contains) of the literals' CEL type
        self.types: tuple[type, ...] = _py_types(elem, self.args[0] if self.args else None)
        if self.kind == "values":
            self.level = _values_level(signal_name, self.args, self.types)
        elif self.kind == "edges":
            self.level = _edges_level(signal_name, self.args)
        else:
            self.level = _contains_level(signal_name, self.args[0], self.types)


def cross_feature(raw: Mapping[str, Any], earlier: Sequence[Feature]) -> Feature:
    """A cross (docs/models.md, "Crosses"): its level is the mixed-radix number of its parts'
    levels, the first part most significant — ``(l0 * n1 + l1) * n2 + l2`` for parts of ``n0, n1,
    n2`` levels — so its level names are the parts' combinations in ``itertools.product`` order."""
    f = Feature.__new__(Feature)
    f.id, f.signal, f.kind, f.types = raw["id"], "", "cross", ()
    f.args = tuple(int(a) for a in raw["args"])
    f.levels = tuple(raw["levels"])
    parts = [earlier[a] for a in f.args]
    strides, m = [], 1
    for p in reversed(parts):
        strides.append(m)
        m *= len(p.levels)
    f.strides = tuple(reversed(strides))
    pairs = tuple((p.level, st) for p, st in zip(parts, f.strides))

    def level(s: Mapping[str, Any]) -> int:
        i = 0
        for lv, st in pairs:
            i += lv(s) * st
        return i

    f.level = level
    return f


class Model:
    """A model of a bundle: ``levels(s)`` (one byte per feature), ``score_of(levels)`` and
    ``score(s)`` (the same as ``score_of(levels(s))``, without building the bytes)."""

    __slots__ = ("index", "id", "goal", "spec", "fit", "uplift", "features", "sets", "calibrations", "calibration_tag", "crosses", "_levels",
                 "score", "levels")

    def __init__(self, index: int, raw: Mapping[str, Any], signal_names: Sequence[str], signal_types: Sequence[str]):
        self.index = index
        self.id: str = raw["id"]
        self.goal: str = raw["goal"]
        self.spec: str = raw["spec"]
        self.fit: str = raw["fit"]
        self.uplift: dict[str, Any] | None = raw.get("uplift")
        features: list[Feature] = []
        for f in raw["features"]:
            features.append(cross_feature(f, features) if f["kind"] == "cross"
                            else Feature(f, signal_names[f["signal"]], signal_types[f["signal"]]))
        self.features: tuple[Feature, ...] = tuple(features)
        #: (bias, weights per feature per level) per set: one set, or treatment then control
        self.sets: tuple[tuple[float, tuple[tuple[float, ...], ...]], ...] = tuple(
            (float(st["bias"]), tuple(tuple(float(w) for w in ws) for ws in st["weights"])) for st in raw["sets"]
        )
        #: per set, its calibration (knots shipped in the bundle, fitted by strata train from the
        #: live counters: the log-odds without the crosses -> a calibrated log-odds), else None
        self.calibrations: tuple[Callable[[float], float] | None, ...] = tuple(
            calibration(st["calibration"]) if st.get("calibration") else None for st in raw["sets"]
        )
        #: the tag of the calibrations (0: none), labelling the uplift rows (:func:`calibration_tag`)
        self.calibration_tag: int = calibration_tag([st.get("calibration") for st in raw["sets"]])
        #: the indexes of the cross features: their weights are added after the calibration
        self.crosses: tuple[int, ...] = tuple(i for i, f in enumerate(self.features) if f.kind == "cross")
        self._levels = tuple(f.level for f in self.features)
        #: ``score(s)``: the score for the signal map ``s``, the same as ``score_of(levels(s))``
        #: without building the levels (a function generated for this model, :func:`_compile`)
        self.score: Callable[[Mapping[str, Any]], float] = _compile(self)
        #: ``levels(s)``: the level index of each feature for the signal map ``s``, one byte each; the
        #: same bytes as ``levels_slow(s)`` (a function generated for this model, :func:`_compile_levels`)
        self.levels: Callable[[Mapping[str, Any]], bytes] = _compile_levels(self)

    def levels_slow(self, s: Mapping[str, Any]) -> bytes:
        """The level index of each feature for the signal map ``s``, one byte each: each feature's own
        ``level`` function (what the generated ``levels`` falls back to, and is tested against)."""
        return bytes([lv(s) for lv in self._levels])

    def z_of(self, levels: bytes | Sequence[int], arm: int = 0) -> float:
        """The log-odds of set ``arm`` (0: the plain model or the treatment, 1: the control) at a
        level vector **without the crosses**: bias + the weights of the other features, left to
        right in feature order (the same rounding in every runtime). What the score buckets count
        and what a calibration maps."""
        bias, weights = self.sets[arm]
        crosses = self.crosses
        z = bias
        for i, (w, lv) in enumerate(zip(weights, levels)):
            if i not in crosses:
                z = z + w[lv]
        return z

    def cross_of(self, levels: bytes | Sequence[int], arm: int = 0) -> float:
        """The crosses' weights of set ``arm`` at a level vector, left to right from 0.0."""
        weights = self.sets[arm][1]
        c = 0.0
        for i in self.crosses:
            c = c + weights[i][levels[i]]
        return c

    def p_of(self, levels: bytes | Sequence[int], arm: int = 0) -> float:
        """Set ``arm``'s probability: ``sigmoid(l + c)`` with ``l`` the calibration of ``z_of`` (or
        ``z_of`` itself) and ``c`` the crosses' weights (added only when the model has crosses)."""
        cal = self.calibrations[arm]
        z = self.z_of(levels, arm)
        if cal is not None:
            z = cal(z)
        if self.crosses:
            z = z + self.cross_of(levels, arm)
        return sigmoid(z)

    def score_of(self, levels: bytes | Sequence[int]) -> float:
        """The score of a level vector: the set's probability, or for an uplift model the
        treatment's minus the control's."""
        if len(self.sets) == 1:
            return self.p_of(levels)
        return self.p_of(levels, 0) - self.p_of(levels, 1)

    def score_slow(self, s: Mapping[str, Any]) -> float:
        """``score_of(levels(s))``: what the generated ``score`` falls back to, and is tested against."""
        return self.score_of(self.levels(s))


#: How the generated code names the Python types a feature's values may have.
_TYPE_NAMES = {str: "str", int: "int", UInt: "UInt", bool: "bool", float: "float", bytes: "bytes"}


def _compile(model: Model) -> Callable[[Mapping[str, Any]], float]:
    """One straight-line function computing ``model``'s score: per feature the level index inline
    (a dict lookup, a ``bisect``, a membership test) and ``z = z + weight[level]``, in feature
    order, then the sigmoid(s) - the same operations as ``score_of(levels(s))``, so the same bits.

    As in ``codegen.py``, no bundle string becomes source text: every constant is a parameter of
    the factory. Signals are read as ``s[name]``: at the edge, defaults fill nearly every signal,
    and an absent one (``KeyError``) or an unhashable value in an unchecked map (``TypeError``)
    takes the slow path for the whole score. A non-string ``contains`` literal, or a tuple, calls
    the feature's own ``level`` function."""
    consts: list[Any] = []

    def k(v: Any) -> str:
        consts.append(v)
        return f"_k{len(consts) - 1}"

    nsets = len(model.sets)
    #: features some cross reads: their level index is kept in ``l<i>``
    parts = {a for f in model.features if f.kind == "cross" for a in f.args}
    body = [f"z{j} = {k(bias)}" for j, (bias, _) in enumerate(model.sets)]
    if model.crosses:  # the crosses' weights sum apart, from 0.0 (added after the calibration)
        body += [f"c{j} = 0.0" for j in range(nsets)]
    for fi, f in enumerate(model.features):
        if f.kind == "cross":
            body.append("i = " + " + ".join(f"l{a} * {int(st)}" for a, st in zip(f.args, f.strides)))
            for j, (_, weights) in enumerate(model.sets):
                body.append(f"c{j} = c{j} + {k(weights[fi])}[i]")
            continue
        name, n = k(f.signal), len(f.args)
        level = k(f.level)  # the exact level function, for the cases the inline code leaves to it
        # a test that v has the feature's type (its Python type names written here, not the bundle's)
        is_type = " or ".join(f"type(v) is {_TYPE_NAMES[t]}" for t in f.types)
        direct = nsets == 1 and fi not in parts  # the weight straight from the value, no index
        if f.kind == "values":
            table: dict[Any, int] = {}
            for i, a in enumerate(f.args):
                table.setdefault(a, i)
            if direct:  # value -> its weight directly: one lookup, no index
                ws = model.sets[0][1][fi]
                weight_of, other = k({v: ws[i] for v, i in table.items()}), k(ws[n])
                if f.types == (str,):
                    body.append(f"z0 = z0 + {weight_of}.get(s[{name}], {other})")
                else:
                    body.append(f"v = s[{name}]")
                    body.append(f"z0 = z0 + ({weight_of}.get(v, {other}) if {is_type} else {other})")
                continue
            body.append(f"v = s[{name}]")
            body.append(f"i = {k(table)}.get(v, {n}) if {is_type} else {n}")
        elif f.kind == "edges":
            body.append(f"v = s[{name}]")
            if n <= 8:  # count the edges at or below v: comparisons, no call (NaN compares false: 0)
                count = " + ".join(f"(v >= {k(x)})" for x in f.args)
                body.append(f"i = ({count}) if type(v) is int or type(v) is float else {level}(s)")
            else:
                body.append(f"i = _bisect({k(list(f.args))}, v) if type(v) is int or type(v) is float else {level}(s)")
        elif f.types == (str,):
            body.append(f"v = s[{name}]")
            if direct:
                ws = model.sets[0][1][fi]
                body.append(f"z0 = z0 + (({k(ws[1])} if {k(f.args[0])} in v else {k(ws[0])}) if type(v) is list or type(v) is dict "
                            f"else {k(ws)}[{level}(s)])")
                continue
            body.append(f"i = (1 if {k(f.args[0])} in v else 0) if type(v) is list or type(v) is dict else {level}(s)")
        else:
            body.append(f"i = {level}(s)")
        if fi in parts:
            body.append(f"l{fi} = i")
        for j, (_, weights) in enumerate(model.sets):
            body.append(f"z{j} = z{j} + {k(weights[fi])}[i]")
    # each set's probability: sigmoid(calibration(z) + crosses), the calibration and the crosses where there are any
    ps = []
    for j, cal in enumerate(model.calibrations):
        inner = f"z{j}" if cal is None else f"{k(cal)}(z{j})"
        if model.crosses:
            inner = f"{inner} + c{j}"
        ps.append(f"_sig({inner})")
    body.append(f"return {ps[0]}" if nsets == 1 else f"return {ps[0]} - {ps[1]}")
    fn: Callable[[Mapping[str, Any]], float] = _generated("score", f"<strata-model-{model.index}>", body, consts, model.score_slow,
                                                          UInt=UInt, _bisect=bisect_right, _sig=sigmoid)
    return fn


def _generated(name: str, filename: str, body: list[str], consts: list[Any], slow: Callable[..., Any], **helpers: Any) -> Callable[..., Any]:
    """The function ``name(s)`` running ``body`` (source from opcodes and small ints only: the
    bundle's values are the constants ``_k0``, ``_k1``, … passed in, the ``helpers`` by name), which
    answers ``slow(s)`` instead on a KeyError or TypeError (an absent signal, an unhashable value)."""
    params = ", ".join([*helpers, "_slow", *(f"_k{i}" for i in range(len(consts)))])
    lines = [f"def _factory({params}):", f"    def {name}(s):", "        try:"]
    lines += [f"            {line}" for line in body]
    lines += ["        except (KeyError, TypeError):", "            return _slow(s)", f"    return {name}"]
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines) + "\n", filename, "exec"), namespace)  # noqa: S102 - source from opcodes and small ints only
    fn: Callable[..., Any] = namespace["_factory"](*helpers.values(), slow, *consts)
    return fn


def _compile_levels(model: Model) -> Callable[[Mapping[str, Any]], bytes]:
    """One straight-line function computing ``model``'s level vector: per feature the level index
    inline, as :func:`_compile` computes it for the score (a dict lookup, comparisons, a membership
    test; a cross from its parts), so the same bytes as ``levels_slow``. The same rules as there: no
    bundle string becomes source text, signals are read as ``s[name]``, and an absent signal or an
    unhashable value takes the slow path for the whole vector."""
    consts: list[Any] = []

    def k(v: Any) -> str:
        consts.append(v)
        return f"_k{len(consts) - 1}"

    body = []
    for fi, f in enumerate(model.features):
        if f.kind == "cross":
            body.append(f"l{fi} = " + " + ".join(f"l{a} * {int(st)}" for a, st in zip(f.args, f.strides)))
            continue
        name, n, level = k(f.signal), len(f.args), k(f.level)
        body.append(f"v = s[{name}]")
        if f.kind == "values":
            table: dict[Any, int] = {}
            for i, a in enumerate(f.args):
                table.setdefault(a, i)
            is_type = " or ".join(f"type(v) is {_TYPE_NAMES[t]}" for t in f.types)
            body.append(f"l{fi} = {k(table)}.get(v, {n}) if {is_type} else {n}")
        elif f.kind == "edges":
            if n <= 8:  # count the edges at or below v (NaN compares false: 0)
                count = " + ".join(f"(v >= {k(x)})" for x in f.args) or "0"
                body.append(f"l{fi} = ({count}) if type(v) is int or type(v) is float else {level}(s)")
            else:
                body.append(f"l{fi} = _bisect({k(list(f.args))}, v) if type(v) is int or type(v) is float else {level}(s)")
        elif f.types == (str,):
            body.append(f"l{fi} = (1 if {k(f.args[0])} in v else 0) if type(v) is list or type(v) is dict else {level}(s)")
        else:
            body.append(f"l{fi} = {level}(s)")
    body.append("return bytes((" + "".join(f"l{fi}, " for fi in range(len(model.features))) + "))")
    fn: Callable[[Mapping[str, Any]], bytes] = _generated("levels", f"<strata-levels-{model.index}>", body, consts, model.levels_slow,
                                                          UInt=UInt, _bisect=bisect_right)
    return fn


def build_models(raw: Sequence[Mapping[str, Any]], signal_names: Sequence[str], signal_types: Sequence[str]) -> tuple[Model, ...]:
    """The models of a validated payload, in declaration order (their index is SCORE's operand)."""
    return tuple(Model(i, m, signal_names, signal_types) for i, m in enumerate(raw))
