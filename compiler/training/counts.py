"""The model counters of a fleet, as training reads them.

Input: stats snapshots (``GET /v1/stats``, JSON ``strata-stats/1`` with ``models`` rows
``{"model","spec","arm","feature","level","entered","left","converted"}`` and ``model_specs``) or
Prometheus scrapes (``strata_model_visits_total{model,spec,arm,feature,level,event}``). As in
``strata report``: counters are cumulative per process, so per instance the latest snapshot counts,
and instances add up. A level's visits are its *net* visits (entered - left); its converting visits
are ``converted``. Feature ``*`` level ``*`` is the visit total; feature ``@score`` rows carry the
fit (not the spec) in their ``spec`` field.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALL = "*"
SCORE = "@score"


class CountsError(ValueError):
    """A stats file that cannot be read as Strata counters (message names the file)."""


@dataclass
class Cell:
    visits: int = 0  # net: entered - left
    converted: int = 0


@dataclass
class Fleet:
    #: (model, spec-or-fit, arm, feature, level) -> counts, summed over instances
    cells: dict[tuple[str, str, str, str, str], Cell] = field(default_factory=lambda: defaultdict(Cell))
    #: model id -> the ``model_specs`` entry the fleet reports (spec, fit, goal, uplift, features)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: int = 0
    snapshots: int = 0
    latest: float | None = None  # newest ``generated`` time (s since the epoch) among the inputs

    def table(self, model: str, spec: str, arm: str | None, feature: str) -> dict[str, Cell]:
        """level -> counts for one feature (``arm`` None: every arm summed)."""
        out: dict[str, Cell] = defaultdict(Cell)
        for (m, s, a, f, level), c in self.cells.items():
            if m == model and s == spec and f == feature and (arm is None or a == arm):
                out[level].visits += c.visits
                out[level].converted += c.converted
        return dict(out)

    def specs_seen(self, model: str) -> dict[str, int]:
        """spec (or fit, for ``@score`` rows) -> visits counted under it, for notes about ignored rows."""
        seen: dict[str, int] = defaultdict(int)
        for (m, s, _a, f, _l), c in self.cells.items():
            if m == model and f == ALL:
                seen[s] += c.visits
        return dict(seen)

    def score_fits(self, model: str) -> list[str]:
        return sorted({s for (m, s, _a, f, _l) in self.cells if m == model and f == SCORE})


_PROM = re.compile(r"^strata_model_visits_total\{(.*)\}\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_EVENTS = ("entered", "left", "converted")


def _unescape(v: str) -> str:
    # Prometheus label values escape only backslash, double quote and newline.
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def _parse_prometheus(text: str, where: str) -> dict[str, Any]:
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    keys = ("model", "spec", "arm", "feature", "level")
    for line in text.splitlines():
        m = _PROM.match(line)
        if not m:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(1))}
        if labels.get("event") not in _EVENTS or any(k not in labels for k in keys):
            continue
        key = tuple(labels[k] for k in keys)
        row = rows.setdefault(key, {**dict(zip(keys, key)), "entered": 0, "left": 0, "converted": 0})
        row[labels["event"]] = int(float(m.group(2)))
    return {"format": "prometheus", "instance": where, "generated": None, "models": list(rows.values()), "model_specs": {}}


def read(path: str) -> dict[str, Any]:
    """One snapshot: the JSON of ``/v1/stats`` or the text of ``/metrics``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CountsError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CountsError(f"{path}: not text (expected a /v1/stats snapshot or a /metrics scrape)") from None
    if text.lstrip().startswith("{"):
        try:
            snap = json.loads(text)
        except json.JSONDecodeError as e:
            raise CountsError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(snap, dict) or snap.get("format") != "strata-stats/1":
            raise CountsError(f"{path}: not a Strata stats snapshot (GET /v1/stats)")
        if not isinstance(snap.get("models", []), list) or not isinstance(snap.get("model_specs", {}), dict):
            raise CountsError(f"{path}: malformed 'models' or 'model_specs' (expected a list of rows and a map)")
        return snap
    snap = _parse_prometheus(text, path)
    if not snap["models"] and "strata_" not in text:
        raise CountsError(f"{path}: neither a /v1/stats snapshot nor a /metrics scrape of a Strata server")
    return snap


def merge(snaps: list[dict[str, Any]]) -> Fleet:
    latest: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(snaps):
        inst = str(s.get("instance") or f"#{i}")
        prev = latest.get(inst)
        if prev is None or (s.get("generated") or 0) >= (prev.get("generated") or 0):
            latest[inst] = s
    fleet = Fleet(instances=len(latest), snapshots=len(snaps))
    times = [float(s["generated"]) for s in snaps if isinstance(s.get("generated"), int | float)]
    fleet.latest = max(times) if times else None
    for inst in sorted(latest):
        s = latest[inst]
        for r in s.get("models", []):
            try:
                key = (str(r["model"]), str(r["spec"]), str(r.get("arm", "")), str(r["feature"]), str(r["level"]))
                entered, left, converted = int(r.get("entered", 0)), int(r.get("left", 0)), int(r.get("converted", 0))
            except (KeyError, TypeError, ValueError):
                raise CountsError(f"{inst}: malformed models row {r!r}") from None
            cell = fleet.cells[key]
            cell.visits += entered - left
            cell.converted += converted
        for mid, spec in sorted(s.get("model_specs", {}).items()):
            fleet.specs.setdefault(mid, spec)
    return fleet


def load(paths: list[str]) -> Fleet:
    return merge([read(p) for p in paths])
