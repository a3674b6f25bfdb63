"""Synthetic A/B visitors with known true conversion rates, driven through real servers serving
``AB_MEASUREMENT`` (compiler/harness/fixtures.py): what the measurement test and
benchmarks/measurement_sim.py both run. Each visitor has a session id minted from its number (the
harness knows the cookie key), so assignments and outcomes are reproducible."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from pathlib import Path

import httpx

from runtime.bucketing import bucket

from ..session import CookieCodec, Session

TRUE_RATES = {"control": 0.040, "treatment": 0.050, "holdout": 0.035}
COOKIE_KEY = b"\x07" * 32
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"


def cookie_keys_env() -> str:
    """STRATA_COOKIE_KEYS for the servers: the key the visitors' cookies are sealed with."""
    return "sim:" + base64.b64encode(COOKIE_KEY).decode()


def arm_of(sid: str) -> str:
    """The arm a session id falls in (the salts and shares of AB_MEASUREMENT)."""
    if bucket("holdout:sim-holdout", sid) < 1000:
        return "holdout"
    return "control" if bucket("variant:checkout-offer-1", sid) < 5000 else "treatment"


def simulate(urls: list[str], visitors: int, seed: int = 7, srm_drop: float = 0.0, every: int = 0,
             on_batch: Callable[[], object] | None = None) -> dict[str, int]:
    """Drive ``visitors`` through the servers; returns the true counts per arm (visitors, and
    conversions under ``<arm>_converted``). ``on_batch()`` is called every ``every`` visitors
    (to take snapshots over the reporting window)."""
    codec = CookieCodec({"sim": COOKIE_KEY}, "strata_session")
    rng = random.Random(seed)
    clients = [httpx.Client(base_url=u, timeout=10) for u in urls]
    counts = {"control": 0, "treatment": 0, "holdout": 0, "control_converted": 0, "treatment_converted": 0, "holdout_converted": 0}
    try:
        for i in range(visitors):
            if every and on_batch is not None and i and i % every == 0:
                on_batch()
            sid = f"sim-visitor-{seed}-{i:07d}"
            arm = arm_of(sid)
            c = clients[i % len(clients)]
            cookie = codec.encode(Session(sid=sid))
            ua = MOBILE if rng.random() < 0.4 else DESKTOP
            if arm == "treatment" and rng.random() < srm_drop:
                continue  # the page never loaded for this visitor: no exposure, no conversion
            counts[arm] += 1
            r = c.post("/v1/decide", json={"page": {"url": "/"}}, headers={"User-Agent": ua, "Cookie": f"strata_session={cookie}"})
            r.raise_for_status()
            got = r.json()["slots"]["offer"]
            assert (got["variant"] or "holdout") == arm, (sid, got)
            cookie = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
            if rng.random() < TRUE_RATES[arm]:
                counts[arm + "_converted"] += 1
                e = c.post("/v1/events", json={"goal": "purchase", "value": 80.0}, headers={"Cookie": f"strata_session={cookie}"})
                e.raise_for_status()
    finally:
        for c in clients:
            c.close()
    return counts


def snapshots(urls: list[str], token: str, out_dir: Path) -> list[str]:
    """Save one snapshot per node (file names never collide: several rounds make a timeline)."""
    paths: list[str] = []
    for i, u in enumerate(urls):
        r = httpx.get(u + "/v1/stats", headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        p = out_dir / f"node{i}-{len(list(out_dir.glob(f'node{i}-*.json'))):03d}.json"
        p.write_text(json.dumps(r.json()))
        paths.append(str(p))
    return paths
