"""Aggregated mode of fleet counting, the replica's side (edge_server/counter_batches.py;
docs/deployment.md "Fleet counting"): generated honest batches, replayed and duplicated in any
order, add up exactly once; every generated class of hostile batch is refused with a 4xx and
changes nothing (totals, ids, journal); the totals and the remembered ids survive a restart and are
shared by the processes of one state directory; the families are the worker's
(edge_worker/worker/counter_batches.js) — the same contract on both runtimes."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_server.counter_batches import FAMILIES, FORMAT, MAX_BODY, MAX_ROWS, BatchError, CounterStore, parse, sign
from tests.conftest import ROOT

NAMES = sorted(FAMILIES)
label = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


def body(bid: str, families: dict[str, list[Any]], created: float | None = None, **extra: Any) -> bytes:
    d = {"format": FORMAT, "id": bid, "instance": "iso", "created": int((time.time() if created is None else created) * 1000),
         "families": families, **extra}
    return orjson.dumps(d)


@st.composite
def batches(draw: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True)):
        labels, is_value = FAMILIES[name]
        value = st.floats(0, 1e6, allow_nan=False) if is_value else st.integers(1, 10**6)
        out[name] = draw(st.lists(st.tuples(st.lists(st.sampled_from(["a", "b", "é", ""]), min_size=len(labels), max_size=len(labels)), value)
                                  .map(list), max_size=6))
    return out


def totals(s: CounterStore) -> dict[str, dict[tuple[str, ...], float]]:
    return {n: dict(t) for n, t in s.totals.items() if t}


def state_of(s: CounterStore) -> Any:
    return totals(s), dict(s.ids), sorted((p.name, p.stat().st_size) for p in s.dir.glob("journal-*"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(batches(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_generated_batches_replayed_and_duplicated_in_any_order_count_once_and_survive_a_restart(tmp_path: Path, bs: list[Any], rnd: random.Random) -> None:
    d = tmp_path / uuid.uuid4().hex
    store = CounterStore(d)
    bodies = [body(f"iso-{i}", fams) for i, fams in enumerate(bs)]
    sends = bodies * 3
    rnd.shuffle(sends)
    added = [store.accept(b) for b in sends]
    assert sum(added) == len(bodies)  # each id once, whichever copy came first
    expected: dict[str, dict[tuple[str, ...], float]] = {}
    for fams in bs:
        for name, rows in fams.items():
            for key, v in rows:
                expected.setdefault(name, {})
                expected[name][tuple(key)] = expected[name].get(tuple(key), 0) + v
    got = totals(store)
    assert got.keys() == {n for n, rows in expected.items() if rows}
    for name, rows in got.items():
        for k, v in rows.items():
            assert math.isclose(v, expected[name][k], rel_tol=1e-12), (name, k)
    again = CounterStore(d)  # a restart: the journal is replayed, the ids too
    assert totals(again) == got
    assert not any(again.accept(b) for b in bodies), "a batch acknowledged before the restart is a duplicate after it"


HOSTILE: list[tuple[str, Any]] = [
    ("not json", lambda: b"{not json"),
    ("deep", lambda: b'{"format":"strata-counters/1","families":' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("not an object", lambda: b"[1,2,3]"),
    ("wrong format", lambda: body("x-1", {}, format="strata-stats/1")),
    ("unknown field", lambda: body("x-1", {}, extra_field=1)),
    ("bad id", lambda: body("x 1; drop", {})),
    ("long id", lambda: body("x" * 200, {})),
    ("float created", lambda: orjson.dumps({"format": FORMAT, "id": "x-1", "created": 1.5, "families": {}})),
    ("expired", lambda: body("x-1", {}, created=time.time() - 7200)),
    ("future", lambda: body("x-1", {}, created=time.time() + 3600)),
    ("unknown family", lambda: body("x-1", {"strata_bogus_total": [[[], 1]]})),
    ("wrong label count", lambda: body("x-1", {"strata_slot_exposures_total": [[["a", "b"], 1]]})),
    ("non-string label", lambda: body("x-1", {"strata_slot_exposures_total": [[["a", "b", "c", 4], 1]]})),
    ("long label", lambda: body("x-1", {"strata_slot_exposures_total": [[["a" * 300, "b", "c", "d"], 1]]})),
    ("negative", lambda: body("x-1", {"strata_slot_exposures_total": [[["a", "b", "c", "d"], -1]]})),
    ("fraction", lambda: body("x-1", {"strata_slot_exposures_total": [[["a", "b", "c", "d"], 1.5]]})),
    ("beyond 2^53", lambda: body("x-1", {"strata_slot_exposures_total": [[["a", "b", "c", "d"], 2**60]]})),
    ("infinite", lambda: body("x-1", {"strata_slot_exposures_total": [[["a", "b", "c", "d"], 1]]}).replace(b",1]]", b",1e999]]")),
    ("bool", lambda: body("x-1", {"strata_evaluation_errors_total": [[[], True]]})),
    ("string value", lambda: body("x-1", {"strata_evaluation_errors_total": [[[], "1"]]})),
    ("rows not a list", lambda: body("x-1", {"strata_evaluation_errors_total": {"a": 1}})),
    ("too many rows", lambda: body("x-1", {"strata_evaluation_errors_total": [[[], 1]] * (MAX_ROWS + 1)})),
]


@pytest.mark.parametrize("name,make", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_every_class_of_hostile_batch_gets_a_4xx_and_changes_nothing(tmp_path: Path, name: str, make: Any) -> None:
    store = CounterStore(tmp_path)
    assert store.accept(body("honest-1", {"strata_slot_exposures_total": [[["hero", "r", "", "personalized"], 5]]}))
    before = state_of(store)
    with pytest.raises(BatchError) as e:
        store.accept(make())
    assert 400 <= e.value.status < 500 and e.value.message
    assert state_of(store) == before
    assert state_of(CounterStore(tmp_path))[0] == before[0], "and nothing of it reached the journal"


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | label,
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(label, c, max_size=4), max_leaves=20))
def test_any_generated_json_is_a_batch_or_a_4xx(value: Any) -> None:
    families = value if isinstance(value, dict) else {"strata_requests_total": value}
    wrapped = {"format": FORMAT, "id": "g-1", "instance": "iso", "created": int(time.time() * 1000), "families": families}
    for candidate in (json.dumps(value).encode(), json.dumps(wrapped).encode()):  # NaN, Infinity, integers beyond 64 bits included
        try:
            parse(candidate, time.time(), 3600)
        except BatchError as e:
            assert 400 <= e.status < 500


def test_a_label_cardinality_bomb_is_refused_whole(tmp_path: Path) -> None:
    store = CounterStore(tmp_path, max_series=100)
    assert store.accept(body("a-1", {"strata_requests_total": [[["/v1/decide", str(i)], 1] for i in range(60)]}))
    before = state_of(store)
    with pytest.raises(BatchError) as e:  # 60 + 50 new label sets > 100: none of them is added
        store.accept(body("a-2", {"strata_requests_total": [[["/v1/decide", str(i)], 1] for i in range(50, 110)]}))
    assert e.value.status == 422 and e.value.code == "too_many_series"
    assert state_of(store) == before
    assert store.accept(body("a-3", {"strata_requests_total": [[["/v1/decide", str(i)], 1] for i in range(40)]})), "known label sets still add"


def test_processes_sharing_a_state_directory_count_a_batch_once_and_export_the_same_totals(tmp_path: Path) -> None:
    a, b = CounterStore(tmp_path), CounterStore(tmp_path)  # two workers of one `strata serve --workers 2`
    one = body("iso-1", {"strata_slot_exposures_total": [[["hero", "r", "", "personalized"], 2]]})
    assert a.accept(one) and not b.accept(one)
    assert b.accept(body("iso-2", {"strata_slot_exposures_total": [[["hero", "r", "", "personalized"], 3]]}))
    a.refresh()
    assert totals(a) == totals(b) == {"strata_slot_exposures_total": {("hero", "r", "", "personalized"): 5}}
    assert a.instance_id == b.instance_id == CounterStore(tmp_path).instance_id, "the pushed counters' identity lives in the state directory"


def test_a_compaction_keeps_totals_and_the_ids_inside_the_window(tmp_path: Path) -> None:
    store = CounterStore(tmp_path, window=600)
    now = time.time()
    assert store.accept(body("old-1", {"strata_evaluation_errors_total": [[[], 1]]}, created=now - 500), now=now)
    assert store.accept(body("new-1", {"strata_evaluation_errors_total": [[[], 2]]}, created=now), now=now)
    store._compact()
    again = CounterStore(tmp_path, window=600)
    assert totals(again) == {"strata_evaluation_errors_total": {(): 3}}
    assert not again.accept(body("new-1", {"strata_evaluation_errors_total": [[[], 2]]}, created=now))
    assert json.loads((tmp_path / "snapshot.json").read_text())["generation"] >= 2


def test_the_signature_is_hmac_sha256_of_the_body_and_the_worker_computes_the_same() -> None:
    secret, raw = "s" * 32, body("iso-1", {"strata_evaluation_errors_total": [[[], 1]]})
    js = subprocess.run(["node", "--input-type=module", "-e",
                         "import {sign, hmacKey, FAMILIES} from './worker/counter_batches.js';"
                         f"const b = {json.dumps(raw.decode())};"
                         f"console.log(JSON.stringify([await sign(await hmacKey({json.dumps(secret)}), b), FAMILIES]));"],
                        cwd=ROOT / "edge_worker", capture_output=True, text=True, timeout=60)
    assert js.returncode == 0, js.stderr
    signature, families = json.loads(js.stdout)
    assert signature == sign(secret, raw)
    assert {n: [list(labels), v] for n, (labels, v) in FAMILIES.items()} == families, "one family contract for both runtimes"
    assert MAX_BODY >= 5000 * 1200, "the worker's largest batch (5,000 rows of long labels) fits the body limit"


# ---------------------------------------------------------------------------- a real replica
def test_a_replica_adds_a_signed_batch_once_refuses_forged_and_hostile_ones_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    import httpx

    from edge_server.harness.server import RunningServer, metric
    from tests.conftest import TRAILBLAZER

    token = "stats-token"
    secret = "s" * 32
    args = [str(TRAILBLAZER), "--counters-secret", secret, "--state-dir", str(tmp_path / "state"), "--stats-token", token]
    url = "/v1/counters"
    row = ["hero", "pushed-arm", "", "personalized"]
    one = body("iso-1", {"strata_slot_exposures_total": [[row, 7]], "strata_conversions_total": [[["purchase", *row], 2]]})

    def post(s: RunningServer, raw: bytes, signature: str | None) -> httpx.Response:
        headers = {"content-type": "application/json", **({"x-strata-signature": signature} if signature is not None else {})}
        return httpx.post(s.url + url, content=raw, headers=headers, timeout=10)

    def pushed(s: RunningServer) -> int:
        snap = httpx.get(s.url + "/v1/stats", headers={"authorization": f"Bearer {token}"}, timeout=10).json()
        return sum(e["count"] for e in snap["exposures"] if e["arm"] == "pushed-arm")

    s = RunningServer(args)
    try:
        assert post(s, one, sign(secret, one)).json() == {"accepted": True, "duplicate": False}
        assert post(s, one, sign(secret, one)).json()["duplicate"] is True  # a replay counts once
        assert post(s, one, None).status_code == 401
        altered = one.replace(b"],7]]", b"],9]]")
        assert altered != one and post(s, altered, sign(secret, one)).status_code == 401  # altered after signing
        assert post(s, one, sign("x" * 32, one)).status_code == 401  # another secret
        for name, make in HOSTILE:
            raw = make()
            r = post(s, raw, sign(secret, raw))
            assert 400 <= r.status_code < 500 and r.json()["error"]["message"], name
        assert post(s, b"x" * (MAX_BODY + 1), "v1=00").status_code == 413
        assert pushed(s) == 7
        text = httpx.get(s.url + "/metrics", headers={"authorization": f"Bearer {token}"}).text
        assert re.search(r'strata_slot_exposures_total\{arm="pushed-arm",instance_id="counters-[0-9a-f]+",.*\} 7\.0', text)
        assert metric(s.url, 'strata_counter_batches_total{result="ok"}', token) == 1
        assert metric(s.url, 'strata_counter_batches_total{result="duplicate"}', token) == 1
        assert metric(s.url, 'strata_counter_batches_total{result="unauthorized"}', token) == 3  # unsigned, altered, foreign
        assert metric(s.url, 'strata_counter_batches_total{result="invalid"}', token) >= len(HOSTILE) - 3
        assert metric(s.url, 'strata_counter_batches_total{result="too_large"}', token) == 2  # 20,001 rows; 8 MiB + 1 byte
        own = set(re.findall(r'instance_id="([0-9a-f]{12})"', text))
    finally:
        s.stop()
    s = RunningServer(args)  # a restart: what was acknowledged is still there, and the batch is still a duplicate
    try:
        assert pushed(s) == 7
        assert post(s, one, sign(secret, one)).json()["duplicate"] is True
        text = httpx.get(s.url + "/metrics", headers={"authorization": f"Bearer {token}"}).text
        assert own and not own & set(re.findall(r'instance_id="([0-9a-f]{12})"', text)), "a new run, a new instance_id"
    finally:
        s.stop()
