"""Strata's own CPU per /v1/decide request in the Python server, in process (no network, no HTTP
parser): the app as benchmarks/http/bench_app.py builds it (the production app plus the control
route, /bench/shape: a decide request's I/O and none of Strata's work) called through ASGI in
alternating batches of /v1/decide and the control with post.lua's visitor mix (first visits,
returning visitors with real session cookies, 20% with Sec-GPC, four bodies including a cart).

    python benchmarks/request_cpu.py [--seconds 2] [--rounds 5] [--fastest N] [--distinct-bodies] [--profile N]

CPU is time.process_time() over a batch divided by its requests; own CPU = the median over the
rounds of (decide − control). --fastest N then runs N batches of 0.25 s per route and prints the
fastest of each: on a loaded machine the minimum moves least, so it is the figure to compare two
checkouts with (copy this script into the other checkout's benchmarks/ and alternate). /v1/decide is dispatched without Starlette's middleware stack and router
(edge_server/hot_routes.py); the control runs twice per round: through Starlette's router
(/bench/shape, the figure of earlier sessions) and dispatched as /v1/decide is (/bench/shape-hot), so
both differences are printed (docs/server.md, "Where a request's CPU goes"). --profile N also runs cProfile over N decide requests and prints the
functions with the most own time per request: where Strata's own CPU goes (docs/server.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "http"))

BODIES = [
    b'{"page":{"url":"/"},"slots":["hero","banner","offer","recs"]}',
    b'{"page":{"url":"/?utm_source=newsletter&utm_medium=email"},"slots":["hero","banner","offer","recs"]}',
    b'{"page":{"url":"/tents.html","category":"tents"},"slots":["hero","banner","offer","recs"]}',
    b'{"page":{"url":"/cart.html"},"slots":["hero","banner","offer","recs"],"signals":{"cart.items":[{"sku":"TB-1","category":"tents",'
    b'"price":249.0,"quantity":1}],"cart.value":249.0}}',
]
UAS = [b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
       b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"]


#: The stages of a decide request --profile sums (docs/server.md, "Where a request's CPU goes").
STAGES = [(("observe.py", "__call__"), "the whole request in the app (the observability middleware and everything below)"),
          (("hot_routes.py", "call"), "the hot-route dispatch and the endpoint"),
          (("body.py", "read_body"), "reading the body"),
          (("decide.py", "_checked"), "the body parsed and checked, or its result remembered (DecideEndpoint._checked)"),
          (("server.py", "headers_of"), "the headers as a dict (the control's too)"),
          (("decide.py", "decide_fields"), "  the body's fields checked (a body not remembered)"),
          (("signals.py", "client_signals"), "  the client signals checked (a body not remembered)"),
          (("server.py", "decide"), "Server.decide: consent, signals, session, decision, counting"),
          (("signals.py", "derived"), "  the request's derived signals (cached per shape)"),
          (("server.py", "visit"), "  the session: the cookie opened (AES-GCM, msgpack, checks) or a new one, touched"),
          (("session.py", "decode"), "    CookieCodec.decode"),
          (("decide.py", "decide"), "  Prepared.decide: holdout, conditions, bucketing, four slots"),
          (("server.py", "_count"), "  counting: metrics, exposures, the visit ledger"),
          (("model_counts.py", "decided"), "  model counting"),
          (("server.py", "set_cookie"), "the cookie sealed (msgpack, AES-GCM, base64url)"),
          (("server.py", "slots_json"), "the response's slots JSON (cached per combination)")]


def app_of() -> object:
    """bench_app's app, on a fresh key and the trailblazer bundle."""
    from compiler.keys import keygen, load_private_key
    from compiler.pipeline import Options, run

    tmp = Path(tempfile.mkdtemp(prefix="strata-request-cpu-"))
    priv, pub, _ = keygen(tmp / "k")
    bundle = tmp / "trailblazer.bundle"
    bundle.write_bytes(run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=load_private_key(priv))).bundle)
    os.environ.update(BENCH_BUNDLE=str(bundle), BENCH_PUB=str(pub), BENCH_COOKIE_KEY=base64.b64encode(os.urandom(32)).decode(),
                      BENCH_LOG_LEVEL="warning")
    import bench_app

    return bench_app.app


class Client:
    """ASGI calls of one app: lifespan started, one request at a time."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def start(self) -> None:
        q: asyncio.Queue = asyncio.Queue()
        await q.put({"type": "lifespan.startup"})
        self.started = asyncio.Event()

        async def send(m: dict) -> None:
            if m["type"] == "lifespan.startup.complete":
                self.started.set()

        self.lifespan = asyncio.ensure_future(self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, q.get, send))  # type: ignore[operator]
        await self.started.wait()

    async def post(self, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, list, bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
                 "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
                 "headers": [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode()), *headers]}
        sent = False
        out: dict = {}

        async def receive() -> dict:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(m: dict) -> None:
            if m["type"] == "http.response.start":
                out["status"], out["headers"] = m["status"], m["headers"]
            else:
                out["body"] = out.get("body", b"") + m.get("body", b"")

        await self.app(scope, receive, send)  # type: ignore[operator]
        return out["status"], out["headers"], out["body"]


#: --distinct-bodies: the n-th body padded with this many spaces after its "{" (n // 4 cycling over
#: more variants than the decide endpoint remembers): the same fields, bytes that never repeat in
#: the endpoint's window of accepted bodies, as on a site whose pages never send the same body twice.
DISTINCT = 1100


def request_of(n: int, cookies: list[bytes], distinct: bool = False) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """post.lua's n-th request: body and headers."""
    headers = [(b"content-type", b"application/json"), (b"user-agent", UAS[n % 2]), (b"cf-ipcountry", b"US")]
    if n % 5 == 0:
        headers.append((b"sec-gpc", b"1"))
    elif n % 2 == 0:
        headers.append((b"cookie", cookies[(n // 2) % len(cookies)]))
    body = BODIES[n % 4]
    if distinct:
        body = b"{" + b" " * ((n // 4) % DISTINCT) + body[1:]
    return body, headers


async def batch(c: Client, path: str, cookies: list[bytes], seconds: float, distinct: bool = False) -> float:
    """CPU µs per request of ``path`` over about ``seconds``."""
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            body, headers = request_of(n, cookies, distinct)
            status, _, out = await c.post(path, body, headers)
            assert status == 200, out[:300]
            n += 1
    return (time.process_time() - c0) / n * 1e6


async def main_async(a: argparse.Namespace) -> None:
    c = Client(app_of())
    await c.start()
    cookies = []
    for i in range(16):
        _, headers, _ = await c.post("/v1/decide", BODIES[2 if i % 2 else 0], [(b"content-type", b"application/json")])
        cookies.append(dict(headers)[b"set-cookie"].split(b";")[0])
    paths = ["/bench/shape", "/bench/shape-hot", "/v1/decide"]
    for p in paths:  # warm-up
        await batch(c, p, cookies, 1.0, a.distinct_bodies)
    rounds = []
    for i in range(a.rounds):  # each round runs the three in another order, so a trend in the load falls on all alike
        order = paths[i % 3:] + paths[:i % 3]
        rounds.append({p: await batch(c, p, cookies, a.seconds, a.distinct_bodies) for p in (order if i % 2 == 0 else order[::-1])})
    own = [r["/v1/decide"] - r["/bench/shape"] for r in rounds]
    own_hot = [r["/v1/decide"] - r["/bench/shape-hot"] for r in rounds]
    med = {p: statistics.median(r[p] for r in rounds) for p in paths}
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; in process, {a.rounds} rounds of {a.seconds} s per route" + ("; every decide body distinct" if a.distinct_bodies else ""))
    print(f"/v1/decide {med['/v1/decide']:.1f} µs, control {med['/bench/shape']:.1f} µs (Starlette's router), "
          f"{med['/bench/shape-hot']:.1f} µs (dispatched as /v1/decide is)")
    print(f"own {statistics.median(own):.1f} µs ({', '.join(f'{x:.1f}' for x in own)}) over the routed control; "
          f"{statistics.median(own_hot):.1f} µs ({', '.join(f'{x:.1f}' for x in own_hot)}) over the control dispatched alike")
    if a.fastest:
        fastest = {p: min(r[p] for r in rounds) for p in paths}
        for i in range(a.fastest):
            for p in paths[i % 3:] + paths[:i % 3]:
                fastest[p] = min(fastest[p], await batch(c, p, cookies, 0.25, a.distinct_bodies))
        print(f"fastest batch of {a.fastest} per route (0.25 s each; the figure the machine's load disturbs least): /v1/decide "
              f"{fastest['/v1/decide']:.1f} µs, control {fastest['/bench/shape']:.1f} / {fastest['/bench/shape-hot']:.1f} µs; "
              f"own {fastest['/v1/decide'] - fastest['/bench/shape']:.1f} µs over the routed control, "
              f"{fastest['/v1/decide'] - fastest['/bench/shape-hot']:.1f} µs over the control dispatched alike")
    if a.profile:
        prof = cProfile.Profile()
        prof.enable()
        for n in range(a.profile):
            body, headers = request_of(n, cookies, a.distinct_bodies)
            await c.post("/v1/decide", body, headers)
        prof.disable()
        st = pstats.Stats(prof)
        stats = st.stats  # type: ignore[attr-defined]
        calls = sum(v[1] for v in stats.values()) / a.profile
        print(f"\ncProfile over {a.profile} decide requests ({calls:.0f} Python calls each): the stages, cumulative time per "
              "request (cProfile's overhead included: compare them with each other, not with the figures above)")
        cum: dict[tuple[str, str], float] = {}
        for (file, _, fn), v in stats.items():  # two functions of one name in a file (RouteLabels.__call__): the larger
            cum[(Path(file).name, fn)] = max(cum.get((Path(file).name, fn), 0.0), v[3])
        for (file, fn), what in STAGES:
            print(f"{cum.get((file, fn), 0.0) / a.profile * 1e6:7.2f} µs  {file} {fn}: {what}")
        rows = sorted(((v[2], k) for k, v in stats.items()), reverse=True)[:40]
        print("\nown time per request, the top 40 functions")
        for tt, (file, line, fn) in rows:
            print(f"{tt / a.profile * 1e6:7.2f} µs  {Path(file).name}:{line} {fn}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", type=int, default=0, help="cProfile this many decide requests")
    ap.add_argument("--distinct-bodies", action="store_true",
                    help="no decide body repeats (each padded with its own run of spaces): decide's remembered bodies never hit")
    ap.add_argument("--fastest", type=int, default=0, help="then this many short batches per route: the fastest of each, and own CPU between them")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
