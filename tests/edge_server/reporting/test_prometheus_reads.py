"""``strata report --prometheus URL --every 1d``: the fleet's totals read at each day of the window
(an instant query per read time), for the confidence sequence over time and the traffic per day.
A loopback HTTP server plays Prometheus, answering each query with the counters as they stood at
its ``time``; the real-Prometheus path is test_prometheus_fleet.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from edge_server.reporting.prometheus import Window, read_times
from runtime.cli import main

DAY = 86_400
START = 1_800_000_000  # the window's start; the counters grow by 1,000 visits per arm a day from it
INSTANCE = {"job": "strata", "instance": "edge-1"}


def _rows(family: str, t: float) -> list[dict[str, Any]]:
    days = max(0, int((t - START) // DAY))
    rows: list[tuple[dict[str, str], float]] = []
    if family.startswith("last_over_time(strata_slot_exposures_total"):
        rows = [({"slot": "s", "arm": f"e/{v}", "layer": "broad", "population": "personalized"}, 1000 * days) for v in ("control", "treatment")]
    elif family.startswith("last_over_time(strata_conversions_total"):
        rows = [({"goal": "purchase", "slot": "s", "arm": f"e/{v}", "layer": "broad", "population": "personalized"}, r * days)
                for v, r in (("control", 40), ("treatment", 50))]
    elif family.startswith("last_over_time(strata_experiment_variant_weight"):
        rows = [({"experiment": "e", "variant": v, "slot": "s", "index": str(i)}, 5000) for i, v in enumerate(("control", "treatment"))]
    return [{"metric": {**m, **INSTANCE}, "value": [t, str(v)]} for m, v in rows if days or "weight" in family]


class Handler(BaseHTTPRequestHandler):
    times: list[float] = []

    def do_POST(self) -> None:  # noqa: N802
        form = parse_qs(self.rfile.read(int(self.headers.get("content-length") or 0)).decode())
        t = float(form["time"][0])
        Handler.times.append(t)
        body = orjson.dumps({"status": "success", "data": {"resultType": "vector", "result": _rows(form["query"][0], t)}})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Handler.times = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_prometheus_reads_every_day_give_the_history_and_the_traffic(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "r.html"
    args = ["report", "--prometheus", url, "--since", str(START), "--until", str(START + 10 * DAY), "--every", "1d", "--mde", "10%"]
    assert main([*args, "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert {int(t) for t in Handler.times} == {START + k * DAY for k in range(1, 11)}  # ten reads, one a day
    assert "at 2,000 visits a day" in out  # from the first read (day 1) to the last (day 10)
    assert "10 reads over 9.0 days" in html.read_text()
    # without --every: one read (the window's end), the same verdict, no traffic
    Handler.times = []
    assert main(args[:-4] + ["--mde", "10%"]) == 0
    once = capsys.readouterr().out
    assert {int(t) for t in Handler.times} == {START + 10 * DAY} and "traffic unknown" in once
    assert [ln for ln in once.splitlines() if "CONTINUE" in ln or "STOP" in ln] == [ln for ln in out.splitlines() if "CONTINUE" in ln or "STOP" in ln]


def test_prometheus_reads_every_needs_prometheus_and_a_duration(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "s.json"
    snap.write_text('{"format": "strata-stats/1", "exposures": []}')
    assert main(["report", str(snap), "--every", "1d"]) == 1
    assert "--every go with --prometheus URL" in capsys.readouterr().err
    assert main(["report", "--prometheus", url, "--window", "3d", "--every", "daily"]) == 1
    assert "--every 'daily': give a duration such as 7d" in capsys.readouterr().err
    assert read_times(Window(0, 3 * DAY), DAY) == [DAY, 2 * DAY, 3 * DAY] and read_times(Window(0, 10), DAY) == [10.0]
