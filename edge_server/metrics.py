"""Prometheus metrics of one server process. Each app owns its registry (no global state).

Nothing here is per visitor: labels are slots, rules, reasons, layers, experiments, variants,
goals and routes, all bounded by the bundle.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self, bundle_status: Any = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter("strata_decisions", "Slot decisions", ["slot", "reason", "layer"], registry=r)
        self.exposures = Counter("strata_variant_exposures", "Experiment variant exposures (once per visit)", ["experiment", "variant"], registry=r)
        self.eval_errors = Counter("strata_evaluation_errors", "Conditions that ended in a CEL evaluation error", registry=r)
        self.requests = Counter("strata_requests", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram("strata_request_duration_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.reloads = Counter("strata_bundle_reloads", "Bundle loads by result", ["result"], registry=r)
        self.goals = Counter("strata_goal_conversions", "Goal events", ["goal", "experiment", "variant", "population"], registry=r)
        self.goal_value = Counter("strata_goal_value", "Sum of goal values", ["goal", "experiment", "variant", "population"], registry=r)
        self.consent = Counter("strata_decide_requests_by_consent", "Decide and page requests by consent", ["consent"], registry=r)
        self.rejected = Counter("strata_rejected_requests", "Requests refused with a 4xx", ["code"], registry=r)
        if bundle_status is not None:
            r.register(_BundleCollector(bundle_status))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class _BundleCollector:
    """Bundle name/version/age, read at scrape time."""

    def __init__(self, status: Any) -> None:
        self.status = status

    def describe(self) -> Any:
        # names only, so registration does not read the (not yet existing) bundle
        yield GaugeMetricFamily("strata_bundle_info", "Loaded bundle (value 1)", labels=["name", "version", "key_id"])
        yield GaugeMetricFamily("strata_bundle_version", "Version of the loaded bundle")
        yield GaugeMetricFamily("strata_bundle_age_seconds", "Seconds since the loaded bundle was created")
        yield GaugeMetricFamily("strata_bundle_loaded", "1 when a verified bundle is loaded")

    def collect(self) -> Any:
        cur = self.status()
        info = GaugeMetricFamily("strata_bundle_info", "Loaded bundle (value 1)", labels=["name", "version", "key_id"])
        version = GaugeMetricFamily("strata_bundle_version", "Version of the loaded bundle")
        age = GaugeMetricFamily("strata_bundle_age_seconds", "Seconds since the loaded bundle was created")
        loaded = GaugeMetricFamily("strata_bundle_loaded", "1 when a verified bundle is loaded")
        if cur is not None:
            info.add_metric([cur.name, str(cur.version), cur.key_id], 1)
            version.add_metric([], cur.version)
            age.add_metric([], max(0.0, time.time() - cur.created))
        loaded.add_metric([], 1 if cur is not None else 0)
        yield from (info, version, age, loaded)
