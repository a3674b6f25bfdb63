"""/v1/decide and page mode with a bundle that has models, on the real server: the explain JSON
and the --debug overlay show the scores the decision computed, equal to the runtime's own."""

from __future__ import annotations

import base64

import httpx
import pytest

from edge_server.harness.server import RunningServer
from runtime import Runtime, key_id
from tests.runtime.model_payloads import NOW, models_payload, sign

COOKIE_KEYS = "k1:" + base64.b64encode(b"\x03" * 32).decode()
PAGE = '<!DOCTYPE html><html><body><section data-strata-slot="hero">Generic</section></body></html>'


@pytest.fixture(scope="module")
def served(tmp_path_factory, site_keys):  # type: ignore[no-untyped-def]
    key, pub = site_keys
    d = tmp_path_factory.mktemp("models-site")
    p = models_payload()
    p["expires"] = 2**40
    data = sign(p, key=key)
    (d / "m.bundle").write_bytes(data)
    (d / "pages").mkdir()
    (d / "pages" / "index.html").write_text(PAGE)
    s = RunningServer(["--bundle", str(d / "m.bundle"), "--pub", str(pub), "--pages", str(d / "pages"), "--insecure-cookie", "--debug"],
                      env={"STRATA_COOKIE_KEYS": COOKIE_KEYS})
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    rt.load(data, now=NOW)
    yield s, rt.current
    s.stop()


def test_decide_explain_json_carries_the_runtimes_scores(served) -> None:  # type: ignore[no-untyped-def]
    s, prepared = served
    signals = {"tier": "x", "n": 9, "d": 3.0, "flag": True, "tags": ["tents"]}
    r = httpx.post(s.url + "/v1/decide?explain=1", json={"page": {"url": "/"}, "slots": ["hero"], "signals": signals})
    assert r.status_code == 200, r.text
    body = r.json()
    intent = prepared.models[0]
    want = intent.score(prepared.checked_signals(signals) | {k: v for k, v in signals.items()})
    assert body["scores"] == {"intent": want}
    assert body["slots"]["hero"]["rule"] == ("likely" if want > 0.5 else None)
    plain = httpx.post(s.url + "/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"], "signals": signals}).json()
    assert "scores" not in plain  # explain only


def test_decide_debug_overlay_lists_scores(served) -> None:  # type: ignore[no-untyped-def]
    s, _ = served
    page = httpx.get(s.url + "/").text
    assert 'id="strata-debug"' in page and "scores: intent=0." in page
