"""Bundles: round trip, tamper evidence, determinism, compactness."""

from __future__ import annotations

import os
import subprocess
import sys

import msgpack
import pytest

from compiler.harness.fixtures import CREATED, TRAILBLAZER
from compiler.pipeline import Options, run
from runtime import BadSignature, BundleError, key_id, verify_bundle


def _keys(signing_key):
    pub = signing_key.public_key()
    return {key_id(pub): pub}


def test_bundle_round_trip_verifies_and_keeps_the_rule_set(trailblazer_bundle, signing_key):
    vb = verify_bundle(trailblazer_bundle, _keys(signing_key), now=CREATED + 60)
    p = vb.payload
    assert (p["name"], p["version"], p["created"], p["not_before"]) == ("trailblazer", 100, CREATED, CREATED)
    assert p["expires"] == CREATED + 30 * 86400
    assert [s["id"] for s in p["slots"]] == ["hero", "banner", "offer", "recs"]
    hero = p["slots"][0]["candidates"]
    assert [c["id"] for c in hero] == ["starter-kit", "tent-hero", "camping-welcome", "mobile-hero"]
    assert p["holdout"] == {"bp": 500, "salt": "trailblazer-holdout-2026"}


def test_bundle_envelope_has_exactly_the_documented_fields(trailblazer_bundle, signing_key):
    env = msgpack.unpackb(trailblazer_bundle, raw=False)
    assert set(env) == {"format", "key_id", "payload", "signature"}
    assert env["format"] == 1 and env["key_id"] == key_id(signing_key.public_key()) and len(env["signature"]) == 64


def test_bundle_one_byte_change_anywhere_fails_verification(trailblazer_bundle, signing_key):
    keys = _keys(signing_key)
    data = bytearray(trailblazer_bundle)
    for i in range(len(data)):
        for delta in (1, 0x80):
            mutated = bytearray(data)
            mutated[i] = (mutated[i] + delta) % 256
            with pytest.raises(BundleError):
                verify_bundle(bytes(mutated), keys, now=CREATED + 60)


def test_bundle_signature_covers_payload_with_domain_prefix(trailblazer_bundle, signing_key):
    env = msgpack.unpackb(trailblazer_bundle, raw=False)
    # A signature over the bare payload (no domain prefix) is not accepted.
    env["signature"] = signing_key.sign(env["payload"])
    with pytest.raises(BadSignature):
        verify_bundle(msgpack.packb(env, use_bin_type=True), _keys(signing_key), now=CREATED + 60)


def test_bundle_same_input_key_and_time_is_byte_identical(signing_key):
    a = run(TRAILBLAZER, Options(key=signing_key, created=CREATED)).bundle
    b = run(TRAILBLAZER, Options(key=signing_key, created=CREATED)).bundle
    assert a == b


def test_bundle_source_date_epoch_is_honoured(tmp_path):
    from compiler.keys import keygen

    priv, pub, _ = keygen(tmp_path / "k")
    outs = []
    for n in range(2):
        out = tmp_path / f"b{n}.bundle"
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(CREATED))
        subprocess.run([sys.executable, "-m", "runtime.cli", "compile", str(TRAILBLAZER), "-k", str(priv), "-o", str(out)],
                       check=True, env=env, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    payload = msgpack.unpackb(__import__("lzma").decompress(msgpack.unpackb(outs[0])["payload"]))
    assert payload["created"] == CREATED and payload["version"] == CREATED


def test_bundle_content_is_deduplicated():
    from compiler.harness.fixtures import BASE

    text = BASE + "      - id: again\n        when: 'true'\n        content: {headline: Small}\n"
    ctx = run("x.yaml", Options(), text=text)
    headlines = [c.get("headline") for c in ctx.payload["content"]]
    assert headlines.count("Small") == 1
