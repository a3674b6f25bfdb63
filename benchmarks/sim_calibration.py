"""Calibrated scores and declared crosses through real servers (docs/models.md, "Calibration",
"Crosses"; issue #23): a shop whose features are **correlated** — a hidden shopper type drives the
page views, the tents browsed and the cart value together — whose purchase chance has an
**interaction** (newsletter readers buy far more on mobile than on desktop), and a discount
experiment that helps most visitors a little, newsletter readers more and big carts (sure things)
not at all, and whose **sleeping dogs** are defined by an interaction too (mobile visitors from
facebook buy less with the discount).

The loop is the operator's: rounds of visitors browse two ``strata serve`` replicas; their
``/v1/stats`` are scraped; the real ``strata train`` fits the models (round 1: naive Bayes weights)
and then calibrates the published fit from its live score buckets (rounds 2 and 3: weights kept,
isotonic calibration refitted on more counts); ``strata compile`` publishes each result.

Models: ``purchase_intent`` (the five features and the cross ``device_source``), the same without
the cross (``intent_additive``, to show what the cross buys) and ``discount_uplift`` (uplift over
the experiment's arms, with the cross). A rule shows the high-intent banner when
``score.purchase_intent > THRESHOLD``.

Figures, on fresh visitors scored by the published bundle's own runtime, outcomes drawn from the
truth (the arm drawn 50/50 as the experiment does):
- every score decile with >= 200 visitors within 0.05 of its observed rate (before calibration too);
- ``score > THRESHOLD`` selects visitors whose observed rate is >= THRESHOLD;
- the interaction's cells (device x newsletter) within 0.05, with the cross (without it, for contrast);
- the learned uplift of the true sleeping dogs is negative, and uplift targeting beats targeting by
  the chance to buy (true incremental conversions per discount, top 25%);
- learned AUC / true AUC >= 0.95.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.sim_fleet import Fleet, drive
from benchmarks.sim_models import counted as model_rows
from benchmarks.sim_models import scores
from benchmarks.sim_population import OTHER_CATEGORIES, Visitor, auc, browse, convert, pick
from benchmarks.sim_report import Figure
from edge_server.contract import SCORE

PLAIN, ADDITIVE, UPLIFT = "purchase_intent", "intent_additive", "discount_uplift"
EXPERIMENT, OFFER, HERO, RULE = "discount", "offer", "hero", "high-intent"
TREAT, CTRL = "bundle-discount", "free-shipping"
THRESHOLD = 0.3

FEATURES = """\
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      source: {signal: session.utm_source, values: [newsletter, google, facebook]}
      depth:  {signal: session.page_views, edges: [2, 4, 6]}
      tents:  {signal: session.recent_categories, contains: tents}
      cart:   {signal: cart.value, edges: [50.0, 150.0]}"""
CROSS = "      device_source: {cross: [device, source]}"


def ruleset() -> str:
    return f"""\
strata: 1
name: sim-calibration
goals: [purchase]
segments:
  - {{id: everyone, layer: broad, when: 'true'}}
models:
  {PLAIN}:
    goal: purchase
    description: chance this visit buys
    features:
{FEATURES}
{CROSS}
    coefficients: {PLAIN}.coefficients.yaml
  {ADDITIVE}:
    goal: purchase
    description: the same without the cross (for contrast)
    features:
{FEATURES}
    coefficients: {ADDITIVE}.coefficients.yaml
  {UPLIFT}:
    goal: purchase
    description: what the bundle discount adds to the chance to buy
    uplift: {{experiment: {EXPERIMENT}, treatment: {TREAT}, control: {CTRL}}}
    features:
{FEATURES}
{CROSS}
    coefficients: {UPLIFT}.coefficients.yaml
slots:
  - id: {HERO}
    default: {{}}
    rules:
      - id: {RULE}
        when: 'score.{PLAIN} > {THRESHOLD}'
        content: {{headline: Everything for your next trip}}
  - id: {OFFER}
    default: {{}}
experiments:
  - id: {EXPERIMENT}
    slot: {OFFER}
    audience: everyone
    salt: discount-1
    variants:
      - {{id: {CTRL}, weight: 50, content: {{headline: Free shipping on your first order}}}}
      - {{id: {TREAT}, weight: 50, content: {{headline: 15% off the starter kit}}}}
"""


ZERO = {
    f"{PLAIN}.coefficients.yaml": "bias: 0.0\nweights: {}\n",
    f"{ADDITIVE}.coefficients.yaml": "bias: 0.0\nweights: {}\n",
    f"{UPLIFT}.coefficients.yaml": "treatment: {bias: 0.0, weights: {}}\ncontrol: {bias: 0.0, weights: {}}\n",
}


# ---------------------------------------------------------------------- the population
#: hidden shopper types: (share, pages table, P(tents), P(cart), cart range)
TYPES = {
    "browser": (0.6, ((1, 0.5), (2, 0.3), (3, 0.15), (4, 0.05)), 0.12, 0.15, (10.0, 80.0)),
    "planner": (0.3, ((2, 0.15), (3, 0.25), (4, 0.25), (5, 0.2), (6, 0.15)), 0.6, 0.5, (40.0, 200.0)),
    "buyer": (0.1, ((4, 0.2), (5, 0.2), (6, 0.2), (7, 0.2), (8, 0.2)), 0.7, 0.95, (120.0, 300.0)),
}
DEVICES = (("mobile", 0.5), ("desktop", 0.4), ("tablet", 0.1))
SOURCES = (("", 0.4), ("google", 0.3), ("newsletter", 0.15), ("facebook", 0.15))


def shopper_type(v: Visitor) -> str:
    """The hidden type a visitor was drawn with (its number encodes it: the simulation's bookkeeping)."""
    return ("browser", "planner", "buyer")[v.n % 3]


def population(count: int, seed: int, start: int = 0) -> list[Visitor]:
    """``count`` visitors whose depth, tents and cart are correlated through a hidden type (the
    visitor number's residue mod 3 records the type: numbers are spaced accordingly)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        t = pick(rng, [(k, v[0]) for k, v in TYPES.items()])
        _, pages_t, p_tents, p_cart, (lo, hi) = TYPES[t]
        pages = pick(rng, pages_t)
        tents = rng.random() < p_tents
        cart = round(rng.uniform(lo, hi), 2) if rng.random() < p_cart else 0.0
        cats = [rng.choice(OTHER_CATEGORIES) for _ in range(pages)]
        if tents:
            cats[rng.randrange(pages)] = "tents"
        n = 3 * (start + i) + ("browser", "planner", "buyer").index(t)
        out.append(Visitor(n, pick(rng, DEVICES), pick(rng, SOURCES), pages, tents, cart, tuple(cats)))
    return out


def _levels(v: Visitor) -> dict[str, str]:
    lv = v.level_names()
    lv["device_source"] = f"{lv['device']}|{lv['source']}"
    return lv


def _logit_control(v: Visitor) -> float:
    lv = v.level_names()
    z = -4.1
    z += {"<2": 0.0, "[2,4)": 0.6, "[4,6)": 1.2, ">=6": 1.7}[lv["depth"]]
    z += 0.7 if v.tents else 0.0
    z += {"<50.0": 0.0, "[50.0,150.0)": 0.8, ">=150.0": 1.4}.get(lv["cart"], 0.0)
    z += {"mobile": -0.2, "tablet": 0.1}.get(v.device, 0.0)
    z += {"google": 0.3, "facebook": -0.2}.get(v.source, 0.0)
    if v.source == "newsletter":  # the interaction: newsletter readers buy on mobile, hardly on desktop
        z += {"mobile": 1.6, "desktop": -0.6, "tablet": 0.6}[v.device]
    return z


def p_control(v: Visitor) -> float:
    return 1 / (1 + math.exp(-_logit_control(v)))


def p_treatment(v: Visitor) -> float:
    z = _logit_control(v) + 0.35  # the discount helps most visitors a little
    if v.cart >= 150.0:
        z -= 0.35  # sure things: a big cart is bought with or without it
    if v.source == "newsletter":
        z += 0.5  # persuadables
    if v.source == "facebook":
        z += -1.6 if v.device == "mobile" else 0.3  # sleeping dogs: mobile visitors from facebook
    return 1 / (1 + math.exp(-z))


def p_buy(v: Visitor) -> float:
    """The chance to buy of a visitor of the experiment's audience (its arm drawn 50/50)."""
    return (p_control(v) + p_treatment(v)) / 2


def sleeping_dog(v: Visitor) -> bool:
    return p_treatment(v) - p_control(v) <= -0.01


# ---------------------------------------------------------------------- one visit
@dataclass(frozen=True)
class Record:
    v: Visitor
    arm: str | None
    converted: bool


def play(seed: int) -> Callable[[list[httpx.Client], Visitor], Record]:
    def one(clients: list[httpx.Client], v: Visitor) -> Record:
        visit = browse(clients, v)
        variants = {p[OFFER]["variant"] for p in visit.pages} - {None}
        arm = {TREAT: "treatment", CTRL: "control"}.get(next(iter(variants))) if len(variants) == 1 else None
        p = p_treatment(v) if arm == "treatment" else p_control(v)
        converted = random.Random(f"{seed}:{v.n}").random() < p
        if converted:
            convert(clients[v.n % len(clients)], visit.cookie)
        return Record(v, arm, converted)

    return one


# ---------------------------------------------------------------------- bookkeeping
Key = tuple[str, str, str, str]  # model, arm, feature, level


def counted(snapshots: Iterable[dict[str, Any]]) -> dict[Key, list[int]]:
    """sim_models.counted (net and converting visits per model, arm, feature and level, the score-
    and uplift-bucket rows left out), zeros dropped."""
    return {k: v for k, v in model_rows(snapshots).items() if v != [0, 0]}


def expected(records: Sequence[Record]) -> dict[Key, list[int]]:
    """What the servers must have counted: every visit for the plain models, each exposed visit in
    its arm for the uplift model, at the last page's levels — crosses included."""
    out: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        for model, arm in ((PLAIN, ""), (ADDITIVE, ""), (UPLIFT, r.arm)):
            if arm is None:
                continue
            for f, lv in [("*", "*"), *_levels(r.v).items()]:
                if f == "device_source" and model == ADDITIVE:
                    continue
                c = out[(model, arm, f, lv)]
                c[0] += 1
                c[1] += r.converted
    return dict(out)


def score_rows(snapshots: Iterable[dict[str, Any]], model: str) -> int:
    """Net visits in the model's log-odds bucket rows (every fit)."""
    return sum(r["entered"] - r["left"] for s in snapshots for r in s.get("models", []) if r["model"] == model and r["feature"] == SCORE)


# ---------------------------------------------------------------------- measures
def deciles(pred: Sequence[float], outcome: Sequence[bool], min_visitors: int = 200) -> list[dict[str, float]]:
    order = sorted(range(len(pred)), key=lambda i: pred[i])
    out = []
    for d in range(10):
        idx = order[d * len(order) // 10:(d + 1) * len(order) // 10]
        if len(idx) < min_visitors:
            continue
        out.append({"decile": d + 1, "visitors": len(idx), "predicted": sum(pred[i] for i in idx) / len(idx),
                    "observed": sum(outcome[i] for i in idx) / len(idx)})
    return out


def cells(vs: Sequence[Visitor], pred: Sequence[float], outcome: Sequence[bool]) -> dict[str, dict[str, float]]:
    """Predicted and observed rates of the interaction's cells (device x newsletter)."""
    out = {}
    for device in ("mobile", "desktop"):
        idx = [i for i, v in enumerate(vs) if v.device == device and v.source == "newsletter"]
        out[f"{device} & newsletter"] = {"visitors": len(idx), "predicted": sum(pred[i] for i in idx) / max(1, len(idx)),
                                         "observed": sum(outcome[i] for i in idx) / max(1, len(idx)),
                                         "true": sum(p_buy(vs[i]) for i in idx) / max(1, len(idx))}
    return out


def incremental(chosen: Sequence[Visitor]) -> float:
    return sum(p_treatment(v) - p_control(v) for v in chosen) / max(1, len(chosen))


def top(vs: Sequence[Visitor], key: Sequence[float], q: float) -> list[Visitor]:
    order = sorted(range(len(vs)), key=lambda i: (-key[i], vs[i].n))
    return [vs[i] for i in order[: int(q * len(vs))]]


def outcomes(vs: Sequence[Visitor], seed: int) -> list[bool]:
    """Each fresh visitor's purchase, its arm drawn 50/50 (the experiment's split)."""
    out = []
    for v in vs:
        rng = random.Random(f"fresh:{seed}:{v.n}")
        p = p_treatment(v) if rng.random() < 0.5 else p_control(v)
        out.append(rng.random() < p)
    return out


# ---------------------------------------------------------------------- the loop
def run(workdir: Path, *, rounds: int = 3, per_round: int = 8000, fresh: int = 40000, q: float = 0.25, seed: int = 41, servers: int = 2,
        workers: int = 4, min_visits: int = 1000, min_conversions: int = 50, min_calibration_visits: int = 2000,
        min_calibration_conversions: int = 100, log: Any = print) -> tuple[list[Figure], dict[str, Any]]:
    detail: dict[str, Any] = {"rounds": []}
    before_cal: Any = None
    with Fleet(workdir, ruleset(), servers=servers, extra_files=ZERO) as fleet:
        start = 0
        for rnd in range(1, rounds + 1):
            batch = population(per_round, seed + rnd, start=start)
            start += per_round
            recs = drive(fleet.urls, batch, play(seed), workers)
            snaps = fleet.snapshots()
            tr = fleet.strata("train", str(fleet.ruleset), *snaps, "--min-visits", str(min_visits), "--min-conversions", str(min_conversions),
                              "--min-calibration-visits", str(min_calibration_visits),
                              "--min-calibration-conversions", str(min_calibration_conversions))
            if rnd == 1:
                fleet.publish()
                before_cal = fleet.prepared()  # naive Bayes weights, not calibrated yet
            else:
                fleet.publish()
            calibrated = tr.stdout.count("kept (weights unchanged) and calibrated")
            row = {"round": rnd, "visitors": len(recs), "conversions": sum(r.converted for r in recs),
                   "arms": dict(Counter(r.arm for r in recs)), "bundle_version": fleet.version, "models_calibrated": calibrated}
            detail["rounds"].append(row)
            log(f"round {rnd}: {len(recs)} visitors, {row['conversions']} bought; trained ({calibrated} model(s) calibrated), "
                f"published v{fleet.version}")
            summary = tr.stdout.strip().splitlines()
            log("  " + "\n  ".join(summary if rnd == rounds else summary[:1]))
        prepared = fleet.prepared()
        detail["commands"] = fleet.log
    vs = population(fresh, seed + 1000, start=10_000_000)
    y = outcomes(vs, seed)
    truth = [p_buy(v) for v in vs]
    plain, additive = scores(prepared, PLAIN, vs), scores(prepared, ADDITIVE, vs)
    raw = scores(before_cal, PLAIN, vs)
    uplift = scores(prepared, UPLIFT, vs)
    figures: list[Figure] = []

    dec, dec_raw = deciles(plain, y), deciles(raw, y)
    worst = max(abs(d["predicted"] - d["observed"]) for d in dec)
    worst_raw = max(abs(d["predicted"] - d["observed"]) for d in dec_raw)
    detail["deciles"], detail["deciles_before_calibration"] = dec, dec_raw
    figures.append(Figure("calibration", "score deciles (>= 200 visitors): largest |predicted - observed|",
                          f"{worst:.3f} calibrated (naive Bayes alone: {worst_raw:.3f}; top decile {dec_raw[-1]['predicted']:.3f} vs "
                          f"{dec_raw[-1]['observed']:.3f} -> {dec[-1]['predicted']:.3f} vs {dec[-1]['observed']:.3f})",
                          "<= 0.05", worst <= 0.05, {"calibrated": worst, "naive_bayes": worst_raw}))

    sel = [i for i, s in enumerate(plain) if s > THRESHOLD]
    sel_raw = [i for i, s in enumerate(raw) if s > THRESHOLD]
    obs = sum(y[i] for i in sel) / max(1, len(sel))
    obs_raw = sum(y[i] for i in sel_raw) / max(1, len(sel_raw))
    figures.append(Figure("calibration", f"score > {THRESHOLD}: share selected, their observed rate",
                          f"{len(sel) / len(vs):.1%}, {obs:.3f} (naive Bayes alone: {len(sel_raw) / len(vs):.1%}, {obs_raw:.3f})",
                          f">= {THRESHOLD}", bool(sel) and obs >= THRESHOLD,
                          {"share": len(sel) / len(vs), "observed": obs, "share_naive_bayes": len(sel_raw) / len(vs), "observed_naive_bayes": obs_raw,
                           "true_share_above": sum(t > THRESHOLD for t in truth) / len(vs)}))

    c, c_add = cells(vs, plain, y), cells(vs, additive, y)
    worst_c = max(abs(x["predicted"] - x["observed"]) for x in c.values())
    worst_add = max(abs(x["predicted"] - x["observed"]) for x in c_add.values())
    detail["cells"], detail["cells_without_cross"] = c, c_add
    figures.append(Figure("calibration", "interaction cells (device x newsletter): largest |predicted - observed|",
                          f"{worst_c:.3f} with the cross (without: {worst_add:.3f}; "
                          + "; ".join(f"{k} {v['predicted']:.3f} vs {v['observed']:.3f}" for k, v in c.items()) + ")",
                          "<= 0.05", worst_c <= 0.05, {"with_cross": worst_c, "without_cross": worst_add}))

    dogs = [i for i, v in enumerate(vs) if sleeping_dog(v)]
    dog_uplift = sum(uplift[i] for i in dogs) / max(1, len(dogs))
    true_dog = sum(p_treatment(vs[i]) - p_control(vs[i]) for i in dogs) / max(1, len(dogs))
    figures.append(Figure("calibration", "sleeping dogs (mobile & facebook): mean learned uplift",
                          f"{dog_uplift:+.3f} (true {true_dog:+.3f}; {len(dogs) / len(vs):.1%} of visitors)", "< 0", bool(dogs) and dog_uplift < 0,
                          {"learned": dog_uplift, "true": true_dog, "share": len(dogs) / len(vs)}))
    iu, ip = incremental(top(vs, uplift, q)), incremental(top(vs, plain, q))
    figures.append(Figure("calibration", f"incremental conversions per discount, top {q:.0%} by uplift vs by P(buy)",
                          f"{iu:.4f} vs {ip:.4f}", "uplift > P(buy)", iu > ip, {"by_uplift": iu, "by_probability": ip}))

    learned, true = auc(plain, y), auc(truth, y)
    figures.append(Figure("calibration", "learned score AUC / true AUC (fresh visitors)", f"{learned:.4f} / {true:.4f} = {learned / true:.3f}",
                          ">= 0.95", learned / true >= 0.95, {"auc_learned": learned, "auc_true": true, "fresh_visitors": fresh}))
    detail["population"] = {t: sum(shopper_type(v) == t for v in vs) / len(vs) for t in TYPES}
    return figures, detail
