"""Bundle verification: one straight function, one specific refusal per step.

Order: size -> envelope -> format -> key id known -> signature -> inflate -> bounds -> payload
shape -> time window -> name -> version. The signature is checked before the payload is inflated or
parsed, so an attacker without a trusted key cannot make the runtime do more than hash their bytes
(the envelope itself is unpacked with limits that fit its four small fields). A signed payload is
walked once for its size (``bounds.py``) before it is unpacked, so even a faulty compiler's output
cannot make the runtime allocate beyond ``MAX_PAYLOAD_OBJECTS``.
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

from .bounds import BoundsExceeded, check_bounds
from .codec import from_columns
from .errors import (
    BadSignature,
    BundleError,
    BundleTooLarge,
    Expired,
    InvalidIR,
    MalformedBundle,
    NotYetValid,
    PrepareFailed,
    RollbackRefused,
    UnknownKey,
    UnsupportedFormat,
    WrongName,
)
from .format import (
    CODECS,
    DEFAULT_CLOCK_SKEW,
    FORMAT_CODEC,
    FORMATS,
    MAX_DECODER_MEMORY,
    MAX_ENVELOPE_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    MAX_PAYLOAD_OBJECTS,
    MAX_PAYLOAD_STRING,
    signed_message,
)
from .validate import validate_payload

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


def _unpack(data: bytes, what: str, *, max_str: int, max_bin: int, max_array: int, max_map: int) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=max_str,
            max_bin_len=max_bin,
            max_array_len=max_array,
            max_map_len=max_map,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise MalformedBundle(f"{what} is not valid msgpack ({type(e).__name__}: {e}); the file is truncated or not a Strata bundle") from None
    except RecursionError:
        raise MalformedBundle(f"{what} is nested too deeply") from None


def _unpack_envelope(data: bytes) -> Any:
    """The envelope is unauthenticated: unpack it with limits that fit exactly its four fields
    (no arrays, maps of a few entries, short strings), so hostile bytes cannot make the
    unpacker preallocate containers before the signature is checked."""
    return _unpack(data, "bundle envelope", max_str=256, max_bin=MAX_ENVELOPE_BYTES, max_array=0, max_map=2 * len(_ENVELOPE_KEYS_CODEC))


def _unpack_payload(raw: bytes) -> Any:
    """Bound the payload's Python size before building it (see ``bounds.py``), then unpack it."""
    try:
        check_bounds(raw, max_objects=MAX_PAYLOAD_OBJECTS, max_depth=MAX_PAYLOAD_DEPTH, max_str=MAX_PAYLOAD_STRING)
    except BoundsExceeded as e:
        raise BundleTooLarge(f"payload refused before unpacking: {e} (limits: {MAX_PAYLOAD_OBJECTS} objects, nesting {MAX_PAYLOAD_DEPTH}, "
                             f"strings of {MAX_PAYLOAD_STRING} bytes); the bundle was not written by a Strata compiler") from None
    return _unpack(raw, "payload", max_str=MAX_PAYLOAD_STRING, max_bin=MAX_PAYLOAD_STRING, max_array=MAX_PAYLOAD_OBJECTS, max_map=MAX_PAYLOAD_OBJECTS)


def decode_payload(payload: bytes, codec: str) -> Any:
    """The payload map from its signed bytes: inflated with bounded output, its size bounded before it
    is unpacked, a gzip payload's candidate columns restored. Verification calls it after the
    signature; ``strata inspect`` and ``diff`` call it on bundles they do not verify, so the same
    bounds hold for them."""
    body = _unpack_payload(_inflate(payload, codec))
    if codec == "gzip":
        try:
            body = from_columns(body)
        except ValueError as e:
            raise InvalidIR(f"payload candidate columns: {e}; recompile the bundle with this version of strata") from None
    return body


def unpack_envelope(data: bytes) -> Any:
    """The envelope map of an unverified bundle, unpacked within its limits (``_unpack_envelope``)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise BundleTooLarge(f"bundle is {len(data)} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")
    return _unpack_envelope(data)


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
    """The payload's bytes, decompressed with bounded output (and, for xz, decoder memory). The one
    place that decompresses."""
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
    name: str | None = None,
) -> VerifiedBundle:
    """Verify ``data`` against the trusted ``keys`` (key id -> public key).

    Rollback protection: ``name`` is the one rule set this caller serves (a bundle of another name
    is refused with ``WrongName``); ``held`` is the (name, version) of the bundle held (or the
    highest version seen), so a bundle of another name or a lower version is refused.

    Raises a ``BundleError`` and nothing else: an unexpected exception in any step (a defect, or
    ``MemoryError``) is refused as ``PrepareFailed``.
    """
    try:
        return _verify(data, keys, now, clock_skew, held, name)
    except BundleError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure is a refusal; the caller keeps its last good bundle
        raise PrepareFailed(f"verifying the bundle failed unexpectedly ({type(e).__name__}: {str(e)[:200]}); "
                            "keep the last good bundle and report this bundle to the Strata maintainers") from e


def _verify(
    data: bytes,
    keys: Mapping[str, Ed25519PublicKey],
    now: float | None,
    clock_skew: float,
    held: tuple[str, int] | None,
    name: str | None,
) -> VerifiedBundle:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedBundle(f"bundle must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_ENVELOPE_BYTES:
        raise BundleTooLarge(f"bundle is {len(data)} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")
    if not data:
        raise MalformedBundle("bundle is empty")

    env = _unpack_envelope(data)
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

    body = decode_payload(payload, codec)
    validate_payload(body)

    t = time.time() if now is None else now
    if t + clock_skew < body["not_before"]:
        raise NotYetValid(f"bundle {body['name']} v{body['version']} is not valid before {body['not_before']} (now {int(t)}, skew {clock_skew}s); check this node's clock")
    if t - clock_skew >= body["expires"]:
        raise Expired(f"bundle {body['name']} v{body['version']} expired at {body['expires']} (now {int(t)}); publish a freshly compiled bundle")
    check_rollback(body["name"], body["version"], name, held)
    return VerifiedBundle(key_id=kid, payload=body, size=len(data))


def check_rollback(bundle_name: str, version: int, name: str | None, held: tuple[str, int] | None) -> None:
    """Refuse a bundle of another rule set than the one served (``name``, or the name ``held``),
    or older than the version ``held``. Equal versions pass: the same bundle may be loaded again."""
    for expected in (name, held[0] if held is not None else None):
        if expected is not None and bundle_name != expected:
            raise WrongName(f"bundle {bundle_name!r} v{version} is not the rule set this server serves ({expected!r}); "
                            "publish that rule set here, or run a separate server (--bundle-name) for the other one")
    if held is not None and version < held[1]:
        raise RollbackRefused(f"bundle {bundle_name} v{version} is older than v{held[1]} already loaded or seen; refusing to roll back")
