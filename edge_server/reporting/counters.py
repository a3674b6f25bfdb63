"""The fleet's counters, as ``strata report``, ``strata rebalance`` and ``strata train`` read them:
``GET /v1/stats`` snapshots and ``/metrics`` scrapes of one or many edge nodes, loaded and summed
into one :class:`Data` (per node the latest snapshot counts; earlier ones give the timeline)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import ALL, MODEL_EVENTS, STATS_FORMAT
from ..tally import Tally

__all__ = ["ALL", "Data", "ReportError", "load", "merge"]


class ReportError(ValueError):
    """A file that cannot be read as a snapshot or a scrape; the message names the file and why."""


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


_PROM = re.compile(r'^(strata_slot_exposures_total|strata_conversions_total|strata_conversion_value_total|strata_experiment_variant_weight'
                   r'|strata_model_visits_total|strata_experiment_cohort_total|strata_experiment_cohort_value_total)\{(.*)\}\s+(\S+)')
_MODEL_LABELS = ("model", "spec", "arm", "feature", "level")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _unescape(v: str) -> str:
    """A label value of the Prometheus text format: backslash, double quote and newline escaped
    with a backslash, the rest UTF-8 as is (level names are the rule set's own values, in any script)."""
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def _parse_prometheus(text: str, where: str) -> dict[str, Any]:
    snap: dict[str, Any] = {"format": "prometheus", "instance": where, "generated": None, "experiments": {}, "exposures": [], "conversions": []}
    conv: dict[tuple[str, ...], dict[str, Any]] = {}
    models: dict[tuple[str, ...], dict[str, Any]] = {}
    cohorts: dict[tuple[str, ...], dict[str, Any]] = {}
    for line in text.splitlines():
        m = _PROM.match(line)
        if not m:
            continue
        name, labels_s, value = m.groups()
        labels = {k: _unescape(v) for k, v in _LABEL.findall(labels_s)}
        v = float(value)
        if name == "strata_slot_exposures_total":
            snap["exposures"].append({**labels, "count": int(v)})
        elif name == "strata_model_visits_total":
            key = tuple(labels[k] for k in _MODEL_LABELS)
            row = models.setdefault(key, dict(zip(_MODEL_LABELS, key), entered=0, left=0, converted=0))
            row[labels["event"]] = int(v)
        elif name == "strata_experiment_variant_weight":
            e = snap["experiments"].setdefault(labels["experiment"], {"slot": labels.get("slot"), "variants": []})
            e["variants"].append([labels["variant"], int(v)])
        elif name == "strata_experiment_cohort_total":
            key = tuple(labels.get(k, "") for k in ("experiment", "variant", "period", "event", "goal"))
            cohorts.setdefault(key, dict(zip(("experiment", "variant", "period", "event", "goal"), key), value=0.0))["count"] = int(v)
        elif name == "strata_experiment_cohort_value_total":
            key = tuple(labels.get(k, "") for k in ("experiment", "variant", "period")) + ("converted", labels.get("goal", ""))
            cohorts.setdefault(key, dict(zip(("experiment", "variant", "period", "event", "goal"), key), count=0))["value"] = v
        else:
            key = tuple(labels[k] for k in ("goal", "slot", "arm", "layer", "population"))
            row = conv.setdefault(key, dict(zip(("goal", "slot", "arm", "layer", "population"), key), count=0, value=0.0))
            row["count" if name == "strata_conversions_total" else "value"] = int(v) if name == "strata_conversions_total" else v
    snap["conversions"] = list(conv.values())
    snap["models"] = list(models.values())
    snap["cohorts"] = [{"count": 0, **r} for r in cohorts.values()]
    for e in snap["experiments"].values():
        e["period"] = "/".join(str(bp) for _, bp in e["variants"])  # the weights the scraped process serves now
    return snap


def load(paths: list[str]) -> Data:
    snaps = []
    for p in paths:
        try:
            text = Path(p).read_text(encoding="utf-8")
        except OSError as e:
            raise ReportError(f"{p}: {e.strerror}") from None
        if text.lstrip().startswith("{"):
            try:
                snap = json.loads(text)
            except json.JSONDecodeError as e:
                raise ReportError(f"{p}: not JSON ({e.msg} at line {e.lineno})") from None
            if snap.get("format") != STATS_FORMAT:
                raise ReportError(f"{p}: not a Strata stats snapshot (GET /v1/stats)")
        else:
            snap = _parse_prometheus(text, p)
            if not snap["exposures"] and not snap["models"]:
                raise ReportError(f"{p}: no strata_slot_exposures_total samples (is this a /metrics scrape of a Strata server?)")
        snaps.append(snap)
    return merge(snaps)


def merge(snaps: list[dict[str, Any]]) -> Data:
    """Sum a fleet: counters are cumulative per process, so per instance the latest snapshot
    counts, and instances add up. Earlier snapshots of an instance give the timeline."""
    latest: dict[str, dict[str, Any]] = {}
    series: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for s in snaps:
        inst = s.get("instance") or str(id(s))
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
    times = sorted({t for pts in series.values() for t, _ in pts})
    for t in times:
        fleet = 0
        for pts in series.values():
            before = [n for (tt, n) in pts if tt <= t]
            fleet += before[-1] if before else 0
        d.timeline.append((t, fleet))
    return d
