"""Measurement simulation: synthetic visitors with known true conversion rates, driven through
real edge servers, and the report computed from their aggregate counters.

    python benchmarks/measurement_sim.py --visitors 40000 [--servers 2] [--srm 0.3] [--html out.html]
    python benchmarks/measurement_sim.py --scenario models|uplift|rebalance|calibration|sequential|all [--scale 0.1]

``--scenario ab`` (the default) is described here; ``models``, ``uplift`` and ``rebalance`` are the
one-to-one stage's loops (benchmarks/sim_models.py, sim_uplift.py, sim_rebalance.py; their figures
in a table and in benchmarks/results/one_to_one_sim.json; docs/models.md "Simulation").

Rule set and visitors (edge_server/harness/visitors.py, shared with tests/edge_server/test_measurement.py):
a 10% global holdout, an experiment on the `offer` slot (control 50 / treatment 50) and
a mobile rule on the `hero` slot. True purchase rates: control 4.0%, treatment 5.0%, holdout
3.5%. Each visitor has a session id minted from its number (the simulation knows the cookie key),
so assignments and outcomes are reproducible; visitors are spread over the servers, whose
snapshots are summed like a fleet's. ``--srm F`` drops the first request of a fraction F of the
treatment visitors (a page that fails to load for one arm), which the sample-ratio check must flag.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sim_report import RESULTS, Figure, table, write  # noqa: E402
from compiler.harness.fixtures import AB_MEASUREMENT  # noqa: E402
from edge_server.harness.visitors import TRUE_RATES, cookie_keys_env, simulate, snapshots  # noqa: E402


def run_ab(a: argparse.Namespace) -> list[Figure]:
    """The A/B measurement scenario (the report recovers the true rates within its intervals)."""
    from edge_server.harness.server import RunningServer
    from edge_server.reporting.counters import load
    from edge_server.reporting.report import experiments, render_html, text

    tmp = Path(tempfile.mkdtemp(prefix="strata-sim-"))
    rs = tmp / "sim.yaml"
    rs.write_text(AB_MEASUREMENT)
    env = {"STRATA_COOKIE_KEYS": cookie_keys_env(), "STRATA_STATS_TOKEN": "sim-token"}
    servers = [RunningServer([str(rs), "--insecure-cookie"], env=env) for _ in range(a.servers)]
    urls = [s.url for s in servers]
    paths: list[str] = []
    try:
        counts = simulate(urls, a.visitors, a.seed, a.srm, every=max(1, a.visitors // 8),
                          on_batch=lambda: paths.extend(snapshots(urls, "sim-token", tmp)))
        paths += snapshots(urls, "sim-token", tmp)
    finally:
        for s in servers:
            s.stop()
    data = load(paths)
    print(f"true arms: {counts}; true rates: {TRUE_RATES}; true lift treatment vs control: +25.0%, vs holdout: "
          f"{TRUE_RATES['treatment'] / TRUE_RATES['holdout'] - 1:+.1%}\n")
    print(text(data, "purchase"))
    e = experiments(data, "purchase")[0]
    t = e.rows[1].vs_control
    inside = t.low is not None and t.high is not None and t.low <= 0.25 <= t.high
    print(f"true lift +25.0% within the reported interval [{t.low:+.1%}, {t.high:+.1%}]: {inside}")
    if a.html:
        Path(a.html).write_text(render_html(data, "purchase"))
        print(f"wrote {a.html}")
    return [Figure("ab", "true lift +25.0% within the report's 95% interval", f"[{t.low:+.1%}, {t.high:+.1%}]", "contains +25.0%", inside,
                   {"low": t.low, "high": t.high, "visitors": a.visitors})]


SCENARIOS = ("ab", "models", "uplift", "rebalance", "calibration", "sequential")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="ab",
                    help="ab: the A/B measurement; models, uplift, rebalance, calibration: the one-to-one stage (docs/models.md#simulation); "
                    "sequential: always-valid results (docs/measurement.md#simulation)")
    ap.add_argument("--visitors", type=int, default=40_000, help="ab: visitors")
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--srm", type=float, default=0.0, help="ab: fraction of treatment visitors whose page never loads")
    ap.add_argument("--seed", type=int, default=7, help="ab: seed")
    ap.add_argument("--html", help="ab: write the HTML report here")
    ap.add_argument("--scale", type=float, default=1.0, help="one-to-one scenarios: multiply every visitor count (0.1 for a quick look)")
    ap.add_argument("--workers", type=int, default=4, help="client threads driving the replicas")
    a = ap.parse_args()
    todo = SCENARIOS if a.scenario == "all" else (a.scenario,)
    figures: list[Figure] = []
    details: dict[str, object] = {}
    for name in todo:
        print(f"== scenario {name}", flush=True)
        if name == "ab":
            figures += run_ab(a)
            continue
        if name == "sequential":  # always-valid results (benchmarks/sim_sequential.py; its own results file)
            from benchmarks import sim_sequential

            figures += sim_sequential.main(a)
            continue
        figs, detail = one_to_one(name, a)
        figures += figs
        details[name] = detail
    print()
    print(table(figures))
    if details:
        command = "python benchmarks/measurement_sim.py " + " ".join(sys.argv[1:])
        path = write(merged(figures), command, {"scenarios": details})
        print(f"wrote {path}")
    return 0 if all(f.met is not False for f in figures) else 1


def one_to_one(name: str, a: argparse.Namespace) -> tuple[list[Figure], dict[str, object]]:
    from benchmarks import sim_calibration, sim_models, sim_rebalance, sim_uplift

    k = a.scale
    work = Path(tempfile.mkdtemp(prefix=f"strata-sim-{name}-"))
    common = {"servers": a.servers, "workers": a.workers}
    thin = {"min_visits": int(1000 * min(1.0, k)), "min_conversions": int(50 * min(1.0, k))}  # strata train's defaults, scaled down
    if name == "models":
        figs, detail = sim_models.run(work, per_round=int(4000 * k), final=int(10000 * k), fresh=int(40000 * k), **common, **thin)
    elif name == "uplift":
        figs, detail = sim_uplift.run(work, per_round=int(8000 * k), fresh=int(40000 * k), **common, **thin)
    elif name == "calibration":  # benchmarks/sim_calibration.py: calibrated scores, crosses, sleeping dogs (issue #23)
        figs, detail = sim_calibration.run(work, per_round=int(8000 * k), fresh=int(40000 * k), **common, **thin,
                                           min_calibration_visits=int(2000 * min(1.0, k)), min_calibration_conversions=int(100 * min(1.0, k)))
    else:
        figs, detail = sim_rebalance.run(work, per_round=int(3000 * k), **common)
    html = RESULTS.with_name(f"one_to_one_{name}.html")
    html.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "report", *latest(work / "stats"), "--html", str(html)],
                       cwd=ROOT, capture_output=True, text=True)
    print(p.stdout if p.returncode == 0 else p.stderr)
    detail["html_report"] = str(html) if p.returncode == 0 else None
    detail["workdir"] = str(work)
    return figs, detail


def latest(stats_dir: Path) -> list[str]:
    """Every snapshot, oldest first (the report takes the latest per node and draws the timeline)."""
    return [str(p) for p in sorted(stats_dir.glob("node*-*.json"))]


def merged(figures: list[Figure]) -> list[Figure]:
    """This run's figures, after the earlier run's figures of the scenarios not run now."""

    if not RESULTS.exists():
        return figures
    ran = {f.scenario for f in figures}
    try:
        old = [Figure(**f) for f in json.loads(RESULTS.read_text()).get("figures", []) if f["scenario"] not in ran]
    except (ValueError, TypeError, KeyError):
        old = []
    return old + figures


if __name__ == "__main__":
    sys.exit(main())
