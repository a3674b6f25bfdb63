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
reached; with it, one for the fleet (docs/deployment.md, "Replays across a fleet"). And the
exposures of one pre-exposure cookie (a visit shown only the `hero` slot) sent ``--replays`` times to
random processes, each deciding every slot: without the ledger, the `offer` slot's exposure and the
experiment's cohort count once per process reached; with it, once for the fleet.

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
from edge_server.session import CookieCodec  # noqa: E402
from runtime import Runtime  # noqa: E402
from runtime.decide import Prepared  # noqa: E402

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


def decide_shown(url: str, cookie: str | None, ua: str, slots: list[str] | None = None) -> tuple[str | None, int]:
    """A decide: (the cookie set, how many exposure keys and experiment exposures the response showed)."""
    r = httpx.post(url + "/v1/decide", json={"page": {"url": "/"}} | ({"slots": slots} if slots else {}), timeout=10,
                   headers={"User-Agent": ua} | ({"Cookie": f"strata_session={cookie}"} if cookie else {}))
    r.raise_for_status()
    shown = r.json()["slots"].values()
    return r.cookies.get("strata_session"), len(shown) + sum(1 for d in shown if d.get("variant"))


def offer_exposures(urls: list[str]) -> tuple[int, int]:
    """The fleet's exposures of the `offer` slot and the cohorts' "exposed" rows."""
    exposed = cohorts = 0
    for url in urls:
        snap = httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        exposed += sum(r["count"] for r in snap["exposures"] if r["slot"] == "offer")
        cohorts += sum(r["count"] for r in snap["cohorts"] if r["event"] == "exposed")
    return exposed, cohorts


def exposure_replays(urls: list[str], replays: int, rng: random.Random, ledger: bool, prepared: Prepared) -> tuple[int, int, int]:
    """(offer exposures, cohort exposures, processes reached) for one pre-exposure cookie (shown the hero
    slot only; a visit outside the holdout, so the experiment runs) sent ``replays`` times to random
    processes, each deciding every slot."""
    before, claims = offer_exposures(urls), answered(urls)
    codec = CookieCodec({KEYS.split(":")[0]: base64.b64decode(KEYS.split(":")[1])}, "strata_session")
    while True:
        pre, n = decide_shown(urls[0], None, DESKTOP, ["hero"])
        assert pre is not None
        claims += n
        s = codec.decode(pre)
        if s is not None and not prepared.in_holdout(s.sid):
            break
    reached: set[str] = set()
    for _ in range(replays):
        url = rng.choice(urls)
        _, shown = decide_shown(url, pre, DESKTOP)
        if url not in reached:  # a process claims what its first response showed beyond the cookie's hero key
            reached.add(url)
            claims += shown - 1
    if ledger:
        wait_for(lambda: answered(urls) >= claims, timeout=60)
    after = offer_exposures(urls)
    return after[0] - before[0], after[1] - before[1], len(reached)


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
    pre, shown = decide_shown(urls[0], None, DESKTOP)
    assert pre is not None
    claims += shown if ledger else 0  # its exposures are claimed too
    reached = set()
    for _ in range(replays):
        url = rng.choice(urls)
        reached.add(url)
        event(url, pre)
    if ledger:
        wait_for(lambda: answered(urls) >= claims + len(reached), timeout=60)
    return purchases(urls) - before, len(reached)


def exposure_table(replays: int, lurls: list[str], plain: dict[int, tuple[int, int, int]], ledger: dict[int, tuple[int, int, int]]) -> None:
    print()
    print(f"{replays} decides of one pre-exposure cookie (shown the hero slot only), each to a random process of the fleet: "
          "offer exposures / cohort exposures counted")
    print(f"{'fleet':<34} {'without ledger':>15} {'with ledger':>12} {'processes':>10}")
    for fleet in fleets_of(lurls):
        (pe, pc, _), (le, lc, reached) = plain[len(fleet)], ledger[len(fleet)]
        name = fleet_name(fleet, lurls[-1]).replace("strata serve", "strata serve (ledger)")
        print(f"{name:<34} {f'{pe} / {pc}':>15} {f'{le} / {lc}':>12} {reached:>10}")


def fleets_of(urls: list[str]) -> list[list[str]]:
    return [urls[:1], [urls[0], urls[-1]], urls]


def fleet_name(fleet: list[str], worker: str) -> str:
    return f"{sum(u != worker for u in fleet)} strata serve" + (" + 1 workerd" if worker in fleet else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replays", type=int, default=2000)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--exposures-only", action="store_true", help="only the last table (pre-exposure cookies)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        key = Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        (d / "site.pub").write_text(pub)
        ctx = run("counting.yaml", Options(key=key, created=int(time.time()) - 60, version=1, codec="gzip"), text=MODEL_COUNTING)
        assert ctx.bundle is not None
        (d / "counting.bundle").write_bytes(ctx.bundle)
        prepared = Runtime([key.public_key()]).load(ctx.bundle)
        origin = StaticOrigin(d)
        procs: list[RunningServer | RunningWorkerd] = []
        try:
            procs = start(d, pub, origin, args.servers, False)
            urls = [p.url for p in procs]
            rng = random.Random(22)
            if args.exposures_only:
                plain_exposures = {len(f): exposure_replays(f, args.replays, rng, False, prepared) for f in fleets_of(urls)}
                for p in procs:
                    p.stop()
                procs = start(d, pub, origin, args.servers, True)
                lurls = [p.url for p in procs]
                exposure_table(args.replays, lurls, plain_exposures, {len(f): exposure_replays(f, args.replays, rng, True, prepared) for f in fleets_of(lurls)})
                return
            print(f"{args.replays} replays of one desktop visit's cookies as mobile, each to a random process of the fleet")
            print(f"{'fleet':<34} {'desktop':>8} {'mobile':>8} {'visits':>8} {'bound':>16} {'seconds':>8}")
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
            plain, plain_exposures = {}, {}
            for fleet in fleets_of(urls):
                plain[len(fleet)] = conversion_replays(fleet, args.replays, rng, False)
                plain_exposures[len(fleet)] = exposure_replays(fleet, args.replays, rng, False, prepared)
            for p in procs:
                p.stop()
            procs = start(d, pub, origin, args.servers, True)
            lurls = [p.url for p in procs]
            with_exposures = {}
            for fleet in fleets_of(lurls):
                got, reached = conversion_replays(fleet, args.replays, rng, True)
                with_exposures[len(fleet)] = exposure_replays(fleet, args.replays, rng, True, prepared)
                name = fleet_name(fleet, lurls[-1]).replace("strata serve", "strata serve (ledger)")
                print(f"{name:<34} {plain[len(fleet)][0]:>15} {got:>12} {reached:>10}")
            exposure_table(args.replays, lurls, plain_exposures, with_exposures)
        finally:
            for p in procs:
                p.stop()
            origin.stop()


if __name__ == "__main__":
    main()
