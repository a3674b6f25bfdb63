"""Model counting benchmark: what the edge server adds to a consenting decision for the model
training counters (edge_server/model_counts.py), beside the decision itself.

    python benchmarks/model_counting_bench.py [--quick] [--out benchmarks/results/model_counting.json]

The rule set has four counted models (the cookie's maximum): a plain one with three features, a
plain one with one, an experiment uplift and a rule-vs-holdout uplift
(compiler/harness/fixtures.py's MODEL_COUNTING, which tests/edge_server/test_model_counts_http.py serves). Per call, timed with perf_counter_ns, medians over
many thousand calls:

1. ``Prepared.decide`` of the server's signals (all slots), for scale;
2. counting a decision whose levels are the visit's entries' (the usual case: a page view within a
   visit; levels computed, nothing to count);
3. counting a decision that moves one feature to another level (``left`` + ``entered``, a score);
4. counting a visit's first decision (every row ``entered``, four entries written).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.harness.fixtures import CREATED, MODEL_COUNTING  # noqa: E402
from compiler.pipeline import Options, run  # noqa: E402
from edge_server.model_counts import ModelCounter  # noqa: E402
from edge_server.session import Session  # noqa: E402
from edge_server.visit_ledger import VisitLedger  # noqa: E402
from runtime import key_id  # noqa: E402
from runtime.decide import Prepared  # noqa: E402
from runtime.verify import verify_bundle  # noqa: E402


def median_ns(f: Callable[[], Any], n: int, setup: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(n):
        if setup is not None:
            setup()
        t = time.perf_counter_ns()
        f()
        times.append(time.perf_counter_ns() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "model_counting.json"))
    args = ap.parse_args()
    n = 3_000 if args.quick else 30_000
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as d:
        rs = Path(d) / "counting.yaml"
        rs.write_text(MODEL_COUNTING)
        ctx = run(rs, Options(key=key, created=CREATED))
    assert ctx.bundle is not None
    pub = key.public_key()
    p = Prepared(verify_bundle(ctx.bundle, {key_id(pub): pub}, now=CREATED + 60))
    signals = {"device.type": "mobile", "utm.source": "google", "session.page_views": 3}
    session = Session.fresh()
    session.touch(CREATED, 1800, "", "", True)
    out = p.decide(dict(signals), None, session_id=session.sid, consent=True, now=CREATED + 60, checked=True)
    session.record(out.cap_hits, out.exposures, CREATED + 60)
    for dec in out.decisions.values():
        session.first_exposure(f"{dec.slot}|{dec.rule or 'default'}|{dec.layer or ''}")
    mc = ModelCounter(Counter())
    merged = out.signals or {}  # the map the conditions read: what counting reads
    moved = {**merged, "session.page_views": 4}
    mc.decided(p, session, merged, out.holdout, True, out.memo)
    entries = dict(session.models)
    counted = len(session.models)

    def reset() -> None:
        session.models = dict(entries)

    def fresh() -> None:
        session.models, session.entered = {}, 0

    # with the process's visit ledger (edge_server/visit_ledger.py), as the server counts: the ledger holds
    # the state this process counted last, the cookie is that state (its usual case on one process)
    ledger = VisitLedger(1800)
    lc = ModelCounter(Counter(), ledger)
    held = Session.fresh()
    held.touch(CREATED, 1800, "", "", True)
    held.shown, held.exposures = list(session.shown), dict(session.exposures)
    lc.decided(p, held, merged, out.holdout, True, out.memo, now=CREATED)
    record = ledger.record(held.visit_nonce, CREATED)
    state, held_entries, held_lineage, held_entered = record.models, dict(held.models), held.lineage, held.entered

    def reset_held() -> None:
        held.models, held.lineage, held.entered, record.models = dict(held_entries), held_lineage, held_entered, state

    rows = [
        ("decide (all slots, 4 models declared)", median_ns(lambda: p.decide(signals, None, session_id=session.sid, consent=True,
                                                                             now=CREATED + 60, checked=True), n)),
        ("count: levels unchanged (usual)", median_ns(lambda: mc.decided(p, session, merged, out.holdout, True, out.memo), n, reset)),
        ("count: one feature moved", median_ns(lambda: mc.decided(p, session, moved, out.holdout, True, out.memo), n, reset)),
        (f"count: a visit's first decision ({counted} entries)", median_ns(lambda: mc.decided(p, session, merged, out.holdout, True, out.memo),
                                                                          n, fresh)),
        ("ledger: levels unchanged (usual)", median_ns(lambda: lc.decided(p, held, merged, out.holdout, True, out.memo, now=CREATED), n, reset_held)),
        ("ledger: one feature moved", median_ns(lambda: lc.decided(p, held, moved, out.holdout, True, out.memo, now=CREATED), n, reset_held)),
        ("ledger: a replayed older cookie (entries unpacked)", median_ns(lambda: lc.decided(p, held, merged, out.holdout, True, out.memo, now=CREATED),
                                                                        n, lambda: (reset_held(), setattr(held, "lineage", b"\0\0\0")))),
    ]
    print(f"Model counting, median per call over {n:,} calls ({platform.python_implementation()} {platform.python_version()})")
    print(f"  {'what':48} {'median':>10}")
    for name, ns in rows:
        print(f"  {name:48} {ns / 1000:8.2f} us")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"benchmark": "model_counting", "calls": n, "python": platform.python_version(),
                                          "rows": [{"what": name, "median_us": round(ns / 1000, 3)} for name, ns in rows]}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
