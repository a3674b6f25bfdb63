"""Models (``models:``, docs/models.md "Declaring a model"): each feature type-checked against its
signal, its levels named, the coefficients (inline, or the file next to the rule set that
``strata train`` writes) resolved to one weight per level, and the ``spec``/``fit`` hashes.

A feature reads one signal as one of a fixed list of *levels* (index -> name):
- ``values: [v1..vn]``: ``v1``..``vn`` (as text), ``(other)``, ``(absent)``;
- ``edges: [e1..ek]``: ``<e1``, ``[e1,e2)``, .., ``>=ek``, ``(absent)``;
- ``contains: x``: ``no``, ``yes``, ``(absent)``.
The names are computed here, once, and put in the bundle: nobody else formats them.

``spec`` (8 hex) identifies the goal and features, ``fit`` (8 hex) the spec and the coefficients:
counters are kept per spec and score buckets per fit, so a new bundle never mixes them up.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from runtime.format import FEATURE_KINDS, MAX_CALIBRATION_KNOTS, MAX_COEFFICIENT, MAX_CROSS_PARTS, MAX_LEVELS

from . import errors as E
from . import schema
from .errors import CompileError, Diagnostic
from .paths import OutsideFolder, inside
from .ruleset import CoefficientSet, Experiment, Feature, ModelDecl, SignalDecl, Slot, YPath
from .source import Locator, load

#: The CEL namespace of scores: ``score.<model>``; no signal or segment may be named so.
SCORE = "score"
OTHER = "(other)"
ABSENT = "(absent)"
CONTAINS_LEVELS = ("no", "yes", ABSENT)

_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)


# ------------------------------------------------------------------------------- names, hashes
def number_name(x: int | float) -> str:
    """A number as level names show it: ints in decimal, doubles as Python's repr (``2.5``)."""
    return str(x) if type(x) is int else repr(float(x))


def value_name(v: str | int | bool) -> str:
    if type(v) is bool:
        return "true" if v else "false"
    return str(v)


def levels_of(kind: str, args: list[Any]) -> list[str]:
    if kind == "values":
        return [value_name(v) for v in args] + [OTHER, ABSENT]
    if kind == "edges":
        names = [number_name(e) for e in args]
        inner = [f"[{a},{b})" for a, b in zip(names, names[1:])]
        return [f"<{names[0]}", *inner, f">={names[-1]}", ABSENT]
    return list(CONTAINS_LEVELS)


def _h8(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), sort_keys=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def spec_hash(goal: str, features: list[Feature]) -> str:
    """First 8 hex of SHA-256 of ``[goal, [[feature id, signal name, kind, args], ...]]``."""
    return _h8([goal, [[f.id, f.signal, f.kind, f.args] for f in features]])


def sets_payload(sets: list[CoefficientSet]) -> list[dict[str, Any]]:
    """The sets as the fit hashes them: bias and weights (a calibration is fitted *for* a fit)."""
    return [{"bias": s.bias, "weights": s.weights} for s in sets]


def cross_levels(parts: list[Feature]) -> list[str]:
    """A cross's level names: its parts' level names joined by ``|``, every combination, the first
    part's level most significant (the runtimes' mixed-radix level index)."""
    return ["|".join(c) for c in itertools.product(*(p.levels for p in parts))]


def fit_hash(spec: str, sets: list[CoefficientSet]) -> str:
    """First 8 hex of SHA-256 of ``[spec, sets]`` (sets as in the payload)."""
    return _h8([spec, sets_payload(sets)])


def zero_set(features: list[Feature]) -> CoefficientSet:
    return CoefficientSet(0.0, [[0.0] * len(f.levels) for f in features])


# ------------------------------------------------------------------------------- resolve
class _Resolver:
    def __init__(self, loc: Locator, signals: Mapping[str, SignalDecl], consent_requires: list[str]):
        self.loc = loc
        self.signals = signals
        self.needs = set(consent_requires)
        self.diags: list[Diagnostic] = []
        #: calibrations read for the model being resolved: (set, the fit they name, path, file) — checked once its fit is known
        self.pending: list[tuple[CoefficientSet, str, YPath, Locator]] = []

    def err(self, path: YPath, parts: tuple[str, str, str | None], *, key: bool = False, loc: Locator | None = None,
            severity: str = "error") -> None:
        at = loc or self.loc
        self.diags.append(at.diag(at.pos(path, key=key), parts, severity))

    # ---- features
    def cross(self, fid: str, spec: dict[str, Any], path: YPath, earlier: list[Feature]) -> Feature | None:
        """``cross: [a, b]``: features of this model declared above, no cross, 2..MAX_CROSS_PARTS of
        them, at most MAX_LEVELS combinations."""
        cpath = path + ("cross",)
        other = [k for k in ("signal", *FEATURE_KINDS) if k in spec and k != "cross"]
        if other:
            self.err(path + (other[0],), E.feature_args(fid, f"a cross has no {other[0]}: (it reads its parts' signals)", f"remove {other[0]}: from {fid}"),
                     key=True)
            return None
        names = spec["cross"]
        by_id = {f.id: f for f in earlier}
        parts: list[Feature] = []
        for i, name in enumerate(names):
            f = by_id.get(name)
            if f is None:
                self.err(cpath + (i,), E.feature_args(fid, f"the cross names '{name}', which is not a feature declared above it",
                                                      f"features above it: {', '.join(by_id) or 'none'}"))
                return None
            if f.kind == "cross":
                self.err(cpath + (i,), E.feature_args(fid, f"'{name}' is a cross itself", "cross the features it crosses instead (3 at most)"))
                return None
            parts.append(f)
        if not 2 <= len(parts) <= MAX_CROSS_PARTS or len(set(names)) != len(names):
            self.err(cpath, E.feature_args(fid, f"a cross combines 2 to {MAX_CROSS_PARTS} different features"), key=True)
            return None
        n = 1
        for f in parts:
            n *= len(f.levels)
        if n > MAX_LEVELS:
            self.err(cpath, E.feature_args(fid, f"the cross has {n} levels ({' x '.join(str(len(f.levels)) for f in parts)}), more than {MAX_LEVELS}",
                                           "cross features with fewer levels (fewer values or edges)"), key=True)
            return None
        return Feature(fid, "", "cross", [f.id for f in parts], cross_levels(parts), path)

    def feature(self, fid: Any, spec: dict[str, Any], path: YPath, earlier: list[Feature] | None = None) -> Feature | None:
        if not isinstance(fid, str):
            self.err(path, E.schema(f"feature id {fid!r} must be a name", "quote it, or pick a name of lower-case letters, digits and '_'"), key=True)
            return None
        if "cross" in spec:
            return self.cross(fid, spec, path, earlier or [])
        kinds = [k for k in FEATURE_KINDS if k in spec]
        sig_name = spec["signal"]
        decl = self.signals.get(sig_name)
        if decl is None:
            self.err(path + ("signal",), E.unknown_signal(sig_name, self.signals))
            return None
        t = decl.type
        if len(kinds) > 1:
            self.err(path + (kinds[1],), E.feature_kind(fid, f"has both {kinds[0]}: and {kinds[1]}:"), key=True)
            return None
        if not kinds:
            if t.kind == "bool":
                return self._make(fid, sig_name, "values", [False, True], path)
            self.err(path, E.feature_kind(fid, f"says nothing about how to read {sig_name} ({t})"), key=True)
            return None
        kind = kinds[0]
        kpath = path + (kind,)
        if kind == "values":
            if t.kind not in ("string", "int", "uint", "bool"):
                hint = "use edges: [...] to bucket a number" if t.kind == "double" else (
                    "use contains: <element> for a list or map" if t.kind in ("list", "map") else "use a string, int, uint or bool signal")
                self.err(kpath, E.feature_type(fid, f"values: needs a string, int, uint or bool signal, but {sig_name} is {t}", hint), key=True)
                return None
            args: list[Any] = []
            seen: set[tuple[type, Any]] = set()
            for i, v in enumerate(spec["values"]):
                if not self._literal_ok(v, t.kind):
                    self.err(kpath + (i,), E.feature_type(fid, f"value {v!r} is not a {t.kind} literal, and {sig_name} is {t}",
                                                          _literal_hint(t.kind)))
                    continue
                if (type(v), v) in seen:
                    self.err(kpath + (i,), E.feature_args(fid, f"value {v!r} is listed twice", "list each value once"))
                    continue
                if value_name(v) in (OTHER, ABSENT):
                    self.err(kpath + (i,), E.feature_args(fid, f"the value {v!r} is the name of a built-in level", "rename the value; (other) and (absent) are added for you"))
                    continue
                seen.add((type(v), v))
                args.append(v)
            if len(args) != len(spec["values"]):
                return None
            return self._make(fid, sig_name, kind, args, path)
        if kind == "edges":
            if t.kind not in ("int", "uint", "double"):
                hint = "use values: [...] for categories" if t.kind in ("string", "bool") else (
                    "use contains: <element> for a list or map" if t.kind in ("list", "map") else "use an int, uint or double signal")
                self.err(kpath, E.feature_type(fid, f"edges: needs an int, uint or double signal, but {sig_name} is {t}", hint), key=True)
                return None
            edges = spec["edges"]
            ok = True
            for i, e in enumerate(edges):
                if type(e) is float and not math.isfinite(e):
                    self.err(kpath + (i,), E.feature_args(fid, f"edge {e!r} is not a finite number", "edges are finite numbers"))
                    ok = False
                elif type(e) is int and not _INT64[0] <= e <= _UINT64[1]:
                    self.err(kpath + (i,), E.feature_args(fid, f"edge {e} is out of the 64-bit range"))
                    ok = False
                elif i and ok and not edges[i - 1] < e:
                    self.err(kpath + (i,), E.feature_args(fid, f"edges must be strictly ascending, but {edges[i - 1]!r} is followed by {e!r}",
                                                          "sort the edges and drop duplicates"))
                    ok = False
            return self._make(fid, sig_name, kind, list(edges), path) if ok else None
        # contains
        x = spec["contains"]
        if t.kind == "list":
            elem, what = t.params[0], "element"
        elif t.kind == "map":
            elem, what = t.params[0], "key"
        else:
            self.err(kpath, E.feature_type(fid, f"contains: needs a list or map signal, but {sig_name} is {t}",
                                           "use values: [...] to match a single value" if t.kind in ("string", "int", "uint", "bool") else "use edges: [...] for a number"), key=True)
            return None
        if elem.kind not in ("string", "int", "uint", "bool", "double"):
            self.err(kpath, E.feature_type(fid, f"contains: needs a list or map of string, int, uint, bool or double, but {sig_name} is {t}",
                                           "read a scalar signal instead"), key=True)
            return None
        if not self._literal_ok(x, elem.kind):
            self.err(kpath, E.feature_type(fid, f"{x!r} is not a {elem.kind} literal, and the {what}s of {sig_name} are {elem.kind}", _literal_hint(elem.kind)))
            return None
        return self._make(fid, sig_name, kind, [float(x) if elem.kind == "double" else x], path)

    @staticmethod
    def _literal_ok(v: Any, kind: str) -> bool:
        if kind == "string":
            return type(v) is str
        if kind == "bool":
            return type(v) is bool
        if kind == "int":
            return type(v) is int and _INT64[0] <= v <= _INT64[1]
        if kind == "uint":
            return type(v) is int and _UINT64[0] <= v <= _UINT64[1]
        if kind == "double":
            return type(v) in (int, float) and math.isfinite(v)
        return False

    def _make(self, fid: str, signal: str, kind: str, args: list[Any], path: YPath) -> Feature:
        return Feature(fid, signal, kind, args, levels_of(kind, args), path)

    # ---- coefficients
    def coefficient_set(self, data: dict[str, Any], path: YPath, features: list[Feature], model: str, loc: Locator) -> CoefficientSet:
        out = zero_set(features)
        by_id = {f.id: i for i, f in enumerate(features)}
        bias = data.get("bias", 0.0)
        if self._coefficient_ok(bias, "bias", path + ("bias",), loc):
            out.bias = float(bias)
        for fid, levels in (data.get("weights") or {}).items():
            fpath = path + ("weights", fid)
            if fid not in by_id:
                self.err(fpath, E.unknown_feature(model, str(fid), by_id), key=True, loc=loc)
                continue
            f = features[by_id[fid]]
            for lname, w in levels.items():
                name = _level_key(lname, f)
                if name not in f.levels:
                    self.err(fpath + (lname,), E.unknown_level(f.id, name, f.levels), key=True, loc=loc)
                    continue
                if self._coefficient_ok(w, f"weight {f.id}/{name}", fpath + (lname,), loc):
                    out.weights[by_id[fid]][f.levels.index(name)] = float(w)
        cal = data.get("calibration")
        if cal is not None:
            out.calibration = self.calibration_knots(cal["knots"], path + ("calibration", "knots"), loc)
            if out.calibration is not None:
                self.pending.append((out, cal["fit"], path + ("calibration", "fit"), loc))
        return out

    def calibration_knots(self, knots: list[Any], path: YPath, loc: Locator) -> list[list[float]] | None:
        """Knots ``[z, l]``: finite, z strictly ascending, l (a calibrated log-odds) non-decreasing
        with |l| <= MAX_COEFFICIENT (what both runtimes' validation requires), at most MAX_CALIBRATION_KNOTS."""
        if len(knots) > MAX_CALIBRATION_KNOTS:
            self.err(path, E.calibration(f"{len(knots)} knots, more than {MAX_CALIBRATION_KNOTS}"), loc=loc)
            return None
        out: list[list[float]] = []
        for i, (z, lo) in enumerate(knots):
            if not (math.isfinite(z) and math.isfinite(lo) and abs(lo) <= MAX_COEFFICIENT):
                self.err(path + (i,), E.calibration(f"knot [{z!r}, {lo!r}]: z must be finite and l a log-odds between "
                                                    f"-{MAX_COEFFICIENT:g} and {MAX_COEFFICIENT:g}"), loc=loc)
                return None
            if out and not (out[-1][0] < z and out[-1][1] <= lo):
                self.err(path + (i,), E.calibration(f"knot [{z!r}, {lo!r}] after [{out[-1][0]!r}, {out[-1][1]!r}]: "
                                                    "knots must be strictly ascending in z and non-decreasing in l"), loc=loc)
                return None
            out.append([float(z), float(lo)])
        return out

    def check_calibrations(self, m: ModelDecl) -> None:
        """A calibration fitted for other weights would map the wrong log-odds: an error naming both fits."""
        for st, fitted, path, loc in self.pending:
            if fitted != m.fit:
                self.err(path, E.stale_calibration(fitted, m.fit), loc=loc)
                st.calibration = None
        self.pending.clear()

    def _coefficient_ok(self, x: Any, what: str, path: YPath, loc: Locator) -> bool:
        if type(x) in (int, float) and math.isfinite(x) and abs(x) <= MAX_COEFFICIENT:
            return True
        self.err(path, E.coefficient_range(what, x, MAX_COEFFICIENT), loc=loc)
        return False

    def coefficients(self, m: ModelDecl, spec: Any, base: Path) -> None:
        """Fill ``m.sets`` (zeros where no coefficients are given) and ``m.coefficients_path``."""
        uplift = m.uplift is not None
        m.sets = [zero_set(m.features) for _ in range(2 if uplift else 1)]
        cpath: YPath = m.path + ("coefficients",)
        if spec is None:
            self.err(m.path, E.untrained_model(m.id, None), key=True, severity="warning")
            return
        data: Any = spec
        loc = self.loc
        at: YPath = cpath
        if isinstance(spec, str):
            try:
                file = inside(base, spec)
            except OutsideFolder as e:
                self.err(cpath, E.path_outside(spec, str(e)))
                return
            m.coefficients_path = str(file)
            if not file.is_file():
                self.err(cpath, E.untrained_model(m.id, spec), severity="warning")
                return
            try:
                data, loc = load(file)
            except CompileError as e:
                self.diags.extend(_quiet(e.diagnostics))
                return
            problems = schema.validate_def(data, loc, "coefficients_file", what="a coefficient file")
            if problems:
                self.diags.extend(_quiet(problems))
                return
            at = ()
            if "model" in data and data["model"] != m.id:
                self.err(("model",), E.coefficients_model(m.id, data["model"]), loc=loc)
                return
            if "spec" in data and data["spec"] != m.spec:
                self.err(("spec",), E.stale_coefficients(data["spec"], m.spec), loc=loc)
                return
        has_arms = "treatment" in data or "control" in data
        has_plain = "bias" in data or "weights" in data
        if uplift and (not ("treatment" in data and "control" in data) or has_plain):
            self.err(at, E.coefficients_shape(m.id, True), loc=loc)
            return
        if not uplift and (has_arms or "bias" not in data):
            self.err(at, E.coefficients_shape(m.id, False), loc=loc)
            return
        if uplift:
            m.sets = [self.coefficient_set(data[arm], at + (arm,), m.features, m.id, loc) for arm in ("treatment", "control")]
        else:
            m.sets = [self.coefficient_set(data, at, m.features, m.id, loc)]


def _quiet(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Errors in a file the rule set names, without its lines: a file that is not what the rule set
    says it is (a secret, say) shows no more of its content than the offending token."""
    return [replace(d, source_line=None) for d in diags]


def _level_key(key: Any, f: Feature) -> str:
    """A level name as written in YAML: ``yes``/``no`` unquoted are YAML booleans, and numbers
    come as numbers; read them back as the level they spell."""
    if type(key) is bool:
        if f.kind == "contains":
            return "yes" if key else "no"
        return "true" if key else "false"
    if type(key) in (int, float):
        return number_name(key)
    return str(key)


def _literal_hint(kind: str) -> str:
    return {
        "string": "quote the value, e.g. \"1\"",
        "bool": "write true or false",
        "int": "write an integer in the int64 range",
        "uint": "write a non-negative integer below 2^64",
        "double": "write a finite number",
    }.get(kind, "")


def resolve(doc: dict[str, Any], loc: Locator, signals: Mapping[str, SignalDecl], goals: list[str],
            experiments: list[Experiment], slots: list[Slot], holdout_bp: int, consent_requires: list[str]) -> tuple[list[ModelDecl], list[Diagnostic]]:
    """The models of a schema-valid document, and the errors and warnings found."""
    r = _Resolver(loc, signals, consent_requires)
    base = Path(loc.path).parent
    exp_by_id = {e.id: e for e in experiments}
    slot_by_id = {s.id: s for s in slots}
    out: list[ModelDecl] = []
    for mid, spec in (doc.get("models") or {}).items():
        path: YPath = ("models", mid)
        if not isinstance(mid, str):
            r.err(path, E.schema(f"model id {mid!r} must be a name", "quote it, or pick a name of lower-case letters, digits and '_'"), key=True)
            continue
        ok = True
        if spec["goal"] not in goals:
            r.err(path + ("goal",), E.unknown_reference("goal", spec["goal"], goals))
            ok = False
        features: list[Feature] = []
        for fid, fspec in spec["features"].items():
            f = r.feature(fid, fspec, path + ("features", fid), features)
            ok = ok and f is not None
            if f is not None:
                features.append(f)
        uplift: dict[str, str] | None = spec.get("uplift")
        if uplift is not None and "experiment" in uplift:
            exp = exp_by_id.get(uplift["experiment"])
            if exp is None:
                r.err(path + ("uplift", "experiment"), E.unknown_reference("experiment", uplift["experiment"], exp_by_id))
                ok = False
            else:
                vids = [v[0] for v in exp.variants]
                for arm in ("treatment", "control"):
                    if uplift[arm] not in vids:
                        r.err(path + ("uplift", arm), E.unknown_reference("variant", uplift[arm], vids))
                        ok = False
                if uplift["treatment"] == uplift["control"]:
                    r.err(path + ("uplift", "control"), E.uplift_arms(mid))
                    ok = False
        elif uplift is not None:
            slot = slot_by_id.get(uplift["slot"])
            if slot is None:
                r.err(path + ("uplift", "slot"), E.unknown_reference("slot", uplift["slot"], slot_by_id))
                ok = False
            else:
                rules = [x.id for x in slot.rules if x.kind == "rule"]
                if uplift["rule"] not in rules:
                    r.err(path + ("uplift", "rule"), E.unknown_reference("rule", uplift["rule"], rules))
                    ok = False
            if not holdout_bp:
                r.err(path + ("uplift",), E.uplift_holdout(mid), key=True)
                ok = False
        if not ok:
            continue
        m = ModelDecl(mid, spec["goal"], spec.get("description", ""), features, [], dict(uplift) if uplift else None, None,
                      spec_hash(spec["goal"], features), "", path, index=len(out),
                      consent=any(signals[f.signal].category in r.needs for f in features if f.kind != "cross"))
        r.coefficients(m, spec.get("coefficients"), base)
        m.fit = fit_hash(m.spec, m.sets)
        r.check_calibrations(m)
        out.append(m)
    return out, r.diags


def payload(models: list[ModelDecl], signal_index: Mapping[str, int], experiment_index: Mapping[str, int]) -> list[dict[str, Any]]:
    """The payload's ``models`` array (docs/bundle-format.md)."""
    out = []
    for m in models:
        uplift: dict[str, Any] | None = None
        if m.uplift is not None and "experiment" in m.uplift:
            uplift = {"experiment": experiment_index[m.uplift["experiment"]], "treatment": m.uplift["treatment"], "control": m.uplift["control"]}
        elif m.uplift is not None:
            uplift = {"slot": m.uplift["slot"], "rule": m.uplift["rule"]}
        out.append({
            "id": m.id, "goal": m.goal, "spec": m.spec, "fit": m.fit,
            "features": [_feature_payload(f, signal_index, m.features) for f in m.features],
            "sets": [{"bias": st.bias, "weights": st.weights} | ({"calibration": st.calibration} if st.calibration else {}) for st in m.sets],
            "uplift": uplift,
        })
    return out


def _feature_payload(f: Feature, signal_index: Mapping[str, int], features: list[Feature]) -> dict[str, Any]:
    if f.kind == "cross":  # no signal; its parts by index
        ids = [g.id for g in features]
        return {"id": f.id, "kind": f.kind, "args": [ids.index(a) for a in f.args], "levels": list(f.levels)}
    return {"id": f.id, "signal": signal_index[f.signal], "kind": f.kind, "args": list(f.args), "levels": list(f.levels)}
