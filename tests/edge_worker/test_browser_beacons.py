"""What the browser runtime reports on ``POST /v1/events`` (issue #25, points 4 and 6; docs/client-side.md,
"Measurement"), on `strata serve` (uvicorn) and the edge worker in real workerd: a browser's exposures
``{visit, exposures}`` count once per visit nonce and key per process however often a beacon is
replayed, only keys of the loaded bundle and the populations of a consenting visit count, nothing
counts without consent, a conversion ``{goal, visit}`` is attributed to the keys counted for its
nonce once per goal, and a refused bundle ``{refused}`` counts in
``strata_client_bundle_refused_total{reason}``. Generated classes: hostile bodies (wrong shapes, types,
lengths, nonces, keys and populations) are refused with the contract's 422 on both runtimes and move
no counter."""

from __future__ import annotations

import base64
import json
import os
import random
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import MODEL_COUNTING
from edge_server.beacons import known_exposures
from edge_server.contract import BUNDLE_REFUSALS, MAX_BEACON_EXPOSURES, VISIT_NONCE_LENGTH, message
from edge_server.harness.server import metric
from runtime import Prepared, key_id, verify_bundle
from tests.edge_worker.workerd import both_runtimes

KEY = b"\x0c" * 32
COOKIE_KEYS = "b1:" + base64.b64encode(KEY).decode()
TOKEN = "beacon-token"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], frozenset[tuple[str, str, str]]]]:
    """({"py": url, "wk": url}, the bundle's exposure keys): one `strata serve` and one workerd of the counting rule set."""
    with both_runtimes(tmp_path_factory.mktemp("beacons"), MODEL_COUNTING, COOKIE_KEYS, TOKEN) as (urls, bundle, pub):
        yield urls, known_exposures(Prepared(verify_bundle(bundle, {key_id(pub): pub})))


def nonce() -> str:
    return base64.urlsafe_b64encode(os.urandom(12)).decode()


def counts(url: str) -> Counter[tuple[str, ...]]:
    """The exposures and conversions of a runtime's /v1/stats."""
    snap = httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    out: Counter[tuple[str, ...]] = Counter()
    for r in snap["exposures"]:
        out[("exposure", r["slot"], r["arm"], r["layer"], r["population"])] += r["count"]
    for r in snap["conversions"]:
        out[("conversion", r["goal"], r["slot"], r["arm"], r["layer"], r["population"])] += r["count"]
    return out


def post(url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + "/v1/events", content=json.dumps(body), headers={**JSON, **(headers or {})}, timeout=10)


def test_the_bundle_has_rules_variants_and_defaults(runtimes):
    _, known = runtimes
    arms = {a for _, a, _ in known}
    assert "default" in arms and "offer-test/bundle-discount" in arms and "keen" in arms, known


@pytest.mark.parametrize("rt", ["py", "wk"])
def test_replayed_beacons_count_once_per_visit(runtimes, rt):
    urls, known = runtimes
    url = urls[rt]
    keys = sorted(known)
    rng = random.Random(25)
    visits = {nonce(): rng.sample(keys, k=min(len(keys), 3)) for _ in range(4)}
    before = counts(url)
    for _ in range(3):  # every beacon sent three times, in another order each time
        for v, shown in rng.sample(sorted(visits.items()), k=len(visits)):
            r = post(url, {"visit": v, "exposures": [[*k, "personalized"] for k in shown]})
            assert r.status_code == 202, r.text
    # a later beacon of the same visit naming another population counts nothing: a visit has one population
    v0, shown0 = sorted(visits.items())[0]
    assert post(url, {"visit": v0, "exposures": [[*shown0[0], "holdout"]]}).json()["counted"] == 0
    delta = counts(url) - before
    want = Counter(("exposure", *k, "personalized") for shown in visits.values() for k in shown)
    assert delta == want
    # a conversion with the visit nonce: attributed to the visit's keys, once per goal
    for _ in range(3):
        r = post(url, {"goal": "purchase", "value": 10, "visit": v0})
        assert r.status_code == 202 and r.json()["population"] == "personalized", r.text
    delta = counts(url) - before - want
    assert delta == Counter({("conversion", "purchase", *k, "personalized"): 1 for k in shown0} | {("conversion", "purchase", "*", "*", "", "personalized"): 1})
    # a conversion of a nonce that showed nothing here: the unattributed overall row
    assert post(url, {"goal": "purchase", "visit": nonce()}).json()["population"] == "unattributed"


@pytest.mark.parametrize("rt", ["py", "wk"])
def test_no_exposure_counts_without_consent(runtimes, rt):
    urls, known = runtimes
    url = urls[rt]
    before = counts(url)
    entry = [[*sorted(known)[0], "personalized"]]
    for h in ({"sec-gpc": "1"}, {"dnt": "1"}, {"cookie": "strata_consent=no"}):
        r = post(url, {"visit": nonce(), "exposures": entry}, h)
        assert r.status_code == 202 and r.json()["counted"] == 0, r.text
    assert counts(url) == before


@pytest.mark.parametrize("rt", ["py", "wk"])
def test_a_refused_bundle_is_counted_by_reason(runtimes, rt):
    urls, _ = runtimes
    url = urls[rt]
    name = 'strata_client_bundle_refused_total{reason="bad_signature"}'
    before = metric(url, name, TOKEN)
    for _ in range(2):
        assert post(url, {"refused": "bad_signature"}).status_code == 202
    assert metric(url, name, TOKEN) == before + 2
    r = post(url, {"refused": "<script>"})
    assert r.status_code == 422 and r.json()["error"]["message"] == message("bundle_refusal", reasons=", ".join(BUNDLE_REFUSALS))[0]


# ------------------------------------------------------------------ generated hostile beacons
_text = st.text(max_size=70)
_junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _text,
                  st.lists(st.integers(), max_size=3), st.dictionaries(_text, st.integers(), max_size=2))


@st.composite
def hostile(draw: st.DrawFn, known: list[tuple[str, str, str]]) -> tuple[object, str]:
    """(a body that must be refused, the contract error's key)."""
    good = [*draw(st.sampled_from(known)), "personalized"]
    kind = draw(st.sampled_from(["nonce", "entries", "entry", "population", "key", "fields", "refused"]))
    if kind == "nonce":
        bad = draw(st.one_of(_junk, st.text(alphabet="abc+/=. \u00e9", min_size=VISIT_NONCE_LENGTH, max_size=VISIT_NONCE_LENGTH),
                             st.text(alphabet="AZaz09-_", max_size=40).filter(lambda s: len(s) != VISIT_NONCE_LENGTH)))
        return {"visit": bad, "exposures": [good]}, "visit_nonce"
    if kind == "entries":
        bad = draw(st.one_of(_junk.filter(lambda x: not isinstance(x, list)), st.just([]),
                             st.just([good] * (MAX_BEACON_EXPOSURES + 1 + draw(st.integers(0, 50))))))
        return {"visit": nonce(), "exposures": bad}, "beacon_exposures"
    if kind == "entry":
        bad = draw(st.one_of(_junk, st.lists(_text, max_size=6).filter(lambda x: len(x) != 4), st.just(good[:3] + [7])))
        return {"visit": nonce(), "exposures": [good, bad]}, "unknown_exposure"
    if kind == "population":
        bad = [*good[:3], draw(st.one_of(st.sampled_from(["no_consent", "unattributed", "*", "PERSONALIZED", ""]), _text))]
        if bad[3] in ("personalized", "holdout"):
            bad[3] = "x"
        return {"visit": nonce(), "exposures": [bad]}, "unknown_exposure"
    if kind == "key":
        i = draw(st.integers(0, 2))
        bad = list(good)
        bad[i] = draw(st.one_of(_text, st.sampled_from(["*", "default ", "hero|x", "a" * 300])))
        if tuple(bad[:3]) in known:
            bad[i] += "\u0000"
        return {"visit": nonce(), "exposures": [bad]}, "unknown_exposure"
    if kind == "fields":
        extra = draw(st.sampled_from(["goal", "value", "refused", "sid", "user"]))
        return {"visit": nonce(), "exposures": [good], extra: 1}, "events_body"
    bad = draw(st.one_of(_junk, st.sampled_from(["", "BAD_SIGNATURE", "bad_signature ", "x" * 200])))
    return {"refused": bad}, "bundle_refusal"


@pytest.mark.parametrize("rt", ["py", "wk"])
def test_hostile_beacons_are_refused_and_count_nothing(runtimes, rt):
    urls, known = runtimes
    url = urls[rt]
    before = counts(url)
    codes: Counter[str] = Counter()

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=hostile(sorted(known)))
    def run(case):
        body, key = case
        r = post(url, body)
        assert r.status_code == 422, (body, r.text)
        err = r.json()["error"]
        if key != "unknown_exposure":
            assert err["message"] == _message(key), (body, err)
        else:
            assert err["code"] == "unknown_exposure" and err["field"].startswith("exposures["), (body, err)
        codes[key] += 1

    run()
    assert counts(url) == before
    assert len(codes) >= 5, codes


def _message(key: str) -> str:
    values = {"visit_nonce": {"length": VISIT_NONCE_LENGTH}, "beacon_exposures": {"limit": MAX_BEACON_EXPOSURES},
              "bundle_refusal": {"reasons": ", ".join(BUNDLE_REFUSALS)}, "events_body": {}}[key]
    return message(key, **values)[0]
