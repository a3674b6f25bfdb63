"""The runtime's own commands on bundles they do not verify (``strata inspect``, ``strata diff``):
hostile bytes are refused with a message, within the same bounds verification applies — never a
traceback, never an unbounded allocation."""

from __future__ import annotations

import gzip
import lzma
import tracemalloc

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.cli import main


def envelope(payload: bytes, codec: str | None = None) -> bytes:
    env = {"format": 2 if codec else 1, "key_id": "k", "payload": payload, "signature": b"s" * 64}
    if codec:
        env["codec"] = codec
    return msgpack.packb(env)


#: Payloads that expand: a zero run (decompression bomb), many tiny containers claiming huge counts.
BOMBS = [
    envelope(lzma.compress(b"\0" * (80 << 20))),
    envelope(gzip.compress(b"\0" * (80 << 20)), "gzip"),
    envelope(lzma.compress(b"\x9f" + b"\xdd\x7f\xff\xff\xff" * 2000)),  # arrays claiming 2^31 items each
    envelope(gzip.compress(b"\x91" * 100_000 + b"\xc0"), "gzip"),  # nesting 100,000 deep
]


@pytest.mark.parametrize("data", BOMBS, ids=["xz-zeros", "gzip-zeros", "claimed-counts", "deep"])
def test_commands_inspect_refuses_expanding_bundles_within_bounds(tmp_path, capsys, data: bytes) -> None:
    f = tmp_path / "b.bundle"
    f.write_bytes(data)
    tracemalloc.start()
    try:
        code = main(["inspect", str(f)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 1 and "not a Strata bundle" in capsys.readouterr().err
    assert peak < 160 << 20  # the 64 MiB inflate cap and the pre-unpack bounds, not the claimed sizes


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["inspect", "diff"]))
def test_commands_hostile_bytes_are_a_message_not_a_traceback(tmp_path_factory, data: bytes, command: str) -> None:
    d = tmp_path_factory.mktemp("b")
    f = d / "b.bundle"
    f.write_bytes(data)
    args = [command, str(f)] + ([str(f)] if command == "diff" else [])
    assert main(args) == 1


# ------------------------------------------------------------------ models (score.<model>)
def models_files(tmp_path):  # type: ignore[no-untyped-def]
    import copy
    import json

    from cryptography.hazmat.primitives import serialization

    from tests.runtime.model_payloads import KEY, models_payload, sign

    p = models_payload()
    p["expires"] = 2**40  # eval verifies at the current time
    bundle, pub, signals = tmp_path / "m.bundle", tmp_path / "k.pub", tmp_path / "s.json"
    bundle.write_bytes(sign(p))
    pub.write_bytes(KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    signals.write_text(json.dumps({"tier": "x", "n": 9, "d": 3.0, "flag": True, "tags": ["tents"]}))
    other = copy.deepcopy(p)
    other["models"][0]["sets"][0]["bias"] = 1.0
    other["models"][0]["fit"] = "00000000"
    changed = tmp_path / "m2.bundle"
    changed.write_bytes(sign(other))
    return bundle, pub, signals, changed


def test_commands_eval_explain_shows_scores(tmp_path, capsys) -> None:
    import json

    bundle, pub, signals, _ = models_files(tmp_path)
    assert main(["eval", str(bundle), "--pub", str(pub), "--signals", str(signals), "--explain"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["scores"]) == {"intent"} and 0.5 < out["scores"]["intent"] < 1
    assert main(["eval", str(bundle), "--pub", str(pub), "--signals", str(signals)]) == 0
    assert "scores       intent=0." in capsys.readouterr().out


def test_commands_inspect_and_diff_name_models(tmp_path, capsys) -> None:
    bundle, _, _, changed = models_files(tmp_path)
    assert main(["inspect", str(bundle)]) == 0
    text = capsys.readouterr().out
    assert "model      intent (goal purchase, 11 features" in text and "model      lift (goal purchase, 3 features" in text
    assert main(["diff", str(bundle), str(changed)]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["~ model intent"]
