"""The predictive-score loop, through real servers: a rule set with a ``purchase_intent`` model
(zero coefficients at first) and a rule that shows an offer to high-score visitors; rounds of
synthetic visitors browse two ``strata serve`` replicas; their ``/v1/stats`` are scraped; the real
``strata train`` fits the model from the counters; ``strata compile`` publishes the new bundle to
the running replicas; and again.

Figures:
- the learned score's AUC on fresh visitors (scored by the published bundle's own runtime) against
  the AUC of the true probabilities, on the same visitors and outcomes;
- the offer rule's lift, measured as the server counts it: visits shown the rule (personalised)
  against holdout visits where the same rule would have matched — the rule-vs-holdout counters of
  the ``high_intent_uplift`` model (``uplift: {slot: offer, rule: high-intent}``), i.e. like with
  like, from a round of fresh visitors after training; the interval is the report's (``compare``).

The truth: a visitor buys with ``PURCHASE.p`` (sim_population), with ``OFFER_EFFECT`` added to the
log-odds when the offer was shown during its visit.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.sim_fleet import Fleet, drive, stats
from benchmarks.sim_population import FEATURES_YAML, PURCHASE, Visitor, auc, browse, convert, visitors
from benchmarks.sim_report import Figure
from edge_server.contract import SCORE
from edge_server.contract import UPLIFT as UPLIFT_ROWS

MODEL = "purchase_intent"
UPLIFT = "high_intent_uplift"
SLOT, RULE = "offer", "high-intent"
#: the offer's true effect on the log-odds of buying (+0.6: about +60% relative at low rates)
OFFER_EFFECT = 0.6
#: the rule shows the offer from this score on (about the top third of visitors under the truth)
THRESHOLD = 0.12


def ruleset(holdout: int = 20) -> str:
    return f"""\
strata: 1
name: sim-models
holdout: {{percent: {holdout}, salt: sim-models-holdout}}
goals: [purchase]
models:
  {MODEL}:
    goal: purchase
    description: chance this visit buys
    features:
{FEATURES_YAML}
    coefficients: {MODEL}.coefficients.yaml
  {UPLIFT}:
    goal: purchase
    description: what showing the high-intent offer adds to the chance to buy
    uplift: {{slot: {SLOT}, rule: {RULE}}}
    features:
{FEATURES_YAML}
    coefficients: {UPLIFT}.coefficients.yaml
slots:
  - id: {SLOT}
    default: {{}}
    rules:
      - id: {RULE}
        when: 'score.{MODEL} >= {THRESHOLD}'
        content: {{headline: A free tent footprint with your order today}}
"""


#: Coefficients before any training: every visitor scores sigmoid(0) = 0.5.
ZERO = {
    f"{MODEL}.coefficients.yaml": "bias: 0.0\nweights: {}\n",
    f"{UPLIFT}.coefficients.yaml": "treatment: {bias: 0.0, weights: {}}\ncontrol: {bias: 0.0, weights: {}}\n",
}


@dataclass(frozen=True)
class Record:
    """What happened to one visitor (the simulation's own bookkeeping)."""

    v: Visitor
    holdout: bool
    shown: bool  # the offer rule was shown on some page of the visit
    converted: bool
    p: float  # its true chance, given what it was shown


def play(seed: int, effect: float = OFFER_EFFECT) -> Any:
    def one(clients: list[httpx.Client], v: Visitor) -> Record:
        visit = browse(clients, v)
        holdout = "holdout" in visit.reasons(SLOT)
        shown = visit.shown(SLOT, rule=RULE)
        p = PURCHASE.p(v, effect if shown else 0.0)
        converted = random.Random(f"{seed}:{v.n}").random() < p
        if converted:
            convert(clients[v.n % len(clients)], visit.cookie)
        return Record(v, holdout, shown, converted, p)

    return one


# ---------------------------------------------------------------------- counters
Key = tuple[str, str, str, str]  # model, arm, feature, level


def counted(snapshots: Iterable[dict[str, Any]]) -> dict[Key, list[int]]:
    """``{(model, arm, feature, level): [net visits, converting visits]}`` summed over replicas
    (score- and uplift-bucket rows left out)."""
    out: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for snap in snapshots:
        for r in snap.get("models", []):
            if r["feature"] in (SCORE, UPLIFT_ROWS):
                continue
            c = out[(r["model"], r["arm"], r["feature"], r["level"])]
            c[0] += r["entered"] - r["left"]
            c[1] += r["converted"]
    return dict(out)


def minus(a: dict[Key, list[int]], b: dict[Key, list[int]]) -> dict[Key, list[int]]:
    return {k: [v[0] - b.get(k, [0, 0])[0], v[1] - b.get(k, [0, 0])[1]] for k, v in a.items()}


def expected(records: Sequence[Record], prepared: Any, plain_arm: str) -> dict[Key, list[int]]:
    """What the servers must have counted for these visits, from the simulation's side: every visit
    for the plain model; for the rule-vs-holdout model the visits shown the rule (treatment) and
    the holdout visits where the rule held on some page (control), each at its last page's levels."""
    out: dict[Key, list[int]] = defaultdict(lambda: [0, 0])

    def add(model: str, arm: str, r: Record) -> None:
        for f, lv in [("*", "*"), *r.v.level_names().items()]:
            c = out[(model, arm, f, lv)]
            c[0] += 1
            c[1] += r.converted

    for r in records:
        add(MODEL, plain_arm, r)
        if r.shown:
            add(UPLIFT, "treatment", r)
        elif r.holdout and any(prepared.rule_matches(SLOT, RULE, prepared.prepare_signals(r.v.signals(k), True)[0]) for k in range(r.v.pages)):
            add(UPLIFT, "control", r)
    return dict(out)


# ---------------------------------------------------------------------- scores
def scores(prepared: Any, model_id: str, vs: Sequence[Visitor]) -> list[float]:
    """Each visitor's score at its last page, computed by the published bundle's runtime."""
    model = next(m for m in prepared.models if m.id == model_id)
    return [model.score_of(model.levels(prepared.prepare_signals(v.signals(), True)[0])) for v in vs]


def auc_pair(prepared: Any, fresh: Sequence[Visitor], seed: int) -> tuple[float, float]:
    """(learned AUC, true AUC) on the same fresh visitors and the same drawn outcomes."""
    truth = [PURCHASE.p(v) for v in fresh]
    y = [random.Random(f"auc:{seed}:{v.n}").random() < p for v, p in zip(fresh, truth)]
    return auc(scores(prepared, MODEL, fresh), y), auc(truth, y)


# ---------------------------------------------------------------------- the loop
def run(workdir: Path, *, rounds: int = 3, per_round: int = 4000, final: int = 10000, fresh: int = 40000, seed: int = 21,
        servers: int = 2, workers: int = 4, min_visits: int = 1000, min_conversions: int = 50, log: Any = print) -> tuple[list[Figure], dict[str, Any]]:
    from edge_server.reporting.stats import compare

    figures: list[Figure] = []
    detail: dict[str, Any] = {"rounds": []}
    fresh_vs = visitors(fresh, seed + 1000, start=10_000_000)
    with Fleet(workdir, ruleset(), servers=servers, extra_files=ZERO) as fleet:
        start = 0
        for rnd in range(1, rounds + 1):
            batch = visitors(per_round, seed + rnd, start=start)
            start += per_round
            recs = drive(fleet.urls, batch, play(seed), workers)
            snaps = fleet.snapshots()
            # only the score the rule reads is trained; the rule-vs-holdout model is there for its counters
            tr = fleet.strata("train", str(fleet.ruleset), *snaps, "--model", MODEL, "--min-visits", str(min_visits),
                              "--min-conversions", str(min_conversions))
            fleet.publish()
            learned, true = auc_pair(fleet.prepared(), fresh_vs, seed)
            row = {"round": rnd, "visitors": len(recs), "conversions": sum(r.converted for r in recs), "shown": sum(r.shown for r in recs),
                   "bundle_version": fleet.version, "auc_learned": learned, "auc_true": true}
            detail["rounds"].append(row)
            log(f"round {rnd}: {len(recs)} visitors, {row['conversions']} bought; trained, published v{fleet.version}: "
                f"AUC {learned:.4f} (truth {true:.4f})")
            summary = tr.stdout.strip().splitlines()
            log("  " + "\n  ".join(summary if rnd == rounds else summary[:1]))  # strata train's whole summary once, at the end
        # a round of fresh visitors under the trained bundle measures the rule against the holdout
        before = counted(stats(u) for u in fleet.urls)
        prepared = fleet.prepared()
        batch = visitors(final, seed + 999, start=start)
        recs = drive(fleet.urls, batch, play(seed), workers)
        fleet.snapshots()
        after = counted(stats(u) for u in fleet.urls)
        detail["commands"] = fleet.log
    delta = minus(after, before)
    (nt, xt), (nc, xc) = delta.get((UPLIFT, "treatment", "*", "*"), [0, 0]), delta.get((UPLIFT, "control", "*", "*"), [0, 0])
    cmp = compare(xt, nt, xc, nc)
    treated = [r for r in recs if r.shown]
    true_lift = sum(r.p for r in treated) / max(1e-9, sum(PURCHASE.p(r.v) for r in treated)) - 1
    learned, true = detail["rounds"][-1]["auc_learned"], detail["rounds"][-1]["auc_true"]
    figures.append(Figure("models", "learned score AUC / true model AUC (fresh visitors)", f"{learned:.4f} / {true:.4f} = {learned / true:.3f}",
                          ">= 0.95", learned / true >= 0.95, {"auc_learned": learned, "auc_true": true, "fresh_visitors": fresh}))
    ok = cmp.low is not None and cmp.low > 0
    figures.append(Figure("models", f"rule '{RULE}' (score >= {THRESHOLD}) vs holdout where it matches: lift",
                          f"{xt}/{nt} vs {xc}/{nc}: {_pct(cmp.lift)} [{_pct(cmp.low)}, {_pct(cmp.high)}] (true {true_lift:+.1%})",
                          "interval > 0", ok,
                          {"treatment": [xt, nt], "control": [xc, nc], "lift": cmp.lift, "low": cmp.low, "high": cmp.high,
                           "p_value": cmp.p_value, "true_lift": true_lift, "share_shown": len(treated) / len(recs)}))
    detail["final_round"] = {"visitors": len(recs), "shown": len(treated), "holdout": sum(r.holdout for r in recs),
                             "mean_score_shown": statistics.fmean(scores(prepared, MODEL, [r.v for r in treated])) if treated else None}
    return figures, detail


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"
