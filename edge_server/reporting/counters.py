"""The fleet's counters, as ``strata report``, ``strata rebalance`` and ``strata train`` read them:
``GET /v1/stats`` snapshots and ``/metrics`` scrapes of one or many edge nodes, loaded and summed
into one :class:`Data` (per node the latest snapshot counts; earlier ones give the timeline)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..contract import ALL, METRIC_LABELS, MODEL_EVENTS, STATS_FORMAT
from ..tally import Tally
from . import validate
from .errors import ReportError

__all__ = ["ALL", "Data", "ReportError", "load", "merge"]


@dataclass
class Data:
    """The summed counters of a fleet (what the report, the allocation and the training read)."""

    exposures: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # slot, arm, layer, population
    conversions: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)  # goal, slot, arm, layer, population
    values: Tally[tuple[str, str, str, str, str]] = field(default_factory=Tally)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (time, fleet exposures so far)
    sources: int = 0
    bundles: set[str] = field(default_factory=set)
    # model training counters (edge_server/model_counts.py): model, spec, arm, feature, level, event -> visits
    models: Counter[tuple[str, str, str, str, str, str]] = field(default_factory=Counter)
    model_specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # of the newest snapshot that has them
    cohorts: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)  # experiment, variant, period, event, goal
    cohort_values: Tally[tuple[str, str, str, str]] = field(default_factory=Tally)  # experiment, variant, period, goal
    #: instance -> its latest snapshot (the rows summed above), for naming the instances behind a sum
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the fleet's totals at each earlier read (time, Data), oldest first, ending with these totals:
    #: what the always-valid intervals over time are drawn from (``reads``); empty with one read
    history: list[tuple[float, Data]] = field(default_factory=list)


_PROM = re.compile(r'^(strata_slot_exposures_total|strata_conversions_total|strata_conversion_value_total|strata_experiment_variant_weight'
                   r'|strata_model_visits_total|strata_experiment_cohort_total|strata_experiment_cohort_value_total)\{(.*)\}[ \t]+(\S+)', re.M)
_JSON_START = re.compile(r"\s*\{")
_EXPOSURE_LABELS = METRIC_LABELS["strata_slot_exposures_total"]
_MODEL_LABELS = METRIC_LABELS["strata_model_visits_total"][:-1]  # all but the event
_COHORT_LABELS = METRIC_LABELS["strata_experiment_cohort_total"]
_CONVERSION_LABELS = METRIC_LABELS["strata_conversions_total"]
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _unescape(v: str) -> str:
    """A label value of the Prometheus text format: backslash, double quote and newline escaped
    with a backslash, the rest UTF-8 as is (level names are the rule set's own values, in any script)."""
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def _labels(labels: dict[str, str], names: tuple[str, ...], where: validate.Where) -> tuple[str, ...]:
    missing = [k for k in names if k not in labels]
    if missing:
        raise ReportError(f"{where() if callable(where) else where}: no {', '.join(missing)} label (is this a /metrics scrape of a Strata server?)")
    return tuple(labels[k] for k in names)


def _parse_prometheus(text: str, where: str) -> dict[str, Any]:
    snap: dict[str, Any] = {"format": "prometheus", "instance": where, "generated": None, "experiments": {}, "exposures": [], "conversions": []}
    conv: dict[tuple[str, ...], dict[str, Any]] = {}
    models: dict[tuple[str, ...], dict[str, Any]] = {}
    cohorts: dict[tuple[str, ...], dict[str, Any]] = {}
    for samples, m in enumerate(_PROM.finditer(text), 1):  # no list of every line; the line number only for an error
        if samples > validate.MAX_SAMPLES:
            raise ReportError(f"{where}: more than {validate.MAX_SAMPLES:,} Strata samples; a Strata process's scrape has far fewer")
        name, labels_s, value = m.groups()

        def at(m: re.Match[str] = m, name: str = name) -> str:
            return f"{where}: line {text.count(chr(10), 0, m.start()) + 1} ({name})"

        labels = {k: _unescape(v) for k, v in _LABEL.findall(labels_s)}
        v = validate.number(value, at)
        if name == "strata_slot_exposures_total":
            snap["exposures"].append({**dict(zip(_EXPOSURE_LABELS, _labels(labels, _EXPOSURE_LABELS, at))), "count": validate.count(v, at)})
        elif name == "strata_model_visits_total":
            key = _labels(labels, _MODEL_LABELS, at)
            event = _labels(labels, ("event",), at)[0]
            if event not in MODEL_EVENTS:
                raise ReportError(f"{at()}: event {event[:60]!r} is none of {', '.join(MODEL_EVENTS)}")
            row = models.setdefault(key, dict(zip(_MODEL_LABELS, key), entered=0, left=0, converted=0))
            row[event] = validate.count(v, at)
        elif name == "strata_experiment_variant_weight":
            eid, variant = _labels(labels, ("experiment", "variant"), at)
            e = snap["experiments"].setdefault(eid, {"slot": labels.get("slot"), "variants": []})
            e["variants"].append([variant, validate.count(v, at)])
        elif name == "strata_experiment_cohort_total":
            key = tuple(labels.get(k, "") for k in _COHORT_LABELS)
            cohorts.setdefault(key, dict(zip(_COHORT_LABELS, key), value=0.0))["count"] = validate.count(v, at)
        elif name == "strata_experiment_cohort_value_total":
            key = tuple(labels.get(k, "") if k != "event" else "converted" for k in _COHORT_LABELS)
            cohorts.setdefault(key, dict(zip(_COHORT_LABELS, key), count=0))["value"] = validate.amount(v, at)
        else:
            key = _labels(labels, _CONVERSION_LABELS, at)
            row = conv.setdefault(key, dict(zip(_CONVERSION_LABELS, key), count=0, value=0.0))
            if name == "strata_conversions_total":
                row["count"] = validate.count(v, at)
            else:
                row["value"] = validate.amount(v, at)
    snap["conversions"] = list(conv.values())
    snap["models"] = list(models.values())
    snap["cohorts"] = [{"count": 0, **r} for r in cohorts.values()]
    for e in snap["experiments"].values():
        e["period"] = "/".join(str(bp) for _, bp in e["variants"])  # the weights the scraped process serves now
    return snap


def read(path: str) -> dict[str, Any]:
    """One file, a ``GET /v1/stats`` snapshot or a ``/metrics`` scrape, checked (``validate.snapshot``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(validate.MAX_FILE + 1)
    except OSError as e:
        raise ReportError(f"{path}: {e.strerror}") from None
    if len(raw) > validate.MAX_FILE:
        raise ReportError(f"{path}: larger than {validate.MAX_FILE // 2**20} MiB; a Strata snapshot or scrape is not (is this the right file?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ReportError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if _JSON_START.match(text):  # (not text.lstrip(): no copy of the text)
        if raw.count(b",") + raw.count(b"{") + raw.count(b"[") > validate.MAX_ITEMS:
            raise ReportError(f"{path}: more than {validate.MAX_ITEMS:,} JSON values; a Strata snapshot has far fewer (is this the right file?)")
        try:
            snap = json.loads(text)  # NaN, Infinity and 1e400 become floats that validate.snapshot refuses at their field
        except json.JSONDecodeError as e:
            raise ReportError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
        except RecursionError:
            raise ReportError(f"{path}: not a Strata stats snapshot (JSON nested too deeply)") from None
        except ValueError as e:  # an integer of thousands of digits
            raise ReportError(f"{path}: not a Strata stats snapshot ({e})") from None
        if not isinstance(snap, dict) or snap.get("format") != STATS_FORMAT:
            raise ReportError(f"{path}: not a Strata stats snapshot (GET /v1/stats)")
    else:
        snap = _parse_prometheus(text, path)
        if not snap["exposures"] and not snap["models"]:
            raise ReportError(f"{path}: no strata_slot_exposures_total samples (is this a /metrics scrape of a Strata server?)")
    return validate.snapshot(snap, path)


def load(paths: list[str]) -> Data:
    return merge([read(p) for p in paths])


_ROW_LABELS = {"exposures": _EXPOSURE_LABELS, "conversions": _CONVERSION_LABELS, "cohorts": _COHORT_LABELS, "models": _MODEL_LABELS + ("event",)}


def _row_name(name: str, key: tuple[str, ...]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in zip(_ROW_LABELS[name], key))


def _holders(latest: dict[str, dict[str, Any]], name: str, key: tuple[str, ...], shown: int = 5) -> list[str]:
    """The instances (and their files) that count row ``key`` of ``name``, with their counts (for an error)."""
    labels = _ROW_LABELS[name]
    out = []
    for inst, s in latest.items():
        for r in s.get(name, ()):
            if name == "models":
                if tuple(r[k] for k in labels[:-1]) == key[:-1] and r[key[-1]]:
                    out.append(f"{source_of(inst, s)} ({r[key[-1]]:,})")
            elif tuple(r[k] for k in labels) == key and r["count"]:
                out.append(f"{source_of(inst, s)} ({r['count']:,})")
    return out[:shown] + ([f"{len(out) - shown:,} more"] if len(out) > shown else [])


def source_of(inst: str, snap: dict[str, Any]) -> str:
    """An instance as an error names it: its id, and the file it was read from."""
    src = snap.get("source")
    return f"{inst} ({src})" if src and src != inst else inst


#: Most reads kept in a history (evenly thinned beyond it; the latest always kept).
MAX_READS = 120


def reads(snaps: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The snapshots up to each **read** of the fleet, oldest read first. A read is a run of
    snapshots in time order in which no instance appears twice (one sweep over the fleet: its
    snapshots are taken seconds apart, the next sweep hours or a day later); snapshots without a
    time (``/metrics`` scrapes) make no history. At most ``MAX_READS`` reads, evenly thinned."""
    timed = sorted((s for s in snaps if s.get("generated") is not None), key=lambda s: float(s["generated"]))
    ends: list[int] = []
    seen: set[str] = set()
    for i, s in enumerate(timed):
        inst = s.get("instance") or s.get("source") or str(id(s))
        if inst in seen:
            ends.append(i)
            seen = set()
        seen.add(inst)
    if timed:
        ends.append(len(timed))
    if len(ends) > MAX_READS:
        step = (len(ends) - 1) / (MAX_READS - 1)
        ends = [ends[round(j * step)] for j in range(MAX_READS)]
    return [timed[:end] for end in ends]


def merge(snaps: list[dict[str, Any]], *, history: bool = True) -> Data:
    """Sum a fleet of checked snapshots (``read``, ``validate.snapshot``; the Prometheus reader's
    are built from checked values): counters are cumulative per process, so per instance the latest
    snapshot counts, and instances add up; a sum beyond 2^53 is refused. Earlier snapshots of an
    instance give the timeline."""
    latest: dict[str, dict[str, Any]] = {}
    series: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for s in snaps:
        inst = s.get("instance") or s.get("source") or str(id(s))
        total = sum(int(r["count"]) for r in s["exposures"])
        if s.get("generated") is not None:
            series[inst].append((float(s["generated"]), total))
        prev = latest.get(inst)
        if prev is None or (s.get("generated") or 0) >= (prev.get("generated") or 0):
            latest[inst] = s
    d = Data(sources=len(latest))
    newest_specs = -1.0
    for s in latest.values():
        if s.get("bundle"):
            d.bundles.add(f"{s['bundle']['name']} v{s['bundle']['version']}")
        for r in s["exposures"]:
            d.exposures[(r["slot"], r["arm"], r["layer"], r["population"])] += int(r["count"])
        for r in s["conversions"]:
            k = (r["goal"], r["slot"], r["arm"], r["layer"], r["population"])
            d.conversions[k] += int(r["count"])
            d.values[k] += float(r.get("value", 0.0))
        for r in s.get("cohorts", []):
            d.cohorts[(r["experiment"], r["variant"], r["period"], r["event"], r["goal"])] += int(r["count"])
            if r["event"] == "converted":
                d.cohort_values[(r["experiment"], r["variant"], r["period"], r["goal"])] += float(r.get("value", 0.0))
        for eid, e in s.get("experiments", {}).items():
            d.experiments.setdefault(eid, e)
        for r in s.get("models", []):
            for event in MODEL_EVENTS:
                if r.get(event):
                    d.models[(r["model"], r["spec"], r["arm"], r["feature"], r["level"], event)] += int(r[event])
        if s.get("model_specs") and float(s.get("generated") or 0) >= newest_specs:
            d.model_specs, newest_specs = s["model_specs"], float(s.get("generated") or 0)
    d.instances = latest
    summed: tuple[tuple[str, Counter[Any]], ...] = (("exposures", d.exposures), ("conversions", d.conversions), ("cohorts", d.cohorts),
                                                   ("models", d.models))
    for name, counter in summed:
        for k, n in counter.items():
            if n > validate.MAX_EXACT:
                validate.total(n, f"{name} {_row_name(name, k)} summed over {', '.join(_holders(latest, name, k))}")
    # the fleet's exposures at each snapshot time: each instance's latest total up to then, summed (one sweep)
    points = sorted((t, inst, n) for inst, pts in series.items() for t, n in pts)
    now: dict[str, int] = {}
    fleet = 0
    for i, (t, inst, n) in enumerate(points):
        fleet += n - now.get(inst, 0)
        now[inst] = n
        if i + 1 == len(points) or points[i + 1][0] != t:
            d.timeline.append((t, fleet))
    if history:
        prefixes = reads(snaps)
        if len(prefixes) > 1:
            d.history = [(float(p[-1]["generated"]), merge(p, history=False)) for p in prefixes[:-1]] + [(float(prefixes[-1][-1]["generated"]), d)]
    return d
