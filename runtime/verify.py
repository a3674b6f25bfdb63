"""Bundle verification: one straight function, one specific refusal per step.

Order: size -> envelope -> format -> key id known -> signature -> inflate -> payload shape ->
time window -> version. The signature is checked before the payload is inflated or parsed, so an
attacker without a trusted key cannot make the runtime do more than hash their bytes.
"""

from __future__ import annotations

import lzma
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .codec import from_columns
from .errors import (
    BadSignature,
    BundleTooLarge,
    Expired,
    InvalidIR,
    MalformedBundle,
    NotYetValid,
    RollbackRefused,
    UnknownKey,
    UnsupportedFormat,
)
from .format import CODECS, FORMAT_CODEC, FORMATS, MAX_DECODER_MEMORY, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, signed_message
from .validate import validate_payload

#: Default tolerance between the signer's clock and this node's clock, in seconds.
DEFAULT_CLOCK_SKEW = 300

_ENVELOPE_KEYS = {"format", "key_id", "payload", "signature"}
_ENVELOPE_KEYS_CODEC = _ENVELOPE_KEYS | {"codec"}


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, time window and shape have been checked."""

    key_id: str
    payload: dict[str, Any]
    size: int

    @property
    def name(self) -> str:
        return str(self.payload["name"])

    @property
    def version(self) -> int:
        return int(self.payload["version"])


def _unpack(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise MalformedBundle(f"{what} is not valid msgpack ({type(e).__name__}: {e}); the file is truncated or not a Strata bundle") from None
    except RecursionError:
        raise MalformedBundle(f"{what} is nested too deeply") from None


def _inflate_gzip(data: bytes) -> bytes:
    """Inflate one gzip member with the same output cap as xz (stream-decompressed, so a bomb
    stops at the cap instead of filling memory)."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, MAX_PAYLOAD_BYTES)
    except zlib.error as e:
        raise MalformedBundle(f"payload is not a gzip stream ({e})") from None
    if d.unconsumed_tail:
        raise MalformedBundle(f"payload inflates beyond {MAX_PAYLOAD_BYTES} bytes; refusing (decompression bomb guard)")
    if not d.eof or d.unused_data:
        raise MalformedBundle("payload gzip stream is truncated or has trailing data")
    return out


def _inflate(data: bytes, codec: str = "xz") -> bytes:
    if codec == "gzip":
        return _inflate_gzip(data)
    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=MAX_DECODER_MEMORY)
    try:
        out = d.decompress(data, MAX_PAYLOAD_BYTES)
    except lzma.LZMAError as e:
        raise MalformedBundle(f"payload is not an xz stream ({e})") from None
    if not d.eof and not d.needs_input:
        raise MalformedBundle(f"payload inflates beyond {MAX_PAYLOAD_BYTES} bytes; refusing (decompression bomb guard)")
    if not d.eof or d.unused_data:
        raise MalformedBundle("payload xz stream is truncated or has trailing data")
    return out


def verify_bundle(
    data: bytes,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    now: float | None = None,
    clock_skew: float = DEFAULT_CLOCK_SKEW,
    held: tuple[str, int] | None = None,
) -> VerifiedBundle:
    """Verify ``data`` against the trusted ``keys`` (key id -> public key).

    ``held`` is the (name, version) of the bundle currently in use, for rollback protection: a
    bundle of the same rule set with a lower version is refused.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedBundle(f"bundle must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_ENVELOPE_BYTES:
        raise BundleTooLarge(f"bundle is {len(data)} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")
    if not data:
        raise MalformedBundle("bundle is empty")

    env = _unpack(data, "bundle envelope")
    if not isinstance(env, dict) or set(env) not in (_ENVELOPE_KEYS, _ENVELOPE_KEYS_CODEC):
        raise MalformedBundle("not a Strata bundle: expected a map with exactly format, key_id, payload, signature (and codec in format 2)")
    fmt, kid, payload, sig = env["format"], env["key_id"], env["payload"], env["signature"]
    if type(fmt) is not int:
        raise MalformedBundle("envelope field 'format' must be an integer")
    if fmt not in FORMATS:
        raise UnsupportedFormat(f"bundle format {fmt} is not supported by this runtime (it reads formats {', '.join(map(str, FORMATS))}); upgrade the runtime or recompile with a matching compiler")
    if ("codec" in env) != (fmt == FORMAT_CODEC):
        raise MalformedBundle(f"envelope of format {fmt} {'needs' if fmt == FORMAT_CODEC else 'cannot have'} a codec field")
    codec = env.get("codec", "xz")
    if codec not in CODECS:
        raise MalformedBundle(f"unknown payload codec {str(codec)[:20]!r} (known: {', '.join(CODECS)})")
    if not isinstance(kid, str) or not isinstance(payload, bytes) or not isinstance(sig, bytes):
        raise MalformedBundle("envelope fields have wrong types (key_id: str, payload: bin, signature: bin)")

    key = keys.get(kid)
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        raise UnknownKey(f"bundle is signed by key {kid!r}, which is not trusted here (trusted: {known}); add its public key with --pub")
    try:
        key.verify(sig, signed_message(fmt, codec, payload))
    except InvalidSignature:
        raise BadSignature(f"signature does not match the payload for key {kid}: the bundle was modified after signing, or signed by another key") from None

    body = _unpack(_inflate(payload, codec), "payload")
    if codec == "gzip":
        try:
            body = from_columns(body)
        except ValueError as e:
            raise InvalidIR(f"payload candidate columns: {e}; recompile the bundle with this version of strata") from None
    validate_payload(body)

    t = time.time() if now is None else now
    if t + clock_skew < body["not_before"]:
        raise NotYetValid(f"bundle {body['name']} v{body['version']} is not valid before {body['not_before']} (now {int(t)}, skew {clock_skew}s); check this node's clock")
    if t - clock_skew >= body["expires"]:
        raise Expired(f"bundle {body['name']} v{body['version']} expired at {body['expires']} (now {int(t)}); publish a freshly compiled bundle")
    if held is not None and held[0] == body["name"] and body["version"] < held[1]:
        raise RollbackRefused(f"bundle {body['name']} v{body['version']} is older than v{held[1]} already loaded; refusing to roll back")
    return VerifiedBundle(key_id=kid, payload=body, size=len(data))
