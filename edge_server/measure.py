"""Aggregate measurement: exposures and conversions per slot × arm × layer × population.

An *arm* is what a slot showed: a rule id, ``experiment/variant``, or ``default``. The population
is ``personalized`` (consent, not in the holdout), ``holdout`` (consent, in the global holdout:
every slot shows its default) or ``no_consent``. With consent, an exposure counts once per visit
(the visit's exposure keys live in the visitor's own cookie) and a goal converts at most once per
visit, with its value, attributed to every arm the visit was shown and to the overall row (arm
``*``); edge_server/events.py decides what is a first conversion. Without consent there is no
cookie: every page view counts as an exposure and conversions count only in the overall row.
Nothing per visitor is stored on the server: only these sums.

Experiment **cohorts** (docs/measurement.md, "Adaptive allocation"): per experiment × variant ×
period (the weights the visitor was assigned under), how many sessions were ``assigned``, how many
visits were ``exposed`` and how many of those visits ``converted`` each goal (with the value), so
that a report can compare arms within a period even after the weights changed.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from typing import Any

from runtime.decide import Prepared
from runtime.decision import Decision

from . import model_counts
from .contract import ALL as ALL
from .contract import POPULATIONS as POPULATIONS
from .contract import STATS_FORMAT
from .tally import Tally

#: The populations an exposure or conversion counts in (POPULATIONS), as ``Arm.exposure`` indexes them.
PERSONALIZED, HOLDOUT, NO_CONSENT = range(3)


def arm_of(d: Decision) -> tuple[str, str]:
    """(arm, layer) of a decision."""
    if d.variant:
        return f"{d.experiment}/{d.variant}", d.layer or ""
    return d.rule or "default", d.layer or ""


def exposure_key(slot: str, arm: str, layer: str) -> str:
    """The key a visit's cookie remembers for an exposure (``Session.shown``): ``slot|arm|layer``."""
    return f"{slot}|{arm}|{layer}"


def parse_exposure_key(key: str) -> tuple[str, str, str]:
    """(slot, arm, layer) of an exposure key; the inverse of :func:`exposure_key`."""
    slot, arm, layer = key.split("|")
    return slot, arm, layer


def population_of(prepared: Prepared, session_id: str | None, consent: bool) -> int:
    """The population index (``POPULATIONS``) a visitor counts in: without consent ``no_consent``;
    with it ``holdout`` or ``personalized``, by the bundle's own holdout membership."""
    if not consent or session_id is None:
        return NO_CONSENT
    return HOLDOUT if prepared.in_holdout(session_id) else PERSONALIZED


def period_of(experiment: dict[str, Any]) -> str:
    """The allocation period of a bundle experiment: its variant weights in basis points joined by
    ``/`` in variant order, e.g. ``"7300/2700"`` (contract of issue #16, §4)."""
    return "/".join(str(v[1]) for v in experiment["variants"])


def periods_of(prepared: Prepared) -> dict[str, str]:
    """Experiment id -> its current period, for one bundle."""
    return {e["id"]: period_of(e) for e in prepared.payload["experiments"]}


class Arm:
    """What one decision counts as (docs/measurement.md), computed once per decision and bundle."""

    __slots__ = ("labels", "key", "exposure")

    def __init__(self, d: Decision):
        arm, layer = arm_of(d)
        self.labels = (d.slot, d.reason, layer)  # strata_decisions{slot, reason, layer}
        self.key = exposure_key(d.slot, arm, layer)  # the exposure key the visitor's cookie remembers
        self.exposure = tuple((d.slot, arm, layer, p) for p in POPULATIONS)  # by population index


class Arms:
    """The arms of one combination of decisions (a response's, in the outcome's order), built once
    per combination and bundle: ``strata_decisions`` counts the combination once per request and
    adds it to each of its arms' labels when read (metrics.py, ``_Family.combined``)."""

    __slots__ = ("arms", "labels")

    def __init__(self, arms: tuple[Arm, ...]):
        self.arms = arms
        self.labels = tuple(a.labels for a in arms)  # the strata_decisions labels counted once each


class Measurement:
    def __init__(self) -> None:
        self.instance = f"{uuid.uuid4().hex[:12]}-{os.getpid()}"
        self.started = time.time()
        self.exposures: Counter[tuple[str, str, str, str]] = Counter()  # slot, arm, layer, population (the server adds)
        self.conversions: Counter[tuple[str, str, str, str, str]] = Counter()  # goal, slot, arm, layer, population
        self.values: Tally[tuple[str, str, str, str, str]] = Tally()
        self.models: Counter[model_counts.Key] = Counter()  # model, spec, arm, feature, level, event (model_counts.py)
        self.cohorts: Counter[tuple[str, str, str, str, str]] = Counter()  # experiment, variant, period, event, goal
        self.cohort_values: Tally[tuple[str, str, str, str]] = Tally()  # experiment, variant, period, goal

    def conversion(self, goal: str, key: tuple[str, str, str], population: str, value: float) -> None:
        """Count one conversion of ``goal`` with its value for ``key`` (slot, arm, layer)."""
        k = (goal, *key, population)
        self.conversions[k] += 1
        self.values[k] += value

    def attribute(self, goal: str, shown: list[str], population: str, value: float) -> None:
        """A visit's first conversion of ``goal``: counted for every arm the visit was shown (its
        exposure keys) and in the overall row."""
        for key in shown:
            self.conversion(goal, parse_exposure_key(key), population, value)
        self.conversion(goal, (ALL, ALL, ""), population, value)

    def cohort_exposure(self, experiment: str, variant: str, period: str, assigned: bool) -> None:
        """A visit's first exposure to ``experiment`` (and, when ``assigned``, the session's new assignment)."""
        if assigned:
            self.cohorts[(experiment, variant, period, "assigned", "")] += 1
        self.cohorts[(experiment, variant, period, "exposed", "")] += 1

    def cohort_conversion(self, goal: str, exposed: list[tuple[str, str, str]], value: float) -> None:
        """A visit's first conversion of ``goal``: counted in the cohort of every experiment the
        visit was exposed to (``Session.exposed_this_visit``)."""
        for exp, variant, period in exposed:
            self.cohorts[(exp, variant, period, "converted", goal)] += 1
            self.cohort_values[(exp, variant, period, goal)] += value

    def state(self) -> dict[str, Any]:
        """The counters as JSON-able lists (for sharing between worker processes)."""
        return {"exposures": [[list(k), n] for k, n in self.exposures.items()],
                "conversions": [[list(k), n] for k, n in self.conversions.items()],
                "values": [[list(k), v] for k, v in self.values.items()],
                "models": [[list(k), n] for k, n in self.models.items()],
                "cohorts": [[list(k), n] for k, n in self.cohorts.items()],
                "cohort_values": [[list(k), v] for k, v in self.cohort_values.items()]}

    def merged(self, states: list[dict[str, Any]]) -> Measurement:
        """A Measurement holding these counters plus the ``states`` of sibling workers."""
        out = Measurement()
        out.instance, out.started = self.instance, self.started
        out.exposures.update(self.exposures)
        out.conversions.update(self.conversions)
        out.values.update(self.values)
        out.models.update(self.models)
        out.cohorts.update(self.cohorts)
        out.cohort_values.update(self.cohort_values)
        for st in states:
            for k, n in st.get("exposures", []):
                out.exposures[tuple(k)] += n
            for k, n in st.get("conversions", []):
                out.conversions[tuple(k)] += n
            for k, v in st.get("values", []):
                out.values[tuple(k)] += v
            for k, n in st.get("models", []):
                out.models[tuple(k)] += n
            for k, n in st.get("cohorts", []):
                out.cohorts[tuple(k)] += n
            for k, v in st.get("cohort_values", []):
                out.cohort_values[tuple(k)] += v
        return out

    def snapshot(self, prepared: Any) -> dict[str, Any]:
        experiments = {}
        if prepared is not None:
            for e in prepared.payload["experiments"]:
                slot = next((sl["id"] for sl in prepared.payload["slots"] for c in sl["candidates"] if c.get("experiment") is not None
                             and prepared.payload["experiments"][c["experiment"]]["id"] == e["id"]), None)
                experiments[e["id"]] = {"slot": slot, "variants": [[v[0], v[1]] for v in e["variants"]],
                                        "traffic_bp": e["end"] - e["start"], "period": period_of(e)}
        return {
            "format": STATS_FORMAT,
            "instance": self.instance,
            "started": self.started,
            "generated": time.time(),
            "bundle": {"name": prepared.name, "version": prepared.version} if prepared is not None else None,
            "holdout_bp": prepared.holdout_bp if prepared is not None else 0,
            "experiments": experiments,
            "exposures": [{"slot": s, "arm": a, "layer": la, "population": p, "count": n}
                          for (s, a, la, p), n in sorted(self.exposures.items())],
            "conversions": [{"goal": g, "slot": s, "arm": a, "layer": la, "population": p, "count": self.conversions.get(k, 0),
                             "value": round(v, 6)} for k, v in sorted(self.values.items()) for (g, s, a, la, p) in [k]],
            "models": model_counts.rows(self.models),
            "model_specs": model_counts.specs(prepared),
            "cohorts": [{"experiment": e, "variant": v, "period": pd, "event": ev, "goal": g, "count": n,
                         "value": round(self.cohort_values.get((e, v, pd, g), 0.0), 6) if ev == "converted" else 0.0}
                        for (e, v, pd, ev, g), n in sorted(self.cohorts.items())],
        }
