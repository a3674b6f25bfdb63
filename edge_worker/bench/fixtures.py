"""Bundles for the JavaScript benchmarks, compiled by the Python compiler (gzip codec, the vectors'
test key, expiring in 2100): TrailBlazer, the generated 100- and 10,000-rule sets, and one bundle
per condition of benchmarks/peer_conditions/conditions.yaml.

    python edge_worker/bench/fixtures.py      # writes edge_worker/bench/out/ (git-ignored)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from compiler.harness.bundles import compile_bundle, public_pem  # noqa: E402
from compiler.harness.generated import dump, ruleset  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    (OUT / "key.pub").write_bytes(public_pem())
    (OUT / "trailblazer.strata").write_bytes(compile_bundle("trailblazer", (ROOT / "rulesets" / "trailblazer.yaml").read_text(), 100))
    for n in (100, 10_000):
        (OUT / f"bench{n}.strata").write_bytes(compile_bundle(f"bench{n}", dump(ruleset(n)), 1))
    conds = yaml.safe_load((ROOT / "benchmarks" / "peer_conditions" / "conditions.yaml").read_text())
    for i, c in enumerate(conds):
        text = ("strata: 1\nname: peer\nslots:\n  - id: s\n    default: {}\n    rules:\n"
                f"      - id: r\n        when: {json.dumps(c['cel'].strip())}\n        content: {{}}\n")
        (OUT / f"peer{i}.strata").write_bytes(compile_bundle("peer", text, 1))
    (OUT / "conditions.json").write_text(json.dumps(conds, indent=1))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
