"""Republish a bundle file again and again (new valid versions, with corrupt ones interleaved),
for swap-under-load runs against a live server. Bounded: --count versions, then it stops.

    strata keygen -o /tmp/k/site
    python benchmarks/republish.py --key /tmp/k/site.key --out /tmp/site.bundle --count 1 &&   # first version
    strata serve --bundle /tmp/site.bundle --pub /tmp/k/site.pub --pages rulesets/trailblazer/site --poll-interval 0.2 &
    locust -f benchmarks/locustfile.py --headless -H http://127.0.0.1:8080 -u 40 -r 10 -t 120s --csv benchmarks/results/swap &
    python benchmarks/republish.py --key /tmp/k/site.key --out /tmp/site.bundle --count 150 --corrupt-every 3 --interval 0.5
    curl -s http://127.0.0.1:8080/metrics | grep strata_bundle_reloads_total

Expect zero locust failures, the version in /readyz at the last one written, and
strata_bundle_reloads_total{result="failure"} counting the corrupt files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.keys import load_private_key  # noqa: E402
from compiler.pipeline import Options, run  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ruleset", default=str(ROOT / "rulesets" / "trailblazer.yaml"))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--corrupt-every", type=int, default=0, help="write a corrupt bundle before every Nth version (0: never)")
    ap.add_argument("--interval", type=float, default=0.5)
    a = ap.parse_args()
    key = load_private_key(a.key)
    out = Path(a.out)
    start = int(time.time() * 1000)
    text = Path(a.ruleset).read_text()
    for i in range(a.count):
        data = run(a.ruleset, Options(key=key, version=start + i), text=text).bundle
        assert data is not None
        if a.corrupt_every and i and i % a.corrupt_every == 0:
            bad = bytearray(data)
            bad[len(bad) // 2] ^= 0xFF
            _write(out, bytes(bad))
            time.sleep(a.interval)
        _write(out, data)
        print(f"published v{start + i}", flush=True)
        if i + 1 < a.count:
            time.sleep(a.interval)
    return 0


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
