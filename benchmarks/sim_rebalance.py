"""Adaptive allocation through real servers: a campaign of three banners, one truly better; rounds
of new visitors (and some earlier visitors coming back for a new visit); after each round the
replicas' counters are scraped, the real ``strata rebalance`` rewrites the experiment's weights in
the rule set (Thompson sampling, with a minimum share per arm), ``strata compile`` publishes it.

Figures: the loop's cumulative regret (Σ over visits of p(best) − p(shown), the true rates) against
a fixed equal split's over the same visits; the best arm's final weight; and that every returning
visitor was shown the arm it was first assigned, whatever the weights had become.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks.sim_fleet import COOKIE_KEY, Fleet, drive, stats
from benchmarks.sim_population import UA
from benchmarks.sim_report import Figure

EXPERIMENT, SLOT, GOAL = "spring-campaign", "banner", "signup"
RATES = {"trail": 0.040, "summit": 0.060, "basecamp": 0.045}  # summit is truly better
BEST = max(RATES, key=lambda k: RATES[k])


def ruleset() -> str:
    variants = "\n".join(f"      - {{id: {v}, weight: {w}, content: {{headline: {v.title()} sale}}}}" for v, w in zip(RATES, (34, 33, 33)))
    return f"""\
strata: 1
name: sim-rebalance
goals: [{GOAL}]
segments:
  - {{id: everyone, layer: broad, when: 'true'}}
slots:
  - id: {SLOT}
    default: {{}}
experiments:
  - id: {EXPERIMENT}
    slot: {SLOT}
    audience: everyone
    salt: spring-campaign-1
    variants:
{variants}
"""


@dataclass(frozen=True)
class Visitor:
    n: int
    cookie: str = ""  # a returning visitor's cookie (from its earlier visit)
    arm: str | None = None  # the arm it was shown before
    cohort: str = ""  # the period it was assigned in


@dataclass(frozen=True)
class Record:
    n: int
    arm: str | None
    cookie: str
    converted: bool
    returning: bool
    kept: bool | None  # returning visitor shown its earlier arm
    cohort: str  # the allocation period of its assignment (docs/models.md: cohorts)


def period(w: dict[str, float]) -> str:
    """An allocation's period: its weights in basis points joined by ``/``, e.g. ``"3400/3300/3300"``."""
    return "/".join(str(round(x * 100)) for x in w.values())


def expected_cohorts(records: list[Record]) -> dict[tuple[str, str, str, str], list[float]]:
    """``{(variant, period, event, goal): [count, value]}`` the servers must have counted: a new
    visitor is assigned and exposed in the period it came in; a returning one is exposed again in
    its first period, under its first variant; a conversion counts in the visit's cohort."""
    out: dict[tuple[str, str, str, str], list[float]] = {}

    def add(k: tuple[str, str, str, str], value: float = 0.0) -> None:
        c = out.setdefault(k, [0, 0.0])
        c[0] += 1
        c[1] += value

    for r in records:
        if r.arm is None:
            continue
        if not r.returning:
            add((r.arm, r.cohort, "assigned", ""))
        add((r.arm, r.cohort, "exposed", ""))
        if r.converted:
            add((r.arm, r.cohort, "converted", GOAL), 1.0)
    return out


def counted_cohorts(snapshots: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], list[float]]:
    out: dict[tuple[str, str, str, str], list[float]] = {}
    for snap in snapshots:
        for r in snap.get("cohorts", []):
            if r["experiment"] != EXPERIMENT:
                continue
            c = out.setdefault((r["variant"], r["period"], r["event"], r["goal"]), [0, 0.0])
            c[0] += r["count"]
            c[1] += r["value"]
    return out


def later_visit(cookie: str) -> str:
    """The same cookie two hours later (a new visit): the simulation holds the cookie key."""
    from edge_server.session import CookieCodec

    codec = CookieCodec({"sim": COOKIE_KEY}, "strata_session")
    s = codec.decode(cookie)
    assert s is not None, "the simulation's own cookie must decode"
    s.last_seen -= 7200
    s.first_seen -= 7200
    return codec.encode(s)


def play(seed: int, rnd: int, now: str) -> Any:
    """One visit of ``v`` in round ``rnd``, while the allocation's period is ``now``."""

    def one(clients: list[httpx.Client], v: Visitor) -> Record:
        c = clients[(v.n + rnd) % len(clients)]
        headers = {"User-Agent": UA["desktop"]}
        if v.cookie:
            headers["Cookie"] = f"strata_session={later_visit(v.cookie)}"
        c.cookies.clear()
        r = c.post("/v1/decide", json={"page": {"url": "/"}, "slots": [SLOT]}, headers=headers)
        r.raise_for_status()
        cookie = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        arm = r.json()["slots"][SLOT]["variant"]
        converted = arm is not None and random.Random(f"{seed}:{rnd}:{v.n}").random() < RATES[arm]
        if converted:
            c.cookies.clear()
            c.post("/v1/events", json={"goal": GOAL, "value": 1.0}, headers={"Cookie": f"strata_session={cookie}"}).raise_for_status()
        return Record(v.n, arm, cookie, converted, bool(v.cookie), (arm == v.arm) if v.cookie else None, v.cohort if v.cookie else now)

    return one


def weights(path: Path) -> dict[str, float]:
    doc = yaml.safe_load(path.read_text())
    exp = next(e for e in doc["experiments"] if e["id"] == EXPERIMENT)
    return {v["id"]: float(v["weight"]) for v in exp["variants"]}


def run(workdir: Path, *, rounds: int = 10, per_round: int = 3000, returning: float = 0.15, seed: int = 41, servers: int = 2,
        workers: int = 4, min_share: float = 0.05, log: Any = print) -> tuple[list[Figure], dict[str, Any]]:
    rng = random.Random(seed)
    detail: dict[str, Any] = {"rates": RATES, "rounds": []}
    regret = equal = 0.0
    back = kept = 0
    seen: list[Record] = []
    every: list[Record] = []
    mean = sum(RATES.values()) / len(RATES)
    with Fleet(workdir, ruleset(), servers=servers) as fleet:
        n = 0
        for rnd in range(1, rounds + 1):
            w = weights(fleet.ruleset)
            comers = [Visitor(n + i) for i in range(per_round)]
            n += per_round
            exposed = [r for r in seen if r.arm is not None]
            comers += [Visitor(r.n, r.cookie, r.arm, r.cohort) for r in rng.sample(exposed, min(len(exposed), int(returning * per_round)))]
            recs = drive(fleet.urls, comers, play(seed, rnd, period(w)), workers)
            every += recs
            for r in recs:
                if r.arm is not None:
                    regret += RATES[BEST] - RATES[r.arm]
                    equal += RATES[BEST] - mean
                if r.returning:
                    back += 1
                    kept += bool(r.kept)
            latest = {r.n: r for r in seen}
            latest.update({r.n: r for r in recs})
            seen = list(latest.values())
            new = [r for r in recs if not r.returning and r.arm is not None]
            shares = {a: c / max(1, len(new)) for a, c in Counter(r.arm for r in new).items()}
            snaps = fleet.snapshots()
            rb = fleet.strata("rebalance", str(fleet.ruleset), *snaps, "--min-share", str(min_share), "--seed", str(seed + rnd))
            fleet.publish()
            row = {"round": rnd, "weights": w, "new_visitor_shares": shares, "visits": len(recs), "returning": sum(r.returning for r in recs),
                   "converted": dict(Counter(r.arm for r in recs if r.converted)), "regret": regret, "equal_split_regret": equal,
                   "next_weights": weights(fleet.ruleset)}
            detail["rounds"].append(row)
            log(f"round {rnd}: weights {w}, new visitors {', '.join(f'{a} {s:.0%}' for a, s in sorted(shares.items()))}; "
                f"regret {regret:.1f} vs equal split {equal:.1f}; rebalanced to {row['next_weights']}")
            if rb.stdout.strip():
                log("  " + rb.stdout.strip().replace("\n", "\n  "))
        detail["commands"] = fleet.log
        final = weights(fleet.ruleset)
        counted = counted_cohorts([stats(u) for u in fleet.urls])
    expect = expected_cohorts(every)
    detail["cohorts_counted"] = [[*k, *v] for k, v in sorted(counted.items())]
    detail["cohorts_expected"] = [[*k, *v] for k, v in sorted(expect.items())]
    total = sum(final.values())
    share = final[BEST] / total
    ratio = regret / equal if equal else float("nan")
    figures = [
        Figure("rebalance", "cumulative regret, rebalance loop / fixed equal split", f"{regret:.1f} / {equal:.1f} = {ratio:.2f}", "<= 0.50",
               ratio <= 0.5, {"regret": regret, "equal_split_regret": equal, "rounds": rounds, "per_round": per_round}),
        Figure("rebalance", f"final weight on the best arm ({BEST})", f"{share:.0%}", ">= 70%", share >= 0.7, {"weights": final}),
        Figure("rebalance", "returning exposed visitors shown their first arm", f"{kept}/{back}", "all", back > 0 and kept == back,
               {"returning": back, "kept": kept}),
        Figure("rebalance", "cohort counters (assigned, exposed, converted per period) = the simulation's visits",
               f"{sum(int(v[0]) for v in counted.values())} counts", "equal", counted == expect, {}),
    ]
    return figures, detail
