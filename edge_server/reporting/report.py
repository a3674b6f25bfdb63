"""``strata report``: experiment and layer results from aggregate counters of one or many edge
nodes (``GET /v1/stats`` snapshots or ``/metrics`` scrapes), as a text table or an HTML page."""

from __future__ import annotations

import html
import math
from collections import Counter

from runtime.format import LAYERS

from ..contract import ALL, POPULATIONS
from . import sequential as sq
from . import stats
from .allocation import DRAWS, Allocation, allocation
from .counters import Data
from .poststrat import post_stratify
from .results import ExperimentResult, Row
from .verdicts import Review, Settings, Tested, lift_text, pct, review


# ---------------------------------------------------------------------------------- analysis
def _row(label: str, n: int, x: int, value: float) -> Row:
    lo, hi = stats.wilson(x, n)
    return Row(label, n, x, value, x / n if n else 0.0, lo, hi)


def goals_in(d: Data) -> list[str]:
    return sorted({k[0] for k in d.conversions} | {k[0] for k in d.values})


def experiments(d: Data, goal: str, *, min_share: float = 0.05, seed: int = 0, expected_lift: float = sq.EXPECTED_LIFT,
                alpha: float = sq.ALPHA, suggest: bool = True) -> list[ExperimentResult]:
    """Per experiment: rates, lifts (fixed-horizon and always-valid), the sample ratio and the
    per-period analysis; ``suggest=False`` skips the Monte Carlo behind suggested weights (for
    goals and reads that only feed the verdicts)."""
    out = []
    for eid, e in sorted(d.experiments.items()):
        slot = e.get("slot") or ""
        variants = [v[0] for v in e["variants"]]
        weights = [float(v[1]) for v in e["variants"]]
        rows = []
        for vid in variants:
            arm = f"{eid}/{vid}"
            layer_rows = [(k, n) for k, n in d.exposures.items() if k[0] == slot and k[1] == arm and k[3] == "personalized"]
            n = sum(c for _, c in layer_rows)
            x = sum(c for k, c in d.conversions.items() if k[0] == goal and k[1] == slot and k[2] == arm and k[4] == "personalized")
            v = sum(c for k, c in d.values.items() if k[0] == goal and k[1] == slot and k[2] == arm and k[4] == "personalized")
            rows.append(_row(vid, n, x, v))
        hn = sum(c for k, c in d.exposures.items() if k[0] == slot and k[3] == "holdout")
        hx = sum(c for k, c in d.conversions.items() if k[0] == goal and k[1] == slot and k[4] == "holdout")
        hv = sum(c for k, c in d.values.items() if k[0] == goal and k[1] == slot and k[4] == "holdout")
        holdout = _row("holdout", hn, hx, hv) if hn else None
        if rows:
            control = rows[0]
            for r in rows[1:]:
                r.vs_control = stats.compare(r.x, r.n, control.x, control.n)
            for r in rows:
                if holdout is not None:
                    r.vs_holdout = stats.compare(r.x, r.n, holdout.x, holdout.n)
        chi2, p = stats.srm([r.n for r in rows], weights)
        res = ExperimentResult(eid, slot, rows, holdout, chi2, p, [w / sum(weights) for w in weights] if sum(weights) else [],
                               allocation(d, eid, goal, min_share=min_share, seed=seed, draws=DRAWS if suggest else 0))
        _sequential(res, expected_lift, alpha)
        out.append(res)
    return out


def _sequential(e: ExperimentResult, expected_lift: float, alpha: float) -> None:
    """The always-valid comparisons of ``e``'s rows: against the control per period (cohorts,
    ``sequential.stratified``) once sessions were assigned under other weights than today's, else
    pooled; against the holdout pooled; value per visit against the control."""
    kw = {"expected_lift": expected_lift, "alpha": alpha}
    if not e.rows:
        return
    c = e.rows[0]
    a = e.allocation
    for i, r in enumerate(e.rows):
        if i and e.per_period and a is not None:
            r.seq_control = sq.stratified([(p.converted[i], p.exposed[i], p.converted[0], p.exposed[0]) for p in a.periods], **kw)
        elif i:
            r.seq_control = sq.rates(r.x, r.n, c.x, c.n, **kw)
        if i and (r.value or c.value):
            r.seq_value = sq.values(r.value, r.x, r.n, c.value, c.x, c.n, **kw)
        if e.holdout is not None:
            h = e.holdout
            r.seq_holdout = sq.rates(r.x, r.n, h.x, h.n, **kw)


def analyse(d: Data, goal: str, *, min_share: float = 0.05, seed: int = 0, settings: Settings | None = None) -> tuple[list[ExperimentResult], Review]:
    """The experiments for ``goal`` and the review over every goal counted (and the guardrails):
    the comparisons, their false-discovery control, a verdict per experiment (verdicts.py)."""
    s = settings or Settings()
    goals = [goal] + [g for g in sorted(set(goals_in(d)) | set(s.guardrails)) if g != goal]
    by_goal = {g: experiments(d, g, min_share=min_share, seed=seed, expected_lift=s.expected_lift, alpha=s.alpha, suggest=g == goal) for g in goals}
    return by_goal[goal], review(d, goal, by_goal, s)


def layers(d: Data, goal: str) -> list[Row]:
    """Per layer: personalised exposures of arms on that layer, against the holdout on the same slots."""
    out = []
    for layer in reversed(LAYERS):  # most specific first
        keys = [k for k in d.exposures if k[2] == layer and k[3] == "personalized"]
        if not keys:
            continue
        slots = {k[0] for k in keys}
        n = sum(d.exposures[k] for k in keys)
        x = sum(c for k, c in d.conversions.items() if k[0] == goal and k[3] == layer and k[4] == "personalized" and k[1] != ALL)
        v = sum(c for k, c in d.values.items() if k[0] == goal and k[3] == layer and k[4] == "personalized" and k[1] != ALL)
        row = _row(layer, n, x, v)
        hn = sum(c for k, c in d.exposures.items() if k[0] in slots and k[3] == "holdout")
        hx = sum(c for k, c in d.conversions.items() if k[0] == goal and k[1] in slots and k[4] == "holdout")
        if hn:
            row.vs_holdout = stats.compare(x, n, hx, hn)
            row.seq_holdout = sq.rates(x, n, hx, hn)
        out.append(row)
    return out


def overall(d: Data, goal: str) -> list[Row]:
    """Visitors converting at all, per population (the ``*`` rows; exposures of the busiest slot
    stand for visits)."""
    out = []
    for pop in POPULATIONS:
        per_slot: Counter[str] = Counter()
        for (slot, _arm, _layer, p), c in d.exposures.items():
            if p == pop:
                per_slot[slot] += c
        n = max(per_slot.values(), default=0)
        x = sum(c for k, c in d.conversions.items() if k[0] == goal and k[1] == ALL and k[4] == pop)
        v = sum(c for k, c in d.values.items() if k[0] == goal and k[1] == ALL and k[4] == pop)
        if n or x:
            out.append(_row(pop, n, x, v))
    base = next((r for r in out if r.label == "holdout"), None)
    for r in out:
        if base is not None and r is not base:
            r.vs_holdout = stats.compare(r.x, r.n, base.x, base.n)
            r.seq_holdout = sq.rates(r.x, r.n, base.x, base.n)
    return out


# ---------------------------------------------------------------------------------- text
_pct = pct


def _cmp(c: stats.Comparison | None) -> str:
    if c is None or c.lift is None:
        return "-"
    ci = f" [{_pct(c.low, True)}, {_pct(c.high, True)}]" if c.low is not None else ""
    return f"{_pct(c.lift, True)}{ci} p={c.p_value:.3f}" if c.p_value is not None else _pct(c.lift, True)


def seq_text(c: sq.Sequential | None) -> str:
    """An always-valid comparison as the tables show it: relative lift, its interval, the p-value."""
    if c is None or c.lift is None:
        return "-" if c is None or c.diff is None else f"{c.diff * 100:+.2f} pts p={c.p_value:.3f}"
    ci = f" [{_pct(c.lift_low, True)}, {_pct(c.lift_high, True)}]" if c.lift_low is not None and math.isfinite(c.lift_high or 0) else ""
    return f"{_pct(c.lift, True)}{ci} p={c.p_value:.3f}"


def _days(v: float) -> str:
    return "now" if v == 0 else f"about {math.ceil(v):,} more day{'s' if math.ceil(v) != 1 else ''}"


def _review_text(rv: Review) -> list[str]:
    """The verdict per experiment (before the tables), the number of comparisons and the discoveries."""
    s = rv.settings
    lines: list[str] = []
    if rv.verdicts:
        lines.append(f"Verdicts (always-valid {100 - s.alpha * 100:g}% intervals: read as often as you like; stop when it says STOP)")
        width = max(len(v.experiment) for v in rv.verdicts)
        for v in rv.verdicts:
            lines.append(f"  {v.experiment:{width}}  {v.call:8}  {v.reason}")
            power = []
            if v.mde is not None and math.isfinite(v.mde):
                power.append(f"detectable now: a lift of ±{v.mde * 100:.1f}%")
            if s.mde is not None:
                if v.days is not None:
                    power.append(f"±{s.mde * 100:g}%: {_days(v.days)}" + (f" at {v.per_day:,.0f} visits a day" if v.per_day and v.days else ""))
                else:
                    power.append(f"±{s.mde * 100:g}%: traffic unknown (give snapshots taken at least an hour apart)")
            if power:
                lines.append(f"  {'':{width}}  {'':8}  {'; '.join(power)}")
    ctrl = sum(1 for t in rv.tested if t.against != "holdout")
    hold = len(rv.tested) - ctrl
    how = "always-valid" if not s.fixed_horizon else "fixed-horizon"
    lines.append(f"Comparisons: {len(rv.tested)} ({ctrl} against a control, {hold} against the holdout, over {len(rv.goals)} goal"
                 f"{'s' if len(rv.goals) != 1 else ''}); false-discovery rate held at {s.alpha * 100:g}% by Benjamini-Hochberg on the {how} p-values: "
                 f"{len(rv.discoveries)} discover{'y' if len(rv.discoveries) == 1 else 'ies'}")
    for t in rv.discoveries:
        lines.append(f"  discovery: {t.experiment} {t.variant} vs {t.against} on '{t.goal}': {_lift_of(t)}")
    for t in rv.harmed:
        lines.append(f"  GUARDRAIL HARMED: {t.experiment} {t.variant} vs {t.against} on '{t.goal}' ({s.guardrails.get(t.goal)}): {_lift_of(t)}")
    lines.append("")
    return lines


def _post_text(d: Data, e: ExperimentResult, goal: str, s: Settings) -> list[str]:
    """Post-stratified comparisons of ``e`` (poststrat.py), one line per stratifying feature."""
    out = []
    for p in post_stratify(d, e.id, goal, alpha=s.alpha, expected_lift=s.expected_lift):
        head = f"post-stratified by {p.feature} (uplift model {p.model}, {p.levels} levels)"
        if p.reason:
            out.append(f"{head}: not used — {p.reason}")
            continue
        ratio = p.width_ratio
        gain = "" if ratio is None else ("; interval as wide as the same visits' unstratified" if abs(1 - ratio) < 0.005 else
                                         f"; interval {abs(1 - ratio) * 100:.0f}% {'narrower' if ratio < 1 else 'wider'} than the same visits unstratified")
        out.append(f"{head}: treatment vs control {seq_text(p.stratified)}{gain}")
    return out


def _lift_of(t: Tested) -> str:
    return lift_text(t.effect)


def _allocation_text(a: Allocation, fixed: bool = True) -> list[str]:
    """Per-period table, stratified lift and suggested weights of one experiment."""
    if not a.periods:
        return [f"  suggested weights: none — {a.reason}"]
    lines = ["  per period (cohort = the weights a session was assigned under; sample ratio of its new assignments):",
             f"    {'period':18} {'variant':20} {'weight':>7} {'assigned':>9} {'exposed':>9} {'conv':>7} {'rate':>7}"]
    for p in a.periods:
        for i, v in enumerate(a.variants):
            w = f"{p.weights[i] / 100:g}%" if p.weights is not None else "?"
            rate = _pct(p.converted[i] / p.exposed[i]) if p.exposed[i] else "-"
            label = p.label + (" (now)" if p.current else "") if i == 0 else ""
            lines.append(f"    {label:18} {v:20} {w:>7} {p.assigned[i]:9,} {p.exposed[i]:9,} {p.converted[i]:7,} {rate:>7}")
        if p.weights is None:
            check = "not checked: the period's weights do not match the variants" if p.period else "not checked: weights not recorded"
        elif not sum(p.assigned):
            check = "no new assignments"
        else:
            check = f"chi2 {p.srm_chi2:.2f}, p {p.srm_p:.4f} -> {'SAMPLE RATIO MISMATCH' if p.srm_flag else 'ok'}"
        lines.append(f"    {'':18} sample ratio: {check}")
    for v, c in zip(a.variants[1:], a.stratified[1:]):
        lines.append(f"  stratified lift of {v} vs {a.variants[0]} (Mantel-Haenszel over periods): {_cmp(c)}{'' if fixed else ' (fixed-horizon)'}")
    if a.suggestion is None:
        lines.append(f"  suggested weights: none — {a.reason}")
    else:
        now = " / ".join(f"{v} {w / 100:g}" for v, w in zip(a.variants, a.current))
        new = " / ".join(f"{v} {w}" for v, w in zip(a.variants, a.suggestion.weights))
        best = ", ".join(f"{v} {q * 100:.1f}%" for v, q in zip(a.variants, a.suggestion.p_best))
        lines.append(f"  suggested weights (Thompson sampling): {new}  (now {now}; P(best): {best}) — apply with strata rebalance")
    return lines


def text(d: Data, goal: str, *, min_share: float = 0.05, seed: int = 0, settings: Settings | None = None) -> str:
    s = settings or Settings()
    fixed = s.fixed_horizon
    exps, rv = analyse(d, goal, min_share=min_share, seed=seed, settings=s)
    lines = [f"Strata report — goal '{goal}' — {d.sources} source(s): {', '.join(sorted(d.bundles)) or 'unknown bundle'}", ""]
    lines += _review_text(rv)
    for e in exps:
        lines.append(f"Experiment {e.id} (slot {e.slot})")
        head = "vs control" if fixed else "vs control (always-valid)"
        lines.append(f"  {'variant':20} {'exposed':>9} {'conv':>7} {'rate':>7}  {'95% CI':17}  {head:34}  vs holdout{'' if fixed else ' (always-valid)'}")
        for i, r in enumerate(e.rows):
            ctrl = "(control)" if i == 0 else (_cmp(r.vs_control) if fixed else seq_text(r.seq_control))
            hold = _cmp(r.vs_holdout) if fixed else (seq_text(r.seq_holdout) if e.holdout is not None else "-")
            lines.append(f"  {r.label:20} {r.n:9,} {r.x:7,} {_pct(r.rate):>7}  [{_pct(r.low)}, {_pct(r.high)}]{'':2} {ctrl:34}  {hold}")
        if e.holdout:
            h = e.holdout
            lines.append(f"  {'holdout':20} {h.n:9,} {h.x:7,} {_pct(h.rate):>7}  [{_pct(h.low)}, {_pct(h.high)}]")
        if not fixed:
            vals = [(r.label, r.seq_value) for r in e.rows[1:] if r.seq_value is not None and r.seq_value.lift is not None]
            if vals:
                lines.append("  value per visit vs control (always-valid; order values assumed to vary with CV 1): " +
                             "; ".join(f"{v} {seq_text(c)}" for v, c in vals))
            lines += [f"  {line}" for line in _post_text(d, e, goal, s)]
        split = " / ".join(f"{r.n:,}" for r in e.rows)
        expect = " / ".join(f"{w * 100:.0f}%" for w in e.expected)
        verdict = "SAMPLE RATIO MISMATCH — do not trust this experiment's results" if e.srm_flag else "ok"
        if e.per_period:
            lines.append(f"  sample ratio: sessions were assigned under {len(e.allocation.periods) if e.allocation else 0} different weights: "
                         f"checked per period below -> {verdict}")
        else:
            lines.append(f"  sample ratio: {split} expected {expect}: chi2 {e.srm_chi2:.2f}, p {e.srm_p:.4f} -> {verdict}")
        if e.allocation is not None:
            lines += _allocation_text(e.allocation, fixed)
        lines.append("")
    lrows = layers(d, goal)
    if lrows:
        lines.append("Layers (personalised exposures on the layer's slots vs the holdout on the same slots" + (")" if fixed else "; always-valid)"))
        for r in lrows:
            lines.append(f"  {r.label:10} {r.n:9,} exposed {r.x:7,} conv {_pct(r.rate):>7}  vs holdout {_cmp(r.vs_holdout) if fixed else seq_text(r.seq_holdout)}")
        lines.append("")
    orows = overall(d, goal)
    if orows:
        lines.append("Populations (visitors converting at all" + (")" if fixed else "; vs holdout always-valid)"))
        for r in orows:
            lines.append(f"  {r.label:13} {r.n:9,} visits  {r.x:7,} conv {_pct(r.rate):>7}  value {r.value:,.2f}  vs holdout "
                         f"{_cmp(r.vs_holdout) if fixed else seq_text(r.seq_holdout)}")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------- html
def _bars(rows: list[Row], title: str, colors: list[str] | None = None) -> str:
    """An SVG bar chart of rates with 95% interval whiskers (``colors``: one per row, else the
    first row green, the holdout grey, the others orange)."""
    w, h, left, bottom = 700, 260, 150, 30
    top = max([r.high for r in rows] + [0.01]) * 1.15
    bar_h = (h - bottom - 20) / max(len(rows), 1)
    e = html.escape
    parts = [f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{e(title)}">']
    span = w - left - 150  # room on the right for the value label
    for i in range(0, 5):
        x = left + span * i / 4
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{h - bottom}" stroke="#e5e7eb"/>'
                     f'<text x="{x:.1f}" y="{h - 10}" font-size="11" text-anchor="middle" fill="#6b7280">{top * i / 4 * 100:.1f}%</text>')
    for i, r in enumerate(rows):
        y = 15 + i * bar_h
        scale = span / top
        color = colors[i] if colors else "#9ca3af" if r.label == "holdout" else ("#3f6b47" if i == 0 else "#d9622b")
        parts.append(f'<text x="{left - 8}" y="{y + bar_h * 0.45:.1f}" font-size="12" text-anchor="end">{e(r.label)}</text>')
        parts.append(f'<rect x="{left}" y="{y:.1f}" width="{r.rate * scale:.1f}" height="{bar_h * 0.6:.1f}" fill="{color}" rx="3"/>')
        cy = y + bar_h * 0.3
        parts.append(f'<line x1="{left + r.low * scale:.1f}" y1="{cy:.1f}" x2="{left + r.high * scale:.1f}" y2="{cy:.1f}" stroke="#111827" stroke-width="2"/>')
        for xv in (r.low, r.high):
            parts.append(f'<line x1="{left + xv * scale:.1f}" y1="{cy - 6:.1f}" x2="{left + xv * scale:.1f}" y2="{cy + 6:.1f}" stroke="#111827" stroke-width="2"/>')
        parts.append(f'<text x="{left + r.high * scale + 6:.1f}" y="{cy + 4:.1f}" font-size="11" fill="#374151">{r.rate * 100:.2f}% (n={r.n:,})</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(points: list[tuple[float, int]]) -> str:
    if len(points) < 2:
        return "<p class=muted>One snapshot per source: take snapshots over the reporting window to see exposures over time.</p>"
    w, h, pad = 560, 200, 40
    t0, t1 = points[0][0], points[-1][0]
    top = max(n for _, n in points) or 1
    xy = [(pad + (w - 2 * pad) * ((t - t0) / ((t1 - t0) or 1)), h - pad - (h - 2 * pad) * n / top) for t, n in points]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(xy))
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="exposures over time">'
            f'<path d="{path}" fill="none" stroke="#3f6b47" stroke-width="2.5"/>'
            f'<text x="{pad}" y="{h - 12}" font-size="11" fill="#6b7280">0 s</text>'
            f'<text x="{w - pad}" y="{h - 12}" font-size="11" text-anchor="end" fill="#6b7280">{t1 - t0:,.0f} s</text>'
            f'<text x="{pad}" y="{pad - 8}" font-size="11" fill="#6b7280">{top:,} exposures (all slots, fleet)</text></svg>')


_VARIANT_COLORS = ("#3f6b47", "#d9622b", "#2b6cb0", "#a855f7", "#ca8a04", "#0d9488")


def sequences(d: Data, goal: str, s: Settings) -> dict[str, list[tuple[float, list[sq.Sequential]]]]:
    """Per experiment, the always-valid comparison of each variant against the control at every
    read of the history (``counters.reads``): (time, one per non-control variant)."""
    out: dict[str, list[tuple[float, list[sq.Sequential]]]] = {}
    for t, past in d.history:
        for ex in experiments(past, goal, expected_lift=s.expected_lift, alpha=s.alpha, suggest=False):
            out.setdefault(ex.id, []).append((t, [r.seq_control or sq.NONE for r in ex.rows[1:]]))
    return out


def _sequence_html(pts: list[tuple[float, list[sq.Sequential]]], e: ExperimentResult, s: Settings) -> str:
    """The confidence sequence over time: per variant, its lift against the control at every read,
    with the always-valid interval as a band; the zero line; the MDE band of the expected lift."""
    if len(e.rows) < 2:
        return ""
    if len(pts) < 2:
        return ("<p class=muted>Always-valid intervals over time: one read so far. Take snapshots on a schedule (every day) and "
                "report them together to see the intervals narrow.</p>")
    esc = html.escape
    w, h, left, right, top_pad, bottom = 700, 280, 60, 20, 20, 40
    t0, t1 = pts[0][0], pts[-1][0]
    vals = [x for _, row in pts for c in row for x in (c.lift_low, c.lift_high, c.lift) if x is not None and math.isfinite(x)]
    if not vals:
        return "<p class=muted>Always-valid intervals over time: no conversion in an arm yet.</p>"
    lo_v, hi_v = max(min(vals + [-s.expected_lift]), -1.0), min(max(vals + [s.expected_lift]), 3.0)
    span_v = (hi_v - lo_v) or 1.0

    def X(t: float) -> float:
        return left + (w - left - right) * ((t - t0) / ((t1 - t0) or 1))

    def Y(v: float) -> float:
        v = min(max(v, lo_v), hi_v)
        return top_pad + (h - top_pad - bottom) * (1 - (v - lo_v) / span_v)

    parts = [f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(e.id)}: always-valid lift over time">']
    step = next((st for st in (0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0) if span_v / st <= 6), 5.0)
    for k in range(math.ceil(lo_v / step), math.floor(hi_v / step) + 1):  # round ticks, 0 among them
        v = k * step
        parts.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{w - right}" y2="{Y(v):.1f}" stroke="#f3f4f6"/>'
                     f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#6b7280">{f"{v * 100:+.0f}%" if k else "0%"}</text>')
    parts.append(f'<line x1="{left}" y1="{Y(0):.1f}" x2="{w - right}" y2="{Y(0):.1f}" stroke="#111827" stroke-width="1.5"/>')
    edge = s.mde if s.mde is not None else s.expected_lift
    for v in (edge, -edge):  # inside both for every variant: no effect of that size (a STOP)
        parts.append(f'<line x1="{left}" y1="{Y(v):.1f}" x2="{w - right}" y2="{Y(v):.1f}" stroke="#6b7280" stroke-dasharray="4 4"/>')
    for i, r in enumerate(e.rows[1:]):
        color = _VARIANT_COLORS[(i + 1) % len(_VARIANT_COLORS)]
        band = [(X(t), c[i]) for t, c in pts if i < len(c) and c[i].lift_low is not None and c[i].lift_high is not None]
        if len(band) >= 2:
            upper = " ".join(f"{x:.1f},{Y(c.lift_high or 0):.1f}" for x, c in band)
            lower = " ".join(f"{x:.1f},{Y(c.lift_low or 0):.1f}" for x, c in reversed(band))
            parts.append(f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="0.18" stroke="none"/>')
        line = [(X(t), c[i].lift) for t, c in pts if i < len(c) and c[i].lift is not None]  # (a variant added later: fewer before)
        if len(line) >= 2:
            path = " ".join(f"{'M' if j == 0 else 'L'}{x:.1f},{Y(v or 0):.1f}" for j, (x, v) in enumerate(line))
            parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2.5"><title>{esc(r.label)} vs {esc(e.rows[0].label)}</title></path>')
    days = (t1 - t0) / 86400
    span = f"{days:,.1f} days" if days >= 1 else f"{t1 - t0:,.0f} s"
    legend = " ".join(f'<tspan fill="{_VARIANT_COLORS[(i + 1) % len(_VARIANT_COLORS)]}">■ {esc(r.label)}</tspan>' for i, r in enumerate(e.rows[1:]))
    parts.append(f'<text x="{left}" y="{h - 12}" font-size="11" fill="#374151">{legend} vs {esc(e.rows[0].label)} — {len(pts)} reads over {span}; '
                 f'band: always-valid 95% interval of the lift; dashed: ±{edge * 100:g}%</text></svg>')
    return f"<h3>Lift over time (always-valid)</h3>{''.join(parts)}"


def _shares(a: Allocation) -> str:
    """Per period, a 100% bar of the new assignments by variant, with the period's weights as ticks."""
    e = html.escape
    w, left, row = 700, 150, 34
    h = 30 + row * len(a.periods)
    span = w - left - 20
    parts = [f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="assignment shares per period">']
    for j, p in enumerate(a.periods):
        y = 10 + j * row
        total = sum(p.assigned)
        parts.append(f'<text x="{left - 8}" y="{y + 15}" font-size="12" text-anchor="end">{e(p.label)}{" (now)" if p.current else ""}</text>')
        x = float(left)
        for i, n in enumerate(p.assigned):
            width = span * n / total if total else 0.0
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="20" fill="{_VARIANT_COLORS[i % len(_VARIANT_COLORS)]}">'
                         f'<title>{e(a.variants[i])}: {n:,} assigned</title></rect>')
            x += width
        if p.weights is not None:
            cum = 0
            for bp in p.weights[:-1]:
                cum += bp
                tx = left + span * cum / 10_000
                parts.append(f'<line x1="{tx:.1f}" y1="{y - 3}" x2="{tx:.1f}" y2="{y + 23}" stroke="#111827" stroke-width="2"/>')
    legend = " ".join(f'<tspan fill="{_VARIANT_COLORS[i % len(_VARIANT_COLORS)]}">■ {e(v)}</tspan>' for i, v in enumerate(a.variants))
    parts.append(f'<text x="{left}" y="{h - 6}" font-size="11" fill="#374151">{legend} — black ticks: the period\'s weights</text></svg>')
    return "".join(parts)


def _allocation_html(a: Allocation) -> str:
    """Per-period shares and conversion rates, stratified lift and suggested weights of one experiment."""
    e = html.escape
    if not a.periods:
        return f"<p class=muted>Suggested weights: none — {e(a.reason)}.</p>"
    rates = [_row(f"{p.label} · {v}", p.exposed[i], p.converted[i], p.value[i]) for p in a.periods for i, v in enumerate(a.variants)]
    colors = [_VARIANT_COLORS[i % len(_VARIANT_COLORS)] for _ in a.periods for i in range(len(a.variants))]
    checks = "".join(
        f"<li>{e(p.label)}: " + (e(f"chi² {p.srm_chi2:.2f}, p = {p.srm_p:.4f}") + (" — <b>sample ratio mismatch</b>" if p.srm_flag else " — ok")
                                if p.weights is not None and sum(p.assigned) > 0 else "not checked") + "</li>" for p in a.periods)
    lifts = "".join(f"<li>{e(v)} vs {e(a.variants[0])}: {e(_cmp(c))}</li>" for v, c in zip(a.variants[1:], a.stratified[1:]))
    if a.suggestion is None:
        sug = f"<p class=muted>Suggested weights: none — {e(a.reason)}.</p>"
    else:
        sug = ("<table><tr><th>variant</th><th>weight now</th><th>P(best)</th><th>suggested weight</th></tr>" +
               "".join(f"<tr><td>{e(v)}</td><td>{cw / 100:g}</td><td>{q * 100:.1f}%</td><td><b>{sw}</b></td></tr>"
                       for v, cw, q, sw in zip(a.variants, a.current, a.suggestion.p_best, a.suggestion.weights)) +
               "</table><p class=muted>Thompson sampling over Beta posteriors; apply with <code>strata rebalance</code>.</p>")
    return (f"<h3>Per period</h3><p class=muted>A period is the weights a session was assigned under; a session keeps its arm when the weights change.</p>"
            f"{_shares(a)}<ul>{checks}</ul>{_bars(rates, a.experiment + ' per period', colors)}"
            f"<h3>Stratified lift (Mantel-Haenszel over periods)</h3><ul>{lifts}</ul><h3>Suggested weights</h3>{sug}")


def _review_html(rv: Review) -> str:
    """The verdicts (before the tables) and the comparisons line, as the text report words them."""
    e = html.escape
    lines = _review_text(rv)
    cls = {"STOP": "stop", "FIX": "bad", "CONTINUE": "go"}
    items = []
    for v in rv.verdicts:
        items.append(f"<li class={cls[v.call]}><b>{e(v.experiment)}: {e(v.call)}</b> — {e(v.reason)}</li>")
    rest = [ln.strip() for ln in lines if ln.startswith("Comparisons:") or ln.strip().startswith(("discovery:", "GUARDRAIL"))]
    power = [ln.strip() for ln in lines if ln.strip().startswith("detectable now") or "traffic unknown" in ln]
    return ((f"<h2>Verdicts</h2><ul class=verdicts>{''.join(items)}</ul>" if items else "") +
            ("<p class=muted>" + "<br>".join(e(p) for p in power) + "</p>" if power else "") +
            "<p>" + "<br>".join(e(r) for r in rest) + "</p>")


def render_html(d: Data, goal: str, *, min_share: float = 0.05, seed: int = 0, settings: Settings | None = None) -> str:
    e = html.escape
    s = settings or Settings()
    fixed = s.fixed_horizon
    exps, rv = analyse(d, goal, min_share=min_share, seed=seed, settings=s)
    over_time = {} if fixed else sequences(d, goal, s)
    body = [f"<h1>Strata report <small>goal “{e(goal)}”</small></h1>",
            f"<p class=muted>{d.sources} source(s): {e(', '.join(sorted(d.bundles)) or 'unknown bundle')}</p>", _review_html(rv)]
    for ex in exps:
        rows = ex.rows + ([ex.holdout] if ex.holdout else [])
        if ex.per_period:
            flag = ("<p class=bad>Sample ratio mismatch in a period (below): fix the cause before reading the results.</p>" if ex.srm_flag else
                    "<p class=muted>Sessions were assigned under several weights: the sample ratio is checked per period (below); "
                    "pooled rates mix periods, read the stratified lift.</p>")
        else:
            flag = (f"<p class=bad>Sample ratio mismatch (p = {ex.srm_p:.4f}): the split differs from the configured weights; fix the cause before reading the results.</p>"
                    if ex.srm_flag else f"<p class=muted>Sample ratio ok (chi² {ex.srm_chi2:.2f}, p = {ex.srm_p:.3f}).</p>")
        has_holdout = ex.holdout is not None
        trs = "".join(
            f"<tr><td>{e(r.label)}{' (control)' if i == 0 else ''}</td><td>{r.n:,}</td><td>{r.x:,}</td><td>{_pct(r.rate)}</td>"
            f"<td>[{_pct(r.low)}, {_pct(r.high)}]</td><td>{'' if i == 0 else e(_cmp(r.vs_control) if fixed else seq_text(r.seq_control))}</td>"
            f"<td>{e(_cmp(r.vs_holdout) if fixed else (seq_text(r.seq_holdout) if has_holdout else '-'))}</td></tr>"
            for i, r in enumerate(ex.rows))
        kind = "" if fixed else " (always-valid)"
        body.append(f"<h2>Experiment {e(ex.id)} <small>slot {e(ex.slot)}</small></h2>{_bars(rows, ex.id)}{flag}"
                    f"<table><tr><th>variant</th><th>exposed</th><th>converted</th><th>rate</th><th>95% CI</th><th>lift vs control{kind}</th>"
                    f"<th>lift vs holdout{kind}</th></tr>{trs}</table>")
        if not fixed:
            body.append(_sequence_html(over_time.get(ex.id, []), ex, s))
            post = _post_text(d, ex, goal, s)
            if post:
                body.append("<h3>Post-stratified</h3><ul>" + "".join(f"<li>{e(line)}</li>" for line in post) + "</ul>")
        if ex.allocation is not None:
            body.append(_allocation_html(ex.allocation))
    lrows = layers(d, goal)
    if lrows:
        body.append("<h2>Layers against the holdout</h2><table><tr><th>layer</th><th>exposed</th><th>converted</th><th>rate</th><th>lift vs holdout</th></tr>" +
                    "".join(f"<tr><td>{e(r.label)}</td><td>{r.n:,}</td><td>{r.x:,}</td><td>{_pct(r.rate)}</td>"
                            f"<td>{e(_cmp(r.vs_holdout) if fixed else seq_text(r.seq_holdout))}</td></tr>" for r in lrows) +
                    "</table>")
    body.append(f"<h2>Exposures over the reporting window</h2>{_timeline(d.timeline)}")
    if fixed:
        body.append("<p class=muted>Rates: conversions once per visit / exposures once per visit. Intervals: Wilson 95%. Lift: relative, 95% interval by the "
                    "delta method on the log ratio; p: two-sided two-proportion z-test (fixed horizon: valid when read once, at a sample size chosen in "
                    "advance). Sample ratio: chi-square against the configured weights, flagged below p = 0.001.</p>")
    else:
        body.append("<p class=muted>Rates: conversions once per visit / exposures once per visit, Wilson 95% intervals. Lifts: always-valid 95% intervals "
                    f"(mixture sequential probability ratio test tuned for a {s.expected_lift * 100:g}% lift; valid however often the report is read); "
                    "p: always-valid p-value. Discoveries: Benjamini-Hochberg over every comparison. Sample ratio: chi-square against the configured "
                    "weights, flagged below p = 0.001. docs/measurement.md.</p>")
    css = ("body{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:32px auto;color:#111827;padding:0 16px}"
           "h1 small,h2 small{color:#6b7280;font-weight:400}table{border-collapse:collapse;margin:8px 0 24px;width:100%}"
           "td,th{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;font-size:14px}.muted{color:#6b7280}"
           ".bad{background:#fef2f2;color:#991b1b;padding:8px 12px;border-radius:6px}"
           ".verdicts{list-style:none;padding:0}.verdicts li{padding:8px 12px;border-radius:6px;margin:4px 0}"
           ".stop{background:#ecfdf5;color:#065f46}.go{background:#f3f4f6}")
    return f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Strata report</title><style>{css}</style></head><body>{''.join(body)}</body></html>\n"
