"""Whatever the compiler accepts, both runtimes read back (docs/security.md, "Limits").

Rule sets are generated at every limit the compiler enforces (runtime/format.py: variants of an
experiment, id lengths, models and their features; and many slots, caps and experiments, which no
limit bounds) and seeded random ones below them. Each is compiled, signed, and a visit of several
decisions runs through the Python server's decision path (``Server.decide``, ``set_cookie``) and
through the real worker in node (tests/edge_worker/limits_worker.mjs). Every cookie either runtime
writes must be read back by both, as the same session: the visitor keeps one session id, and what
the cookie carries (exposures with their allocation periods, caps, model entries) is what was
written. Where a rule set could not round-trip, the compiler refuses it with the limit and the
``file:line:col`` of the offending entry.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compiler.errors import CompileError
from compiler.pipeline import Options, run
from edge_server.config import Config
from edge_server.server import Server
from edge_server.session import MAX_CATEGORY, Session
from runtime import Runtime
from runtime.format import MAX_FEATURES, MAX_ID_LENGTH, MAX_MODELS, MAX_PERIOD, MAX_VARIANTS, period_length
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


#: The classes: (id, rule-set arguments, number of decisions in the visit). Every limit at its
#: maximum, and what no limit bounds (slots, experiments, caps) well past what a cookie holds.
CLASSES: list[tuple[str, dict[str, Any]]] = [
    ("variants at MAX_VARIANTS, longest period", dict(variants=MAX_VARIANTS)),
    ("one variant", dict(variants=1)),
    ("every id at MAX_ID_LENGTH", dict(slots=2, experiments=1, capped=1, models=1, variants=2)),
    ("MAX_MODELS models of MAX_FEATURES features", dict(models=MAX_MODELS, features=MAX_FEATURES, experiments=0)),
    ("64 slots: experiments and capped rules", dict(slots=64, experiments=32, capped=32, variants=MAX_VARIANTS)),
    ("caps only: 40 capped rules", dict(slots=40, experiments=0, capped=40)),
    ("everything at once", dict(slots=24, experiments=12, capped=12, variants=MAX_VARIANTS, models=MAX_MODELS, features=MAX_FEATURES,
                                goals=20)),
]


def random_classes(n: int, seed: int = 20) -> list[tuple[str, dict[str, Any]]]:
    """Seeded random rule sets below the limits: random variant counts, weights and id lengths."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kw = dict(slots=rng.randint(1, 8), variants=rng.randint(1, MAX_VARIANTS), idlen=rng.randint(8, MAX_ID_LENGTH),
                  models=rng.randint(0, 5), features=rng.randint(1, 8), rng=rng)
        kw["experiments"] = rng.randint(0, kw["slots"])
        kw["capped"] = kw["slots"] - kw["experiments"]
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


def python_visit(bundle: bytes, path: Path, key: Ed25519PrivateKey, requests: list[dict[str, Any]]) -> tuple[Server, list[str], list[Session]]:
    """The visit through the server's decision path: the cookie each decision set, and the session
    written into it (after the codec's shrinking), request after request."""
    srv = Server(Config(ruleset=str(path), cookie_keys=KEYS))
    prepared = Runtime([key.public_key()]).load(bundle)
    cookies: dict[str, str] = {}
    values, written = [], []
    for body in requests:
        page = body["page"]
        _, session, consent = srv.decide({}, cookies, prepared, page["url"], None, page["category"], None, {}, True, False)
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
    models = {k: [e[0], e[1], list(e[2]), e[3], e[4], e[5]] for k, e in s.models.items()}
    return [s.sid, s.visit_count, s.page_views, s.total_page_views, s.first_seen, s.last_seen, s.recent_categories, s.utm_source,
            s.purchased, s.caps, s.exposures, s.shown, s.converted, s.visit_nonce, models]


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
          " s.MAX_CATEGORY, s.MAX_MODELS]))")
    r = subprocess.run(["node", "--input-type=module", "-e", js], capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [MAX_ID_LENGTH, MAX_VARIANTS, MAX_PERIOD, period_length(7), session.MAX_PERIOD,
                                    session.MAX_MODEL_LEVELS, MAX_CATEGORY, session.MAX_MODELS]


def test_limits_what_the_cookie_cannot_drop_stays_readable():
    """The entries shrinking never drops (the visit's converted goals, its source, ids) at their
    largest still make a cookie the reader accepts (at most 4,096 characters)."""
    from edge_server.session import MAX_CONVERTED, MAX_SHOWN, CookieCodec

    codec = CookieCodec(KEYS, "strata_session")
    s = Session.fresh()
    s.touch(1_800_000_000, 1800, "s" * 128, name("cat", 0, MAX_CATEGORY), True)
    s.converted = [name("goal", i) for i in range(MAX_CONVERTED)]
    s.shown = [f"{name('slot', i)}|{name('var', i)}|specific" for i in range(MAX_SHOWN)]
    s.models = {name("model", i): ["0" * 8, "0" * 8, b"\x01" * MAX_FEATURES, 39, False, "treatment"] for i in range(4)}
    value = codec.encode(s)
    back = codec.decode(value)
    assert back is not None and back.sid == s.sid and back.converted == s.converted and len(value) <= 4096
