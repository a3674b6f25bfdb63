from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compiler.keys import keygen, load_private_key


@pytest.fixture(scope="module")
def site_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ed25519PrivateKey, Path]:
    """A site's signing key (private key, public key file), made by ``strata keygen``'s code:
    servers under test are started with ``--pub`` pointing at the file."""
    priv, pub, _ = keygen(tmp_path_factory.mktemp("keys") / "site")
    return load_private_key(priv), pub
