"""The edge's contract (edge_server/edge_contract.json) is defined once: edge_server/contract.py
exports exactly its tables, every consumer answers its errors with the table's texts, and no source
of either language keeps a copy (edge_worker/test/contract.test.js checks the worker the same way)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from edge_server import contract, session
from edge_server.decide import decide_fields
from edge_server.errors import ApiError
from edge_server.pages import _check_page_path
from tests.contract_scan import copies

TABLE = contract.TABLE
#: The modules that check the contract's limits: a limit written there as a number is a copy.
CHECKERS = ("edge_server/decide.py", "edge_server/events.py", "edge_server/pages.py", "edge_server/signals.py", "edge_server/session.py",
            "edge_worker/worker/decide.js", "edge_worker/worker/events.js", "edge_worker/worker/pages.js", "edge_worker/worker/signals.js",
            "edge_worker/worker/session.js")


def test_contract_exports_the_tables() -> None:
    s, h = TABLE["signals"], TABLE["http"]
    assert (contract.WEBMAIL, contract.SEARCH, contract.SOCIAL) == tuple(tuple(s["referrer_hosts"][k]) for k in ("webmail", "search", "social"))
    assert contract.UTM == tuple(s["utm"]["values"]) and contract.UNKNOWN_COUNTRIES == set(s["unknown_countries"]["values"])
    assert [contract.BOT.pattern, contract.TABLET.pattern, contract.MOBILE.pattern] == [s["device_patterns"][k] for k in ("bot", "tablet", "mobile")]
    assert all(p.flags & re.I for p in (contract.BOT, contract.TABLET, contract.MOBILE))
    assert {k: getattr(contract, k) for k in ("VARY", "MAX_URL", "MAX_PATH", "MAX_SLOTS", "MAX_NAME")} == {k: h[k]["value"] for k in ("VARY", "MAX_URL", "MAX_PATH", "MAX_SLOTS", "MAX_NAME")}
    assert contract.DECIDE_FIELDS == tuple(h["decide_fields"]["values"]) and contract.EVENTS_FIELDS == tuple(h["events_fields"]["values"])
    assert contract.CONSENT_REFUSALS == set(h["consent_refusals"]["values"]) and contract.HOP_HEADERS == set(h["hop_headers"]["values"])
    named = {k: v["value"] for section in ("http", "stats") for k, v in TABLE[section].items() if k.isupper()}
    assert {k: getattr(contract, k) for k in named} == named
    assert (contract.POPULATIONS, contract.MODEL_EVENTS) == (tuple(TABLE["stats"]["populations"]["values"]), tuple(TABLE["stats"]["model_events"]["values"]))
    bounds = {k: v["value"] for k, v in TABLE["session"].items() if k != "doc"}
    assert {k: getattr(session, k) for k in bounds} == bounds


def test_device_patterns_read_alike_in_both_languages() -> None:
    """No '.' (Python's stops at \\n only, JavaScript's at \\r too): the table writes [^\\n]."""
    for name, p in TABLE["signals"]["device_patterns"].items():
        if name != "doc":
            assert "." not in p.replace("\\.", ""), f"{name}: write [^\\n] instead of ."


def _refusal(body: Any) -> tuple[int, str, str, str | None]:
    with pytest.raises(ApiError) as e:
        decide_fields(body)
    return e.value.status, e.value.code, e.value.message, e.value.field


def _expected(key: str, **values: Any) -> tuple[int, str, str, str | None]:
    text, field = contract.message(key, **values)
    return TABLE["errors"][key]["status"], TABLE["errors"][key]["code"], text, field


#: A decide body of each kind the contract refuses -> the error and its values.
DECIDE_REFUSALS = [
    ([1], "body_not_object", {}),
    ({"page": {}, "zz": 1, "extra\u00a0": 2}, "unknown_field", {"name": "'extra\\xa0'", "fields": "page, slots, signals, page_view, html", "field": "extra\u00a0"}),
    ({"html": 1}, "html_not_bool", {}),
    ({"page": []}, "page_not_object", {}),
    ({"page": {"url": "/" * 2049}}, "page_url_type", {"max_url": 2048}),
    ({"page": {"url": "http://[::1/x"}}, "page_url_invalid", {}),
    ({"page": {"referrer": 3}}, "page_referrer_type", {}),
    ({"page": {"category": "c" * 65}}, "page_category_type", {"max_name": 64}),
    ({"slots": ["s"] * 65}, "slots_type", {"max_slots": 64}),
    ({"page_view": "yes"}, "page_view_not_bool", {}),
]


@pytest.mark.parametrize(("body", "key", "values"), DECIDE_REFUSALS, ids=[k for _, k, _ in DECIDE_REFUSALS])
def test_decide_refuses_with_the_contracts_text(body: Any, key: str, values: dict[str, Any]) -> None:
    assert _refusal(body) == _expected(key, **values)


def test_page_paths_are_refused_with_the_contracts_text() -> None:
    for path, key, values in (("/" + "p" * 2048, "path_too_long", {"length": 2049, "max_path": 2048}), ("/a\x00", "path_control", {})):
        with pytest.raises(ApiError) as e:
            _check_page_path(path)
        assert (e.value.status, e.value.code, e.value.message, e.value.field) == _expected(key, **values)


def test_every_contract_error_names_only_values_it_is_given() -> None:
    """Each template's placeholders are filled (a typo in a name fails here, not at a client)."""
    for key, e in TABLE["errors"].items():
        if key == "doc":
            continue
        names = set(re.findall(r"\{(\w+)\}", e["message"] + (e["field"] or "")))
        text, _ = contract.message(key, **{n: f"<{n}>" for n in names})
        shapes = ("{url, referrer?, category?}", "{goal, value?}", "{goal, value?, visit?}", "{visit, exposures}", "{refused: reason}")
        for shape in shapes:
            text = text.replace(shape, "")
        assert "{" not in text


def test_no_source_keeps_a_copy_of_the_edge_contract() -> None:
    found = copies(TABLE, ("edge_server/contract.py", "edge_worker/worker/contract.js"), CHECKERS, under=("edge_server/", "edge_worker/"))
    assert not found, "read these from edge_server/contract.py or edge_worker/worker/contract.js:\n" + "\n".join(found)


def test_contract_scan_reports_a_message_written_out() -> None:
    files = {"x.py": 'raise ApiError(422, "invalid_request", "page.referrer must be a string", "page.referrer")\n',
             "y.js": "throw new ApiError(422, 'x', `slots must be a list of at most ${n} slot names`);\n"}
    assert copies(TABLE, (), (), files) == ["x.py:1: the message 'page.referrer must be a string'... written out",
                                            "y.js:1: the message 'slots must be a list of at most '... written out"]
    assert copies(TABLE, (), ("z.py",), {"z.py": "_MAX_WARNED = 2048\n@lru_cache(maxsize=2048)\nx = u[:2048]\n"}) == [
        "z.py:3: 2048 (MAX_URL/MAX_PATH) written as a literal"]
