"""edge_server/beacons.py and its port worker/beacons.js counting a browser's exposures into a visit's
ledger record: once per key, in the visit's first population, and at most MAX_SHOWN keys per visit
(a forged nonce holds no more ledger memory than an honest visit). The HTTP paths on both runtimes:
tests/edge_worker/test_browser_beacons.py."""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from typing import Any

from edge_server.beacons import count_exposures
from edge_server.session import MAX_SHOWN
from edge_server.visit_ledger import VisitRecord
from tests.edge_worker.workerd import EDGE_WORKER, require_node

JS = """
import { countExposures } from './worker/beacons.js';
import { VisitRecord } from './worker/visit_ledger.js';
const batches = JSON.parse(process.argv[1]);
const visit = new VisitRecord(0);
const rows = new Map();
const measure = { exposure: (...k) => rows.set(k.join('|'), (rows.get(k.join('|')) ?? 0) + 1) };
const counted = batches.map((b) => countExposures(visit, b, measure));
console.log(JSON.stringify({ counted, rows: Object.fromEntries(rows), population: visit.population }));
"""


def batches(seed: int) -> list[list[tuple[str, str, str, str]]]:
    """Random beacons of one visit: keys drawn from more than MAX_SHOWN, repeated, in both populations."""
    rng = random.Random(seed)
    keys = [(f"s{i % 7}", f"a{i}", rng.choice(["", "rule", "broad"])) for i in range(MAX_SHOWN * 2)]
    return [[(*rng.choice(keys), rng.choice(["personalized", "personalized", "holdout"])) for _ in range(rng.randint(1, 32))] for _ in range(6)]


def python(bs: list[list[tuple[str, str, str, str]]]) -> dict[str, Any]:
    visit, rows = VisitRecord(0.0), Counter[tuple[str, str, str, str]]()
    counted = [count_exposures(visit, b, rows) for b in bs]
    return {"counted": counted, "rows": {"|".join(k): n for k, n in rows.items()}, "population": visit.population}


def test_a_visit_counts_each_key_once_in_its_first_population_and_at_most_max_shown() -> None:
    for seed in range(20):
        bs = batches(seed)
        got = python(bs)
        assert got["population"] == bs[0][0][3]
        assert all(n == 1 for n in got["rows"].values())
        assert all(k.endswith("|" + bs[0][0][3]) for k in got["rows"])
        assert sum(got["counted"]) == len(got["rows"]) <= MAX_SHOWN
    assert max(len(python(batches(s))["rows"]) for s in range(20)) == MAX_SHOWN  # the bound is reached, and holds


def test_the_worker_counts_alike() -> None:
    require_node()
    for seed in range(5):
        bs = batches(seed)
        out = subprocess.run(["node", "--input-type=module", "-e", JS, json.dumps(bs)], cwd=EDGE_WORKER, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == python(bs)
