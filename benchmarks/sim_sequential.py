"""Always-valid results, proved by simulation (docs/measurement.md, "Simulation"):

- **A/A read daily.** ``runs`` experiments with no true effect, their cumulative counters read once
  a day for ``days`` days: the share the default report ever declares a winner or loser (target
  at most 5%), beside the share the fixed-horizon z-test would have declared when read as often;
- **power and time to detection** on true lifts: the share the default report detects within the
  window and the median day it first says STOP, beside the fixed-horizon test's power read once
  at the same final sample;
- **false discoveries** in reports of 20 null and 2 real comparisons, read daily: the FDR of the
  default report (Benjamini-Hochberg on the always-valid p-values) at every read (target at most 5%),
  beside always-valid comparisons without the correction and the fixed-horizon test without it;
- **real servers.** A few days of visitors through two real ``strata serve`` processes,
  snapshotted once a "day": ``strata report`` over the snapshots prints the verdict and draws the
  confidence sequence, and its always-valid figures equal those of the true counts.

The statistical figures draw the aggregate counters directly (edge_server/harness/daily_counts.py:
binomial counts per arm and day, never a visit log) and run them through the report's own
decision path (``report.experiments`` and ``verdicts.review``, as ``strata report`` does)."""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.sim_report import Figure, write  # noqa: E402
from edge_server.harness.daily_counts import daily_reads  # noqa: E402
from edge_server.reporting import sequential as sq  # noqa: E402
from edge_server.reporting import stats  # noqa: E402
from edge_server.reporting.counters import Data  # noqa: E402
from edge_server.reporting.report import experiments  # noqa: E402
from edge_server.reporting.verdicts import Settings, review  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "sequential_sim.json"
#: The strata of the real-server run: an uplift model over the experiment, whose per-arm × level
#: counters post-stratify it (device: the harness's visitors are 40% mobile).
STRATA_MODEL = """\
models:
  offer_strata:
    goal: purchase
    uplift: {experiment: checkout-offer, treatment: treatment, control: control}
    features:
      device: {signal: device.type, values: [mobile, desktop]}
    coefficients: {treatment: {bias: 0.0, weights: {}}, control: {bias: 0.0, weights: {}}}
"""
ALPHA = 0.05
GOAL = "purchase"


def counters(experiments_arms: dict[str, list[tuple[int, int]]]) -> Data:
    """The summed counters of a report: per experiment (slot = its id), control then treatment
    ``(conversions, visits)``, as ``counters.merge`` would give them."""
    d = Data()
    for eid, arms in experiments_arms.items():
        d.experiments[eid] = {"slot": eid, "variants": [["control", 5000], ["treatment", 5000]], "period": "5000/5000"}
        for v, (x, n) in zip(("control", "treatment"), arms):
            d.exposures[(eid, f"{eid}/{v}", "broad", "personalized")] = n
            d.conversions[(GOAL, eid, f"{eid}/{v}", "broad", "personalized")] = x
    return d


DEFAULT = Settings()


def report_discoveries(d: Data, settings: Settings = DEFAULT) -> set[str]:
    """The experiments whose treatment the default report declares a winner or loser (its
    discoveries against the control): the decision path of ``strata report``."""
    rv = review(d, GOAL, {GOAL: experiments(d, GOAL, suggest=False)}, settings)
    return {t.experiment for t in rv.discoveries if t.against != "holdout"}


def fixed_significant(arms: list[tuple[int, int]]) -> bool:
    (x0, n0), (x1, n1) = arms
    return (stats.compare(x1, n1, x0, n0).p_value or 1.0) < ALPHA


def _reads(rng: random.Random, days: int, per_day: int, base: float, lift: float) -> list[list[tuple[int, int]]]:
    return list(daily_reads(rng, days, per_day, [base, base * (1 + lift)], [0.5, 0.5]))


def aa(runs: int, days: int, per_day: int, base: float, seed: int) -> tuple[list[Figure], dict[str, Any]]:
    rng = random.Random(f"aa-{seed}")
    ever_seq = ever_fixed = final_fixed = 0
    for _ in range(runs):
        reads = _reads(rng, days, per_day, base, 0.0)
        ever_seq += any(report_discoveries(counters({"e": arms})) for arms in reads)
        ever_fixed += any(fixed_significant(arms) for arms in reads)
        final_fixed += fixed_significant(reads[-1])
    s, f, once = ever_seq / runs, ever_fixed / runs, final_fixed / runs
    detail = {"runs": runs, "days": days, "visits_per_day": per_day, "rate": base, "ever_significant_default": s,
              "ever_significant_fixed_horizon_read_daily": f, "fixed_horizon_read_once": once}
    return [Figure("sequential", f"A/A, {runs} experiments read daily for {days} days: ever declared significant (default report)",
                   f"{s:.1%}", "≤ 5%", s <= ALPHA, detail),
            Figure("sequential", "A/A, the same reads by the fixed-horizon z-test (read daily)", f"{f:.1%}", "shown beside", None, {}),
            Figure("sequential", "A/A, the fixed-horizon z-test read once at the end", f"{once:.1%}", "shown beside", None, {})], detail


def power(runs: int, days: int, per_day: int, base: float, lifts: list[float], seed: int) -> tuple[list[Figure], dict[str, Any]]:
    figs, detail = [], {}
    for lift in lifts:
        rng = random.Random(f"power-{seed}-{lift}")
        first: list[int] = []
        fixed = 0
        for _ in range(runs):
            reads = _reads(rng, days, per_day, base, lift)
            day = next((k for k, arms in enumerate(reads, 1) if report_discoveries(counters({"e": arms}))), None)
            if day is not None:
                first.append(day)
            fixed += fixed_significant(reads[-1])
        seq_power, fix_power = len(first) / runs, fixed / runs
        median = statistics.median(first) if first else None
        planned = math.ceil(sq.visits_to_detect(lift, base, sequential=False) / per_day)  # strata plan's fixed-horizon days, 80% power
        detail[f"{lift:+.0%}"] = {"sequential_power": seq_power, "median_day_detected": median, "fixed_horizon_power_read_once": fix_power,
                                  "fixed_horizon_days_planned_for_80pct": planned, "days_detected": sorted(first)}
        figs.append(Figure("sequential", f"true lift {lift:+.0%} at {base:.0%}, {per_day:,} visits/day: default report detects within {days} days "
                           f"(median day) / fixed horizon read once at day {days} / fixed horizon planned for 80% power",
                           f"{seq_power:.0%} (day {median if median is not None else '-'}) / {fix_power:.0%} / day {planned}", "shown", None, {}))
    return figs, detail


def fdr(reports: int, days: int, per_day: int, base: float, lift: float, seed: int) -> tuple[list[Figure], dict[str, Any]]:
    """Reports of 20 null and 2 real comparisons (22 experiments of one variant each), read daily."""
    rng = random.Random(f"fdr-{seed}")
    ids = [f"e{i:02d}" for i in range(22)]
    real = {"e20", "e21"}
    fdp: dict[str, list[list[float]]] = {"default": [[] for _ in range(days)], "uncorrected": [[] for _ in range(days)],
                                         "fixed": [[] for _ in range(days)]}
    found_real = 0
    for _ in range(reports):
        series = {eid: _reads(rng, days, per_day, base, lift if eid in real else 0.0) for eid in ids}
        for day in range(days):
            d = counters({eid: series[eid][day] for eid in ids})
            rv = review(d, GOAL, {GOAL: experiments(d, GOAL, suggest=False)}, DEFAULT)
            found = {t.experiment for t in rv.discoveries}
            uncorrected = {t.experiment for t in rv.tested if t.effect.p_value < ALPHA}
            fixed = {eid for eid in ids if fixed_significant(series[eid][day])}
            for name, s in (("default", found), ("uncorrected", uncorrected), ("fixed", fixed)):
                fdp[name][day].append(len(s - real) / len(s) if s else 0.0)
            if day == days - 1:
                found_real += len(found & real)
    worst = {name: max(sum(v) / len(v) for v in per_day_fdp) for name, per_day_fdp in fdp.items()}
    detail = {"reports": reports, "comparisons": 22, "real": 2, "lift": lift, "worst_daily_fdr": worst,
              "real_found_at_end": found_real / (2 * reports)}
    return [Figure("sequential", f"FDR, {reports} reports of 20 null + 2 real comparisons read daily (worst day, default report)",
                   f"{worst['default']:.1%}", "≤ 5%", worst["default"] <= ALPHA, detail),
            Figure("sequential", "FDR of the same reads: always-valid without Benjamini-Hochberg / fixed-horizon without it",
                   f"{worst['uncorrected']:.1%} / {worst['fixed']:.1%}", "shown beside", None, {}),
            Figure("sequential", f"real comparisons found by day {days} (default report)", f"{found_real / (2 * reports):.0%}", "shown", None, {})], detail


#: Strata that explain conversion (visitors with a cart at assignment: 10% of visits at 60%, the rest
#: at 1%; R^2 about 0.49) and strata that do not (40% / 60% of visits, both at 5%).
EXPLAINING = [(0.10, 0.60), (0.90, 0.01)]
UNRELATED = [(0.40, 0.05), (0.60, 0.05)]


def poststrat(runs: int, days: int, per_day: int, seed: int) -> tuple[list[Figure], dict[str, Any]]:
    """Interval width of the post-stratified comparison over the unstratified one at the last of
    ``days`` daily reads (A/A), and the share of A/A experiments it ever declares significant."""
    from edge_server.harness.daily_counts import binomial

    rng = random.Random(f"poststrat-{seed}")
    detail: dict[str, Any] = {}
    figs = []
    for name, strata in (("explaining", EXPLAINING), ("unrelated", UNRELATED)):
        ratios, ever = [], 0
        for _ in range(runs):
            cells = [(0, 0, 0, 0)] * len(strata)
            hit = False
            for _day in range(days):
                new = []
                for (share, rate), (x1, n1, x0, n0) in zip(strata, cells):
                    a, b = binomial(rng, per_day, share / 2), binomial(rng, per_day, share / 2)
                    new.append((x1 + binomial(rng, a, rate), n1 + a, x0 + binomial(rng, b, rate), n0 + b))
                cells = new
                hit = hit or sq.post_stratified(cells).significant
            ever += hit
            ps, un = sq.post_stratified(cells), sq.rates(*(sum(c[i] for c in cells) for i in range(4)))
            ratios.append((ps.high - ps.low) / (un.high - un.low))  # type: ignore[operator]
        narrower = 1 - sum(ratios) / len(ratios)
        detail[name] = {"strata": strata, "narrower": narrower, "ever_significant_aa": ever / runs}
        target, met = ("≥ 20% narrower", narrower >= 0.20) if name == "explaining" else ("no wider (≥ -1%)", narrower >= -0.01)
        figs.append(Figure("sequential", f"post-stratified interval vs unstratified, strata that {'explain' if name == 'explaining' else 'do not explain'} "
                           f"conversion ({runs} A/A runs, {days} days; ever significant {ever / runs:.1%})", f"{narrower:+.1%} narrower", target, met, detail[name]))
    return figs, detail


def servers(work: Path, visitors: int, rounds: int, seed: int) -> tuple[list[Figure], dict[str, Any]]:
    """Visitors through two real servers, snapshotted once a simulated day (the snapshots' time set
    to day k): ``strata report`` over them, and its always-valid figures against the true counts."""
    import httpx

    from compiler.harness.fixtures import AB_MEASUREMENT
    from edge_server.harness.server import RunningServer
    from edge_server.harness.visitors import cookie_keys_env, simulate, snapshots
    from edge_server.reporting.counters import load
    from edge_server.reporting.poststrat import post_stratify
    from edge_server.reporting.report import seq_text

    rs = work / "sim.yaml"
    rs.write_text(AB_MEASUREMENT.replace("goals: [purchase]\n", "goals: [purchase]\n" + STRATA_MODEL))
    env = {"STRATA_COOKIE_KEYS": cookie_keys_env(), "STRATA_STATS_TOKEN": "sim-token"}
    fleet = [RunningServer([str(rs), "--insecure-cookie"], env=env) for _ in range(2)]
    urls = [s.url for s in fleet]
    snaps = work / "stats"
    snaps.mkdir(exist_ok=True)
    paths: list[str] = []
    day = [0]

    def snapshot() -> None:
        day[0] += 1
        for p in snapshots(urls, "sim-token", snaps):
            doc = json.loads(Path(p).read_text())
            doc["generated"] = 1_800_000_000 + day[0] * 86_400  # a simulated clock: one round a day
            Path(p).write_text(json.dumps(doc))
            paths.append(p)

    try:
        counts = simulate(urls, visitors, seed, every=max(1, visitors // rounds), on_batch=snapshot)
        snapshot()
        scrapes = []
        for i, u in enumerate(urls):  # /metrics carries the rows but not the models' description: --ruleset gives it
            scrape = work / f"metrics{i}.txt"
            scrape.write_text(httpx.get(u + "/metrics", headers={"Authorization": "Bearer sim-token"}).text)
            scrapes.append(str(scrape))
    finally:
        for s in fleet:
            s.stop()
    html = work / "report.html"
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "report", *paths, "--mde", "10%", "--html", str(html)],
                       cwd=ROOT, capture_output=True, text=True)
    q = subprocess.run([sys.executable, "-m", "runtime.cli", "report", *scrapes, "--ruleset", str(rs)], cwd=ROOT, capture_output=True, text=True)
    post_lines = [[ln for ln in out.splitlines() if "post-stratified by" in ln] for out in (p.stdout, q.stdout)]
    data = load(paths)
    strata = {p.feature: p for p in post_stratify(data, "checkout-offer", GOAL)}
    cells = {(arm, level): n for (model, _spec, arm, feature, level, event), n in data.models.items()
             if model == "offer_strata" and feature == "device" and event == "entered"}
    conv = {(arm, level): n for (model, _spec, arm, feature, level, event), n in data.models.items()
            if model == "offer_strata" and feature == "device" and event == "converted"}
    counted = {arm: (sum(n for (a, _), n in cells.items() if a == arm), sum(n for (a, _), n in conv.items() if a == arm)) for arm in ("treatment", "control")}
    strata_ok = (bool(post_lines[0]) and post_lines[0] == post_lines[1] and "device" in strata and not strata["device"].reason and "post-stratified by device" in p.stdout
                 and counted == {arm: (counts[arm], counts[f"{arm}_converted"]) for arm in ("treatment", "control")})
    truth = sq.rates(counts["treatment_converted"], counts["treatment"], counts["control_converted"], counts["control"])
    expected = seq_text(truth) if truth.lift_low is not None else ""
    verdict = next((ln for ln in p.stdout.splitlines() if ln.strip().startswith("checkout-offer ")), "")
    page = html.read_text() if html.exists() else ""
    ok = (strata_ok and p.returncode == 0 and bool(verdict) and bool(expected) and expected in p.stdout and "visits a day" in p.stdout
          and 'always-valid lift over time' in page and f"{day[0]} reads over {day[0] - 1:.1f} days" in page)
    detail = {"strata_counted": counted, "visitors": visitors, "reads": day[0], "counts": counts, "verdict": verdict.strip(), "expected": expected,
              "stderr": p.stderr[-500:], "html": str(html)}
    print(p.stdout)
    return [Figure("sequential", f"real servers: report over {day[0]} daily snapshots of 2 nodes equals the always-valid figures of "
                   "the true counts, with verdict, days to detect and the confidence sequence", "equal" if ok else "differ",
                   "equal", ok, detail)], detail


def run(*, runs: int = 200, days: int = 30, per_day: int = 2_000, base: float = 0.04, lifts: tuple[float, ...] = (0.10, 0.20),
        fdr_reports: int = 200, fdr_lift: float = 0.30, visitors: int = 3_000, rounds: int = 5, seed: int = 7,
        real_servers: bool = True, progress: Callable[[str], object] = print) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    detail: dict[str, Any] = {}
    progress(f"A/A: {runs} experiments x {days} daily reads")
    f, detail["aa"] = aa(runs, days, per_day, base, seed)
    figures += f
    progress(f"power: lifts {', '.join(f'{x:+.0%}' for x in lifts)}")
    f, detail["power"] = power(runs, days, per_day, base, list(lifts), seed)
    figures += f
    progress(f"FDR: {fdr_reports} reports x 22 comparisons x {days} daily reads")
    f, detail["fdr"] = fdr(fdr_reports, days, per_day, base, fdr_lift, seed)
    figures += f
    progress(f"post-stratification: {runs} runs x {days} daily reads")
    f, detail["poststrat"] = poststrat(runs, days, per_day, seed)
    figures += f
    if real_servers:
        progress(f"real servers: {visitors:,} visitors over {rounds} days")
        f, detail["servers"] = servers(Path(tempfile.mkdtemp(prefix="strata-sim-sequential-")), visitors, rounds, seed)
        figures += f
    return figures, detail


def main(a: Any) -> list[Figure]:
    """``measurement_sim.py --scenario sequential``: the full figures (``--scale`` shrinks the runs)."""
    k = a.scale
    figures, detail = run(runs=max(20, int(200 * k)), fdr_reports=max(20, int(200 * k)), seed=a.seed)
    path = write(figures, "python benchmarks/measurement_sim.py " + " ".join(sys.argv[1:]), {"sequential": detail}, RESULTS)
    print(f"wrote {path}")
    return figures
