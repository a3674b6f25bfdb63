"""Uplift through real servers: a discount experiment (``starter-kit``: the control arm offers free
shipping, the treatment a bundle discount) over a population of sure things, persuadables, lost
causes and sleeping dogs (sim_population.CONTROL / TREATMENT). The servers count each model's
features per arm; the real ``strata train`` fits ``discount_uplift`` (uplift over the experiment's
arms) and ``purchase_intent`` (the chance to buy, over every visit) from those counters alone.

Figure: give the discount to the top ``q`` of fresh visitors ranked by the learned uplift score,
or ranked by the learned chance to buy; the incremental conversions per discount given is the mean
of the true ``p(buy | discount) − p(buy | no discount)`` over the chosen visitors — measured
against the simulation's truth, never against the counters.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.sim_fleet import Fleet, drive
from benchmarks.sim_models import Key, scores
from benchmarks.sim_population import CONTROL, FEATURES_YAML, TREATMENT, Visitor, browse, convert, kind, visitors
from benchmarks.sim_report import Figure

PLAIN, UPLIFT = "purchase_intent", "discount_uplift"
EXPERIMENT, SLOT = "starter-kit", "offer"
TREAT, CTRL = "bundle-discount", "free-shipping"


def ruleset() -> str:
    return f"""\
strata: 1
name: sim-uplift
goals: [purchase]
segments:
  - {{id: everyone, layer: broad, when: 'true'}}
models:
  {PLAIN}:
    goal: purchase
    description: chance this visit buys
    features:
{FEATURES_YAML}
    coefficients: {PLAIN}.coefficients.yaml
  {UPLIFT}:
    goal: purchase
    description: what the bundle discount adds to the chance to buy
    uplift: {{experiment: {EXPERIMENT}, treatment: {TREAT}, control: {CTRL}}}
    features:
{FEATURES_YAML}
    coefficients: {UPLIFT}.coefficients.yaml
slots:
  - id: {SLOT}
    default: {{}}
experiments:
  - id: {EXPERIMENT}
    slot: {SLOT}
    audience: everyone
    salt: starter-kit-1
    variants:
      - {{id: {CTRL}, weight: 50, content: {{headline: Free shipping on your first order}}}}
      - {{id: {TREAT}, weight: 50, content: {{headline: 15% off the starter kit}}}}
"""


ZERO = {
    f"{PLAIN}.coefficients.yaml": "bias: 0.0\nweights: {}\n",
    f"{UPLIFT}.coefficients.yaml": "treatment: {bias: 0.0, weights: {}}\ncontrol: {bias: 0.0, weights: {}}\n",
}


@dataclass(frozen=True)
class Record:
    v: Visitor
    arm: str | None  # treatment | control | None (not exposed)
    converted: bool


def play(seed: int) -> Any:
    def one(clients: list[httpx.Client], v: Visitor) -> Record:
        visit = browse(clients, v)
        variants = {p[SLOT]["variant"] for p in visit.pages} - {None}
        arm = {TREAT: "treatment", CTRL: "control"}.get(next(iter(variants))) if len(variants) == 1 else None
        truth = TREATMENT if arm == "treatment" else CONTROL
        converted = random.Random(f"{seed}:{v.n}").random() < truth.p(v)
        if converted:
            convert(clients[v.n % len(clients)], visit.cookie)
        return Record(v, arm, converted)

    return one


def expected(records: Sequence[Record], plain_arm: str) -> dict[Key, list[int]]:
    """The counters these visits must have produced: every visit for the plain model, each exposed
    visit under its arm for the uplift model, at the last page's levels."""
    out: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        for model, arm in ((PLAIN, plain_arm), (UPLIFT, r.arm)):
            if arm is None:
                continue
            for f, lv in [("*", "*"), *r.v.level_names().items()]:
                c = out[(model, arm, f, lv)]
                c[0] += 1
                c[1] += r.converted
    return dict(out)


def incremental(chosen: Sequence[Visitor]) -> float:
    """True incremental conversions per discount given to ``chosen``."""
    return sum(TREATMENT.p(v) - CONTROL.p(v) for v in chosen) / max(1, len(chosen))


def top(vs: Sequence[Visitor], key: Sequence[float], q: float) -> list[Visitor]:
    order = sorted(range(len(vs)), key=lambda i: (-key[i], vs[i].n))
    return [vs[i] for i in order[: int(q * len(vs))]]


def run(workdir: Path, *, rounds: int = 2, per_round: int = 8000, fresh: int = 40000, q: float = 0.25, seed: int = 31, servers: int = 2,
        workers: int = 4, min_visits: int = 1000, min_conversions: int = 50, log: Any = print) -> tuple[list[Figure], dict[str, Any]]:
    detail: dict[str, Any] = {"rounds": []}
    with Fleet(workdir, ruleset(), servers=servers, extra_files=ZERO) as fleet:
        start = 0
        for rnd in range(1, rounds + 1):
            batch = visitors(per_round, seed + rnd, start=start)
            start += per_round
            recs = drive(fleet.urls, batch, play(seed), workers)
            snaps = fleet.snapshots()
            tr = fleet.strata("train", str(fleet.ruleset), *snaps, "--min-visits", str(min_visits), "--min-conversions", str(min_conversions))
            fleet.publish()
            arms = Counter(r.arm for r in recs)
            bought = Counter(r.arm for r in recs if r.converted)
            detail["rounds"].append({"round": rnd, "visitors": len(recs), "arms": dict(arms), "bought": dict(bought), "bundle_version": fleet.version})
            log(f"round {rnd}: {len(recs)} visitors {dict(arms)}, bought {dict(bought)}; trained, published v{fleet.version}")
            summary = tr.stdout.strip().splitlines()
            log("  " + "\n  ".join(summary if rnd == rounds else summary[:1]))  # strata train's whole summary once, at the end
        prepared = fleet.prepared()
        detail["commands"] = fleet.log
    vs = visitors(fresh, seed + 1000, start=10_000_000)
    by_uplift = top(vs, scores(prepared, UPLIFT, vs), q)
    by_prob = top(vs, scores(prepared, PLAIN, vs), q)
    oracle = top(vs, [TREATMENT.p(v) - CONTROL.p(v) for v in vs], q)
    at_random = vs[: int(q * len(vs))]
    iu, ip, io, ir = incremental(by_uplift), incremental(by_prob), incremental(oracle), incremental(at_random)
    kinds = Counter(kind(v) for v in vs)
    detail["population"] = {k: kinds[k] / len(vs) for k in ("sure thing", "persuadable", "lost cause", "sleeping dog")}
    detail["chosen_by_uplift"] = {k: c / len(by_uplift) for k, c in Counter(kind(v) for v in by_uplift).items()}
    detail["chosen_by_probability"] = {k: c / len(by_prob) for k, c in Counter(kind(v) for v in by_prob).items()}
    pop = ", ".join(f"{k} {v:.0%}" for k, v in detail["population"].items())
    figures = [
        Figure("uplift", "population (true types)", pop, "", None, detail["population"]),
        Figure("uplift", f"incremental conversions per discount, top {q:.0%} by uplift vs by P(buy)",
               f"{iu:.4f} vs {ip:.4f} ({iu / ip:.2f}x; oracle {io:.4f}, random {ir:.4f})" if ip > 0 else f"{iu:.4f} vs {ip:.4f}",
               "uplift > P(buy)", iu > ip,
               {"by_uplift": iu, "by_probability": ip, "oracle": io, "random": ir, "q": q, "fresh_visitors": fresh}),
    ]
    return figures, detail
