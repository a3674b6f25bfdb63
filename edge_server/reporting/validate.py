"""What a fleet's counters may hold, checked where they enter the offline tools: the one definition
of a count (a whole number from 0 to 2^53) and of a goal-value sum (finite, >= 0) for ``GET
/v1/stats`` snapshots, ``/metrics`` scrapes and Prometheus answers alike, and the shape of a
``strata-stats/1`` snapshot. A value or row that is not is a :class:`~.errors.ReportError` naming
where it is (file or instance), the row and the field — never a traceback, never a silent number.

>>> count(3, "f: models[0].entered"), amount(2.5, "f: conversions[1].value")
(3, 2.5)
>>> count(1e300, "f: models[0].entered")
Traceback (most recent call last):
...
edge_server.reporting.errors.ReportError: f: models[0].entered: 1e+300 is not a count (a whole number from 0 to 2^53)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

from ..contract import METRIC_LABELS, MODEL_EVENTS, STATS_FORMAT
from .errors import ReportError

#: Largest count a float64 holds exactly (Prometheus keeps samples as float64).
MAX_EXACT = 2**53
#: Largest snapshot or scrape file read (bytes): a large instance's snapshot is a few MiB.
MAX_FILE = 64 * 1024 * 1024
#: Most JSON values (counted before parsing as commas and opening brackets, an overcount) and scrape
#: samples in one file: memory stays bounded whatever the file holds (a real snapshot's row is 8).
MAX_ITEMS = 4_000_000
MAX_SAMPLES = 500_000
#: Basis points of a whole experiment (variant weights and periods are in basis points).
MAX_BP = 10_000


#: Where a value is (file or instance, row, field), or a function giving it (made only on an error).
Where: TypeAlias = "str | Callable[[], str]"


def _error(where: Where, message: str) -> Exception:
    return ReportError(f"{where() if callable(where) else where}: {message}")


def _shown(v: Any) -> str:
    s = repr(v) if isinstance(v, str) else (f"{v!r}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{type(v).__name__} {v!r}")
    return s if len(s) <= 60 else s[:57] + "..."


def number(raw: str, where: Where) -> float | int:
    """A sample value of the text format (a scrape line, a Prometheus answer): a float, or an int
    when written as one (so that 9007199254740993 is not read as 2^53)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 30:
        return int(raw)
    try:
        return float(raw)
    except ValueError:
        raise _error(where, f"value {raw[:60]!r} is not a number") from None


def count(v: Any, where: Where) -> int:
    """``v`` as a count: a whole number (int, or integral float) from 0 to 2^53, not a string or bool."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _error(where, f"{_shown(v)} is not a count (a whole number from 0 to 2^53)")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _error(where, f"{v} is not finite; a Strata counter never is")
        if v != int(v):
            raise _error(where, f"{v!r} is not a count (a whole number from 0 to 2^53)")
    if not 0 <= v <= MAX_EXACT:
        raise _error(where, f"{_shown(v)} is not a count (a whole number from 0 to 2^53)")
    return int(v)


def amount(v: Any, where: Where) -> float:
    """``v`` as a sum of goal values: a finite number >= 0."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _error(where, f"{_shown(v)} is not a sum of goal values (a finite number >= 0)")
    f = float(v)
    if not math.isfinite(f):
        raise _error(where, f"{v} is not finite; a Strata counter never is")
    if f < 0:
        raise _error(where, f"{v!r} is not a sum of goal values (a finite number >= 0)")
    return f


def total(n: int, where: Where) -> int:
    """A count summed over instances: still at most 2^53 (beyond, float64 sums are no longer exact)."""
    if n > MAX_EXACT:
        raise _error(where, f"the instances' counts add up to {n:,}, beyond 2^53: these are not a real fleet's counters")
    return n


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise _error(where, f"{_shown(v)} is not a string")
    return v


def _object(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _error(where, f"expected an object, got {_shown(v)}")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise _error(where, f"expected a list, got {_shown(v)}")
    return v


def _rows(snap: dict[str, Any], key: str, where: str, labels: tuple[str, ...], counts: tuple[str, ...], values: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(_list(snap.get(key, []), f"{where}: {key}")):
        at = f"{where}: {key}[{i}]"
        r = _object(r, at)
        row: dict[str, Any] = {k: _text(r.get(k), f"{at}.{k}") for k in labels}
        for k in counts:
            row[k] = count(r.get(k), f"{at}.{k}")
        for k in values:
            row[k] = amount(r.get(k, 0.0), f"{at}.{k}")
        out.append(row)
    return out


def _optional_text(v: Any, where: str) -> str | None:
    return None if v is None else _text(v, where)


def _model_spec(v: Any, where: str) -> dict[str, Any]:
    m = _object(v, where)
    out: dict[str, Any] = {k: _optional_text(m.get(k), f"{where}.{k}") for k in ("spec", "fit", "goal")}
    u = m.get("uplift")
    if u is not None:
        u = _object(u, f"{where}.uplift")
        for k, x in u.items():
            _text(x, f"{where}.uplift.{k}")
    out["uplift"] = u
    features = _object(m.get("features", {}), f"{where}.features")
    out["features"] = {f: [_text(x, f"{where}.features.{f}[{j}]") for j, x in enumerate(_list(levels, f"{where}.features.{f}"))]
                       for f, levels in features.items()}
    return out


def _experiment(v: Any, where: str) -> dict[str, Any]:
    e = _object(v, where)
    out: dict[str, Any] = {"slot": _optional_text(e.get("slot"), f"{where}.slot"), "variants": []}
    for j, pair in enumerate(_list(e.get("variants"), f"{where}.variants")):
        at = f"{where}.variants[{j}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise _error(at, f"expected [variant, weight in basis points], got {_shown(pair)}")
        w = count(pair[1], f"{at}[1]")
        if w > MAX_BP:
            raise _error(f"{at}[1]", f"weight {w} is more than {MAX_BP} basis points")
        out["variants"].append([_text(pair[0], f"{at}[0]"), w])
    if e.get("period") is not None:
        out["period"] = _text(e["period"], f"{where}.period")
    return out


def snapshot(v: Any, where: str) -> dict[str, Any]:
    """A ``strata-stats/1`` snapshot (``GET /v1/stats``, or a scrape or Prometheus answer put in its
    shape), checked field by field; the rows keep only the fields the tools read."""
    s = _object(v, where)
    if s.get("format") != STATS_FORMAT and s.get("format") != "prometheus":
        raise _error(where, "not a Strata stats snapshot (GET /v1/stats)")
    generated = s.get("generated")
    if generated is not None:
        generated = amount(generated, f"{where}: generated")
    bundle = s.get("bundle")
    if bundle is not None:
        b = _object(bundle, f"{where}: bundle")
        for k in ("name", "version"):
            if isinstance(b.get(k), bool) or not isinstance(b.get(k), (str, int)):
                raise _error(f"{where}: bundle.{k}", f"{_shown(b.get(k))} is not a string")
        bundle = {"name": str(b["name"]), "version": str(b["version"])}
    return {
        "format": s["format"],
        "source": where,
        "instance": _optional_text(s.get("instance"), f"{where}: instance"),
        "generated": generated,
        "bundle": bundle,
        "experiments": {eid: _experiment(e, f"{where}: experiments.{eid}")
                        for eid, e in _object(s.get("experiments", {}), f"{where}: experiments").items()},
        "exposures": _rows(s, "exposures", where, METRIC_LABELS["strata_slot_exposures_total"], ("count",)),
        "conversions": _rows(s, "conversions", where, METRIC_LABELS["strata_conversions_total"], ("count",), ("value",)),
        "cohorts": _rows(s, "cohorts", where, METRIC_LABELS["strata_experiment_cohort_total"], ("count",), ("value",)),
        "models": _rows(s, "models", where, METRIC_LABELS["strata_model_visits_total"][:-1], MODEL_EVENTS),  # all but the event
        "model_specs": {mid: _model_spec(m, f"{where}: model_specs.{mid}")
                        for mid, m in _object({} if s.get("model_specs") is None else s["model_specs"], f"{where}: model_specs").items()},
    }
