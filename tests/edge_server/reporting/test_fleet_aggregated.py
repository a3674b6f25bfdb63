"""Aggregated mode of fleet counting with real parts (docs/deployment.md, "Fleet counting"): edge-
worker isolates in real workerd push signed delta batches to two real `strata serve` replicas
(STRATA_COUNTERS_URL, --counters-secret, --state-dir), real Prometheus scrapes the replicas, and
`strata report`, `train` and `rebalance --prometheus` run as a user runs them.

- ten isolate lifetimes, visitors on isolates and replicas, one replica restarted mid-run: once
  every isolate made its final push, the fleet's totals from Prometheus are exactly the simulated
  exposures and conversions (the restarted replica's two runs summed, each its own instance_id);
- report, train and rebalance --prometheus equal the replicas' snapshot files (which hold what the
  isolates pushed);
- an isolate killed without warning loses at most what it counted after its last acknowledged
  batch (measured and printed).
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from edge_server.harness.prometheus import RunningPrometheus
from edge_server.harness.server import RunningServer
from edge_server.reporting.prometheus import Window, fleet
from tests.edge_server.reporting.test_prometheus_fleet import (
    CHANCE,
    COOKIE_KEYS,
    DESKTOP,
    MOBILE,
    STATS_TOKEN,
    Truth,
    bundle_site,  # noqa: F401 (the module's fixture)
    by_key,
    publish_fleet,
    same_rebalance,
    strata,
)
from tests.edge_worker.workerd import RunningWorkerd, StaticOrigin, require_node
from tests.prometheus_server import require_prometheus

SECRET = "fleet-counters-secret-0123456789"
AUTH = {"authorization": f"Bearer {STATS_TOKEN}"}
LIFETIMES = 10


def replica(bundle: Path, pub: Path, state: Path, port: int | None = None) -> RunningServer:
    return RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--insecure-cookie", "--counters-secret", SECRET, "--state-dir", str(state)],
                         env={"STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_STATS_TOKEN": STATS_TOKEN}, port=port)


def worker_env(bundle_url: str, pub: str, replicas: list[RunningServer], interval: float = 0.2) -> dict[str, str]:
    return {"STRATA_BUNDLE": bundle_url, "STRATA_PUB": pub, "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0",
            "STRATA_STATS_TOKEN": STATS_TOKEN, "STRATA_COUNTERS_URL": ",".join(f"{r.url}/v1/counters" for r in replicas),
            "STRATA_COUNTERS_SECRET": SECRET, "STRATA_PUSH_INTERVAL": str(interval)}


def totals_on(replicas: list[RunningServer]) -> tuple[int, int]:
    """Exposures and conversions the replicas count now: their own and what isolates pushed to them (/v1/stats)."""
    snaps = [httpx.get(f"{r.url}/v1/stats", headers=AUTH, timeout=10).json() for r in replicas]
    return sum(e["count"] for s in snaps for e in s["exposures"]), sum(c["count"] for s in snaps for c in s["conversions"])


def final_push(w: RunningWorkerd, replicas: list[RunningServer], expected: tuple[int, int]) -> None:
    """Requests after the isolate's last counted one, until the replicas hold its last exposures and
    conversions (a batch may fall between a visitor's decide and its event)."""
    deadline = time.monotonic() + 20
    while totals_on(replicas) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        httpx.get(f"{w.url}/healthz", timeout=5)  # a push is due after this response (ctx.waitUntil)
    assert totals_on(replicas) == expected, "the isolate never pushed its final counts"


def instance_ids(r: RunningServer) -> set[str]:
    return set(re.findall(r'instance_id="([^"]+)"', httpx.get(f"{r.url}/metrics", headers=AUTH, timeout=10).text))


def wait_for_totals(prom: RunningPrometheus, window: Window, exposures: int) -> Any:
    deadline = time.monotonic() + 30
    while True:
        f = fleet(prom.url, Window(window.since, time.time() + 1))
        if sum(f.data.exposures.values()) == exposures or time.monotonic() > deadline:
            return f
        time.sleep(0.5)


def test_aggregated_mode_isolates_push_deltas_to_replicas_and_prometheus_gives_exact_totals(bundle_site: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    truth, rnd = Truth(), random.Random(2210)
    states = [tmp_path / "state0", tmp_path / "state1"]
    replicas = [replica(bundle_site["bundle_file"], bundle_site["pub_file"], s) for s in states]
    try:
        with RunningPrometheus([r.url.removeprefix("http://") for r in replicas], directory=tmp_path / "prometheus", bearer=STATS_TOKEN) as prom:
            started = time.time()
            env = worker_env(bundle_site["bundle_url"], bundle_site["pub"], replicas)
            restarted: dict[str, set[str]] = {}
            gone = (0, 0)  # the restarted replica's own exposures and conversions from before the restart: in Prometheus, no longer in its /v1/stats
            for life in range(LIFETIMES):
                w = RunningWorkerd(tmp_path / f"isolate{life}", env)
                try:
                    with httpx.Client(timeout=10) as c:
                        for _ in range(6 + 2 * life):
                            truth.visitor(c, w.url, rnd)
                        for _ in range(3):  # and visitors on a replica itself
                            truth.visitor(c, replicas[life % 2].url, rnd)
                    final_push(w, replicas, (sum(truth.exposures.values()) - gone[0], sum(truth.conversions.values()) - gone[1]))
                finally:
                    w.stop()
                if life == LIFETIMES // 2:  # a replica restarts: its own counts start again under a new instance_id
                    old = replicas[0]
                    before = instance_ids(old)
                    own = totals_on([old])
                    # the replica's last scrape holds what it counted (a crash would lose what came after it)
                    target = old.url.removeprefix("http://")
                    assert prom.wait_for(f'sum(strata_slot_exposures_total{{instance="{target}"}})', own[0]) == own[0]
                    assert prom.wait_for(f'sum(strata_conversions_total{{instance="{target}"}}) or vector(0)', own[1]) == own[1]
                    old.stop()
                    replicas[0] = replica(bundle_site["bundle_file"], bundle_site["pub_file"], states[0], port=old.port)
                    kept = totals_on([replicas[0]])  # what it still has is what the isolates pushed (its state dir)
                    gone = (own[0] - kept[0], own[1] - kept[1])
                    assert gone[0] > 0
                    restarted = {"before": before, "after": instance_ids(replicas[0])}
            assert len(restarted["before"]) == len(restarted["after"]) == 2, "each replica: its own instance_id and its pushed counters'"
            assert len(restarted["before"] & restarted["after"]) == 1, "the pushed counters continue (state dir); the process's own start anew"

            f = wait_for_totals(prom, Window(started - 5, time.time()), sum(truth.exposures.values()))
            print(f"\naggregated mode: {LIFETIMES} isolate lifetimes, {sum(truth.exposures.values())} exposures and "
                  f"{sum(truth.conversions.values())} conversions simulated; {f.instances} instances summed from Prometheus")
            assert by_key(f.data.exposures, 3) == truth.exposures
            assert by_key(Counter({(k[1], k[2], k[3]): v for k, v in f.data.conversions.items() if k[0] == "purchase"}), 3) == truth.conversions
            assert sum(f.data.values.values()) == 10 * sum(truth.conversions.values())
            assert f.instances == 5, "the replicas' own series (one restarted: three runs) and their two pushed identities"
            series = prom.value('count(strata_slot_exposures_total{job="strata-serve"})')
            assert series <= 2 * 2 * len(truth.exposures) * 3, "the fleet's series grow with replicas, not with isolate lifetimes"
            report = strata("report", "--prometheus", prom.url, "--since", str(int(started) - 5))
            assert report.returncode == 0, report.stderr
            assert "5 instances summed" in report.stderr and "trailblazer v" in report.stdout
    finally:
        for r in replicas:
            r.stop()


def test_aggregated_mode_report_train_and_rebalance_from_prometheus_equal_the_replicas_snapshot_files(tmp_path: Path) -> None:
    require_node()
    require_prometheus()
    pub, ruleset, site, snapshots = publish_fleet(tmp_path)
    replicas = [replica(site / "fleet.bundle", tmp_path / "site.pub", tmp_path / f"state{i}") for i in range(2)]
    origin = StaticOrigin(site)
    try:
        with RunningPrometheus([r.url.removeprefix("http://") for r in replicas], directory=tmp_path / "prometheus", bearer=STATS_TOKEN) as prom:
            started = time.time()
            rnd = random.Random(7)
            exposed = 0
            for life in range(2):
                w = RunningWorkerd(tmp_path / f"isolate{life}", worker_env(origin.url + "/fleet.bundle", pub, replicas))
                try:
                    nodes = [replicas[0].url, replicas[1].url, w.url, w.url]
                    for _ in range(130):
                        device = rnd.choice(["mobile", "desktop"])
                        with httpx.Client(headers={"User-Agent": MOBILE if device == "mobile" else DESKTOP}, timeout=10) as c:
                            resp = c.post(f"{rnd.choice(nodes)}/v1/decide", json={"page": {"url": "/"}})
                            assert resp.status_code == 200, resp.text
                            exposed += 1
                            if rnd.random() < CHANCE[(device, resp.json()["slots"]["hero"]["variant"])]:
                                assert c.post(f"{rnd.choice(nodes)}/v1/events", json={"goal": "purchase"}).status_code == 202
                    hero = sum(e["count"] for e in httpx.get(f"{w.url}/v1/stats", headers=AUTH, timeout=10).json()["exposures"])
                    assert hero > 0
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline and _hero(replicas) != exposed:
                        time.sleep(0.2)
                        httpx.get(f"{w.url}/healthz", timeout=5)
                    assert _hero(replicas) == exposed, "the isolate's final push reached the replicas"
                finally:
                    w.stop()
            for i, r in enumerate(replicas):  # the replicas' snapshots hold their own counts and what the isolates pushed
                (snapshots / f"replica{i}.json").write_text(httpx.get(f"{r.url}/v1/stats", headers=AUTH, timeout=10).text)
            f = wait_for_totals(prom, Window(started - 5, time.time()), 2 * exposed)  # hero and banner: two exposures a visit
            assert sum(n for k, n in f.data.exposures.items() if k[0] == "hero") == exposed
            files = sorted(map(str, snapshots.glob("*.json")))
            window = ["--prometheus", prom.url, "--since", str(int(started) - 5)]
            report = [strata("report", *window), strata("report", *files)]
            assert report[0].returncode == report[1].returncode == 0, report[0].stderr + report[1].stderr
            # the same report; Prometheus sums four instances (each replica's own and pushed identity), the files two
            assert "4 source(s)" in report[0].stdout and "2 source(s)" in report[1].stdout
            assert report[0].stdout.replace("4 source(s)", "2 source(s)") == report[1].stdout
            coefficients = []
            for source, args in (("prom", window), ("files", files)):
                out = tmp_path / f"intent-{source}.yaml"
                t = strata("train", str(ruleset), *args, "--model", "intent", "--out", str(out), "--min-visits", "50", "--min-conversions", "10")
                assert t.returncode == 0, t.stderr + t.stdout
                coefficients.append([line for line in out.read_text().splitlines() if not line.startswith("#")])
            assert coefficients[0] == coefficients[1] and any("mobile" in line for line in coefficients[0])
            same_rebalance(*(strata("rebalance", str(ruleset), *args, "--dry-run") for args in (window, files)))
    finally:
        origin.stop()
        for r in replicas:
            r.stop()


def _hero(replicas: list[RunningServer]) -> int:
    return sum(e["count"] for r in replicas for e in httpx.get(f"{r.url}/v1/stats", headers=AUTH, timeout=10).json()["exposures"]
               if e["slot"] == "hero")


def test_aggregated_mode_an_isolate_killed_without_warning_loses_at_most_its_last_push_interval(bundle_site: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    interval = 0.5
    rnd = random.Random(9)
    state = tmp_path / "state"
    r = replica(bundle_site["bundle_file"], bundle_site["pub_file"], state)
    try:
        w = RunningWorkerd(tmp_path / "isolate", worker_env(bundle_site["bundle_url"], bundle_site["pub"], [r], interval))
        try:
            answered: list[tuple[float, int]] = []
            with httpx.Client(timeout=10) as c:
                deadline = time.time() + 3
                while time.time() < deadline and len(answered) < 3000:
                    truth = Truth()
                    truth.visitor(c, w.url, rnd)
                    answered.append((time.time(), sum(truth.exposures.values())))
            killed = time.time()
            w.proc.kill()  # no warning, no final push
            w.proc.wait()
        finally:
            if w.proc.poll() is None:
                w.stop()
        time.sleep(0.5)  # a batch in flight at the kill lands or not
        counted = sum(n for _, n in answered)
        pushed = totals_on([r])[0]
        journal = [orjson.loads(line) for p in state.glob("counters/journal-*.jsonl") for line in p.read_bytes().splitlines()]
        last_batch = max(e["t"] for e in journal)  # the creation time of the last batch the replica acknowledged
        lost = counted - pushed
        after_last = sum(n for t, n in answered if t >= last_batch - 0.01)
        print(f"\naggregated mode, killed isolate: {counted} exposures counted, {pushed} acknowledged by the replica, {lost} lost "
              f"({lost / counted:.1%}); its last batch formed {killed - last_batch:.2f} s before the kill (push interval {interval} s), "
              f"{after_last} exposures answered after it")
        assert 0 <= lost <= after_last, "an isolate killed without warning loses at most what it counted since its last acknowledged batch"
        assert pushed > 0 and killed - last_batch < interval + 1.5, "pushes kept up with the traffic until the kill"
    finally:
        r.stop()


@pytest.fixture(autouse=True)
def _parts() -> None:
    require_node()
    require_prometheus()
