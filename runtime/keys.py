"""Ed25519 public keys: loading, and the key id derived from a key.

The key id is the first 8 bytes of SHA-256 over the raw 32-byte public key, in hex. It is derived,
never chosen, so two different keys cannot claim the same id by accident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class KeyError_(ValueError):
    """A key file that cannot be used (wrong type, unreadable, not PEM)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


def load_public_key(source: str | Path | bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a PEM file path or PEM bytes."""
    if isinstance(source, bytes):
        data, where = source, "<bytes>"
    else:
        where = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise KeyError_(f"{where}: cannot read public key: {e.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyError_(f"{where}: not a PEM public key (expected the .pub file written by 'strata keygen')") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_(f"{where}: not an Ed25519 key; Strata signs bundles with Ed25519")
    return key


def trusted_keys(keys: Iterable[Ed25519PublicKey | str | Path | bytes]) -> dict[str, Ed25519PublicKey]:
    """A key-id -> key map from keys or key files; several keys at once allow rotation."""
    out: dict[str, Ed25519PublicKey] = {}
    for k in keys:
        pk = k if isinstance(k, Ed25519PublicKey) else load_public_key(k)
        out[key_id(pk)] = pk
    return out
