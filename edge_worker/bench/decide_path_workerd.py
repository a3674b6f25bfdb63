"""Strata's own CPU per decide request inside real workerd, without wrk, two checkouts side by side.

    python edge_worker/bench/decide_path_workerd.py [--root /other/checkout] [--rounds 12] [--n 2000] [--profile MODE]

One workerd process, an isolate per checkout and one for the control (edge_worker/bench/control.js,
this checkout's, alone in its isolate so that no other loop's garbage is collected in its time).
Each measured request to an isolate runs a loop of `--n` of decide.lua's requests (four pages, half
with a session cookie, 10% Sec-GPC), one of:
  - request: a whole POST /v1/decide through the worker's fetch handler (a Request with its body and
    Content-Length, the Response's body read);
  - control: the same Requests through the control's handler;
  - path: decide_path.js's steps alone (StrataWorker.decide, setCookie, decideBody on reused Requests);
and the process's time on a CPU over the loop (its threads' /proc schedstat, in ns), per request, is
one sample. Own CPU = request − control, round by round. The runs alternate round by round (their
order reversed every other round) in the same process and minutes, so load from elsewhere falls on
all; with --root the table ends with the medians of the rounds' differences between the checkouts.
No HTTP, no wrk and no scheduling between requests in the measured span: it moves far less with
the machine's load than workerd_bench.py's split, which has the real connections. --profile MODE
records a V8 CPU profile of one such loop instead (this checkout; the control's isolate for control).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from edge_server.harness.ports import free_port  # noqa: E402
from edge_server.harness.workerd import ESBUILD, WORKERD  # noqa: E402

COOKIE_KEYS = "k1:" + "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="  # 32 bytes of 5, as decide_path.js

#: The harness each checkout's isolate runs (its modules bundled in by esbuild from that checkout).
ENTRY = """
import * as runtime from "@@ROOT@@/edge_worker/runtime/index.js";
import { StrataWorker } from "@@ROOT@@/edge_worker/worker/server.js";
import { decideBody } from "@@ROOT@@/edge_worker/worker/decide.js";
import { parseCookies } from "@@ROOT@@/edge_worker/worker/session.js";
import control from "@@ROOT@@/edge_worker/bench/control.js";
import { mixHeaders, mixUrl } from "@@BENCH@@/decide_mix.js"; // this checkout's mix, whichever checkout is measured
import bundle from "bundle.data";
import pub from "vectors.pub";

const BUNDLE_URL = "https://bundles.example/trailblazer.strata";
let state = null;

async function setup() {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init) => (String(url) === BUNDLE_URL ? new Response(bundle, { headers: { etag: '"v100"' } }) : realFetch(url, init));
  const log = console.log;
  console.log = () => {};
  const worker = new StrataWorker(runtime, { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: pub, STRATA_COOKIE_KEYS: "@@KEYS@@", STRATA_COOKIE_SECURE: "0" });
  console.log = log;
  const ctx = { waitUntil() {} };
  const first = await worker.fetch(new Request("http://shop.example/v1/decide", { method: "POST", body: '{"page": {"url": "/tents.html"}}' }), ctx);
  const cookie = first.headers.get("set-cookie").split(";")[0];
  const prepared = await worker.prepared(ctx);
  const requests = [];
  const inits = [];
  for (let n = 0; n < 20; n++) {
    requests.push([new Request("http://shop.example/v1/decide", { method: "POST", headers: mixHeaders(n, cookie) }), mixUrl(n)]);
    const body = `{"page": {"url": "${mixUrl(n)}"}}`;
    // with Content-Length, as a client sends it (the worker reads an announced body in one go)
    inits.push({ method: "POST", headers: { ...mixHeaders(n, cookie), "content-length": String(body.length) }, body });
  }
  return { worker, prepared, requests, inits, ctx };
}

const CONTROL_ENV = { STRATA_COOKIE_KEYS: "@@KEYS@@", CONTROL_BODY_BYTES: "1000", CONTROL_VARY: "@@VARY@@" };

/** A whole POST /v1/decide through `handler` (the worker's fetch, or the control's): a Request with
 * its body, the Response's body read. */
async function whole(handler, { inits, ctx }, n) {
  const r = await handler(new Request("http://shop.example/v1/decide", inits[n % inits.length]), ctx);
  if (r.status !== 200) throw new Error(`${r.status}: ${await r.text()}`);
  return (await r.text()).length;
}

async function one({ worker, prepared, requests }, n) {
  const [request, url] = requests[n % requests.length];
  const cookies = parseCookies(request.headers.get("cookie"));
  let d = worker.decide(request, cookies, prepared, url, null, "", null, {}, true, false);
  if (d instanceof Promise) d = await d;
  let c = worker.setCookie(cookies, d.session, d.consent);
  if (c instanceof Promise) c = await c;
  return decideBody(worker, prepared, d.outcome, d.consent, false).length + (c ? c.length : 0);
}

let next = 0;
export default {
  async fetch(request) {
    state ??= await setup();
    const q = new URL(request.url).searchParams;
    const n = Number(q.get("n"));
    const mode = q.get("mode");
    let size = 0;
    if (mode === "path") for (let i = 0; i < n; i++) size += await one(state, next++);
    else if (mode === "request") for (let i = 0; i < n; i++) size += await whole((r, ctx) => state.worker.fetch(r, ctx), state, next++);
    else if (mode === "control") for (let i = 0; i < n; i++) size += await whole((r) => control.fetch(r, CONTROL_ENV), state, next++);
    else return new Response(`mode: path, request or control, not ${mode}`, { status: 400 });
    return new Response(String(size));
  },
};
"""


def cpu_ns(pid: int) -> int:
    """The process's time on a CPU so far, in ns: the sum over its threads' /proc schedstat (its
    first field), finer than /proc/PID/stat's 10 ms ticks."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended
    return total


def profile(c: httpx.Client, inspector: int, target: str, port: int, mode: str, n: int, tmp: Path) -> None:
    """A V8 CPU profile (sampling every 50 µs) of isolate `target` over `n` of `mode`: self time per
    function, µs per request, the top 40."""
    from workerd_profile import Inspector, breakdown, modules_of

    targets = {t["id"]: t["webSocketDebuggerUrl"] for t in httpx.get(f"http://127.0.0.1:{inspector}/json/list").json()}
    ins = Inspector(targets[target])
    ins.call("Profiler.enable")
    ins.call("Profiler.setSamplingInterval", interval=50)
    ins.call("Profiler.start")
    c.get(f"http://127.0.0.1:{port}/?n={n}&mode={mode}")
    prof = ins.call("Profiler.stop")["profile"]
    ins.ws.close()
    (tmp / f"{mode}.cpuprofile").write_text(json.dumps(prof))
    print(f"{tmp / f'{mode}.cpuprofile'}; by module, then by function (self time, µs per request):")
    for g, us in breakdown(prof, modules_of((tmp / target / "worker.js").read_text()), n)[:25]:
        print(f"{us:7.2f}  {g}")
    by_fn = collections.Counter()
    names = {nd["id"]: f"{nd['callFrame']['functionName'] or '(anonymous)'}:{nd['callFrame']['lineNumber']}" for nd in prof["nodes"]}
    for sample, dt in zip(prof["samples"], prof["timeDeltas"][1:] + [0]):
        by_fn[names[sample]] += dt
    print()
    for g, us in by_fn.most_common(40):
        print(f"{us / n:7.2f}  {g}")


def build(root: Path, out: Path, minify: bool = True) -> None:
    vary = json.loads((ROOT / "edge_server" / "edge_contract.json").read_text())["http"]["VARY"]["value"]
    (out.parent / "entry.js").write_text(ENTRY.replace("@@ROOT@@", str(root)).replace("@@BENCH@@", str(Path(__file__).parent)).replace("@@KEYS@@", COOKIE_KEYS).replace("@@VARY@@", vary))
    r = subprocess.run([str(ESBUILD), str(out.parent / "entry.js"), "--bundle", "--format=esm", "--platform=neutral",
                        "--main-fields=module,main", "--conditions=worker,browser", *(["--minify"] if minify else []), "--external:bundle.data",
                        "--external:vectors.pub", f"--outfile={out}"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"esbuild failed for {root}:\n{r.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="another checkout (with edge_worker/node_modules) to alternate with")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--n", type=int, default=2000, help="decide paths per measured request")
    ap.add_argument("--profile", choices=["path", "request", "control"], help="instead: a V8 CPU profile of this checkout's "
                    "isolate over --n of the mode (unminified), its top functions by self time per request")
    a = ap.parse_args()
    roots = [ROOT] + ([Path(a.root).resolve()] if a.root else [])
    tmp = Path(tempfile.mkdtemp(prefix="strata-decide-path-"))
    vectors = ROOT / "tests" / "vectors"
    (tmp / "bundle.data").write_bytes((vectors / "bundles" / "trailblazer.strata").read_bytes())
    (tmp / "vectors.pub").write_text((vectors / "vectors.pub").read_text())
    services, sockets, ports = [], [], []
    for i, root in enumerate(roots):
        d = tmp / f"w{i}"
        d.mkdir()
        build(root, d / "worker.js", minify=a.profile is None)
        port = free_port()
        ports.append(port)
        services.append(f"""(name = "w{i}", worker = (modules = [(name = "worker.js", esModule = embed "w{i}/worker.js"),
          (name = "bundle.data", data = embed "bundle.data"), (name = "vectors.pub", text = embed "vectors.pub")],
          compatibilityDate = "2024-09-23"))""")
        sockets.append(f'(name = "s{i}", address = "127.0.0.1:{port}", http = (), service = "w{i}")')
    d = tmp / "wc"  # the control in an isolate of its own (no other mode's garbage), this checkout's, shared by both
    d.mkdir()
    build(ROOT, d / "worker.js", minify=a.profile is None)
    ports.append(free_port())
    services.append("""(name = "wc", worker = (modules = [(name = "worker.js", esModule = embed "wc/worker.js"),
          (name = "bundle.data", data = embed "bundle.data"), (name = "vectors.pub", text = embed "vectors.pub")],
          compatibilityDate = "2024-09-23"))""")
    sockets.append(f'(name = "sc", address = "127.0.0.1:{ports[-1]}", http = (), service = "wc")')
    (tmp / "c.capnp").write_text(f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [{", ".join(services)}], sockets = [{", ".join(sockets)}]);
""")
    inspector = free_port()
    extra = [f"--inspector-addr=127.0.0.1:{inspector}"] if a.profile else []
    proc = subprocess.Popen([str(WORKERD), "serve", str(tmp / "c.capnp"), *extra], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # (isolate, mode): each checkout's path and request, then the shared control
    runs = [(i, m) for i in range(len(roots)) for m in ("path", "request")] + [(len(roots), "control")]
    samples: dict[tuple[int, str], list[float]] = {run: [] for run in runs}
    try:
        with httpx.Client(timeout=300) as c:
            for i, m in runs:  # start-up and warm-up: JIT, caches, the ledger's first visits
                deadline = time.monotonic() + 30
                while True:
                    try:
                        r = c.get(f"http://127.0.0.1:{ports[i]}/?n=5000&mode={m}")
                        if r.status_code != 200:
                            raise SystemExit(f"workerd answered {r.status_code}: {r.text[:500]}")
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline or proc.poll() is not None:
                            raise SystemExit("workerd did not start: " + (proc.stderr.read().decode() if proc.poll() is not None else "")) from None
                        time.sleep(0.2)
            load = os.getloadavg()
            if a.profile:
                profile(c, inspector, "wc" if a.profile == "control" else "w0", ports[-1] if a.profile == "control" else ports[0], a.profile, a.n, tmp)
                return
            for r in range(a.rounds):
                for i, m in runs if r % 2 == 0 else list(reversed(runs)):  # which runs first alternates
                    before = cpu_ns(proc.pid)
                    resp = c.get(f"http://127.0.0.1:{ports[i]}/?n={a.n}&mode={m}")
                    assert resp.status_code == 200, resp.text[:300]
                    samples[(i, m)].append((cpu_ns(proc.pid) - before) / a.n / 1000)
    finally:
        proc.terminate()
        proc.wait()
    print(f"workerd, one process; {a.rounds} rounds of {a.n} per checkout and mode; load average {load[0]:.2f} -> {os.getloadavg()[0]:.2f}\n")
    print("| checkout | what | min | p25 | median | per round |\n|---|---|---|---|---|---|")
    control = samples[(len(roots), "control")]
    rows = [(f"control ({ROOT.name}, its own isolate)", "control", control)]
    own: list[list[float]] = []
    for i, root in enumerate(roots):
        own.append([x - y for x, y in zip(samples[(i, "request")], control)])
        rows += [(root.name or str(root), "path", samples[(i, "path")]), (root.name or str(root), "request", samples[(i, "request")]),
                 (root.name or str(root), "own = request − control", own[i])]
    for who, m, xs in rows:
        q = sorted(xs)
        print(f"| {who} | {m} | {q[0]:.1f} µs | {q[len(q) // 4]:.1f} µs | {statistics.median(q):.1f} µs | {', '.join(f'{x:.0f}' for x in xs)} |")
    if len(roots) == 2:
        for m, a0, a1 in [("path", samples[(0, "path")], samples[(1, "path")]), ("own", own[0], own[1])]:
            diffs = [x - y for x, y in zip(a0, a1)]
            print(f"\n{m}: this − other, median of the rounds' differences: {statistics.median(diffs):+.1f} µs ({', '.join(f'{d:+.0f}' for d in diffs)})", end="")
        print()

if __name__ == "__main__":
    main()
