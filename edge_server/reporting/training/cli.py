"""``strata train RULESET STATS...``: fit the rule set's models from a fleet's counters and write
their coefficient files (docs/models.md, Training). Registered through the ``strata.commands``
entry point ``train``; the ``[train]`` extra installs what it needs (SciPy, the compiler's YAML)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.cli import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .calibrate import Cells, Reliability
    from .counts import Fleet
    from .model_info import CurrentSet, ModelInfo
    from .naive_bayes import ArmFit


class Refused(Exception):
    """Too little data for a model (the message says what there is, what is needed, what to do)."""


def _fit(model: ModelInfo, fleet: Fleet, a: argparse.Namespace) -> list[ArmFit]:
    from edge_server.contract import ALL

    from .naive_bayes import fit_arm

    fits = []
    for arm in model.arms:
        total = fleet.table(model.id, model.spec, arm or None, ALL).get(ALL)
        visits = total.visits if total else 0
        conv = total.converted if total else 0
        if visits < a.min_visits or conv < a.min_conversions:
            arm_s = f" in arm {arm}" if arm else ""
            others = {s: n for s, n in fleet.specs_seen(model.id).items() if s != model.spec}
            hint = "Let the fleet count more visits and run strata train again, or lower --min-visits/--min-conversions knowingly."
            if others and visits == 0:
                listed = ", ".join(f"{s} ({n:,} visits)" for s, n in sorted(others.items()))
                hint = (f"The counters are for other feature specs ({listed}): publish a bundle with the current features first "
                        "(without the stale coefficient file: every weight 0), then train on its counters.")
            raise Refused(f"{model.id}: {visits:,} visits and {conv:,} converting visits{arm_s} under spec {model.spec}; "
                          f"training needs at least {a.min_visits:,} visits and {a.min_conversions:,} converting visits "
                          f"(--min-visits, --min-conversions). {hint}")
        assert total is not None  # visits >= min_visits >= 1
        tables = {f.id: fleet.table(model.id, model.spec, arm or None, f.id) for f in model.features}
        try:
            fitted = fit_arm(arm, total, {f.id: f.levels for f in model.features}, tables, a.k)
        except ValueError as e:  # every visit converted: no prior log-odds
            raise Refused(f"{model.id}: {e}") from None
        fits.append(through_crosses(fitted, {p for f in model.features for p in f.parts}))
    return fits


def through_crosses(fit: ArmFit, parts: set[str]) -> ArmFit:
    """A feature that a cross combines is scored through the cross: the cross's weight per
    combination is the joint likelihood ratio of its parts, so their own weights would count the
    same evidence twice. They keep their rows and intervals, with weight 0."""
    if not parts:
        return fit
    from dataclasses import replace

    return replace(fit, features=tuple(replace(f, levels=tuple(replace(lv, weight=0.0) for lv in f.levels)) if f.id in parts else f
                                       for f in fit.features))


def _deployed_map(cur: CurrentSet | None) -> Callable[[float], float]:
    """What the rule set's current set maps its log-odds without crosses to: its calibration, else itself."""
    from runtime.score import calibration

    if cur is not None and cur.knots:
        return calibration([list(k) for k in cur.knots])
    return lambda z: z


def _cells(model: ModelInfo, fleet: Fleet, arm: str, cur: CurrentSet | None) -> Cells:
    """The crosses' cells of one arm: per combination of the crosses' levels, its share of the
    visits (each cross's own counters; several crosses taken as independent) and the sum of their
    weights in the current set. [(1.0, 0.0)] for a model without crosses."""
    from .calibrate import NO_CROSSES

    cells = NO_CROSSES
    for f in model.features:
        if not f.parts:
            continue
        table = fleet.table(model.id, model.spec, arm or None, f.id)
        total = sum(max(c.visits, 0) for c in table.values())
        if total <= 0:
            continue
        weights = cur.weights.get(f.id, {}) if cur is not None else {}
        own = [(max(c.visits, 0) / total, weights.get(level, 0.0)) for level, c in table.items() if c.visits > 0]
        cells = [(w1 * w2, g1 + g2) for w1, g1 in cells for w2, g2 in own]
    return cells


def _calibrate(model: ModelInfo, fleet: Fleet, a: argparse.Namespace) -> tuple[list[Reliability], str | None]:
    """The reliability table of the fit the rule set holds (and the fleet counted) per arm, with a
    new calibration; the refusal message when its buckets hold too little (tables kept)."""
    from edge_server.contract import SCORE

    from .calibrate import TooLittle, reliability

    rels, refusal = [], None
    for j, arm in enumerate(model.arms):
        cur = model.current[j] if j < len(model.current) else None
        table = fleet.table(model.id, model.fit, arm or None, SCORE)
        try:
            rels.append(reliability(arm, model.fit, table, _deployed_map(cur), min_visits=a.min_calibration_visits,
                                    min_conversions=a.min_calibration_conversions, min_group=a.calibration_group, model=model.id,
                                    cells=_cells(model, fleet, arm, cur)))
        except TooLittle as e:
            rels.append(e.args[1])
            refusal = refusal or str(e.args[0])
    return rels, refusal


def cmd_train(a: argparse.Namespace) -> int:
    from edge_server.contract import LEGACY_SCORE, SCORE

    from . import summary, write
    from .counts import CountsError, load
    from .model_info import RuleSetError, models

    try:
        declared = models(a.ruleset)
    except RuleSetError as e:
        raise UserError(str(e)) from None
    chosen = [m for m in declared if a.model is None or m.id in a.model]
    unknown = sorted(set(a.model or ()) - {m.id for m in declared})
    if unknown:
        raise UserError(f"{a.ruleset}: no model {', '.join(unknown)} (declared: {', '.join(m.id for m in declared)})")
    if a.out is not None and len(chosen) != 1:
        raise UserError(f"--out names one file but {len(chosen)} models would be trained: add --model M")
    targets: dict[str, Path] = {}
    if a.model is None:  # all models: those with inline (hand-set) coefficients keep them
        for m in chosen:
            if m.target is None:
                what = "inline coefficients, kept as written" if m.inline else "no coefficients: (score 0.5), skipped"
                print(f"{m.id}: {what} (name it with --model and --out to train it)")
        chosen = [m for m in chosen if m.target is not None]
        if not chosen:
            raise UserError(f"{a.ruleset}: no model names a coefficient file; train one with --model M --out FILE and point its coefficients: at FILE")
    for m in chosen:
        target = Path(a.out) if a.out is not None else m.target
        if target is None:
            what = "inline coefficients, which strata train does not rewrite" if m.inline else "no coefficients: entry"
            raise UserError(f"{m.where}: model {m.id} has {what}; name a file (coefficients: {m.id}.coefficients.yaml) "
                            f"or pass --out FILE")
        targets[m.id] = target
    if a.k < 1 or a.min_visits < 1 or a.min_conversions < 1 or a.min_calibration_visits < 1 or a.min_calibration_conversions < 1 or a.calibration_group < 1:
        raise UserError("--k, --min-visits, --min-conversions, --min-calibration-visits, --min-calibration-conversions and --calibration-group must be at least 1")
    if a.refit and a.calibrate:
        raise UserError("--refit and --calibrate contradict each other: pick one")
    from edge_server.reporting.prometheus import load as read_stats

    try:
        fleet = load(a.stats, lambda paths: read_stats(a, paths))
    except CountsError as e:
        raise UserError(str(e)) from None

    #: (model, the sets to write, their calibrations or None, lines printed after its summary)
    results: list[tuple[ModelInfo, Any, list[Reliability] | None, list[str]]] = []
    refused: list[str] = []
    for m in chosen:
        trained = bool(m.current) and all(c.trained for c in m.current)
        counted = m.fit in fleet.score_fits(m.id)
        tables, why_not = _calibrate(m, fleet, a) if trained and counted else ([], None)
        if trained and counted and why_not is None and not a.refit:
            results.append((m, list(m.current), tables, []))  # the weights kept, calibrated
            continue
        if a.calibrate:
            refused.append(why_not or (f"{m.id}: the rule set's fit {m.fit} is " + ("untrained (every weight 0): train it first, without --calibrate"
                                                                                    if not trained else "not in the counters: publish it, let the fleet count it, then calibrate")))
            continue
        try:
            fits = _fit(m, fleet, a)
        except Refused as e:
            refused.append(str(e))
            continue
        after = summary.reliability_lines(m, tables) + summary.list_threshold_lines(m, tables, fleet)
        if why_not:
            after.append(f"  not calibrated: {why_not}")
        elif a.refit and tables:
            after.append("  not calibrated: --refit: the new weights start a new fit; its score buckets calibrate it next time")
        results.append((m, fits, None, after))
    for m, fits, cal, after in results:
        if cal is not None:
            print(summary.render_calibrated(m, cal, fleet, a.k, a.suggest_crosses))
        else:
            print(summary.render(m, fits, fleet, a.k, a.suggest_crosses))
        for line in after:
            print(line)
        ignored = {s: n for s, n in fleet.specs_seen(m.id).items() if s != m.spec}
        if ignored:
            print(f"  ignored: counters of other specs ({', '.join(f'{s}: {n:,} visits' for s, n in sorted(ignored.items()))}); the features changed since")
        legacy = fleet.legacy_visits(m.id)
        if legacy:
            print(f"  ignored: {legacy:,} visits in 0.05-wide {LEGACY_SCORE} rows counted before the log-odds buckets (old snapshots or series); "
                  f"calibration and AUC read the {SCORE} rows")
    if refused:
        for r in refused:
            print(f"strata train: refused: {r}", file=sys.stderr)
        print("strata train: nothing written (train the others alone with --model)" if results else "strata train: nothing written", file=sys.stderr)
        return 1
    if not a.dry_run:
        try:  # every target before any: a refusal writes nothing
            for m, _, _, _ in results:
                write.check(targets[m.id])
        except write.NotWritable as e:
            raise UserError(str(e)) from None
    for m, fits, cal, _ in results:
        text = write.render(m, fits, k=a.k, instances=fleet.instances, snapshots=fleet.snapshots, latest=fleet.latest, calibrations=cal)
        if a.dry_run:
            print(f"  --dry-run: would write {targets[m.id]}")
        else:
            write.write(targets[m.id], text)
            print(f"  wrote {targets[m.id]}")
    return 0


def register(sub: Any) -> None:
    """Add ``strata train`` to the ``strata`` parser (``runtime/cli.py``)."""
    t = sub.add_parser(
        "train",
        help="fit the rule set's models from fleet counters",
        description="Fit each model of a rule set (naive Bayes, closed form) from the model counters of GET /v1/stats snapshots or /metrics scrapes "
        "(latest snapshot per instance, instances summed; only rows of the models' current spec), write the coefficient files the rule set names, "
        "and print a summary. A trained fit that the fleet has counted in its score buckets is calibrated instead (weights kept; isotonic regression "
        "of the live conversion rate on the log-odds buckets; docs/models.md, Calibration), with the reliability table. Exit 1, writing nothing, when a model has too little data, or the counts are no fleet's (a value that is no "
        "count, left above entered, converted above a level's visits: docs/security.md, Measurement integrity).",
    )
    t.add_argument("ruleset", help="rule-set YAML file with a models: block")
    t.add_argument("stats", nargs="*", help="stats snapshots (JSON from GET /v1/stats) or Prometheus scrapes (/metrics) of the fleet; or --prometheus")
    t.add_argument("--model", action="append", metavar="M", help="train only this model (repeatable; default: all)")
    t.add_argument("--k", type=int, default=20, help="levels seen in fewer visits are pooled into one estimate (default: 20)")
    t.add_argument("--min-visits", type=int, default=1000, help="refuse a model (per arm for uplift) with fewer visits (default: 1000)")
    t.add_argument("--min-conversions", type=int, default=50, help="refuse a model (per arm for uplift) with fewer converting visits (default: 50)")
    t.add_argument("--refit", action="store_true", help="refit the weights even when the deployed fit could be calibrated (the calibration starts over)")
    t.add_argument("--calibrate", action="store_true", help="only calibrate the fit the rule set holds: exit 1 when its score buckets hold too little")
    t.add_argument("--min-calibration-visits", type=int, default=2000, help="calibrate a fit (per arm) from at least this many visits in its score buckets (default: 2000)")
    t.add_argument("--min-calibration-conversions", type=int, default=100,
                   help="... and at least this many converting visits (default: 100)")
    t.add_argument("--calibration-group", type=int, default=200, help="buckets are pooled into groups of at least this many visits, one knot each (default: 200)")
    t.add_argument("--suggest-crosses", action="store_true",
                   help="print each declared cross's cells against the additive prediction (keep or drop it); crosses are never added for you")
    t.add_argument("--out", metavar="FILE", help="write here instead of the file the model's coefficients: names (one model)")
    t.add_argument("--dry-run", action="store_true", help="print the summary, write nothing")
    from edge_server.reporting.prometheus import add_arguments

    add_arguments(t)
    t.set_defaults(func=cmd_train)
