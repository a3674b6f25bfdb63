"""Fleet counting with real parts (docs/deployment.md, "Fleet counting"): real Prometheus (Debian's
package; edge_server/harness/prometheus.py), edge-worker isolates in real workerd pushing with remote write
(direct mode) and `strata serve` replicas it scrapes, simulated visitors with a known truth, and
`strata report`, `strata train` and `strata rebalance --prometheus` run as a user runs them.

- direct mode: ten isolate lifetimes (workerd processes started and stopped one after another,
  each one isolate); once every isolate made its final push, `report --prometheus` shows exactly
  the simulated exposures and conversions, and the same report as the isolates' last snapshots;
- an isolate killed without warning loses at most what it counted after its last push (measured
  and printed);
- a fleet of two replicas (scraped) and worker isolates (pushing): report, train and rebalance read
  from Prometheus give the same numbers, coefficients and weights as from snapshot files of the run.
"""

from __future__ import annotations

import base64
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compiler.harness.fixtures import ROOT, trailblazer_without_holdout
from edge_server.harness.origin import StaticOrigin
from edge_server.harness.prometheus import RunningPrometheus
from edge_server.harness.server import RunningServer
from edge_server.harness.workerd import RunningWorkerd
from edge_server.reporting.prometheus import Window, fleet
from tests.edge_worker.workerd import require_node
from tests.prometheus_server import require_prometheus

COOKIE_KEYS = "k1:" + base64.b64encode(b"\x05" * 32).decode()
STATS_TOKEN = "stats-token"
PAGES = ["/tents.html", "/tents.html?utm_source=newsletter&utm_medium=email", "/index.html", "/jackets.html", "/index.html?utm_source=google"]
SLOTS = ["hero", "banner"]
LIFETIMES = 10  # isolates started and stopped one after another


class Truth:
    """What the simulated visitors were shown and did, counted from the responses alone: one visit
    per visitor, one exposure per decision (consent, no holdout), a purchase converting every arm
    the visit was shown and the overall row."""

    def __init__(self) -> None:
        self.exposures: Counter[tuple[str, str, str]] = Counter()  # slot, arm, layer
        self.conversions: Counter[tuple[str, str, str]] = Counter()

    def visitor(self, client: httpx.Client, base: str, rnd: random.Random) -> None:
        client.cookies.clear()
        r = client.post(f"{base}/v1/decide", json={"page": {"url": rnd.choice(PAGES)}, "slots": SLOTS})
        assert r.status_code == 200, r.text
        shown = set()
        for slot, d in r.json()["slots"].items():
            arm = f"{d['experiment']}/{d['variant']}" if d.get("variant") else (d.get("rule") or "default")
            shown.add((slot, arm, d.get("layer") or ""))
        for key in shown:
            self.exposures[key] += 1
        if rnd.random() < 0.3:
            assert client.post(f"{base}/v1/events", json={"goal": "purchase", "value": 10}).status_code == 202
            for key in shown | {("*", "*", "")}:
                self.conversions[key] += 1


def by_key(rows: Counter[Any], n: int) -> Counter[tuple[str, ...]]:
    """Counters keyed (slot, arm, layer, ...) summed over everything after the first ``n`` fields."""
    out: Counter[tuple[str, ...]] = Counter()
    for k, v in rows.items():
        out[tuple(k[:n])] += v
    return +out


def strata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bundle_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_node()
    require_prometheus()
    from compiler.pipeline import Options, run

    d = tmp_path_factory.mktemp("fleet")
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (d / "site.pub").write_text(pub)
    ruleset = d / "trailblazer.yaml"
    ruleset.write_text(trailblazer_without_holdout())
    ctx = run(str(ruleset), Options(key=key, created=int(time.time()) - 60, version=int(time.time()) // 60, codec="gzip"),
              text=ruleset.read_text())
    assert ctx.bundle is not None
    bundles = d / "bundles"
    bundles.mkdir()
    (bundles / "trailblazer.bundle").write_bytes(ctx.bundle)
    origin = StaticOrigin(bundles)
    try:
        yield {"dir": d, "pub": pub, "origin": origin, "bundle_url": origin.url + "/trailblazer.bundle", "ruleset": ruleset,
               "bundle_file": bundles / "trailblazer.bundle", "pub_file": d / "site.pub"}
    finally:
        origin.stop()


def worker_env(site: dict[str, Any], prom: RunningPrometheus) -> dict[str, str]:
    return {"STRATA_BUNDLE": site["bundle_url"], "STRATA_PUB": site["pub"], "STRATA_COOKIE_KEYS": COOKIE_KEYS,
            "STRATA_COOKIE_SECURE": "0", "STRATA_STATS_TOKEN": STATS_TOKEN, "STRATA_REMOTE_WRITE": prom.write_url,
            "STRATA_PUSH_INTERVAL": "0.2"}


def final_push(prom: RunningPrometheus, base: str, snapshot: dict[str, Any]) -> None:
    """Requests after the isolate's last counted one, until Prometheus holds its final exposure and
    conversion totals (``snapshot``: its /v1/stats; a push may fall between a visitor's decide and
    its event, so the exposures alone can be complete while a conversion is still to come)."""
    instance = snapshot["instance"]
    want = {f'sum(strata_slot_exposures_total{{instance="{instance}"}})': sum(e["count"] for e in snapshot["exposures"]),
            f'sum(strata_conversions_total{{instance="{instance}"}}) or vector(0)': sum(c["count"] for c in snapshot["conversions"])}
    deadline = time.monotonic() + 20
    while any(prom.value(q) != n for q, n in want.items()) and time.monotonic() < deadline:
        time.sleep(0.25)
        httpx.get(f"{base}/healthz", timeout=5)  # a push is due after this response (ctx.waitUntil)
    assert all(prom.value(q) == n for q, n in want.items()), f"isolate {instance} never pushed its final counts"


def isolate_lifetime(site: dict[str, Any], prom: RunningPrometheus, directory: Path, truth: Truth, visitors: int,
                     rnd: random.Random, snapshots: Path) -> str:
    """One isolate from start to stop: visitors, its final push, its last snapshot kept as a file."""
    w = RunningWorkerd(directory, worker_env(site, prom))
    try:
        before = sum(truth.exposures.values())
        with httpx.Client(timeout=10) as c:
            for _ in range(visitors):
                truth.visitor(c, w.url, rnd)
        snap = httpx.get(f"{w.url}/v1/stats", headers={"authorization": f"Bearer {STATS_TOKEN}"}, timeout=10)
        instance = snap.json()["instance"]
        (snapshots / f"{instance}.json").write_text(snap.text)
        assert sum(e["count"] for e in snap.json()["exposures"]) == sum(truth.exposures.values()) - before
        final_push(prom, w.url, snap.json())
        return str(instance)
    finally:
        w.stop()


def test_direct_mode_isolates_push_exact_totals_to_prometheus(bundle_site: dict[str, Any], tmp_path: Path) -> None:
    truth, rnd = Truth(), random.Random(22)
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    with RunningPrometheus(directory=tmp_path / "prometheus") as prom:
        started = time.time()
        instances = [isolate_lifetime(bundle_site, prom, tmp_path / f"isolate{i}", truth, 6 + 2 * i, rnd, snapshots) for i in range(LIFETIMES)]
        assert len(set(instances)) == LIFETIMES, "each isolate labels its series with its own random instance id"
        f = fleet(prom.url, Window(started - 60, time.time() + 1))
        assert f.instances == LIFETIMES and f.resets == 0
        # exactly the simulated truth, arm by arm
        assert by_key(f.data.exposures, 3) == truth.exposures
        assert by_key(Counter({(k[1], k[2], k[3]): v for k, v in f.data.conversions.items() if k[0] == "purchase"}), 3) == truth.conversions
        assert sum(f.data.values.values()) == 10 * sum(truth.conversions.values())
        # and the report a user runs says what the isolates' own last snapshots say
        via_prom = strata("report", "--prometheus", prom.url, "--window", "1h")
        via_files = strata("report", *sorted(map(str, snapshots.glob("*.json"))))
        assert via_prom.returncode == 0, via_prom.stderr
        assert via_files.returncode == 0, via_files.stderr
        assert via_prom.stdout == via_files.stdout
        assert f"{LIFETIMES} instances summed" in via_prom.stderr
        assert f"{LIFETIMES} source(s): trailblazer v" in via_prom.stdout


FLEET_RULESET = """\
strata: 1
name: fleet
goals: [purchase]
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop]}
    coefficients: intent.coefficients.yaml
segments:
  - id: everyone
    layer: broad
    when: 'true'
slots:
  - id: hero
    default: {headline: Welcome}
  - id: banner
    default: {text: Hello}
    rules:
      - {id: keen, when: 'score.intent > 0.3', content: {text: Welcome back}}
experiments:
  - id: headline
    slot: hero
    audience: everyone
    traffic: 100
    salt: fleet-2026
    variants:
      - id: plain
        weight: 50
        content: {headline: Welcome to the shop}
      - id: bold
        weight: 50
        content: {headline: WELCOME}
"""
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
CHANCE = {("mobile", "plain"): 0.2, ("mobile", "bold"): 0.45, ("desktop", "plain"): 0.1, ("desktop", "bold"): 0.2}


def same_rebalance(prom: subprocess.CompletedProcess[str], files: subprocess.CompletedProcess[str]) -> None:
    """`strata rebalance` gave the same answer from Prometheus as from the files: the same weights, or
    the same refusal. The visitors' arms come from random session ids, so the split can (about once
    in a thousand runs) fail the p < 0.001 sample-ratio check; then both sources must refuse alike."""
    def verdict(r: subprocess.CompletedProcess[str]) -> list[str]:  # the source's own "N instances summed" line aside
        return [line for line in r.stderr.splitlines() if "headline" in line or line.startswith("strata: error")]
    assert prom.returncode == files.returncode, prom.stderr + files.stderr
    assert prom.stdout == files.stdout and verdict(prom) == verdict(files), prom.stderr + files.stderr
    assert "headline" in prom.stdout + "".join(verdict(prom))
    if prom.returncode:
        assert "sample ratio mismatch" in prom.stderr, prom.stderr


def publish_fleet(tmp_path: Path) -> tuple[str, Path, Path, Path]:
    """FLEET_RULESET compiled and signed with a new key: (the public key's PEM, the rule set's path,
    the site folder holding fleet.bundle, an empty snapshots folder); the PEM also in site.pub."""
    from compiler.pipeline import Options, run

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (tmp_path / "site.pub").write_text(pub)
    ruleset = tmp_path / "fleet.yaml"
    ruleset.write_text(FLEET_RULESET)
    ctx = run(str(ruleset), Options(key=key, created=int(time.time()) - 60, version=7, codec="gzip"))
    assert ctx.bundle is not None
    site = tmp_path / "site"
    site.mkdir()
    (site / "fleet.bundle").write_bytes(ctx.bundle)
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    return pub, ruleset, site, snapshots


def test_replicas_and_isolates_give_the_same_report_train_and_rebalance_from_prometheus_as_from_files(tmp_path: Path) -> None:
    require_node()
    require_prometheus()
    pub, ruleset, site, snapshots = publish_fleet(tmp_path)
    env = {"STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_STATS_TOKEN": STATS_TOKEN}
    replicas = [RunningServer(["--bundle", str(site / "fleet.bundle"), "--pub", str(tmp_path / "site.pub"), "--insecure-cookie"], env=env)
                for _ in range(2)]
    origin = StaticOrigin(site)
    auth = {"authorization": f"Bearer {STATS_TOKEN}"}
    try:
        with RunningPrometheus([r.url.removeprefix("http://") for r in replicas], directory=tmp_path / "prometheus", bearer=STATS_TOKEN) as prom:
            started = time.time()
            rnd = random.Random(7)
            wenv = {"STRATA_BUNDLE": origin.url + "/fleet.bundle", "STRATA_PUB": pub, "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0",
                    "STRATA_STATS_TOKEN": STATS_TOKEN, "STRATA_REMOTE_WRITE": prom.write_url, "STRATA_PUSH_INTERVAL": "0.2"}
            exposed = 0
            for life in range(2):  # two isolate lifetimes next to the two replicas
                w = RunningWorkerd(tmp_path / f"isolate{life}", wenv)
                try:
                    nodes = [replicas[0].url, replicas[1].url, w.url]
                    for _ in range(130):
                        device = rnd.choice(["mobile", "desktop"])
                        with httpx.Client(headers={"User-Agent": MOBILE if device == "mobile" else DESKTOP}, timeout=10) as c:
                            resp = c.post(f"{rnd.choice(nodes)}/v1/decide", json={"page": {"url": "/"}})
                            assert resp.status_code == 200, resp.text
                            exposed += 1
                            if rnd.random() < CHANCE[(device, resp.json()["slots"]["hero"]["variant"])]:
                                # the conversion may reach another node: the cookie is the fleet's
                                assert c.post(f"{rnd.choice(nodes)}/v1/events", json={"goal": "purchase"}).status_code == 202
                    snap = httpx.get(f"{w.url}/v1/stats", headers=auth, timeout=10)
                    (snapshots / f"isolate{life}.json").write_text(snap.text)
                    final_push(prom, w.url, snap.json())
                finally:
                    w.stop()
            replica_total = replica_conversions = 0
            for i, r in enumerate(replicas):
                snap = httpx.get(f"{r.url}/v1/stats", headers=auth, timeout=10)
                (snapshots / f"replica{i}.json").write_text(snap.text)
                replica_total += sum(e["count"] for e in snap.json()["exposures"])
                replica_conversions += sum(c["count"] for c in snap.json()["conversions"])
            # the replicas' last scrape after the traffic holds what their snapshots hold (exposures and conversions:
            # a scrape between a visitor's decide and its event would hold the one and not the other)
            assert prom.wait_for('sum(strata_slot_exposures_total{job="strata-serve"})', replica_total) == replica_total
            assert prom.wait_for('sum(strata_conversions_total{job="strata-serve"})', replica_conversions) == replica_conversions
            files = sorted(map(str, snapshots.glob("*.json")))
            window = ["--prometheus", prom.url, "--since", str(int(started) - 5)]

            report = [strata("report", *window), strata("report", *files)]
            assert report[0].returncode == report[1].returncode == 0, report[0].stderr + report[1].stderr
            assert report[0].stdout == report[1].stdout
            assert "4 instances summed" in report[0].stderr
            f = fleet(prom.url, Window(started - 5, time.time() + 1))
            assert sum(n for k, n in f.data.exposures.items() if k[0] == "hero") == exposed  # every visit once, whichever node

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


def test_direct_mode_an_isolate_killed_without_warning_loses_at_most_its_last_push_interval(bundle_site: dict[str, Any], tmp_path: Path) -> None:
    interval = 0.5
    rnd = random.Random(9)
    with RunningPrometheus(directory=tmp_path / "prometheus") as prom:
        w = RunningWorkerd(tmp_path / "isolate", dict(worker_env(bundle_site, prom), STRATA_PUSH_INTERVAL=str(interval)))
        try:
            instance = httpx.get(f"{w.url}/v1/stats", headers={"authorization": f"Bearer {STATS_TOKEN}"}, timeout=10).json()["instance"]
            answered: list[tuple[float, int]] = []  # (time the response arrived, exposures it counted)
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
        counted = sum(n for _, n in answered)
        pushed = prom.value(f'sum(strata_slot_exposures_total{{instance="{instance}"}})')
        last_push = prom.value(f'max(timestamp(strata_slot_exposures_total{{instance="{instance}"}}))')
        lost = counted - pushed
        after_last_push = sum(n for t, n in answered if t >= last_push - 0.01)
        print(f"\nkilled isolate: {counted} exposures counted, {pushed:.0f} pushed, {lost:.0f} lost ({lost / counted:.1%}); its last push "
              f"{killed - last_push:.2f} s before the kill (push interval {interval} s), {after_last_push} exposures answered after it")
        assert 0 <= lost <= after_last_push, "an isolate killed without warning loses at most what it counted since its last push"
        assert pushed > 0 and killed - last_push < interval + 1.5, "pushes kept up with the traffic until the kill (the interval, plus slack for a busy machine)"
