"""``fleet_ledger.json``: the owner of a visit nonce among a fleet ledger's replicas
(edge_server/fleet_ledger.py ``owner_of``, worker/fleet_ledger.js ``ownerOf``), the same on every
process of either language. Written by ``python tests/vectors/generate_fleet_ledger.py``; checked by
``tests/edge_server/test_fleet_ledger.py`` (Python, freshness) and ``edge_worker/test/fleet_ledger.test.js``.

Layout: ``cases``: ``[{"nonce", "urls": [replica base URL], "owner"}]`` - nonces of 16 base64url
characters (a session's) and a few of other lengths and characters (a browser's ``visit`` is checked
before it is claimed, but the hash is defined for any text); lists of 1 to 7 replicas, in random
order, with ports, paths, and non-ASCII hosts (the hash reads UTF-8).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from edge_server.fleet_ledger import owner_of

OUT = Path(__file__).parent / "fleet_ledger.json"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_HOSTS = ["127.0.0.1", "10.0.0.7", "strata-0.strata.svc", "strata-1.strata.svc", "ledger.example.com", "bücher.example", "例え.テスト", "[::1]"]


def cases(seed: int = 22) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out: list[dict[str, object]] = []
    for i in range(400):
        n = rng.randint(1, 7)
        urls: list[str] = []
        while len(urls) < n:
            u = f"{rng.choice(['http', 'https'])}://{rng.choice(_HOSTS)}" + (f":{rng.randint(1, 65535)}" if rng.random() < 0.7 else "")
            if rng.random() < 0.2:
                u += rng.choice(["/strata", "/edge/ledger", "/ü"])
            if u not in urls:
                urls.append(u)
        if i % 40 == 0:
            nonce = "".join(rng.choice(_B64 + "é€😀 ") for _ in range(rng.randint(0, 30)))
        else:
            nonce = "".join(rng.choice(_B64) for _ in range(16))
        out.append({"nonce": nonce, "urls": urls, "owner": owner_of(nonce, urls)})
    return out


def text() -> str:
    """The file: one case a line."""
    about = json.dumps("the owner of a visit nonce among a fleet ledger's replicas (tests/vectors/generate_fleet_ledger.py)")
    lines = ",\n  ".join(json.dumps(c, ensure_ascii=False) for c in cases())
    return f'{{"about": {about},\n "cases": [\n  {lines}\n ]\n}}\n'


if __name__ == "__main__":
    OUT.write_text(text(), encoding="utf-8")
