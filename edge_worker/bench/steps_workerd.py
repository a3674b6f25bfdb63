"""Single steps of a request, timed inside real workerd, two checkouts side by side.

    python edge_worker/bench/steps_workerd.py [--module edge_worker/bench/cookie_steps.js] [--root /other/checkout] [--rounds 10] [--n 100000]

The module (default: bench/cookie_steps.js, the session cookie's steps) exports `modes`, name -> a
function running `n` of one step; it is bundled by esbuild once per checkout, `@@ROOT@@` in its
imports replaced by that checkout (`@@BENCH@@` by this bench's folder: decide_mix.js), each into its own isolate of one workerd process. Each measured
request runs one mode `n` times; the process's CPU over it (its threads' /proc schedstat, as
decide_path_workerd.py) divided by `n` is one sample. The modes and checkouts alternate round by
round (their order reversed every other round), so load from elsewhere falls on all; the table gives
min, p25 and median per step and checkout (issue #26: "measure each step; keep what pays").
"""

from __future__ import annotations

import argparse
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

from decide_path_workerd import cpu_ns  # noqa: E402

from edge_server.harness.ports import free_port  # noqa: E402
from edge_server.harness.workerd import ESBUILD, WORKERD  # noqa: E402

ENTRY = """import { modes } from "./steps.js";
export default { async fetch(request) {
  const q = new URL(request.url).searchParams;
  if (q.get("mode") === "list") return new Response(Object.keys(modes).join(","));
  return new Response(String(await modes[q.get("mode")](Number(q.get("n")))));
} };
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default=str(Path(__file__).parent / "cookie_steps.js"))
    ap.add_argument("--root", help="another checkout (with edge_worker/node_modules) to alternate with")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--n", type=int, default=100_000, help="steps per measured request")
    a = ap.parse_args()
    roots = [ROOT] + ([Path(a.root).resolve()] if a.root else [])
    source = Path(a.module).read_text()
    tmp = Path(tempfile.mkdtemp(prefix="strata-steps-"))
    services, sockets, ports = [], [], []
    for i, root in enumerate(roots):
        d = tmp / f"w{i}"
        d.mkdir()
        (d / "steps.js").write_text(source.replace("@@ROOT@@", str(root)).replace("@@BENCH@@", str(Path(__file__).parent)))
        (d / "entry.js").write_text(ENTRY)
        r = subprocess.run([str(ESBUILD), str(d / "entry.js"), "--bundle", "--format=esm", "--platform=neutral", "--main-fields=module,main",
                            "--conditions=worker,browser", "--minify", f"--outfile={d / 'worker.js'}"], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"esbuild failed for {root}:\n{r.stderr}")
        ports.append(free_port())
        services.append(f'(name = "w{i}", worker = (modules = [(name = "worker.js", esModule = embed "w{i}/worker.js")], compatibilityDate = "2024-09-23"))')
        sockets.append(f'(name = "s{i}", address = "127.0.0.1:{ports[i]}", http = (), service = "w{i}")')
    (tmp / "c.capnp").write_text(f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [{", ".join(services)}], sockets = [{", ".join(sockets)}]);
""")
    proc = subprocess.Popen([str(WORKERD), "serve", str(tmp / "c.capnp")], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(timeout=300) as c:
            modes: list[str] = []
            for port in ports:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        modes = c.get(f"http://127.0.0.1:{port}/?mode=list").text.split(",")
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline or proc.poll() is not None:
                            raise SystemExit("workerd did not start: " + (proc.stderr.read().decode() if proc.poll() is not None else "")) from None
                        time.sleep(0.2)
            runs = [(i, m) for m in modes for i in range(len(roots))]
            for i, m in runs:  # warm-up: JIT
                r = c.get(f"http://127.0.0.1:{ports[i]}/?mode={m}&n={a.n // 2}")
                if r.status_code != 200:
                    raise SystemExit(f"{roots[i]} {m}: workerd answered {r.status_code}: {r.text[:300]}")
            load = os.getloadavg()
            samples: dict[tuple[int, str], list[float]] = {run: [] for run in runs}
            for k in range(a.rounds):
                for i, m in runs if k % 2 == 0 else list(reversed(runs)):
                    before = cpu_ns(proc.pid)
                    c.get(f"http://127.0.0.1:{ports[i]}/?mode={m}&n={a.n}")
                    samples[(i, m)].append((cpu_ns(proc.pid) - before) / a.n / 1000)
    finally:
        proc.terminate()
        proc.wait()
    print(f"workerd, one process; {a.rounds} rounds of {a.n} per step and checkout; load average {load[0]:.2f} -> {os.getloadavg()[0]:.2f}\n")
    print("| step | checkout | min | p25 | median |\n|---|---|---|---|---|")
    for i, m in runs:
        q = sorted(samples[(i, m)])
        print(f"| {m} | {roots[i].name or roots[i]} | {q[0]:.2f} µs | {q[len(q) // 4]:.2f} µs | {statistics.median(q):.2f} µs |")


if __name__ == "__main__":
    main()
