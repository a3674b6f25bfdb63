"""`strata report`, `train` and `rebalance --prometheus` against a hostile or broken Prometheus: a
loopback HTTP server answers each class of bad answer (not JSON, errors, wrong shapes, values that
are no count, series without an instance, too large, too slow, arbitrary generated JSON) and every
tool ends with `error:` naming the cause and exit code 1, never a traceback. The good path, with real
Prometheus, is test_prometheus_fleet.py; the window and header flags are checked here too."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_server.reporting import prometheus
from edge_server.reporting.prometheus import PrometheusError, Window, fleet
from runtime.cli import main

RULESET = """\
strata: 1
name: tiny
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
"""


class Answer:
    status = 200
    body: bytes = b""
    delay = 0.0
    seen: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("content-length") or 0)
        self.rfile.read(n)
        Answer.seen.append(dict(self.headers))
        if Answer.delay:
            time.sleep(Answer.delay)
        self.send_response(Answer.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(Answer.body)))
        self.end_headers()
        try:
            self.wfile.write(Answer.body)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def serve(body: Any, status: int = 200, delay: float = 0.0) -> None:
    Answer.status, Answer.delay = status, delay
    Answer.body = body if isinstance(body, bytes) else json.dumps(body).encode()


def vector(*rows: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": m, "value": [1.0, v]} for m, v in rows]}}


EXPOSURE = {"slot": "hero", "arm": "default", "layer": "", "population": "personalized", "job": "strata-worker", "instance": "a1"}

HOSTILE: list[tuple[str, Any, int, str]] = [
    ("html", b"<html>502 Bad Gateway</html>", 200, "not JSON"),
    ("truncated", b'{"status": "success", "data": {"resultType": "vec', 200, "not JSON"),
    ("nested", b"[" * 100_000 + b"]" * 100_000, 200, "not JSON"),
    ("unauthorized", {"status": "error", "error": "authentication required"}, 401, "HTTP 401 (credentials"),
    ("server error", b"oops", 500, "HTTP 500"),
    ("redirect", b"", 302, "HTTP 302"),
    ("query error", {"status": "error", "errorType": "bad_data", "error": "parse error"}, 200, "query failed"),
    ("matrix", {"status": "success", "data": {"resultType": "matrix", "result": []}}, 200, "expected an instant vector"),
    ("result not a list", {"status": "success", "data": {"resultType": "vector", "result": {"a": 1}}}, 200, "expected an instant vector"),
    ("row not an object", {"status": "success", "data": {"resultType": "vector", "result": [5]}}, 200, "malformed sample"),
    ("label not a string", {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"slot": 5}, "value": [1, "1"]}]}},
     200, "malformed sample"),
    ("value a number", {"status": "success", "data": {"resultType": "vector", "result": [{"metric": EXPOSURE, "value": [1, 1]}]}},
     200, "malformed sample"),
    ("NaN", vector((EXPOSURE, "NaN")), 200, "not finite"),
    ("Inf", vector((EXPOSURE, "+Inf")), 200, "not finite"),
    ("negative", vector((EXPOSURE, "-1")), 200, "not a count"),
    ("fraction", vector((EXPOSURE, "1.5")), 200, "not a count"),
    ("huge", vector((EXPOSURE, "1e300")), 200, "not a count"),
    ("beyond 2^53", vector((EXPOSURE, "9007199254740994")), 200, "not a count"),
    ("not a number", vector((EXPOSURE, "lots")), 200, "not a number"),
    ("no instance", vector(({"slot": "hero", "arm": "a", "layer": "", "population": "personalized"}, "3")), 200, "without job or instance"),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_every_tool_answers_a_hostile_prometheus_with_an_error_not_a_traceback(
        url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, body: Any, status: int, message: str) -> None:
    serve(body, status)
    (tmp_path / "tiny.yaml").write_text(RULESET)
    for argv in (["report"], ["train", str(tmp_path / "tiny.yaml"), "--model", "intent", "--out", str(tmp_path / "c.yaml")],
                 ["rebalance", str(tmp_path / "tiny.yaml")]):
        assert main([*argv, "--prometheus", url, "--window", "1h"]) == 1
        err = capsys.readouterr().err
        assert "error:" in err and message in err and "Traceback" not in err, (argv[0], err)
    assert not (tmp_path / "c.yaml").exists()


def test_a_model_row_with_an_unknown_event_is_refused(url: str) -> None:
    serve(vector(({"model": "m", "spec": "s", "arm": "", "feature": "*", "level": "*", "event": "steered", "instance": "a"}, "1")))
    with pytest.raises(PrometheusError, match="event 'steered'"):
        fleet(url, Window(0, 10))


def test_too_large_and_too_slow_answers_are_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus, "MAX_ANSWER", 1000)
    serve(vector(*[(dict(EXPOSURE, instance=str(i)), "1") for i in range(100)]))
    with pytest.raises(PrometheusError, match="larger than"):
        fleet(url, Window(0, 10))
    monkeypatch.undo()
    serve(vector(), delay=1.0)
    with pytest.raises(PrometheusError, match="ReadTimeout"):
        fleet(url, Window(0, 10), timeout=0.2)
    serve(vector())


JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
ROW = st.fixed_dictionaries({"metric": st.dictionaries(st.sampled_from(["slot", "arm", "layer", "population", "instance", "job", "event",
                                                                          "model", "experiment", "variant", "index", "period", "goal", "x"]),
                                                       st.text(max_size=6) | st.integers(), max_size=8),
                             "value": st.lists(st.text(max_size=12) | st.floats() | st.integers(), max_size=3)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON | st.builds(lambda rows: {"status": "success", "data": {"resultType": "vector", "result": rows}}, st.lists(ROW, max_size=5)))
def test_any_generated_answer_gives_fleet_data_or_a_prometheus_error(url: str, body: Any) -> None:
    serve(body)
    try:
        f = fleet(url, Window(0, 10))
    except PrometheusError:
        return
    for n in [*f.data.exposures.values(), *f.data.conversions.values(), *f.data.cohorts.values(), *f.data.models.values()]:
        assert isinstance(n, int) and 0 <= n <= 2**53


def test_window_and_header_flags(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serve(vector())
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    Answer.seen.clear()
    assert main(["report", "--prometheus", url, "--since", "2026-12-01T00:00:00Z", "--until", "1796500000",
                 "--header", "X-Scope-OrgID: tenant-1", "--bearer-token-file", str(token)]) == 1
    err = capsys.readouterr().err
    assert "0 instances summed (each one's last values in 2026-12-01T00:00:00Z .. 2026-12-05T" in err and "no Strata series" in err
    assert Answer.seen and all(h.get("X-Scope-OrgID") == "tenant-1" and h.get("Authorization") == "Bearer s3cret" for h in Answer.seen)
    for argv, message in ((["--since", "1", "--window", "1d"], "give one"), (["--window", "7 days"], "give a duration"),
                          (["--since", "yesterday"], "RFC 3339"), (["--since", "12h"], "give --window 12h"),
                          (["--since", "20", "--until", "10"], "window is empty"),
                          (["--header", "no colon"], "NAME: VALUE"), (["--bearer-token-file", str(tmp_path / "none")], "--bearer-token-file")):
        assert main(["report", "--prometheus", url, *argv]) == 1
        assert message in capsys.readouterr().err, argv
    assert main(["report", "--window", "1d", str(tmp_path / "x.json")]) == 1
    assert "go with --prometheus" in capsys.readouterr().err
    assert main(["report", "--prometheus", url, str(tmp_path / "x.json")]) == 1
    assert "not both" in capsys.readouterr().err
