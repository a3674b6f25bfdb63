"""The JavaScript OpenFeature server SDK with @openfeature/ofrep-provider (node, edge_worker's dev
dependencies) against a live ``strata serve``: the same answers as the server's OFREP endpoint and
/v1/decide, and OFREP's error codes. Without node or the packages the test is skipped, except in CI
(CI=true), where it fails saying what is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.edge_server.test_ofrep import AUTH, KEY, TENT, TOKEN, server, site  # noqa: F401 - the live-server fixtures

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ofrep_client.mjs")
PACKAGES = ROOT / "edge_worker" / "node_modules" / "@openfeature"


def _node() -> str:
    node = shutil.which("node")
    missing = "node is not installed" if node is None else None
    if node and not all((PACKAGES / p / "package.json").exists() for p in ("server-sdk", "ofrep-provider")):
        missing = "the npm packages are missing: run `npm ci` in edge_worker/"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"JavaScript OFREP client test cannot run: {missing}")
        pytest.skip(missing)
    assert node is not None
    return node


def run_js(url: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cases through the JS client, as a server-side caller with the OFREP token."""
    r = subprocess.run([_node(), str(SCRIPT), url, TOKEN], input=json.dumps(cases), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out: list[dict[str, Any]] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def test_ofrep_js_client_answers_as_the_server_and_decide(server):  # noqa: F811
    newsletter = {"targetingKey": KEY, "page.url": "/?utm_source=newsletter"}
    cart = {"targetingKey": KEY, "cart.items": [TENT], "page.category": "tents"}
    cases = [
        {"flag": "hero", "type": "object", "default": {}, "context": newsletter},
        {"flag": "hero.headline", "type": "string", "default": "x", "context": newsletter},
        {"flag": "recs", "type": "object", "default": {}, "context": newsletter},
        {"flag": "hero", "type": "object", "default": {}, "context": cart},
        {"flag": "banner.headline", "type": "string", "default": "x", "context": {"targetingKey": KEY}},
    ]
    got = run_js(server.url, cases)
    for case, js in zip(cases, got):
        ofrep = httpx.post(server.url + "/ofrep/v1/evaluate/flags/" + case["flag"], json={"context": case["context"]}, headers=AUTH).json()
        assert js["errorCode"] is None, js
        assert (js["value"], js["reason"], js["variant"], js["flagMetadata"]) == (ofrep["value"], ofrep["reason"], ofrep["variant"], ofrep["metadata"])
    assert got[0]["variant"] == "camping-welcome" and got[3]["reason"] == "SPLIT"
    # a trusted caller's keyed session is never written into a cookie (/v1/decide would continue it)
    r = httpx.post(server.url + "/ofrep/v1/evaluate/flags/hero", json={"context": cart}, headers=AUTH)
    assert r.json()["variant"] == got[3]["variant"] and "set-cookie" not in r.headers


def test_ofrep_js_client_gets_defaults_and_ofrep_error_codes(server):  # noqa: F811
    cases = [
        {"flag": "nope", "type": "object", "default": {"d": 1}, "context": {"targetingKey": KEY}},
        {"flag": "hero", "type": "object", "default": {"d": 1}, "context": {"targetingKey": KEY, "email": "a@b.example"}},
        {"flag": "hero", "type": "object", "default": {"d": 1}, "context": {}},
        {"flag": "hero", "type": "string", "default": "d", "context": {"targetingKey": KEY}},
    ]
    got = run_js(server.url, cases)
    assert [(g["value"], g["errorCode"]) for g in got] == [
        ({"d": 1}, "FLAG_NOT_FOUND"), ({"d": 1}, "INVALID_CONTEXT"), ({"d": 1}, "TARGETING_KEY_MISSING"), ("d", "TYPE_MISMATCH")]
