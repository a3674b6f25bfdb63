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

Then the conversions of one pre-conversion cookie sent ``--replays`` times to random processes of
each fleet, without and with the fleet ledger (every `strata serve` of the fleet a ledger replica,
``--fleet-ledger``; the worker with STRATA_FLEET_LEDGER): without, one conversion per process
reached; with it, one for the fleet (docs/deployment.md, "Replays across a fleet").

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
from edge_server.harness.ports import free_port, wait_for  # noqa: E402
from edge_server.harness.server import RunningServer  # noqa: E402
from edge_server.harness.workerd import RunningWorkerd  # noqa: E402

KEYS = "b1:" + base64.b64encode(b"\x0c" * 32).decode()
TOKEN = "bench-token"
SECRET = "bench-fleet-ledger-secret-0123"
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


def event(url: str, cookie: str) -> None:
    r = httpx.post(url + "/v1/events", json={"goal": "purchase", "value": 10}, timeout=10, headers={"Cookie": f"strata_session={cookie}"})
    r.raise_for_status()


def purchases(urls: list[str]) -> int:
    """The fleet's purchase conversions on the overall row."""
    n = 0
    for url in urls:
        for r in httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()["conversions"]:
            n += r["count"] if r["goal"] == "purchase" and r["slot"] == "*" and r["population"] != "unattributed" else 0
    return n


def answered(urls: list[str]) -> int:
    """Claims the fleet's processes had answered or counted locally."""
    n = 0
    for url in urls:
        for line in httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text.splitlines():
            if line.startswith(("strata_fleet_ledger_claims_total{", "strata_fleet_ledger_fallbacks_total{")):
                n += int(float(line.split()[-1]))
    return n


def start(d: Path, pub: str, origin: StaticOrigin, servers: int, ledger: bool) -> list[RunningServer | RunningWorkerd]:
    """``servers`` strata serve and one workerd (last); ``ledger``: every server a fleet ledger replica."""
    ports = [free_port() for _ in range(servers)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    extra = ["--fleet-ledger", *urls] if ledger else []
    env = {"STRATA_COOKIE_KEYS": KEYS} | ({"STRATA_COUNTERS_SECRET": SECRET} if ledger else {})
    procs: list[RunningServer | RunningWorkerd] = []
    try:
        for port in ports:
            procs.append(RunningServer(["--bundle", str(d / "counting.bundle"), "--pub", str(d / "site.pub"), "--insecure-cookie",
                                        "--stats-token", TOKEN, *extra], env=env, port=port))
        procs.append(RunningWorkerd(d / ("workerd-ledger" if ledger else "workerd"), {
            "STRATA_BUNDLE": origin.url + "/counting.bundle", "STRATA_PUB": pub, "STRATA_COOKIE_KEYS": KEYS, "STRATA_COOKIE_SECURE": "0",
            "STRATA_STATS_TOKEN": TOKEN} | ({"STRATA_FLEET_LEDGER": " ".join(urls), "STRATA_COUNTERS_SECRET": SECRET} if ledger else {})))
    except BaseException:
        for p in procs:
            p.stop()
        raise
    return procs


def conversion_replays(urls: list[str], replays: int, rng: random.Random, ledger: bool) -> tuple[int, int]:
    """(purchases counted, processes reached) for one pre-conversion cookie sent ``replays`` times to random processes."""
    before, claims = purchases(urls), answered(urls)
    pre = decide(urls[0], None, DESKTOP)
    assert pre is not None
    reached = set()
    for _ in range(replays):
        url = rng.choice(urls)
        reached.add(url)
        event(url, pre)
    if ledger:
        wait_for(lambda: answered(urls) >= claims + len(reached), timeout=60)
    return purchases(urls) - before, len(reached)


def fleets_of(urls: list[str]) -> list[list[str]]:
    return [urls[:1], [urls[0], urls[-1]], urls]


def fleet_name(fleet: list[str], worker: str) -> str:
    return f"{sum(u != worker for u in fleet)} strata serve" + (" + 1 workerd" if worker in fleet else "")


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
            procs = start(d, pub, origin, args.servers, False)
            urls = [p.url for p in procs]
            print(f"{args.replays} replays of one desktop visit's cookies as mobile, each to a random process of the fleet")
            print(f"{'fleet':<34} {'desktop':>8} {'mobile':>8} {'visits':>8} {'bound':>16} {'seconds':>8}")
            rng = random.Random(22)
            for fleet in fleets_of(urls):
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
                name = fleet_name(fleet, urls[-1])
                print(f"{name:<34} {got['desktop']:>8} {got['mobile']:>8} {got['visits']:>8} {f'>= {-(n - 1)}, <= {n}, <= {n}':>16} {took:>8.1f}")
            print()
            print(f"{args.replays} conversions of one pre-conversion cookie, each to a random process of the fleet: purchases counted")
            print(f"{'fleet':<34} {'without ledger':>15} {'with ledger':>12} {'processes':>10}")
            plain = {}
            for fleet in fleets_of(urls):
                plain[len(fleet)] = conversion_replays(fleet, args.replays, rng, False)
            for p in procs:
                p.stop()
            procs = start(d, pub, origin, args.servers, True)
            lurls = [p.url for p in procs]
            for fleet in fleets_of(lurls):
                got, reached = conversion_replays(fleet, args.replays, rng, True)
                name = fleet_name(fleet, lurls[-1]).replace("strata serve", "strata serve (ledger)")
                print(f"{name:<34} {plain[len(fleet)][0]:>15} {got:>12} {reached:>10}")
        finally:
            for p in procs:
                p.stop()
            origin.stop()


if __name__ == "__main__":
    main()
