"""The coefficient file ``strata train`` writes: the contract's map (``model``, ``spec``, ``bias``,
``weights`` by feature and level name; uplift models ``treatment``/``control``), every level listed
in bundle order, behind a header saying what it was fitted from. Same input, same bytes: the header's
time is the newest snapshot's, not the clock's.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .calibrate import Reliability
from .model_info import CurrentSet, ModelInfo
from .naive_bayes import ArmFit


class _Quoted(str):
    """A string YAML must quote (a fit of 8 digits would read back as a number)."""


yaml.SafeDumper.add_representer(_Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="'"))


class _Flow(list):  # type: ignore[type-arg]
    """A knot ``[z, p]``, written on one line."""


yaml.SafeDumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _set(fit: ArmFit | CurrentSet, knots: tuple[tuple[float, float], ...] | None = None, fitted_for: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"bias": fit.bias, "weights": fit.weights() if callable(fit.weights) else fit.weights}
    if knots:
        out["calibration"] = {"fit": _Quoted(fitted_for), "knots": [_Flow([z, p]) for z, p in knots]}
    return out


def _population(fit: ArmFit | CurrentSet) -> str:
    return f"{fit.visits:,} visits, {fit.conversions:,} converting"


def render(model: ModelInfo, fits: Sequence[ArmFit | CurrentSet], *, k: int, instances: int, snapshots: int, latest: float | None,
           calibrations: list[Reliability] | None = None) -> str:
    """The file: new naive-Bayes ``fits`` (uncalibrated), or the rule set's ``current`` sets kept
    with the new ``calibrations`` (one per arm) fitted from the deployed fit's score buckets."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(latest)) if latest is not None else "unknown time (scrapes carry none)"
    knots = [r.knots for r in calibrations] if calibrations else [None] * len(fits)
    if model.uplift is None:
        population = _population(fits[0])
        body: dict[str, Any] = {"model": model.id, "spec": model.spec, **_set(fits[0], knots[0], model.fit)}
    else:
        population = "; ".join(f"{f.arm}: {_population(f)}" for f in fits)
        body = {"model": model.id, "spec": model.spec, **{f.arm: _set(f, kn, model.fit) for f, kn in zip(fits, knots)}}
    if calibrations:
        cal = "; ".join(f"{r.arm + ': ' if r.arm else ''}{r.visits:,} visits, {r.conversions:,} converting" for r in calibrations)
        header = [
            f"# Weights kept (fit {model.fit}); calibrated by strata train: isotonic regression of the live conversion rate on the log-odds buckets.",
            f"# Calibrated from {cal} under fit {model.fit}; {instances} instance(s) (the latest snapshot of each; {snapshots} read), newest counters {when}.",
            "# Generated: change the rule set or the data and run strata train again (docs/models.md, Calibration).",
        ]
    else:
        header = [
            f"# Fitted by strata train: naive Bayes (Laplace smoothing), levels under {k} visits pooled.",
            f"# From {population}; {instances} instance(s) (the latest snapshot of each; {snapshots} read), newest counters {when}.",
            "# Generated: change the rule set or the data and run strata train again (docs/models.md, Training).",
        ]
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


class NotWritable(Exception):
    """A file ``strata train`` must not replace; the message names it and says why."""


def check(path: Path) -> None:
    """Refuse to replace a file whose permissions say no: one that is not writable by this user, or
    read-only for everyone (root may write anything, but a read-only file says it should not be);
    or a new file in a folder this user cannot write."""
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise NotWritable(f"{path} is not a regular file: strata train writes only coefficient files")
        if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
            raise NotWritable(f"{path} is read-only: strata train does not replace it (make it writable, or pass --out FILE)")
    else:
        parent = next((p for p in path.parents if p.exists()), Path("."))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise NotWritable(f"{path}: cannot create a file in {parent} (not writable by this user)")


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a compile or a watcher never sees half a file), after
    :func:`check`: written to a new temporary file in the same folder (created exclusively, so no
    planted file or link is followed), given the old file's permissions, then renamed over it."""
    check(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
