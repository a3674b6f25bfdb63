"""strata serve --workers N: N processes on one port, a session readable by every worker, and
metrics that add up across them whichever worker answers the scrape."""

from __future__ import annotations

import re
import time

import httpx

from compiler.harness.fixtures import BASE
from compiler.keys import keygen, load_private_key
from compiler.pipeline import Options, run
from edge_server.harness.ports import wait_for
from edge_server.harness.server import RunningServer


def decisions(text: str) -> float:
    m = re.search(r'^strata_decisions_total\{layer="broad",reason="rule",slot="hero"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_workers_share_port_sessions_and_metrics(tmp_path):
    priv, pub, _ = keygen(tmp_path / "k")
    bundle = tmp_path / "shop.bundle"
    text = BASE + "  - id: offer\n    default: {}\n    rules:\n      - {id: fifth-view, when: 'session.page_views >= 5', content: {headline: Five}}\n"
    bundle.write_bytes(run("shop.yaml", Options(key=load_private_key(priv)), text=text).bundle)
    log = tmp_path / "serve.log"
    s = RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--workers", "3", "--insecure-cookie"], log=log)
    try:
        share = re.search(r"metrics shared in (\S+)\)", log.read_text()).group(1)
        n = 240
        mobile = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "Connection": "close"}
        for _ in range(n):  # a new connection each time: the kernel spreads them over the workers
            assert httpx.post(s.url + "/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]}, headers=mobile).status_code == 200
        # every worker publishes its counters within a second; any worker's /metrics has the total
        wait_for(lambda: all(decisions(httpx.get(s.url + "/metrics", headers={"Connection": "close"}).text) == n for _ in range(6)), timeout=10)
        from pathlib import Path

        files = list(Path(share).glob("worker-*.json"))
        busy = [f for f in files if '"strata_decisions"' in f.read_text() and "broad" in f.read_text()]
        assert len(files) == 3 and len(busy) >= 2  # the requests really went to several processes
        # a session started on one worker is read by the others (shared cookie keys): the page-view
        # counter keeps counting while the requests land on different processes
        with httpx.Client(base_url=s.url) as c:
            offers = [c.post("/v1/decide", json={"page": {"url": "/"}, "slots": ["offer"]}, headers={"Connection": "close"}).json()["slots"]["offer"]["rule"]
                      for _ in range(6)]
        assert offers == [None, None, None, None, "fifth-view", "fifth-view"]
    finally:
        s.stop()
        time.sleep(0.2)
