"""Bundles with models, built by hand from a compiled payload (for runtime tests and the vectors).

``models_payload()`` compiles ``RULES`` (signals of every kind a feature reads, a goal, an
experiment, a few rules), adds ``MODELS`` as the payload's ``models`` (spec, fit and level names
computed as docs/models.md defines them) and points some conditions at ``score.<model>`` through
IR op 18 (SCORE). ``sign()`` signs any payload for ``TRUSTED``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import lzma
from typing import Any

import msgpack
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED
from runtime import Runtime, key_id
from runtime.format import SIGNATURE_DOMAIN, Op

NOW = CREATED + 3600
KEY = Ed25519PrivateKey.generate()
TRUSTED = {key_id(KEY.public_key()): KEY.public_key()}

RULES = """\
strata: 1
name: models
goals: [purchase]
signals:
  tier: {type: string, category: contextual}
  n: {type: int, category: contextual}
  u: {type: uint, category: contextual}
  d: {type: double, category: contextual}
  flag: {type: bool, category: contextual}
  tags: {type: 'list(string)', category: contextual}
  nums: {type: 'list(int)', category: contextual}
  anys: {type: 'list(dyn)', category: contextual}
  m: {type: 'map(string, int)', category: contextual}
  beh: {type: int, category: behavioral}
segments:
  - {id: everyone, layer: broad, when: 'true'}
  - {id: gold, layer: mid, when: 'tier == "gold"'}
slots:
  - id: hero
    default: {v: default}
    rules:
      - {id: likely, when: 'tier == "x"', content: {v: likely}}
      - {id: gold-rule, segment: gold, content: {v: gold}}
  - id: side
    default: {v: default}
    rules:
      - {id: likely-too, when: 'tier == "y"', content: {v: likely-too}}
  - id: offer
    default: {v: default}
experiments:
  - id: exp
    slot: offer
    audience: everyone
    variants: [{id: a, weight: 50, content: {v: a}}, {id: b, weight: 50, content: {v: b}}]
"""

#: Features as the compiler writes them, by signal name (turned into indexes by ``models_payload``).
FEATURES: list[dict[str, Any]] = [
    {"id": "tier", "signal": "tier", "kind": "values", "args": ["gold", "silver"]},
    {"id": "n", "signal": "n", "kind": "edges", "args": [2, 4, 8]},
    {"id": "d", "signal": "d", "kind": "edges", "args": [0.5, 2.5]},
    {"id": "flag", "signal": "flag", "kind": "values", "args": [False, True]},
    {"id": "tents", "signal": "tags", "kind": "contains", "args": ["tents"]},
    {"id": "seven", "signal": "nums", "kind": "contains", "args": [7]},
    {"id": "one", "signal": "anys", "kind": "contains", "args": [1]},
    {"id": "key", "signal": "m", "kind": "contains", "args": ["k"]},
    {"id": "nval", "signal": "n", "kind": "values", "args": [0, 1]},
    {"id": "u", "signal": "u", "kind": "values", "args": [3]},
    {"id": "beh", "signal": "beh", "kind": "edges", "args": [1]},
]


def num_name(x: Any) -> str:
    return repr(x) if type(x) is float else str(x)


def level_names(kind: str, args: list[Any]) -> list[str]:
    """Level names as docs/models.md defines them (the compiler's job; tests compute them here)."""
    if kind == "values":
        return [("true" if a else "false") if type(a) is bool else str(a) for a in args] + ["(other)", "(absent)"]
    if kind == "edges":
        e = [num_name(x) for x in args]
        return [f"<{e[0]}"] + [f"[{a},{b})" for a, b in zip(e, e[1:])] + [f">={e[-1]}", "(absent)"]
    return ["no", "yes", "(absent)"]


def canonical(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"), sort_keys=False)


def spec_of(goal: str, features: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical([goal, [[f["id"], f["signal"], f["kind"], f["args"]] for f in features]]).encode()).hexdigest()[:8]


def model(mid: str, features: list[dict[str, Any]], sets: list[dict[str, Any]], signals: list[str],
          goal: str = "purchase", uplift: dict[str, Any] | None = None) -> dict[str, Any]:
    """One payload model; ``features`` name their signal (replaced by its index)."""
    spec = spec_of(goal, features)
    return {
        "id": mid, "goal": goal, "spec": spec,
        "fit": hashlib.sha256(canonical([spec, sets]).encode()).hexdigest()[:8],
        "features": [{"id": f["id"], "signal": signals.index(f["signal"]), "kind": f["kind"], "args": f["args"],
                      "levels": level_names(f["kind"], f["args"])} for f in features],
        "sets": sets, "uplift": uplift,
    }


def weights_for(features: list[dict[str, Any]], seed: float) -> list[list[float]]:
    """Deterministic, distinct weights per level (so a wrong level changes the score)."""
    out = []
    for i, f in enumerate(features):
        n = len(level_names(f["kind"], f["args"]))
        out.append([round(((i * 7 + j * 3) % 11 - 5) * 0.173 + seed, 6) for j in range(n)])
    return out


BASE_PAYLOAD: dict[str, Any] = msgpack.unpackb(lzma.decompress(msgpack.unpackb(make_bundle(RULES, KEY))["payload"]), raw=False)
SIGNALS = [s["name"] for s in BASE_PAYLOAD["signals"]]


def score_gt(index: int, x: float) -> list[Any]:
    """The IR of ``score.<model index> > x``."""
    return [Op.CALL, "_>_", "double, double", [Op.SCORE, index], [Op.LIT, x]]


def models_payload() -> dict[str, Any]:
    """The payload with two models: ``intent`` over every feature (read by rules ``likely`` and
    ``likely-too``, and by segment ``gold`` in a conjunction) and ``lift``, an uplift model of
    experiment ``exp`` (read by nothing)."""
    p = copy.deepcopy(BASE_PAYLOAD)
    exp = next(i for i, e in enumerate(p["experiments"]) if e["id"] == "exp")
    p["models"] = [
        model("intent", FEATURES, [{"bias": -0.4, "weights": weights_for(FEATURES, 0.0)}], SIGNALS),
        model("lift", FEATURES[:3], [{"bias": 0.2, "weights": weights_for(FEATURES[:3], 0.1)},
                                     {"bias": -0.3, "weights": weights_for(FEATURES[:3], -0.2)}], SIGNALS,
              uplift={"experiment": exp, "treatment": "a", "control": "b"}),
    ]
    for slot in p["slots"]:
        for c in slot["candidates"]:
            if c["id"] in ("likely", "likely-too"):
                c["when"] = score_gt(0, 0.5)
    gold = next(s for s in p["segments"] if s["id"] == "gold")
    gold["when"] = [Op.AND, gold["when"], score_gt(0, 0.0)]
    return p


def sign(payload: Any, version: int = 5, key: Ed25519PrivateKey = KEY) -> bytes:
    if isinstance(payload, dict) and "version" in payload:
        payload["version"] = version
    raw = lzma.compress(msgpack.packb(payload, use_bin_type=True), format=lzma.FORMAT_XZ, preset=0)
    env = {"format": 1, "key_id": key_id(key.public_key()), "payload": raw, "signature": key.sign(SIGNATURE_DOMAIN + raw)}
    return bytes(msgpack.packb(env, use_bin_type=True))


def load(payload: Any) -> Runtime:
    rt = Runtime(TRUSTED)
    rt.load(sign(payload), now=NOW)
    return rt
