"""Compile benchmark: rule sets of 100, 1,000 and 10,000 rules (10% as many segments).

    python benchmarks/compile_bench.py [--sizes 100,1000,10000] [--out benchmarks/results/compile.json]

Prints, per size: compile time (median of 3 runs, whole pipeline from YAML text to signed
bundle), bundle size, gzip(JSON of the source) size and their ratio. Targets on the 2-core
reference machine: 10,000 rules in under 10 s; bundle no larger than the gzipped JSON source.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from compiler.harness.generated import dump, ruleset  # noqa: E402
from compiler.pipeline import Options, run  # noqa: E402


def bench(n: int, key: Ed25519PrivateKey, repeats: int) -> dict[str, object]:
    rs = ruleset(n)
    text = dump(rs)
    times, ctx = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        ctx = run(f"bench{n}.yaml", Options(key=key, created=1_793_491_200), text=text)
        times.append(time.perf_counter() - t0)
    assert ctx is not None and ctx.bundle is not None
    gz = len(gzip.compress(json.dumps(rs, separators=(",", ":")).encode(), 9))
    return {
        "rules": n,
        "segments": len(rs["segments"]),
        "slots": len(rs["slots"]),
        "compile_s": statistics.median(times),
        "stages_s": {k: round(v, 4) for k, v in ctx.timings.items()},
        "bundle_bytes": len(ctx.bundle),
        "source_json_gzip_bytes": gz,
        "bundle_vs_gzip_json": len(ctx.bundle) / gz,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "compile.json"))
    a = ap.parse_args()
    key = Ed25519PrivateKey.generate()
    rows = []
    print(f"{'rules':>7} {'segments':>8} {'compile s':>10} {'bundle B':>10} {'gzip(JSON) B':>13} {'ratio':>6}")
    for n in (int(x) for x in a.sizes.split(",")):
        r = bench(n, key, a.repeats)
        rows.append(r)
        print(f"{r['rules']:>7} {r['segments']:>8} {r['compile_s']:>10.2f} {r['bundle_bytes']:>10,} {r['source_json_gzip_bytes']:>13,} {r['bundle_vs_gzip_json']:>6.2f}", flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
                               "results": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
