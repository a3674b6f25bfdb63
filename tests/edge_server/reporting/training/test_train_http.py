"""``strata train`` on the counters of a real server (``strata serve`` under uvicorn, HTTP): visits
whose purchase chance depends on the device browse, the operator saves ``/v1/stats`` and
``/metrics``, and training reads both, learns the device effect and writes a file the rule set
compiles with — the counting and training halves of the contract agree."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import httpx
import pytest
import yaml

from compiler.pipeline import Options, run
from edge_server.harness.server import RunningServer
from runtime.cli import main

TOKEN = "train-token"
KEYS = "t1:" + base64.b64encode(b"\x07" * 32).decode()
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
RULESET = """\
strata: 1
name: training
goals: [purchase]
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop]}
    coefficients: intent.coefficients.yaml
slots:
  - id: hero
    default: {headline: Welcome}
    rules:
      - {id: keen, when: 'score.intent > 0.3', content: {headline: Welcome back}}
"""
RATE = {"mobile": 0.5, "desktop": 0.1}


def test_train_learns_from_a_real_servers_counters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rs = tmp_path / "training.yaml"
    rs.write_text(RULESET)
    server = RunningServer([str(rs), "--insecure-cookie"], env={"STRATA_COOKIE_KEYS": KEYS, "STRATA_STATS_TOKEN": TOKEN})
    try:
        rng = random.Random(5)
        for _ in range(160):
            device = rng.choice(["mobile", "desktop"])
            with httpx.Client(base_url=server.url, headers={"User-Agent": MOBILE if device == "mobile" else DESKTOP}) as c:
                assert c.post("/v1/decide", json={"page": {"url": "/"}}).status_code == 200
                if rng.random() < RATE[device]:
                    assert c.post("/v1/events", json={"goal": "purchase"}).status_code == 202
        auth = {"Authorization": f"Bearer {TOKEN}"}
        (tmp_path / "edge.json").write_text(httpx.get(server.url + "/v1/stats", headers=auth).text)
        (tmp_path / "edge.txt").write_text(httpx.get(server.url + "/metrics", headers=auth).text)
    finally:
        server.stop()
    written = {}
    for stats in ("edge.json", "edge.txt"):
        out = tmp_path / f"from-{stats}.yaml"
        args = ["train", str(rs), str(tmp_path / stats), "--min-visits", "100", "--min-conversions", "10", "--out", str(out), "--model", "intent"]
        assert main(args) == 0, capsys.readouterr().err
        written[stats] = yaml.safe_load(out.read_text())
    assert "160 visits" in capsys.readouterr().out
    assert written["edge.json"]["weights"] == written["edge.txt"]["weights"]  # the scrape and the snapshot agree
    device = written["edge.json"]["weights"]["device"]
    assert device["mobile"] > 0.5 > -0.5 > device["desktop"]  # log LR of 0.5 against 0.1 chances: about +1.1 and -0.5
    (tmp_path / "intent.coefficients.yaml").write_text((tmp_path / "from-edge.json.yaml").read_text())
    ctx = run(str(rs), Options())
    assert ctx.payload is not None and ctx.payload["models"][0]["sets"][0]["weights"][0][:2] == [device["mobile"], device["desktop"]]
