"""Prometheus metrics of one server process. Each app owns its registry (no global state).

Counters on the request path are plain dicts incremented by the (single-threaded) event loop and
turned into Prometheus families at scrape time: exact, and without the lock prometheus_client
takes on every increment. Nothing here is per visitor: labels are slots, rules, reasons, layers,
experiments, variants, goals and routes, all bounded by the bundle.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .contract import METRIC_LABELS
from .tally import Tally

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Family:
    """A labelled counter kept as a dict of label tuples -> value."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]):
        self.name, self.doc, self.labels = name, doc, labels
        self.values: Tally[tuple[str, ...]] = Tally()
        #: Counts of combinations of label tuples, each an object whose ``labels`` the combination adds
        #: its count to (measure.Arms: one increment per request instead of one per decision), folded
        #: into ``values`` whenever they are read. Everything runs on the event loop: nothing folds
        #: while a request counts.
        self.combined: Tally[Any] = Tally()

    def inc(self, *labels: str, by: float = 1.0) -> None:
        self.values[labels] += by

    def folded(self) -> Tally[tuple[str, ...]]:
        """``values``, with the combinations counted so far added to their labels (exact: each count once)."""
        combined = self.combined
        if combined:
            values = self.values
            for combination, n in combined.items():
                for labels in combination.labels:
                    values[labels] += n
            combined.clear()
        return self.values

    def family(self, extra: list[Any] = ()) -> CounterMetricFamily:  # type: ignore[assignment]
        merged = Tally(self.folded())
        for labels, v in extra:
            merged[tuple(labels)] += v
        f = CounterMetricFamily(self.name, self.doc, labels=list(self.labels))
        if not self.labels and not merged:
            merged[()] += 0  # a counter without labels is 0 before its first count, as in the worker
        for labels, v in sorted(merged.items()):
            f.add_metric(list(labels), v)
        return f


class _Latency:
    """A histogram per route; observe() is two list operations."""

    def __init__(self) -> None:
        self.by_route: dict[str, list[float]] = {}  # counts per bucket (+Inf last), then sum

    def observe(self, route: str, seconds: float) -> None:
        h = self.by_route.get(route)
        if h is None:
            h = self.by_route[route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        i = 0
        while i < len(LATENCY_BUCKETS) and seconds > LATENCY_BUCKETS[i]:
            i += 1
        h[i] += 1
        h[-1] += seconds

    def family(self, extra: list[dict[str, list[float]]] = ()) -> HistogramMetricFamily:  # type: ignore[assignment]
        merged = {r: list(h) for r, h in self.by_route.items()}
        for other in extra:
            for r, h in other.items():
                cur = merged.setdefault(r, [0.0] * len(h))
                for i, v in enumerate(h):
                    cur[i] += v
        f = HistogramMetricFamily("strata_request_duration_seconds", "Request latency", labels=["route"])
        for route, h in sorted(merged.items()):
            cum, buckets = 0.0, []
            for le, n in zip([*map(str, LATENCY_BUCKETS), "+Inf"], h[:-1]):
                cum += n
                buckets.append((le, cum))
            f.add_metric([route], buckets, h[-1])
        return f


#: The business families: what visitors were shown and did per arm (exposures, conversions, revenue,
#: experiment cohorts, model counters) and the experiments' weights. ``GET /metrics`` serves them only
#: to the stats token's bearer; without a stats token it serves the operational families alone
#: (requests, latency, refusals, bundle, decisions, evaluation errors, consent share), so a server
#: never publishes business counters by default (docs/security.md). The worker's metrics.js has the
#: same list.
BUSINESS = frozenset({
    "strata_variant_exposures", "strata_slot_exposures", "strata_conversions", "strata_conversion_value", "strata_model_visits",
    "strata_experiment_cohort", "strata_experiment_cohort_value", "strata_experiment_variant_weight",
})


class Metrics:
    """``share_dir``: with several worker processes, each publishes its counters there and every
    worker's /metrics adds up its own live counters and its siblings' latest files."""

    def __init__(self, bundle_status: Any = None, measure: Any = None, share_dir: str | None = None, instance_id: str | None = None) -> None:
        self.share_dir = Path(share_dir) if share_dir else None
        # every series carries the identity of this `strata serve` run (shared by its --workers):
        # a restart starts new series instead of resetting, and never merges with another run's
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.pushed: Any = None  # counter_batches.CounterStore in aggregated mode: the fleet's pushed counters
        self.worker = f"worker-{os.getpid()}.json"
        self.decisions = _Family("strata_decisions", "Slot decisions", METRIC_LABELS["strata_decisions_total"])
        self.exposures = _Family("strata_variant_exposures", "Experiment variant exposures (once per visit)", ("experiment", "variant"))
        self.eval_errors = _Family("strata_evaluation_errors", "Conditions that ended in a CEL evaluation error", ())
        self.budget_exceeded = _Family("strata_eval_budget_exceeded", "Conditions stopped by the evaluation budget (also counted as evaluation errors)", ())
        self.requests = _Family("strata_requests", "HTTP requests", ("route", "status"))
        self.reloads = _Family("strata_bundle_reloads", "Bundle loads by result", ("result",))
        self.consent = _Family("strata_decide_requests_by_consent", "Decide and page requests by consent",
                               METRIC_LABELS["strata_decide_requests_by_consent_total"])
        self.ledger_evictions = _Family("strata_visit_ledger_evictions", "Visits the visit ledger forgot before the visit timeout because it "
                                        "was full (each lets a replay of that visit count once more)", ())
        self.fleet_fallbacks = _Family("strata_fleet_ledger_fallbacks", "Conversions, exposures and cohort exposures counted from this "
                                       "process's visit ledger alone because the fleet ledger's owner could not be asked, by reason (unreachable, refused, full)",
                                       METRIC_LABELS["strata_fleet_ledger_fallbacks_total"])
        self.fleet_claims = _Family("strata_fleet_ledger_claims", "Conversions, exposures and cohort exposures claimed at their visit's "
                                    "owner in the fleet ledger, by the owner's answer (first: counted; repeat: counted elsewhere already)", METRIC_LABELS["strata_fleet_ledger_claims_total"])
        self.client_refusals = _Family("strata_client_bundle_refused", "Bundles refused by visitors' browsers, by reason (reported with "
                                       "{refused} on POST /v1/events)", METRIC_LABELS["strata_client_bundle_refused_total"])
        self.rejected = _Family("strata_rejected_requests", "Requests refused with a 4xx", ("code",))
        self.batches = _Family("strata_counter_batches", "Counter batches pushed to POST /v1/counters, by result (ok, duplicate, "
                               "unauthorized, invalid, expired, too_large, too_many_series, busy)", ("result",))
        self.latency = _Latency()
        self._families = [self.decisions, self.exposures, self.eval_errors, self.budget_exceeded, self.requests, self.reloads, self.consent, self.rejected,
                          self.batches, self.ledger_evictions, self.client_refusals, self.fleet_fallbacks, self.fleet_claims]
        self.bundle_status = bundle_status
        self.measure = measure
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.operational = CollectorRegistry(auto_describe=False)
        self.operational.register(_Operational(self))

    # ------------------------------------------------------------------ sharing between workers
    def state(self) -> dict[str, Any]:
        return {"families": {f.name: [[list(k), v] for k, v in f.folded().items()] for f in self._families},
                "latency": self.latency.by_route,
                "measure": self.measure.state() if self.measure is not None else {}}

    def publish(self) -> None:
        """Write this worker's counters (atomically) for its siblings to read."""
        if self.share_dir is None:
            return
        tmp = self.share_dir / (self.worker + ".tmp")
        tmp.write_text(json.dumps(self.state()))
        os.replace(tmp, self.share_dir / self.worker)

    def siblings(self) -> list[dict[str, Any]]:
        if self.share_dir is None:
            return []
        out = []
        for f in self.share_dir.glob("worker-*.json"):
            if f.name == self.worker:
                continue
            try:
                out.append(json.loads(f.read_text()))
            except (OSError, ValueError):
                continue  # being replaced right now, or gone: next scrape has it
        return out

    def collect(self) -> Any:
        from .counter_batches import identified

        return identified(list(self._collect()), self.instance_id, self.pushed)

    def _collect(self) -> Any:
        others = self.siblings()
        for fam in self._families:
            yield fam.family([row for o in others for row in o.get("families", {}).get(fam.name, [])])
        yield self.latency.family([o.get("latency", {}) for o in others])
        if self.measure is not None:
            yield from _measure_families(self.measure.merged([o.get("measure", {}) for o in others]))
        if self.bundle_status is not None:
            yield from _bundle_families(self.bundle_status())

    def render(self, business: bool = True) -> bytes:
        """Prometheus text of every family, or (``business`` False) of the operational ones only."""
        return bytes(generate_latest(self.registry if business else self.operational))


class _Operational:
    """The operational families of a :class:`Metrics` (every family but :data:`BUSINESS`)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Any:
        return (f for f in self.metrics.collect() if f.name not in BUSINESS)


def _measure_families(m: Any) -> Any:
    exp = CounterMetricFamily("strata_slot_exposures", "Exposures (once per visit with consent; per page view without)",
                              labels=list(METRIC_LABELS["strata_slot_exposures_total"]))
    for labels, n in sorted(m.exposures.items()):
        exp.add_metric(list(labels), n)
    conv = CounterMetricFamily("strata_conversions", "Goal conversions (once per visit and goal)", labels=list(METRIC_LABELS["strata_conversions_total"]))
    val = CounterMetricFamily("strata_conversion_value", "Sum of goal values", labels=list(METRIC_LABELS["strata_conversion_value_total"]))
    for labels, v in sorted(m.values.items()):
        conv.add_metric(list(labels), m.conversions.get(labels, 0))
        val.add_metric(list(labels), v)
    models = CounterMetricFamily("strata_model_visits", "Model training counters: visits entering, leaving and converting per feature level "
                                 "(feature * = the visit, @logit = log-odds bucket under the fit, @uplift = uplift-score bucket)", labels=list(METRIC_LABELS["strata_model_visits_total"]))
    for labels, n in sorted(m.models.items()):
        models.add_metric(list(labels), n)
    cohort = CounterMetricFamily("strata_experiment_cohort", "Experiment cohorts: sessions assigned, visits exposed and converting, "
                                 "per variant and allocation period (the weights assigned under)", labels=list(METRIC_LABELS["strata_experiment_cohort_total"]))
    for labels, n in sorted(m.cohorts.items()):
        cohort.add_metric(list(labels), n)
    cvalue = CounterMetricFamily("strata_experiment_cohort_value", "Sum of goal values of converting visits per experiment cohort",
                                 labels=list(METRIC_LABELS["strata_experiment_cohort_value_total"]))
    for labels, v in sorted(m.cohort_values.items()):
        cvalue.add_metric(list(labels), v)
    yield from (exp, conv, val, models, cohort, cvalue)


def _bundle_families(cur: Any) -> Any:
    info = GaugeMetricFamily("strata_bundle_info", "Loaded bundle (value 1)", labels=list(METRIC_LABELS["strata_bundle_info"]))
    version = GaugeMetricFamily("strata_bundle_version", "Version of the loaded bundle")
    age = GaugeMetricFamily("strata_bundle_age_seconds", "Seconds since the loaded bundle was created")
    loaded = GaugeMetricFamily("strata_bundle_loaded", "1 when a verified bundle is loaded")
    if cur is not None:
        info.add_metric([cur.name, str(cur.version), cur.key_id], 1)
        version.add_metric([], cur.version)
        age.add_metric([], max(0.0, time.time() - cur.created))
    loaded.add_metric([], 1 if cur is not None else 0)
    weights = GaugeMetricFamily("strata_experiment_variant_weight", "Configured variant weight in basis points (for sample-ratio checks); "
                                "index: the variant's position in the experiment, 0 = the control", labels=list(METRIC_LABELS["strata_experiment_variant_weight"]))
    if cur is not None:
        slot_of = {cur.payload["experiments"][c["experiment"]]["id"]: sl["id"]
                   for sl in cur.payload["slots"] for c in sl["candidates"] if c.get("experiment") is not None}
        for e in cur.payload["experiments"]:
            for i, (vid, bp, _) in enumerate(e["variants"]):
                weights.add_metric([e["id"], vid, slot_of.get(e["id"], ""), str(i)], bp)
    yield from (info, version, age, loaded, weights)
