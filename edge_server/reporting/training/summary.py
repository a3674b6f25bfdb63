"""The summary ``strata train`` prints: per model the training population, per feature and level
the learned weight with its 95% interval, the pooled levels, and AUC where the counts allow it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial

from edge_server.contract import SCORE
from runtime.format import SCORE_BUCKETS

from .auc import auc
from .calibrate import NO_CROSSES, Reliability, _wilson, selected
from .calibrate import render as render_reliability
from .counts import Fleet
from .model_info import ModelInfo
from .naive_bayes import ArmFit

Z95 = 1.959963984540054

JOINT_AUC_NOTE = (
    "The new fit's AUC over all features together cannot be computed from per-feature counts (there is no joint table); "
    "after publishing, the next run shows it as the deployed fit's AUC on live traffic."
)


def _num(x: float | None, fmt: str = "+.3f") -> str:
    return "-" if x is None else format(x, fmt)


def _arm(fit: ArmFit, k: int) -> Iterable[str]:
    rate = fit.conversions / fit.visits if fit.visits else 0.0
    label = f"arm {fit.arm}: " if fit.arm else ""
    yield f"  {label}{fit.visits:,} visits, {fit.conversions:,} converting ({rate:.2%}); bias {fit.bias:+.4f} (prior log-odds)"
    for f in fit.features:
        yield f"  feature {f.id}: AUC alone {_num(f.auc, '.3f')}"
        yield f"    {'level':<20} {'visits':>10} {'conv':>8} {'rate':>7} {'weight':>9}   95% interval (log LR)"
        for lv in f.levels:
            r = f"{lv.converted / lv.visits:.2%}" if lv.visits else "-"
            note = "  pooled" if lv.pooled else ""
            yield f"    {lv.level:<20} {lv.visits:>10,} {lv.converted:>8,} {r:>7} {lv.weight:>+9.4f}   [{_num(lv.low)}, {_num(lv.high)}]{note}"
        if f.pooled:
            yield f"    pooled (under {k} visits; one estimate, equal weights, 0 if the group is still under {k}): {', '.join(f.pooled)}"


def _uplift_by_level(fits: list[ArmFit]) -> Iterable[str]:
    """Per level, the observed conversion rates of the arms and their difference with a 95% Wald
    interval: what the two arms' weights together express."""
    treat, control = fits
    yield "  uplift by level (treatment rate - control rate, 95% interval):"
    for ft, fc in zip(treat.features, control.features):
        cells = []
        for lt, lc in zip(ft.levels, fc.levels):
            if lt.visits and lc.visits:
                pt, pc = lt.converted / lt.visits, lc.converted / lc.visits
                half = Z95 * math.sqrt(pt * (1 - pt) / lt.visits + pc * (1 - pc) / lc.visits)
                cells.append(f"{lt.level} {pt - pc:+.2%} [{pt - pc - half:+.2%}, {pt - pc + half:+.2%}]")
            else:
                cells.append(f"{lt.level} -")
        yield f"    {ft.id}: " + "; ".join(cells)


def deployed_auc(fleet: Fleet, model: ModelInfo) -> Iterable[str]:
    """AUC of each deployed fit on live traffic, from its ``@logit`` bucket rows (a calibration is
    monotone: it ties buckets at most, so the ranking is the log-odds')."""
    if model.uplift is not None:
        yield "  deployed AUC: not defined for an uplift score (it ranks the treatment's effect, not conversion)"
        return
    deployed = (fleet.specs.get(model.id) or {}).get("fit")
    fits = fleet.score_fits(model.id)
    if not fits:
        yield f"  deployed AUC: no {SCORE} rows in the counters (no fit deployed yet, or no consenting visits)"
        return
    for fit in sorted(fits, key=lambda f: (f != model.fit, f != deployed, f)):
        table = fleet.table(model.id, fit, None, SCORE)
        rows = [(float(level), c.converted, c.visits - c.converted) for level, c in table.items() if _is_number(level)]
        visits = sum(c.visits for c in table.values())
        tags = [t for t, on in (("the rule set's coefficients", fit == model.fit), ("served by the newest snapshot", fit == deployed)) if on]
        tag = f" ({'; '.join(tags)})" if tags else " (an earlier fit)"
        yield (f"  deployed fit {fit}{tag}: AUC {_num(auc(rows), '.3f')} on {visits:,} live visits "
               f"(held out: fitted before these visits; log-odds in buckets of {1 / SCORE_BUCKETS.per_unit:g}, ties within a bucket count half)")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def reliability_lines(model: ModelInfo, rels: list[Reliability]) -> list[str]:
    out: list[str] = []
    for r in rels:
        out.extend(render_reliability(r, model.id))
    return out


def threshold_lines(model: ModelInfo, rels: list[Reliability], fleet: Fleet | None = None) -> Iterable[str]:
    """What each ``score.<model> OP t`` of the rule set selects on the deployed fit's live buckets:
    the share of visits and their observed conversion rate, under the deployed map and the new one;
    for an uplift model their observed uplift, from its ``@uplift`` rows (uplift_thresholds.py)."""
    if not model.thresholds:
        return
    if model.uplift is not None:
        from . import uplift_thresholds

        yield from uplift_thresholds.lines(model, fleet)
        return
    if not rels or not rels[0].rows:
        yield "  thresholds: no score buckets of the deployed fit yet (publish it and let the fleet count)"
        return
    rel = rels[0]
    total = sum(r.visits for r in rel.rows)
    import operator

    ops: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
    crossed = rel.cells != NO_CROSSES
    yield ("  thresholds (what each condition selects among the deployed fit's live visits; observed rate with 95% interval"
           + ("; a bucket's visits split over the crosses' cells by their shares" if crossed else "") + "):")
    for t in model.thresholds:
        parts = []
        for label, new in (("deployed", False), ("new", True)):
            if new and rel.knots is None:
                continue
            n, c = selected(rel, partial(_against, ops[t.op], t.value), new)
            if n >= 0.5:
                lo, hi = _wilson(min(round(c), round(n)), round(n))
                parts.append(f"{label}: {n / total:.1%} of visits, observed {c / n:.2%} [{lo:.2%}, {hi:.2%}]")
            else:
                parts.append(f"{label}: no visit")
        yield f"    score.{model.id} {t.op} {t.value:g} ({t.where}): " + "; ".join(parts)


def _against(op: Callable[[float, float], bool], value: float, x: float) -> bool:
    return op(x, value)


def list_threshold_lines(model: ModelInfo, rels: list[Reliability], fleet: Fleet | None = None) -> list[str]:
    return list(threshold_lines(model, rels, fleet))


def cross_lines(model: ModelInfo, fleet: Fleet, k: int, detail: bool) -> Iterable[str]:
    """Per declared cross: its cost, and whether its cells depart from the additive prediction
    (crosses.py); with ``detail`` (--suggest-crosses) the cells, and the note on undeclared pairs."""
    from .crosses import UNDECLARED, assess, render

    for f in model.features:
        if not f.parts:
            continue
        yield (f"  cross {f.id} = {' x '.join(f.parts)}: {len(f.levels)} levels, one counter row each per arm "
               f"and one cookie byte; its parts are scored through it (weight 0 on their own)")
        for arm in model.arms:
            v = assess(f.id, arm, fleet.table(model.id, model.spec, arm or None, f.id), len(f.parts))
            if v is None:
                yield f"  cross {f.id}{' (arm ' + arm + ')' if arm else ''}: no counts yet"
            else:
                yield from render(v, k, len(f.levels), detail)
    if detail:
        yield UNDECLARED


def render_calibrated(model: ModelInfo, rels: list[Reliability], fleet: Fleet, k: int = 20, suggest: bool = False) -> str:
    """The summary of a calibration: the weights kept, the reliability table, AUC, thresholds."""
    lines = [f"{model.id}: goal {model.goal}, spec {model.spec}; fit {model.fit} kept (weights unchanged) and calibrated from its live score buckets; "
             f"counters of {fleet.instances} instance(s) (the latest snapshot of each; {fleet.snapshots} read)"]
    lines.extend(reliability_lines(model, rels))
    lines.extend(deployed_auc(fleet, model))
    lines.extend(threshold_lines(model, rels, fleet))
    lines.extend(cross_lines(model, fleet, k, suggest))
    return "\n".join(lines)


def render(model: ModelInfo, fits: list[ArmFit], fleet: Fleet, k: int, suggest: bool = False) -> str:
    uplift = " uplift (one naive Bayes per arm)" if model.uplift is not None else ""
    lines = [f"{model.id}{uplift}: goal {model.goal}, spec {model.spec}; counters of {fleet.instances} instance(s) (the latest snapshot of each; {fleet.snapshots} read)"]
    for fit in fits:
        lines.extend(_arm(fit, k))
    if model.uplift is not None:
        lines.extend(_uplift_by_level(fits))
    lines.extend(deployed_auc(fleet, model))
    lines.extend(cross_lines(model, fleet, k, suggest))
    lines.append(f"  {JOINT_AUC_NOTE}")
    lines.append("  not calibrated: these weights are new; publish them, and once the fleet has counted their score buckets "
                 "strata train calibrates them (docs/models.md, Calibration)")
    return "\n".join(lines)
