"""How far can one visitor steer the model counters by replaying cookies across a fleet? (issue #22,
point 3; docs/deployment.md, "Fleet counting").

Starts ``--servers`` `strata serve` processes and one edge worker in real workerd (the counting rule
set of the tests, one cookie key), then for each fleet size P (the first P of them, the worker last)
starts one desktop visit and sends ``--replays`` requests, each with a cookie drawn from every cookie
the visit was given so far, as mobile (the attacker's aim: move the visit from desktop to mobile),
to a process drawn at random. Prints, per fleet, the fleet's net visits of the intent model's
device levels and of the visit row: one honest visit is desktop 0 / mobile 1 / visits 1 at most;
the bound is one honest visit per process reached (desktop >= -(P - 1), mobile <= P).
Before the visit ledger, 50 replays to one process gave desktop -49, mobile +50.

    python benchmarks/replay_bench.py [--replays 2000] [--servers 3]
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.harness.fixtures import MODEL_COUNTING  # noqa: E402
from compiler.pipeline import Options, run  # noqa: E402
from edge_server.harness.origin import StaticOrigin  # noqa: E402
from edge_server.harness.server import RunningServer  # noqa: E402
from edge_server.harness.workerd import RunningWorkerd  # noqa: E402

KEYS = "b1:" + base64.b64encode(b"\x0c" * 32).decode()
TOKEN = "bench-token"
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def device_net(urls: list[str]) -> Counter[str]:
    """The fleet's net visits (entered - left) of the intent model's device levels and visit row."""
    out: Counter[str] = Counter()
    for url in urls:
        for r in httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()["models"]:
            if r["model"] == "intent" and r["arm"] == "" and r["feature"] in ("device", "*"):
                out[r["level"] if r["feature"] == "device" else "visits"] += r["entered"] - r["left"]
    return out


def decide(url: str, cookie: str | None, ua: str) -> str | None:
    r = httpx.post(url + "/v1/decide", json={"page": {"url": "/"}}, timeout=10,
                   headers={"User-Agent": ua} | ({"Cookie": f"strata_session={cookie}"} if cookie else {}))
    r.raise_for_status()
    return r.cookies.get("strata_session")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replays", type=int, default=2000)
    ap.add_argument("--servers", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        key = Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        (d / "site.pub").write_text(pub)
        ctx = run("counting.yaml", Options(key=key, created=int(time.time()) - 60, version=1, codec="gzip"), text=MODEL_COUNTING)
        assert ctx.bundle is not None
        (d / "counting.bundle").write_bytes(ctx.bundle)
        origin = StaticOrigin(d)
        procs: list[RunningServer | RunningWorkerd] = []
        try:
            for _ in range(args.servers):
                procs.append(RunningServer(["--bundle", str(d / "counting.bundle"), "--pub", str(d / "site.pub"), "--insecure-cookie",
                                            "--stats-token", TOKEN], env={"STRATA_COOKIE_KEYS": KEYS}))
            procs.append(RunningWorkerd(d / "workerd", {"STRATA_BUNDLE": origin.url + "/counting.bundle", "STRATA_PUB": pub,
                                                        "STRATA_COOKIE_KEYS": KEYS, "STRATA_COOKIE_SECURE": "0", "STRATA_STATS_TOKEN": TOKEN}))
            urls = [p.url for p in procs]
            fleets = [urls[:1], [urls[0], urls[-1]], urls]
            print(f"{args.replays} replays of one desktop visit's cookies as mobile, each to a random process of the fleet")
            print(f"{'fleet':<34} {'desktop':>8} {'mobile':>8} {'visits':>8} {'bound':>16} {'seconds':>8}")
            rng = random.Random(22)
            for fleet in fleets:
                before = device_net(fleet)
                t = time.perf_counter()
                cookies = [decide(fleet[0], None, DESKTOP)]
                for _ in range(args.replays):
                    new = decide(rng.choice(fleet), rng.choice(cookies), MOBILE)
                    if new:
                        cookies.append(new)
                took = time.perf_counter() - t
                after = device_net(fleet)
                got = {k: after[k] - before[k] for k in ("desktop", "mobile", "visits")}
                n = len(fleet)
                name = f"{sum(u != urls[-1] for u in fleet)} strata serve" + (" + 1 workerd" if urls[-1] in fleet else "")
                print(f"{name:<34} {got['desktop']:>8} {got['mobile']:>8} {got['visits']:>8} {f'>= {-(n - 1)}, <= {n}, <= {n}':>16} {took:>8.1f}")
        finally:
            for p in procs:
                p.stop()
            origin.stop()


if __name__ == "__main__":
    main()
