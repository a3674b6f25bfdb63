"""Each refusal on load is its own documented exception type with an actionable message."""

from __future__ import annotations

import lzma

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import BASE, CREATED
from runtime import (
    BadSignature,
    BundleTooLarge,
    Expired,
    InvalidIR,
    MalformedBundle,
    NotYetValid,
    RollbackRefused,
    Runtime,
    UnknownKey,
    UnsupportedFormat,
    WrongName,
    key_id,
    verify_bundle,
)
from runtime.format import SIGNATURE_DOMAIN, signed_message

NOW = CREATED + 3600


@pytest.fixture
def keys(signing_key):
    return {key_id(signing_key.public_key()): signing_key.public_key()}


def resign(payload: dict, key: Ed25519PrivateKey, **envelope) -> bytes:
    raw = lzma.compress(msgpack.packb(payload, use_bin_type=True))
    env = {"format": 1, "key_id": key_id(key.public_key()), "payload": raw, "signature": key.sign(SIGNATURE_DOMAIN + raw)}
    env.update(envelope)
    return msgpack.packb(env, use_bin_type=True)


def payload_of(bundle: bytes) -> dict:
    return msgpack.unpackb(lzma.decompress(msgpack.unpackb(bundle)["payload"]), raw=False)


def test_verify_accepts_a_good_bundle(trailblazer_bundle, keys):
    assert verify_bundle(trailblazer_bundle, keys, now=NOW).name == "trailblazer"


def test_verify_refuses_bad_signature(trailblazer_bundle, keys):
    env = msgpack.unpackb(trailblazer_bundle)
    env["signature"] = bytes(64)
    with pytest.raises(BadSignature, match="modified after signing"):
        verify_bundle(msgpack.packb(env), keys, now=NOW)


def test_verify_refuses_unknown_key(trailblazer_bundle):
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(UnknownKey, match="not trusted here.*add its public key with --pub"):
        verify_bundle(trailblazer_bundle, {key_id(other): other}, now=NOW)


def test_verify_refuses_key_id_swapped_to_another_trusted_key(trailblazer_bundle, keys):
    other = Ed25519PrivateKey.generate().public_key()
    both = dict(keys, **{key_id(other): other})
    env = msgpack.unpackb(trailblazer_bundle)
    env["key_id"] = key_id(other)
    with pytest.raises(BadSignature):
        verify_bundle(msgpack.packb(env), both, now=NOW)


def test_verify_refuses_expired(trailblazer_bundle, keys):
    with pytest.raises(Expired, match="publish a freshly compiled bundle"):
        verify_bundle(trailblazer_bundle, keys, now=CREATED + 31 * 86400)


def test_verify_refuses_not_yet_valid_beyond_skew(trailblazer_bundle, keys):
    with pytest.raises(NotYetValid, match="check this node's clock"):
        verify_bundle(trailblazer_bundle, keys, now=CREATED - 301)
    assert verify_bundle(trailblazer_bundle, keys, now=CREATED - 299).version == 100  # within the 300 s skew


def test_verify_refuses_older_version_of_same_rule_set(trailblazer_bundle, keys):
    with pytest.raises(RollbackRefused, match="older than v101"):
        verify_bundle(trailblazer_bundle, keys, now=NOW, held=("trailblazer", 101))
    assert verify_bundle(trailblazer_bundle, keys, now=NOW, held=("trailblazer", 100)).version == 100  # the same version again


def test_verify_refuses_another_rule_set_than_the_one_held_or_pinned(trailblazer_bundle, keys):
    """Issue #12 class 4: a bundle of another name signed by the same key must not replace the
    site's content (it would also reset the version the rollback check compares)."""
    with pytest.raises(WrongName, match="not the rule set this server serves .'other-site'."):
        verify_bundle(trailblazer_bundle, keys, now=NOW, held=("other-site", 1))
    with pytest.raises(WrongName):
        verify_bundle(trailblazer_bundle, keys, now=NOW, name="other-site")
    assert verify_bundle(trailblazer_bundle, keys, now=NOW, name="trailblazer").name == "trailblazer"


@pytest.mark.parametrize("cut", [0, 1, 10, 100, -1])
def test_verify_refuses_truncated(trailblazer_bundle, keys, cut):
    data = trailblazer_bundle[:cut] if cut > 0 else trailblazer_bundle[:-1] if cut else b""
    with pytest.raises(MalformedBundle):
        verify_bundle(data, keys, now=NOW)


def test_verify_refuses_wrong_format(trailblazer_bundle, keys):
    env = msgpack.unpackb(trailblazer_bundle)
    env["format"] = 3
    with pytest.raises(UnsupportedFormat, match="format 3 is not supported"):
        verify_bundle(msgpack.packb(env), keys, now=NOW)


def test_verify_refuses_extra_envelope_fields(trailblazer_bundle, keys):
    env = msgpack.unpackb(trailblazer_bundle)
    env["extra"] = 1
    with pytest.raises(MalformedBundle, match="exactly format, key_id, payload, signature"):
        verify_bundle(msgpack.packb(env), keys, now=NOW)


def test_verify_refuses_oversized(keys):
    with pytest.raises(BundleTooLarge):
        verify_bundle(b"\x00" * (16 * 1024 * 1024 + 1), keys, now=NOW)


def test_verify_refuses_decompression_bomb(signing_key, keys):
    raw = lzma.compress(b"\x00" * (65 * 1024 * 1024))
    env = {"format": 1, "key_id": key_id(signing_key.public_key()), "payload": raw, "signature": signing_key.sign(SIGNATURE_DOMAIN + raw)}
    with pytest.raises(MalformedBundle, match="decompression bomb"):
        verify_bundle(msgpack.packb(env), keys, now=NOW)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda p: p["segments"][0].__setitem__("when", [99, 1]), "unknown opcode 99"),
        (lambda p: p["segments"][0].__setitem__("when", [2, 999]), "signal index out of range"),
        (lambda p: p["segments"][0].__setitem__("when", [3, 0]), "segments may only use earlier segments"),
        (lambda p: p["segments"][0].__setitem__("when", [8, [0, True]]), "takes 2 operands, got 1"),
        (lambda p: p["segments"][0].__setitem__("when", [12, "os.system", None]), "unknown function 'os.system'"),
        (lambda p: p["segments"][0].__setitem__("when", [4, 0]), "comprehension variable out of scope"),
        (lambda p: p["slots"][0].__setitem__("default", 10_000), "default content index out of range"),
        (lambda p: p["experiments"].append({"id": "x", "salt": "s", "start": 0, "end": 10_000, "variants": [["a", 60, 0]]}), "sum to 60"),
        (lambda p: p.__setitem__("version", "7"), "expected int"),
    ],
)
def test_verify_refuses_signed_payload_with_invalid_ir(trailblazer_bundle, signing_key, keys, mutate, match):
    p = payload_of(trailblazer_bundle)
    mutate(p)
    with pytest.raises(InvalidIR, match=match):
        verify_bundle(resign(p, signing_key), keys, now=NOW)


def test_runtime_keeps_last_good_bundle_on_refusal(signing_key, keys):
    rt = Runtime(keys)
    good = make_bundle(BASE, signing_key, version=5)
    rt.load(good, now=NOW)
    older = make_bundle(BASE, signing_key, version=4)
    with pytest.raises(RollbackRefused):
        rt.load(older, now=NOW)
    with pytest.raises(MalformedBundle):
        rt.load(good[:-3], now=NOW)
    assert rt.current.version == 5
    newer = make_bundle(BASE, signing_key, version=6)
    rt.load(newer, now=NOW)
    assert rt.current.version == 6


def test_runtime_accepts_several_keys_for_rotation(signing_key):
    other = Ed25519PrivateKey.generate()
    rt = Runtime([signing_key.public_key(), other.public_key()])
    rt.load(make_bundle(BASE, signing_key, version=1), now=NOW)
    rt.load(make_bundle(BASE, other, version=2), now=NOW)
    assert rt.current.key_id == key_id(other.public_key())


def _gzip_bundle(signing_key, **kw):
    from compiler.harness.fixtures import TRAILBLAZER
    from compiler.pipeline import Options, run

    ctx = run(TRAILBLAZER, Options(key=signing_key, created=CREATED, version=100, codec="gzip", **kw))
    assert ctx.bundle is not None
    return ctx.bundle


def test_verify_gzip_codec_bundle_decides_as_the_xz_one(signing_key, trailblazer_bundle, keys):
    gz = verify_bundle(_gzip_bundle(signing_key), keys, now=NOW)
    xz = verify_bundle(trailblazer_bundle, keys, now=NOW)
    assert msgpack.unpackb(_gzip_bundle(signing_key))["codec"] == "gzip"
    assert gz.payload == xz.payload


def test_verify_refuses_swapped_codec(signing_key, keys):
    env = msgpack.unpackb(_gzip_bundle(signing_key))
    env["codec"] = "xz"
    with pytest.raises(BadSignature):
        verify_bundle(msgpack.packb(env), keys, now=NOW)


def test_verify_refuses_gzip_bomb(signing_key, keys, monkeypatch):
    import gzip as gz

    from runtime import verify as v

    monkeypatch.setattr(v, "MAX_PAYLOAD_BYTES", 1000)
    raw = gz.compress(b"\x00" * 5000, mtime=0)
    env = {"format": 2, "key_id": key_id(signing_key.public_key()), "codec": "gzip", "payload": raw,
           "signature": signing_key.sign(signed_message(2, "gzip", raw))}
    with pytest.raises(MalformedBundle, match="decompression bomb"):
        verify_bundle(msgpack.packb(env), keys, now=NOW)


@pytest.mark.parametrize("breakage", ["short column", "missing column", "count", "delta"])
def test_verify_refuses_inconsistent_gzip_candidate_columns(signing_key, keys, breakage):
    import gzip as gz

    from runtime.codec import to_columns

    vb = verify_bundle(_gzip_bundle(signing_key), keys, now=NOW)
    p = to_columns(vb.payload)
    if breakage == "short column":
        p["candidates"]["id"] = p["candidates"]["id"][:-1]
    elif breakage == "missing column":
        del p["candidates"]["cap"]
    elif breakage == "count":
        p["slots"][0]["candidates"] = "all"
    else:
        p["candidates"]["content"][0] = "one"
    raw = gz.compress(msgpack.packb(p, use_bin_type=True), mtime=0)
    env = {"format": 2, "key_id": key_id(signing_key.public_key()), "codec": "gzip", "payload": raw,
           "signature": signing_key.sign(signed_message(2, "gzip", raw))}
    with pytest.raises(InvalidIR, match="candidate columns"):
        verify_bundle(msgpack.packb(env), keys, now=NOW)
