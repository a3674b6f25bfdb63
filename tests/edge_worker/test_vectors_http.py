"""The HTTP-layer vectors (tests/vectors/cookies.json, request_signals.json, bodies.json, render.json): the committed files
are what tests/vectors/generate_http.py writes today, and the Python server passes every case.
The worker's side of the same vectors is edge_worker/test/worker_vectors.test.js."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from edge_server.session import CookieCodec
from edge_server.signals import request_signals
from tests.vectors import generate_http as gen

VECTORS = Path(gen.__file__).parent
COOKIES = json.loads((VECTORS / "cookies.json").read_text(encoding="utf-8"))
REQUESTS = json.loads((VECTORS / "request_signals.json").read_text(encoding="utf-8"))


def _codec(v: dict[str, Any]) -> CookieCodec:
    return CookieCodec({kid: base64.b64decode(b) for kid, b in v["keys"]}, v["cookie_name"])


def test_vectors_committed_files_match_a_fresh_generation() -> None:
    for name, text in gen.generate().items():
        assert (VECTORS / name).read_text(encoding="utf-8") == text, f"{name} is stale: run python tests/vectors/generate_http.py"


@pytest.mark.parametrize("case", COOKIES["sealed"], ids=lambda c: c["session"]["sid"][:10])
def test_vectors_python_seals_and_opens_each_cookie(case: dict[str, Any]) -> None:
    codec = _codec(case)
    assert gen.seal(codec, gen.session_from_json(case["session"]), bytes.fromhex(case["nonce"])) == case["value"]
    back = codec.decode(case["value"])
    assert back is not None and gen.session_to_json(back) == case["decoded"]


@pytest.mark.parametrize("case", COOKIES["legacy"], ids=lambda c: c["decoded"]["sid"][:10])
def test_vectors_python_opens_each_cookie_written_before_visit_nonces(case: dict[str, Any]) -> None:
    back = _codec(case).decode(case["value"])
    assert back is not None and gen.session_to_json(back) == case["decoded"] and back.visit_nonce == ""


@pytest.mark.parametrize("case", COOKIES["before_models"], ids=lambda c: c["decoded"]["sid"][:10])
def test_vectors_python_opens_each_cookie_written_before_model_entries(case: dict[str, Any]) -> None:
    back = _codec(case).decode(case["value"])
    assert back is not None and gen.session_to_json(back) == case["decoded"] and back.models == {}


@pytest.mark.parametrize("case", COOKIES["before_lineage"], ids=lambda c: c["decoded"]["sid"][:10])
def test_vectors_python_opens_each_cookie_written_before_entered_and_lineage(case: dict[str, Any]) -> None:
    back = _codec(case).decode(case["value"])
    assert back is not None and gen.session_to_json(back) == case["decoded"] and back.entered == 0 and back.lineage == b""


@pytest.mark.parametrize("case", COOKIES["rejected"], ids=lambda c: c["why"])
def test_vectors_python_refuses_each_bad_cookie(case: dict[str, Any]) -> None:
    assert _codec(case).decode(case["value"]) is None


def test_vectors_python_derives_each_request_signal_case() -> None:
    assert len(REQUESTS["cases"]) >= 300
    kinds = {c["signals"]["device.type"] for c in REQUESTS["cases"]}
    assert kinds == {"bot", "mobile", "tablet", "desktop"}  # every class of device is covered
    for c in REQUESTS["cases"]:
        got = request_signals(c["page_url"], c["headers"], referrer=c["referrer"], country_header=c["country_header"],
                              tz=ZoneInfo(c["tz"]), now=c["now"])
        assert got == c["signals"], c


def test_vectors_python_reads_or_refuses_each_request_body() -> None:
    import asyncio

    from edge_server.body import read_json
    from edge_server.errors import ApiError

    bodies = json.loads((VECTORS / "bodies.json").read_text(encoding="utf-8"))
    assert len(bodies["cases"]) >= 400 and any("nested deeper" in (c["problem"] or "") for c in bodies["cases"])

    async def read(raw: bytes) -> Any:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        return await read_json({}, receive, 1 << 20)

    for c in bodies["cases"]:
        raw = base64.b64decode(c["body"])
        if c["problem"] is None:
            value = asyncio.run(read(raw))
            assert "value" not in c or value == c["value"], c
            continue
        with pytest.raises(ApiError) as e:
            asyncio.run(read(raw))
        assert (e.value.status, e.value.code, e.value.message) == (400, "invalid_json", bodies["message"].format(problem=c["problem"])), c


def test_vectors_python_renders_each_content_block() -> None:
    from edge_server.render import render

    cases = json.loads((VECTORS / "render.json").read_text(encoding="utf-8"))["cases"]
    assert len(cases) >= 200 and any("&lt;" in c["html"] for c in cases)  # escaping is exercised
    for c in cases:
        assert render(c["content"]) == c["html"], c


@pytest.mark.parametrize("case", COOKIES["lifecycle"], ids=lambda c: c["start"]["sid"])
def test_vectors_python_applies_each_session_lifecycle(case: dict[str, Any]) -> None:
    s = gen.session_from_json(case["start"])
    nonces = iter(bytes.fromhex(n) for n in case["nonces"])  # the visit nonces, as generated
    with mock.patch.object(os, "urandom", lambda n: next(nonces)):
        assert [gen.apply_op(s, op) for op in case["ops"]] == case["results"]
    assert next(nonces, None) is None  # every new visit drew exactly one nonce
    assert gen.session_to_json(s) == case["end"]
