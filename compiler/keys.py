"""Signing keys: generation and loading of Ed25519 private keys.

``strata keygen`` writes ``NAME.key`` (PKCS#8 PEM, created with mode 0600 and never overwritten
silently) and ``NAME.pub`` (SubjectPublicKeyInfo PEM) beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.keys import key_id


class KeyFileError(Exception):
    pass


def keygen(prefix: str | Path, *, force: bool = False) -> tuple[Path, Path, str]:
    prefix = Path(prefix)
    priv_path = prefix.with_name(prefix.name + ".key") if prefix.suffix not in (".key",) else prefix
    pub_path = priv_path.with_suffix(".pub")
    for p in (priv_path, pub_path):
        if p.exists() and not force:
            raise KeyFileError(f"{p} already exists; refusing to overwrite a key (use --force to replace it)")
    priv_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if force and priv_path.exists():
        priv_path.unlink()
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(priv_path, 0o600)  # in case the umask was stricter than needed, or looser
    pub = key.public_key()
    pub_path.write_bytes(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv_path, pub_path, key_id(pub)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read signing key: {e.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not an unencrypted PEM private key (create one with 'strata keygen')") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key; Strata signs bundles with Ed25519")
    return key


def throwaway_key() -> Ed25519PrivateKey:
    """A key that lives only in memory (development mode of ``strata serve``)."""
    return Ed25519PrivateKey.generate()
