"""Whatever the compiler accepts, both runtimes read back (docs/security.md, "Limits").

Rule sets are generated at every limit the compiler enforces (runtime/format.py: variants of an
experiment, id lengths, models and their features, and MAX_DECISION_STATE: the most slots of
experiments or capped rules one decision's cookie state may hold) and seeded random ones below them. Each is compiled, signed, and a visit of several
decisions runs through the Python server's decision path (``Server.decide``, ``set_cookie``) and
through the real worker in node (tests/edge_worker/limits_worker.mjs). Every cookie either runtime
writes must be read back by both, as the same session: the visitor keeps one session id, and what
the cookie carries (exposures with their allocation periods, caps, model entries) is what was
written. Where a rule set could not round-trip, the compiler refuses it with the limit and the
``file:line:col`` of the offending entry. Crowded cookies (older state, long categories and
sources) keep the current decision's exposures and caps on both runtimes: the shrink order drops
older state first (edge_server/session.py ``_shrink``).
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compiler.decision_state import slot_bytes
from compiler.errors import CompileError
from compiler.pipeline import Options, run
from edge_server.config import Config
from edge_server.server import DecideRequest, Server
from edge_server.session import (
    LINEAGE_STATES,
    LINEAGE_TAG_BYTES,
    MAX_CATEGORY,
    MAX_SESSION_MODELS,
    MAX_SHOWN,
    CapEntry,
    CookieCodec,
    ExposureEntry,
    ModelEntry,
    Session,
)
from runtime import Runtime
from runtime.format import MAX_DECISION_STATE, MAX_FEATURES, MAX_ID_LENGTH, MAX_MODELS, MAX_PERIOD, MAX_VARIANTS, period_length
from tests.edge_worker.workerd import require_node

KEYS = {"k1": b"\x07" * 32}
KEY_SPEC = "k1:" + base64.b64encode(KEYS["k1"]).decode()
SCRIPT = Path(__file__).resolve().parents[1] / "edge_worker" / "limits_worker.mjs"


def name(prefix: str, i: int, length: int = MAX_ID_LENGTH) -> str:
    """A unique id of exactly ``length`` characters (a CEL identifier: lower case, digits, '_')."""
    head = f"{prefix}{i}_"
    return (head + "x" * length)[:length] if length > len(head) else f"{prefix}{i}"[:length]


def weights_bp(n: int, rng: random.Random | None) -> list[int]:
    """``n`` weights in basis points summing to 10000: random, or (rng None) the longest period
    possible (as many four-digit weights as fit, the rest three digits)."""
    if n == 1:
        return [10_000]
    if rng is None:
        if n <= 10:
            return [10_000 // n + (1 if i < 10_000 % n else 0) for i in range(n)]
        k = (10_000 - 100 * n) // 900  # four-digit weights beside n - k of at least 100
        rest = 10_000 - 1000 * k
        three = [rest // (n - k) + (1 if i < rest % (n - k) else 0) for i in range(n - k)]
        return [1000] * k + three
    cuts = sorted(rng.sample(range(1, 10_000), n - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, 10_000])]


def ruleset(*, slots: int = 1, experiments: int = 1, variants: int = 2, capped: int = 0, models: int = 0, features: int = 1,
            goals: int = 1, idlen: int = MAX_ID_LENGTH, rng: random.Random | None = None) -> dict[str, Any]:
    """A rule set: ``slots`` slots, the first ``experiments`` of them running an experiment of
    ``variants`` variants, the next ``capped`` showing a capped rule; ``models`` plain models of
    ``features`` features each; every id ``idlen`` characters."""
    seg = name("seg", 0, idlen)
    doc: dict[str, Any] = {"strata": 1, "name": "limits", "goals": [name("goal", g, idlen) for g in range(goals)],
                           "segments": [{"id": seg, "layer": "broad", "when": "true"}], "slots": [], "experiments": []}
    for s in range(slots):
        sid = name("slot", s, idlen)
        rules = []
        if experiments <= s < experiments + capped:
            rules.append({"id": name("rule", s, idlen), "segment": seg, "cap": {"per_session": 1_000_000}, "content": {"h": "r"}})
        doc["slots"].append({"id": sid, "default": {"h": "d"}, "rules": rules})
        if s < experiments:
            ws = weights_bp(variants, rng)
            doc["experiments"].append({"id": name("exp", s, idlen), "slot": sid, "audience": seg, "variants": [
                {"id": name("var", v, idlen), "weight": w / 100, "content": {"h": str(v)}} for v, w in enumerate(ws)]})
    if models:
        doc["models"] = {name("model", m, idlen): {"goal": doc["goals"][0], "features": {
            name("feat", f, idlen): {"signal": "device.type", "values": ["mobile", "desktop"]} for f in range(features)}}
            for m in range(models)}
    return doc


def accepted(doc: dict[str, Any]) -> bool:
    """Whether the compiler accepts ``doc`` (up to the decision-state stage)."""
    try:
        run("limits.yaml", Options(stop_after="decision_state"), text=yaml.safe_dump(doc, sort_keys=False))
    except CompileError:
        return False
    return True


def most(what: str, **kw: Any) -> dict[str, Any]:
    """``kw`` with as many slots, each running an experiment (``what`` "experiments") or showing a
    capped rule ("capped"), as MAX_DECISION_STATE accepts: one more is refused."""
    def sized(n: int) -> dict[str, Any]:
        return {**kw, "slots": n, "experiments": n if what == "experiments" else 0, "capped": n if what == "capped" else 0}

    n = 1
    while accepted(ruleset(**sized(n + 1))):
        n += 1
    assert n < 64, "MAX_DECISION_STATE no longer bounds the slots"
    return sized(n)


#: The classes: (id, rule-set arguments). Every limit at its maximum; slots, experiments and caps
#: at the most one decision's state may hold (MAX_DECISION_STATE; beyond, the compiler refuses).
CLASSES: list[tuple[str, dict[str, Any]]] = [
    ("variants at MAX_VARIANTS, longest period", dict(variants=MAX_VARIANTS)),
    ("one variant", dict(variants=1)),
    ("every id at MAX_ID_LENGTH", dict(slots=2, experiments=1, capped=1, models=1, variants=2)),
    ("MAX_MODELS models of MAX_FEATURES features", dict(models=MAX_MODELS, features=MAX_FEATURES, experiments=0)),
    ("most experiments of MAX_VARIANTS, ids at MAX_ID_LENGTH", most("experiments", variants=MAX_VARIANTS)),
    ("most experiments of 2 variants, ids of 16", most("experiments", variants=2, idlen=16)),
    ("most capped rules, ids at MAX_ID_LENGTH", most("capped")),
    ("most capped rules, ids of 12", most("capped", idlen=12)),
    ("everything at once", dict(slots=24, experiments=1, capped=1, variants=MAX_VARIANTS, models=MAX_MODELS, features=MAX_FEATURES,
                                goals=20)),
]


def random_classes(n: int, seed: int = 20) -> list[tuple[str, dict[str, Any]]]:
    """Seeded random rule sets below the limits: random variant counts, weights and id lengths."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kw: dict[str, Any] = dict(slots=rng.randint(1, 8), variants=rng.randint(1, MAX_VARIANTS), idlen=rng.randint(8, MAX_ID_LENGTH),
                  models=rng.randint(0, 5), features=rng.randint(1, 8), rng=rng)
        kw["experiments"] = rng.randint(0, kw["slots"])
        kw["capped"] = kw["slots"] - kw["experiments"]
        while not accepted(ruleset(**{**kw, "rng": random.Random(i)})):  # beyond MAX_DECISION_STATE: one slot fewer
            kw["slots"] -= 1
            kw["experiments"], kw["capped"] = min(kw["experiments"], kw["slots"]), kw["slots"] - min(kw["experiments"], kw["slots"])
        out.append((f"random {i}", kw))
    return out


def requests_of(n: int = 4) -> list[dict[str, Any]]:
    """A visit: a first decision with nothing else to remember, then decisions with the longest
    source and a category each (MAX_CATEGORY characters), which crowd the cookie's byte budget."""
    return [{"page": {"url": "/", "category": ""}}] + [
        {"page": {"url": "/?utm_source=" + "s" * 200, "category": name("cat", i, MAX_CATEGORY)}} for i in range(n - 1)]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ed25519PrivateKey, str]:
    k = Ed25519PrivateKey.generate()
    pem = k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return k, pem


def compile_signed(doc: dict[str, Any], key: Ed25519PrivateKey, tmp: Path) -> tuple[bytes, Path]:
    path = tmp / "limits.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ctx = run(path, Options(key=key, created=int(time.time()), version=1, codec="gzip"))
    assert ctx.bundle is not None
    return ctx.bundle, path


def python_visit(bundle: bytes, path: Path, key: Ed25519PrivateKey, requests: list[dict[str, Any]],
                 start: str | None = None) -> tuple[Server, list[str], list[Session]]:
    """The visit through the server's decision path (from the cookie ``start``, if given): the
    cookie each decision set, and the session written into it (after the codec's shrinking),
    request after request."""
    srv = Server(Config(ruleset=str(path), cookie_keys=KEYS))
    prepared = Runtime([key.public_key()]).load(bundle)
    cookies: dict[str, str] = {"strata_session": start} if start else {}
    values, written = [], []
    for body in requests:
        page = body["page"]
        _, session, consent = srv.decide({}, cookies, prepared, DecideRequest(page["url"], None, page["category"]))
        header = srv.set_cookie({}, cookies, session, consent)
        assert header is not None and session is not None
        value = header.split(";")[0].split("=", 1)[1]
        values.append(value)
        written.append(session)
        cookies = {"strata_session": value}
    return srv, values, written


def fields(s: Session | None) -> list[Any] | None:
    """A session as the worker's script reports it (session.py's field order, bytes as lists)."""
    if s is None:
        return None
    models = {k: [e[0], e[1], list(e[2]), e[3], e[4], e[5], e[6]] for k, e in s.models.items()}
    caps = {k: list(e) for k, e in s.caps.items()}  # named tuples (CapEntry, ExposureEntry) as the worker's arrays
    exposures = {k: list(e) for k, e in s.exposures.items()}
    return [s.sid, s.visit_count, s.page_views, s.total_page_views, s.first_seen, s.last_seen, s.recent_categories, s.utm_source,
            s.purchased, caps, exposures, s.shown, s.converted, s.visit_nonce, models]


def periods(doc: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: "/".join(str(round(v["weight"] * 100)) for v in e["variants"]) for e in doc["experiments"]}


def test_limits_every_cookie_either_runtime_writes_both_read_back(key, tmp_path):
    """At every limit and below it: Python's cookies read back in Python and in the worker as the
    session written, the worker's read back in both, and each visit keeps one session id."""
    require_node()
    priv, pem = key
    cases, expect = [], []
    for label, kw in CLASSES + random_classes(24):
        doc = ruleset(**kw)
        d = tmp_path / f"case{len(cases)}"
        d.mkdir()
        bundle, path = compile_signed(doc, priv, d)
        requests = requests_of()
        srv, values, written = python_visit(bundle, path, priv, requests)
        for i, (value, s) in enumerate(zip(values, written)):
            back = srv.codec.decode(value)
            assert back is not None, f"{label}: Python cannot read its own cookie {i} ({len(value)} characters)"
            assert fields(back) == fields(s), f"{label}: cookie {i} read back differs from what was written"
            assert back.sid == written[0].sid, f"{label}: the visit lost its session at decision {i}"
            for exp, (_, _, period) in back.exposures.items():
                assert period == periods(doc)[exp] and len(period) <= period_length(len(doc["experiments"][0]["variants"])) <= MAX_PERIOD
        if kw.get("experiments", 1) == 1 and kw.get("slots", 1) == 1:  # one exposure, nothing else yet: it fits
            assert set(written[0].exposures) == {doc["experiments"][0]["id"]}, label
        cases.append({"bundle": base64.b64encode(bundle).decode(), "requests": requests, "python_cookies": values})
        expect.append((label, srv, written, doc))
    r = subprocess.run(["node", str(SCRIPT)], input=json.dumps({"pub": pem, "keys": KEY_SPEC, "cases": cases}),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    worker = json.loads(r.stdout.strip().splitlines()[-1])
    for (label, srv, written, doc), w in zip(expect, worker):
        assert w["python_sessions"] == [fields(s) for s in written], f"{label}: the worker reads the Python cookies otherwise"
        sids = {s[0] if s else None for s in w["sessions"]}
        assert len(sids) == 1 and None not in sids, f"{label}: the worker cannot read back its own cookies, or lost the session: {sids}"
        for value, s in zip(w["cookies"], w["sessions"]):
            assert fields(srv.codec.decode(value)) == s, f"{label}: Python reads the worker's cookie otherwise"
        for exp, e in w["sessions"][0][10].items():
            assert e[2] == periods(doc)[exp], label
        assert set(w["sessions"][0][10]) == set(written[0].exposures), f"{label}: the worker kept other exposures than the server"


def test_limits_the_single_decision_of_one_experiment_at_the_limits_keeps_its_arm_and_cohort(key, tmp_path):
    """One experiment of MAX_VARIANTS variants, every id MAX_ID_LENGTH long: the exposure (variant,
    visit and period) survives the cookie, so the next decision is not a new assignment."""
    priv, _ = key
    doc = ruleset(variants=MAX_VARIANTS)
    bundle, path = compile_signed(doc, priv, tmp_path)
    srv, values, written = python_visit(bundle, path, priv, [{"page": {"url": "/", "category": ""}}] * 3)
    exp = doc["experiments"][0]["id"]
    states = [srv.codec.decode(v) for v in values]
    assert all(s is not None and exp in s.exposures for s in states)
    assert {s.exposures[exp][0] for s in states if s} == {written[0].exposures[exp][0]}
    assert len(periods(doc)[exp]) > 80  # the longest period of MAX_VARIANTS weights, read back
    assert srv.measure.snapshot(None) is not None


@pytest.mark.parametrize("variants", [MAX_VARIANTS + 1, 40])
def test_limits_the_compiler_refuses_more_variants_with_the_limit_and_location(variants, tmp_path):
    doc = ruleset(slots=2, experiments=2, variants=2)
    doc["experiments"][1]["variants"] = ruleset(variants=variants)["experiments"][0]["variants"]
    path = tmp_path / "rs.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text)
    with pytest.raises(CompileError) as e:
        run(path, Options())
    (d,) = e.value.diagnostics
    line = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == "variants:"][1]  # the second experiment's
    assert (d.code, d.pos.path, d.pos.line) == ("too-many-variants", str(path), line)
    assert f"{variants} variants, more than {MAX_VARIANTS}" in d.message and str(d.pos).count(":") == 2


def test_limits_the_schema_states_the_format_limits():
    """rulesets/schema.json (what editors check as you type) says what runtime/format.py enforces."""
    from compiler.schema import schema

    s = schema()
    assert s["$defs"]["id"]["maxLength"] == s["$defs"]["ident"]["maxLength"] == MAX_ID_LENGTH
    assert s["properties"]["models"]["maxProperties"] == MAX_MODELS
    assert s["$defs"]["model"]["properties"]["features"]["maxProperties"] == MAX_FEATURES


def test_limits_the_worker_reads_with_the_same_bounds():
    """The worker's format.js and session.js state the same limits and reader bounds as Python."""
    require_node()
    from edge_server import session

    js = ("const f = await import('./edge_worker/runtime/format.js'); const s = await import('./edge_worker/worker/session.js');"
          "console.log(JSON.stringify([f.MAX_ID_LENGTH, f.MAX_VARIANTS, f.MAX_PERIOD, f.periodLength(7), s.MAX_PERIOD, s.MAX_MODEL_LEVELS,"
          " s.MAX_CATEGORY, s.MAX_SESSION_MODELS]))")
    r = subprocess.run(["node", "--input-type=module", "-e", js], capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [MAX_ID_LENGTH, MAX_VARIANTS, MAX_PERIOD, period_length(7), session.MAX_PERIOD,
                                    session.MAX_MODEL_LEVELS, MAX_CATEGORY, session.MAX_SESSION_MODELS]


def test_limits_what_the_cookie_cannot_drop_stays_readable():
    """The entries shrinking never drops (the visit's converted goals, its source, ids) at their
    largest still make a cookie the reader accepts (at most 4,096 characters)."""
    from edge_server.session import MAX_CONVERTED

    codec = CookieCodec(KEYS, "strata_session")
    s = Session.fresh()
    s.touch(1_800_000_000, 1800, "s" * 128, name("cat", 0, MAX_CATEGORY), True)
    s.converted = [name("goal", i) for i in range(MAX_CONVERTED)]
    s.shown = [f"{name('slot', i)}|{name('var', i)}|specific" for i in range(MAX_SHOWN)]
    s.models = {name("model", i): ModelEntry("0" * 8, "0" * 8, b"\x01" * MAX_FEATURES, 191, False, "treatment", 65535 * 128 + 100)
                for i in range(4)}  # the largest bucket and uplift row (a 16-bit calibration tag): 2 and 5 msgpack bytes
    value = codec.encode(s)
    back = codec.decode(value)
    assert back is not None and back.sid == s.sid and back.converted == s.converted and len(value) <= 4096


# ------------------------------------------------------------------ crowding: the current decision's state survives
def older_state(doc: dict[str, Any], n: int) -> str:
    """A cookie full of state older than any decision of ``doc``: ``n`` exposures and caps of
    experiments and rules since removed (ids at MAX_ID_LENGTH, longest periods), MAX_SHOWN exposure
    keys, model entries, MAX_CATEGORY-long categories and a 128-character source."""
    s = Session.fresh()
    s.touch(1_700_000_000, 1800, "o" * 128, "", True)
    s.recent_categories = [name("oldcat", i, MAX_CATEGORY) for i in range(10)]
    s.exposures = {name("oldexp", i): ExposureEntry(name("oldvar", i), 1, "5/" * 59 + "5") for i in range(n)}
    s.caps = {f"{name('oldslot', i)}/{name('oldrule', i)}": CapEntry(3, 1_700_000_000 - i) for i in range(n)}
    s.shown = [f"{name('oldslot', i)}|{name('oldrule', i)}|broad" for i in range(MAX_SHOWN)]
    s.models = {name("oldmodel", i): ModelEntry("0" * 8, "0" * 8, b"\x01" * MAX_FEATURES, 3, False, "") for i in range(4)}
    s.visit_count = 7
    s.written = {"caps": set(), "exposures": set(), "shown": set()}
    return CookieCodec(KEYS, "strata_session").encode(s)


#: Crowding classes: (id, rule-set arguments, older state in the starting cookie (entries of each kind), or None).
CROWDING: list[tuple[str, dict[str, Any], int | None]] = [
    ("most experiments at the limits, long categories", most("experiments", variants=MAX_VARIANTS), None),
    ("most experiments at the limits, after 30 older exposures and caps", most("experiments", variants=MAX_VARIANTS), 30),
    ("most short experiments, after older state", most("experiments", variants=2, idlen=16), 12),
    ("most capped rules, after older state", most("capped"), 30),
    ("experiments and caps, ids at MAX_ID_LENGTH, after older state", dict(slots=2, experiments=1, capped=1, variants=2), 30),
    ("everything at once, after older state", dict(slots=24, experiments=1, capped=1, variants=MAX_VARIANTS, models=MAX_MODELS,
                                                    features=MAX_FEATURES, goals=20), 8),
] + [(f"random {label}", kw, [None, 4, 30][i % 3]) for i, (label, kw) in enumerate(random_classes(12, seed=55))]


def decision_keys(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The experiments every decision of ``doc`` exposes and the cap keys it writes (every audience
    is ``true``, every experiment takes all traffic, every capped rule shows)."""
    exps = {e["id"] for e in doc["experiments"]}
    caps = {f"{s['id']}/{r['id']}" for s in doc["slots"] for r in s["rules"] if "cap" in r}
    return exps, caps


def test_limits_crowding_the_current_decisions_exposures_and_caps_survive_on_both_runtimes(key, tmp_path):
    """However crowded the cookie (categories and sources at their longest, exposures, caps, exposure
    keys and model entries left from earlier rule sets, every id at MAX_ID_LENGTH), every cookie
    either runtime writes keeps the exposures (variant and period, the same all visit long: never a
    new assignment) and the caps of the decision that wrote it; older state goes first."""
    require_node()
    priv, pem = key
    cases, expect = [], []
    for label, kw, older in CROWDING:
        doc = ruleset(**kw)
        d = tmp_path / f"crowd{len(cases)}"
        d.mkdir()
        bundle, path = compile_signed(doc, priv, d)
        start = older_state(doc, older) if older is not None else None
        requests = requests_of(6)
        srv, values, written = python_visit(bundle, path, priv, requests, start)
        for i, s in enumerate(written):  # Python: older state went first
            if s.written["shown"] - set(s.shown):
                assert not (s.recent_categories or s.models or set(s.shown) - s.written["shown"]), f"{label}: decision {i}"
            old = (set(s.exposures) - s.written["exposures"]) | (set(s.caps) - s.written["caps"])
            assert not old or s.written["shown"] <= set(s.shown), f"{label}: decision {i} lost its exposure keys before older entries"
        cases.append({"bundle": base64.b64encode(bundle).decode(), "requests": requests, "python_cookies": values, "start_cookie": start})
        expect.append((label, srv, values, doc))
    r = subprocess.run(["node", str(SCRIPT)], input=json.dumps({"pub": pem, "keys": KEY_SPEC, "cases": cases}),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    worker = json.loads(r.stdout.strip().splitlines()[-1])
    checked = 0
    for (label, srv, values, doc), w in zip(expect, worker):
        exps, caps = decision_keys(doc)
        for runtime, sessions in (("python", [fields(srv.codec.decode(v)) for v in values]), ("worker", w["sessions"]),
                                  ("python reads the worker's", [fields(srv.codec.decode(v)) for v in w["cookies"]])):
            first = None
            for i, f in enumerate(sessions):
                assert f is not None, f"{label}: {runtime} cookie {i} unreadable"
                got = {k: e for k, e in f[10].items() if k in exps}
                assert set(got) == exps, f"{label}: {runtime} cookie {i} lost the decision's exposures {sorted(exps - set(got))}"
                assert caps <= set(f[9]), f"{label}: {runtime} cookie {i} lost the decision's caps {sorted(caps - set(f[9]))}"
                for exp, e in got.items():
                    assert e[2] == periods(doc)[exp], f"{label}: {runtime} cookie {i}: period of {exp}"
                variants = {k: e[0] for k, e in got.items()}
                first = first or variants
                assert variants == first, f"{label}: {runtime} cookie {i} holds another variant: a new assignment"
                checked += 1
    assert checked >= 3 * 6 * len(CROWDING)


def test_limits_crowding_classes_reach_the_cookie_limit():
    """The crowding classes are crowded: their older state and the visit's categories do not fit
    beside the decision's state, so the cookie had to choose what to drop."""
    doc = ruleset(**CROWDING[1][1])
    s = CookieCodec(KEYS, "strata_session").decode(older_state(doc, 30))
    assert s is not None and len(s.exposures) < 30  # even the older state alone was shrunk
    assert sum(slot_bytes(sl) for sl in run("limits.yaml", Options(stop_after="resolve"),
                                            text=yaml.safe_dump(doc, sort_keys=False)).ruleset.slots) > MAX_DECISION_STATE // 2


@pytest.mark.parametrize("what,kw", [("experiments", dict(variants=MAX_VARIANTS)), ("experiments", dict(variants=2, idlen=16)),
                                     ("capped", {}), ("capped", dict(idlen=12))])
def test_limits_the_compiler_refuses_more_decision_state_with_the_limit_and_location(what, kw, tmp_path):
    """One slot more than the most that MAX_DECISION_STATE accepts: refused at that slot's id, with the limit."""
    kw = most(what, **kw)
    n = kw["slots"] + 1
    doc = ruleset(**{**kw, "slots": n, what: n})
    path = tmp_path / "rs.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text)
    with pytest.raises(CompileError) as e:
        run(path, Options())
    (d,) = e.value.diagnostics
    last = doc["slots"][-1]["id"]
    line = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == f"- id: {last}"][0]
    assert (d.code, d.pos.path, d.pos.line) == ("decision-state", str(path), line)
    assert f"MAX_DECISION_STATE ({MAX_DECISION_STATE})" in d.message and f"'{last}'" in d.message


def test_limits_max_decision_state_fits_beside_what_the_cookie_never_drops():
    """MAX_DECISION_STATE bytes of exposure entries at their largest fit in MAX_COOKIE_BYTES beside
    what the cookie never drops, at the sizes the guarantee names (docs/security.md, "Limits"): a
    key id of 16 characters, a source of 128, one converted goal of MAX_ID_LENGTH, counters of 32 bits,
    every model entered and a full lineage (neither is ever dropped)."""
    codec = CookieCodec({"k" * 16: KEYS["k1"]}, "strata_session")
    s = Session.fresh()
    s.touch(4_000_000_000, 1800, "s" * 128, "", True)
    s.visit_count = s.page_views = s.total_page_views = s.first_seen = 4_000_000_000
    s.converted = [name("goal", 0)]
    s.entered, s.lineage = (1 << MAX_SESSION_MODELS) - 1, bytes(LINEAGE_STATES * LINEAGE_TAG_BYTES)
    exposure = ExposureEntry(name("var", 0), 4_000_000_000, "x" * MAX_PERIOD)
    one = 1 + 66 + 66 + 5 + 121  # msgpack bytes of one such entry (key included)
    s.exposures = {name("exp", i): exposure for i in range(MAX_DECISION_STATE // one)}
    s.exposures[name("exp", 99, MAX_DECISION_STATE % one - 1 - 1)] = ExposureEntry("", 1, "")  # the rest of the budget
    s.written = {"caps": set(), "exposures": set(s.exposures), "shown": set()}
    assert len(msgpack.packb({k: list(e) for k, e in s.exposures.items()})) - 1 >= MAX_DECISION_STATE  # the map's header aside
    before = dict(s.exposures)
    value = codec.encode(s)
    back = codec.decode(value)
    assert back is not None and back.exposures == before and back.converted == s.converted, len(value)
