"""The summary ``strata train`` prints: per model the training population, per feature and level
the learned weight with its 95% interval, the pooled levels, and AUC where the counts allow it."""

from __future__ import annotations

import math
from collections.abc import Iterable

from edge_server.contract import SCORE

from .auc import auc
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
    """AUC of each deployed fit on live traffic, from its ``@score`` bucket rows."""
    if model.uplift is not None:
        yield "  deployed AUC: not defined for an uplift score (it ranks the treatment's effect, not conversion)"
        return
    deployed = (fleet.specs.get(model.id) or {}).get("fit")
    fits = fleet.score_fits(model.id)
    if not fits:
        yield "  deployed AUC: no @score rows in the counters (no fit deployed yet, or no consenting visits)"
        return
    for fit in sorted(fits, key=lambda f: (f != model.fit, f != deployed, f)):
        table = fleet.table(model.id, fit, None, SCORE)
        rows = [(float(level), c.converted, c.visits - c.converted) for level, c in table.items() if _is_number(level)]
        visits = sum(c.visits for c in table.values())
        tags = [t for t, on in (("the rule set's coefficients", fit == model.fit), ("served by the newest snapshot", fit == deployed)) if on]
        tag = f" ({'; '.join(tags)})" if tags else " (an earlier fit)"
        yield (f"  deployed fit {fit}{tag}: AUC {_num(auc(rows), '.3f')} on {visits:,} live visits "
               "(held out: fitted before these visits; scores in buckets of 0.05, ties within a bucket count half)")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def render(model: ModelInfo, fits: list[ArmFit], fleet: Fleet, k: int) -> str:
    uplift = " uplift (one naive Bayes per arm)" if model.uplift is not None else ""
    lines = [f"{model.id}{uplift}: goal {model.goal}, spec {model.spec}; counters of {fleet.instances} instance(s) (the latest snapshot of each; {fleet.snapshots} read)"]
    for fit in fits:
        lines.extend(_arm(fit, k))
    if model.uplift is not None:
        lines.extend(_uplift_by_level(fits))
    lines.extend(deployed_auc(fleet, model))
    lines.append(f"  {JOINT_AUC_NOTE}")
    return "\n".join(lines)
