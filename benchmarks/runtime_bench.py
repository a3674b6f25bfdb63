"""Runtime benchmark: decide() latency, scaling with bundle size, load time, and peers.

    python benchmarks/runtime_bench.py [--quick] [--model-only] [--out benchmarks/results/runtime.json]

1. decide() for all slots of rulesets/trailblazer.yaml over a mix of visitor profiles
   (target: median < 15 us);
2. a 10,000-rule bundle over 1,000 slots, asking for 5 slots, against the same request on a
   100-rule bundle (target: median < 50 us and within 2x);
3. load + verify + prepare of the 10,000-rule bundle (target < 0.3 s: a slot is prepared on its
   first use, docs/runtime.md "Preparation"), a slot's first decide (which prepares it), and what
   preparing every slot would add;
4. the conditions of benchmarks/peer_conditions/conditions.yaml: Strata's prepared condition vs
   cel-python 0.5's interpreter, the GrowthBook SDK evaluating a feature with the equivalent
   condition, and a hand-written Python lambda (targets: >= 500x cel-python, >= 10x GrowthBook,
   within 2x of the lambda);
5. a regex condition, the issue's author pattern ``^([A-Za-z0-9]+-?)*$`` against adversarial inputs
   of 25 characters and 10 KB: Strata (RE2, linear) vs Python's ``re`` (backtracking; run once on
   the 25-character input only, in a child process killed after 60 s).
6. the in-process OpenFeature provider resolving one slot vs the direct runtime call
   (target: <= 2 us added per resolution).
7. decide() for all slots of TrailBlazer plus one slot whose rule reads ``score.<model>`` of a
   20-feature calibrated model, vs the same rule set whose rule reads a plain signal instead (without that model)
   (target: median <= 1.5x).

Latencies are per call, timed with perf_counter_ns around each call (its own cost, ~50 ns, is
included, which only flatters nobody); medians are over many thousand calls. Numbers go to
stdout as a table and to a JSON results file.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from compiler.harness.generated import dump, ruleset  # noqa: E402
from compiler.pipeline import Options, run  # noqa: E402
from runtime import Runtime  # noqa: E402

NOW = 1_793_494_800.0
CART = [{"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}, {"sku": "TB-STOVE", "category": "stoves", "price": 49.0, "quantity": 1}]

#: A realistic mix of visitors (signals as the edge server produces them).
PROFILES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("first visit, desktop", {"page.path": "/", "referrer.class": "search", "device.type": "desktop", "geo.country": "DE",
                              "session.visit_count": 1, "session.page_views": 1, "time.hour": 10}, {}),
    ("first visit, 3rd page", {"page.path": "/tents.html", "device.type": "desktop", "geo.country": "US", "session.visit_count": 1,
                               "session.page_views": 3, "session.recent_categories": ["tents"], "time.hour": 11}, {}),
    ("newsletter landing", {"page.path": "/", "utm.source": "newsletter", "utm.medium": "email", "referrer.class": "email",
                            "device.type": "mobile", "geo.country": "US", "session.visit_count": 1, "session.page_views": 1}, {}),
    ("returning tent browser", {"page.path": "/tents/summit-2.html", "device.type": "mobile", "geo.country": "CA",
                                "session.visit_count": 3, "session.page_views": 2, "session.recent_categories": ["tents", "packs"]}, {}),
    ("cart abandoner", {"page.path": "/", "device.type": "desktop", "geo.country": "US", "session.visit_count": 2,
                        "session.page_views": 5, "session.recent_categories": ["tents"], "cart.items": CART, "cart.value": 298.0}, {}),
    ("no consent", {"page.path": "/tents.html", "device.type": "mobile", "geo.country": "US"}, {"consent": False}),
    ("mobile returning", {"page.path": "/", "device.type": "mobile", "geo.country": "FR", "session.visit_count": 4,
                          "session.page_views": 7}, {}),
]


def per_call_ns(f: Callable[[], Any], n: int) -> list[int]:
    out = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        f()
        out.append(pc() - t0)
    return out


def summary(ns: list[int]) -> dict[str, float]:
    s = sorted(ns)
    return {"median_us": statistics.median(s) / 1000, "p99_us": s[int(len(s) * 0.99)] / 1000, "mean_us": statistics.fmean(s) / 1000}


def bench_trailblazer(key: Ed25519PrivateKey, n: int) -> dict[str, Any]:
    bundle = run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=key, created=int(NOW) - 60)).bundle
    rt = Runtime([key.public_key()])
    rt.load(bundle, now=NOW)
    p = rt.current
    ns: list[int] = []
    for i, (_, signals, kw) in enumerate(PROFILES):
        sid = f"visitor-{i:03d}"
        ns += per_call_ns(lambda s=signals, k=kw, sid=sid: p.decide(s, session_id=sid, now=NOW, **k), n)
    return summary(ns) | {"calls": len(ns), "slots": len(p.slot_ids)}


def bench_provider(key: Ed25519PrivateKey, n: int) -> dict[str, Any]:
    """The in-process OpenFeature provider (runtime/openfeature_provider.py) resolving the hero slot
    vs the direct runtime call it makes (Prepared.decide for that slot, the runtime checking the
    signals), per visitor profile; and through the OpenFeature SDK's client, for scale."""
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    from runtime.flags import session_id_for
    from runtime.openfeature_provider import StrataProvider

    bundle = run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=key, created=int(NOW) - 60)).bundle
    provider = StrataProvider(Runtime([key.public_key()]), clock=lambda: NOW)
    provider.load(bundle, now=NOW)
    api.set_provider(provider, "bench")
    client = api.get_client("bench")
    p = provider.runtime.current
    direct: list[int] = []
    via: list[int] = []
    sdk: list[int] = []
    for i, (_, signals, kw) in enumerate(PROFILES):
        tk = f"visitor-{i:03d}"
        sid, consent = session_id_for(tk), kw.get("consent", True)
        ctx = EvaluationContext(tk, {**signals, **kw})  # consent: the provider's default, or the profile's "consent": False
        direct += per_call_ns(lambda s=signals, sid=sid, c=consent: p.decide(s, ("hero",), session_id=sid, consent=c, now=NOW), n)
        via += per_call_ns(lambda ctx=ctx: provider.resolve_object_details("hero", {}, ctx), n)
        sdk += per_call_ns(lambda ctx=ctx: client.get_object_details("hero", {}, ctx), n // 4)
    api.clear_providers()
    d, v = summary(direct), summary(via)
    return {"direct": d, "provider": v, "sdk_client": summary(sdk), "overhead_median_us": v["median_us"] - d["median_us"]}


#: 20 features over the built-in signals TrailBlazer's visitors carry: every kind, most signals
#: present (as at the edge, where defaults fill them), a few lists.
MODEL_FEATURES: list[dict[str, Any]] = [
    {"id": "device", "signal": "device.type", "kind": "values", "args": ["mobile", "desktop", "tablet"]},
    {"id": "country", "signal": "geo.country", "kind": "values", "args": ["US", "DE", "FR", "GB", "CA"]},
    {"id": "source", "signal": "utm.source", "kind": "values", "args": ["newsletter", "google", "facebook"]},
    {"id": "medium", "signal": "utm.medium", "kind": "values", "args": ["email", "cpc", "social"]},
    {"id": "referrer", "signal": "referrer.class", "kind": "values", "args": ["search", "social", "email", "direct", "internal"]},
    {"id": "language", "signal": "request.language", "kind": "values", "args": ["en", "de", "fr"]},
    {"id": "os", "signal": "device.os", "kind": "values", "args": ["iOS", "Android", "Windows", "Mac OS X"]},
    {"id": "browser", "signal": "device.browser", "kind": "values", "args": ["Chrome", "Safari", "Firefox"]},
    {"id": "weekday", "signal": "time.weekday", "kind": "values", "args": [1, 2, 3, 4, 5, 6, 7]},
    {"id": "purchased", "signal": "session.purchased", "kind": "values", "args": [False, True]},
    {"id": "visits", "signal": "session.visit_count", "kind": "edges", "args": [2, 3, 5, 10]},
    {"id": "depth", "signal": "session.page_views", "kind": "edges", "args": [2, 4, 8]},
    {"id": "total_depth", "signal": "session.total_page_views", "kind": "edges", "args": [5, 20, 50]},
    {"id": "hour", "signal": "time.hour", "kind": "edges", "args": [6, 12, 18, 22]},
    {"id": "cart", "signal": "cart.value", "kind": "edges", "args": [0.01, 50.0, 150.0, 300.0]},
    {"id": "tents", "signal": "session.recent_categories", "kind": "contains", "args": ["tents"]},
    {"id": "packs", "signal": "session.recent_categories", "kind": "contains", "args": ["packs"]},
    {"id": "boots", "signal": "session.recent_categories", "kind": "contains", "args": ["boots"]},
    {"id": "english", "signal": "request.languages", "kind": "contains", "args": ["en"]},
    {"id": "utm", "signal": "page.query", "kind": "contains", "args": ["utm_source"]},
]

#: TrailBlazer plus one slot whose rule reads WHEN.
MODEL_SLOT = """
  - id: nudge
    default: {}
    rules:
      - id: likely-buyer
        priority: 100
        when: WHEN
        content: {headline: Ready when you are}
"""


#: The benchmark model's calibration: 64 knots over the log-odds -8..8 (what strata train writes for
#: a model whose visits spread over that range: one knot per group of buckets), p = sigmoid(z / 2).
BENCH_KNOTS = [[-8.0 + i * 0.25, round(1 / (1 + math.exp(-(-8.0 + i * 0.25) / 2)), 6)] for i in range(64)]


def model_bundles(key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """(with, without): TrailBlazer plus a slot whose rule reads ``score.bench_intent > 0.4`` of a
    20-feature calibrated model (declared in ``models:`` with inline coefficients and 64 calibration
    knots: the score is the calibration's interpolation, not the sigmoid), and the same rule set
    without that model, whose rule reads ``session.page_views > 4`` instead."""
    base = (ROOT / "rulesets" / "trailblazer.yaml").read_text()
    features, weights = {}, {}
    for i, f in enumerate(MODEL_FEATURES):
        kind = f["kind"]
        features[f["id"]] = {"signal": f["signal"], kind: f["args"][0] if kind == "contains" else f["args"]}
        if kind == "contains":
            names = ["no", "yes", "(absent)"]
        elif kind == "values":
            names = [("true" if x else "false") if type(x) is bool else str(x) for x in f["args"]] + ["(other)"]
        else:
            e = [repr(x) if type(x) is float else str(x) for x in f["args"]]
            names = [f"<{e[0]}"] + [f"[{a},{b})" for a, b in zip(e, e[1:])] + [f">={e[-1]}"]
        weights[f["id"]] = {name: round(((i * 5 + j * 3) % 7 - 3) * 0.2, 2) for j, name in enumerate(names)}
    # TrailBlazer declares its own purchase_intent (5 features) since the demo uses models: the
    # benchmark's 20-feature model joins it under another id, in both bundles' models: block or not
    coefficients: dict[str, Any] = {"bias": -1.5, "weights": weights}

    def block() -> str:
        text = yaml.safe_dump({"bench_intent": {"goal": "purchase", "features": features, "coefficients": coefficients}}, sort_keys=False)
        return "".join("  " + line + "\n" for line in text.splitlines())

    assert "\nmodels:\n" in base, "TrailBlazer's models: block moved: update this benchmark"
    # the model is calibrated as strata train calibrates one: knots fitted for its fit (one per log-odds bucket it reaches)
    first = run(str(ROOT / "rulesets" / "trailblazer.yaml"), Options(key=key, created=int(NOW) - 60),
                text=base.replace("\nmodels:\n", "\nmodels:\n" + block(), 1))
    assert first.payload is not None
    fit = next(m["fit"] for m in first.payload["models"] if m["id"] == "bench_intent")
    coefficients["calibration"] = {"fit": fit, "knots": BENCH_KNOTS}
    model = block()
    out = []
    for when, extra in (("score.bench_intent > 0.4", model), ("session.page_views > 4", "")):
        text = base.replace("\nexperiments:", MODEL_SLOT.replace("WHEN", when) + "\nexperiments:", 1).replace("\nmodels:\n", "\nmodels:\n" + extra, 1)
        # the rule set's own path: its coefficient files are found next to it
        bundle = run(str(ROOT / "rulesets" / "trailblazer.yaml"), Options(key=key, created=int(NOW) - 60), text=text).bundle
        assert bundle is not None
        out.append(bundle)
    return out[0], out[1]


def bench_model(key: Ed25519PrivateKey, n: int) -> dict[str, Any]:
    """Both bundles decide the same request alternately (the machine's load varies; alternating
    exposes both to the same), with the server's call (checked signals)."""
    preps = []
    for bundle in model_bundles(key):
        rt = Runtime([key.public_key()])
        rt.load(bundle, now=NOW)
        preps.append(rt.current)
    with_model, without_model = preps
    pc = time.perf_counter_ns
    ns: tuple[list[int], list[int]] = ([], [])
    for i, (_, signals, kw) in enumerate(PROFILES):
        sid = f"visitor-{i:03d}"
        for _ in range(n):
            for p, out in ((with_model, ns[0]), (without_model, ns[1])):
                t0 = pc()
                p.decide(signals, session_id=sid, now=NOW, checked=True, **kw)
                out.append(pc() - t0)
    res: dict[str, Any] = {"with_model": summary(ns[0]) | {"calls": len(ns[0])}, "without_model": summary(ns[1]) | {"calls": len(ns[1])}}
    res["ratio"] = res["with_model"]["median_us"] / res["without_model"]["median_us"]
    return res


def bench_scaling(key: Ed25519PrivateKey, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    slots = ["slot0", "slot3", "slot5", "slot7", "slot9"]
    signals = PROFILES[4][1]
    for rules in (100, 10_000):
        bundle = run(f"bench{rules}.yaml", Options(key=key, created=int(NOW) - 60), text=dump(ruleset(rules))).bundle
        loads, firsts, warms = [], [], []
        rt = Runtime([key.public_key()])
        for _ in range(5):
            rt = Runtime([key.public_key()])
            t0 = time.perf_counter()
            rt.load(bundle, now=NOW)
            loads.append(time.perf_counter() - t0)
            p = rt.current
            for sid in slots:  # each slot's first decide prepares it (docs/runtime.md, "Preparation")
                t0 = time.perf_counter()
                p.decide(signals, [sid], session_id="visitor-004", now=NOW)
                firsts.append(time.perf_counter() - t0)
            other = Runtime([key.public_key()])
            other.load(bundle, now=NOW)
            t0 = time.perf_counter()
            other.current.warm()  # what preparing every slot at load would add
            warms.append(time.perf_counter() - t0)
        p = rt.current
        ns = per_call_ns(lambda: p.decide(signals, slots, session_id="visitor-004", now=NOW), n)
        out[str(rules)] = summary(ns) | {"load_s": statistics.median(loads), "first_decide_per_slot_us": statistics.median(firsts) * 1e6,
                                         "first_decide_per_slot_max_us": max(firsts) * 1e6, "warm_all_s": statistics.median(warms),
                                         "bundle_bytes": len(bundle), "slots_in_bundle": len(p.slot_ids)}
    out["ratio_10000_vs_100"] = out["10000"]["median_us"] / out["100"]["median_us"]
    return out


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in flat.items():
        cur = out
        *head, last = k.split(".")
        for h in head:
            cur = cur.setdefault(h, {})
        cur[last] = v
    return out


def bench_peers(key: Ed25519PrivateKey, n: int, n_slow: int) -> list[dict[str, Any]]:
    import celpy
    from celpy import celtypes
    from growthbook import GrowthBook

    from runtime.decide import Prepared

    conds = yaml.safe_load((ROOT / "benchmarks" / "peer_conditions" / "conditions.yaml").read_text())
    flat = {
        "session.page_views": 4, "session.purchased": False, "session.utm_source": "blog", "session.visit_count": 2,
        "session.recent_categories": ["tents", "packs"], "device.type": "mobile", "utm.source": "newsletter",
        "referrer.class": "email", "geo.country": "US", "cart.items": [{"sku": "T1", "name": "Summit", "category": "tent", "price": 249.0, "quantity": 1}],
        "cart.value": 249.0, "page.path": "/tents/summit-2.html",
    }
    nested = _nested(flat)

    def to_cel(v: Any) -> Any:
        if isinstance(v, bool):
            return celtypes.BoolType(v)
        if isinstance(v, int):
            return celtypes.IntType(v)
        if isinstance(v, float):
            return celtypes.DoubleType(v)
        if isinstance(v, str):
            return celtypes.StringType(v)
        if isinstance(v, list):
            return celtypes.ListType([to_cel(x) for x in v])
        if isinstance(v, dict):
            return celtypes.MapType({celtypes.StringType(k): to_cel(x) for k, x in v.items()})
        raise TypeError(v)

    activation = {k: to_cel(v) for k, v in nested.items()}
    env = celpy.Environment()
    rows = []
    for c in conds:
        text = (
            "strata: 1\nname: peer\nslots:\n  - id: s\n    default: {}\n    rules:\n"
            f"      - id: r\n        when: {json.dumps(c['cel'].strip())}\n        content: {{}}\n"
        )
        bundle = run("peer.yaml", Options(key=key, created=int(NOW) - 60), text=text).bundle
        rt = Runtime([key.public_key()])
        rt.load(bundle, now=NOW)
        p: Prepared = rt.current
        cond = p.slots["s"].candidates[0].cond
        s, _ = p.prepare_signals(flat, True)
        strata_f = lambda: p._cond_value(cond, s, {})  # noqa: E731 - the call decide() makes per candidate
        lam = eval(c["python"].strip())  # noqa: S307 - our own benchmark file
        lam_f = lambda: lam(s)  # noqa: E731
        prog = env.program(env.compile(c["cel"].strip()))
        cel_f = lambda: prog.evaluate(activation)  # noqa: E731
        gb = GrowthBook(attributes=nested, features={"f": {"defaultValue": False, "rules": [{"condition": c["growthbook"], "force": True}]}})
        gb_f = lambda: gb.is_on("f")  # noqa: E731
        results = {"strata": strata_f(), "lambda": lam_f(), "cel-python": bool(cel_f()), "growthbook": gb_f()}
        assert len(set(results.values())) == 1, f"{c['name']}: engines disagree: {results}"
        row = {
            "name": c["name"],
            "result": results["strata"],
            "strata_us": statistics.median(per_call_ns(strata_f, n)) / 1000,
            "lambda_us": statistics.median(per_call_ns(lam_f, n)) / 1000,
            "growthbook_us": statistics.median(per_call_ns(gb_f, n // 4)) / 1000,
            "celpy_us": statistics.median(per_call_ns(cel_f, n_slow)) / 1000,
        }
        row["x_vs_celpy"] = row["celpy_us"] / row["strata_us"]
        row["x_vs_growthbook"] = row["growthbook_us"] / row["strata_us"]
        row["strata_vs_lambda"] = row["strata_us"] / row["lambda_us"]
        rows.append(row)
    return rows


REGEX_PATTERN = r"^([A-Za-z0-9]+-?)*$"
#: Python's re on the 25-character input, once, in a child process (its time doubles per character).
_RE_CHILD = "import re, sys, time; r = re.compile(sys.argv[1]); t = time.perf_counter(); r.search(sys.argv[2]); print(time.perf_counter() - t)"


def _python_re_once(pattern: str, text: str, timeout: float) -> float | None:
    import subprocess

    try:
        out = subprocess.run([sys.executable, "-c", _RE_CHILD, pattern, text], capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout)


def bench_regex(key: Ed25519PrivateKey, n: int) -> list[dict[str, Any]]:
    text = (
        "strata: 1\nname: rx\nsignals:\n  probe.text: {type: string, category: contextual, max_length: 65536}\n"
        "slots:\n  - id: s\n    default: {}\n    rules:\n"
        f"      - id: r\n        when: 'probe.text.matches(r\"{REGEX_PATTERN}\")'\n        content: {{}}\n"
    )
    bundle = run("rx.yaml", Options(key=key, created=int(NOW) - 60), text=text).bundle
    rt = Runtime([key.public_key()])
    rt.load(bundle, now=NOW)
    p = rt.current
    cond = p.slots["s"].candidates[0].cond
    rows = []
    for label, size, run_re in (("25 chars", 25, True), ("10 KB", 10 * 1024, False)):
        adversarial = "a" * (size - 1) + "!"  # almost matches: every split of the run is tried by a backtracker
        s, _ = p.prepare_signals({"probe.text": adversarial}, True)
        assert p._cond_value(cond, s, {}) is False
        row: dict[str, Any] = {"input": label, "chars": size, "result": False,
                               "strata_re2_us": statistics.median(per_call_ns(lambda s=s: p._cond_value(cond, s, {}), n)) / 1000}
        if run_re:
            secs = _python_re_once(REGEX_PATTERN, adversarial, timeout=60.0)
            row["python_re_s"] = secs  # None: killed after 60 s
        else:
            row["python_re_s"] = None
            row["python_re_note"] = "not run: time doubles per character"
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "runtime.json"))
    ap.add_argument("--model-only", action="store_true", help="only row 7 (a model read by a rule), written to runtime_model.json beside --out")
    a = ap.parse_args()
    n = 2_000 if a.quick else 20_000
    key = Ed25519PrivateKey.generate()
    if a.model_only:
        md = bench_model(key, n)
        print(f"7. trailblazer + a slot reading score.bench_intent (20 features): median {md['with_model']['median_us']:.1f} us "
              f"vs {md['without_model']['median_us']:.1f} us reading a signal -> {md['ratio']:.2f}x  (target <= 1.5x)", flush=True)
        out = Path(a.out).with_name("runtime_model.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
                                   "model": md}, indent=2))
        print(f"wrote {out}")
        return 0

    tb = bench_trailblazer(key, n)
    print(f"1. trailblazer decide(), all {tb['slots']} slots, {len(PROFILES)} visitor profiles: "
          f"median {tb['median_us']:.1f} us, p99 {tb['p99_us']:.1f} us  (target median < 15 us)", flush=True)
    sc = bench_scaling(key, n)
    print(f"2. 5 slots: 10,000-rule bundle median {sc['10000']['median_us']:.1f} us vs 100-rule {sc['100']['median_us']:.1f} us "
          f"-> {sc['ratio_10000_vs_100']:.2f}x  (targets < 50 us, < 2x)", flush=True)
    print(f"3. load + verify + prepare: 10,000 rules {sc['10000']['load_s'] * 1000:.0f} ms "
          f"({sc['10000']['bundle_bytes']:,} bytes), 100 rules {sc['100']['load_s'] * 1000:.1f} ms  (target < 300 ms); "
          f"a slot's first decide (prepares it) median {sc['10000']['first_decide_per_slot_us']:.0f} us, "
          f"max {sc['10000']['first_decide_per_slot_max_us']:.0f} us; preparing all "
          f"{sc['10000']['slots_in_bundle']:,} slots {sc['10000']['warm_all_s'] * 1000:.0f} ms", flush=True)
    pv = bench_provider(key, n)
    print(f"6. OpenFeature provider, hero slot: direct runtime call median {pv['direct']['median_us']:.2f} us, provider "
          f"{pv['provider']['median_us']:.2f} us -> +{pv['overhead_median_us']:.2f} us (target <= 2 us); "
          f"through the OpenFeature SDK client {pv['sdk_client']['median_us']:.1f} us", flush=True)
    md = bench_model(key, n)
    print(f"7. trailblazer + a slot reading score.bench_intent (20 features): median {md['with_model']['median_us']:.1f} us "
          f"vs {md['without_model']['median_us']:.1f} us reading a signal -> {md['ratio']:.2f}x  (target <= 1.5x)", flush=True)
    peers = bench_peers(key, n, 200 if a.quick else 2_000)
    print("4. one condition, median per evaluation (us):")
    print(f"   {'condition':34} {'strata':>7} {'lambda':>7} {'GrowthBook':>10} {'cel-python':>10} {'x celpy':>8} {'x GB':>6} {'/lambda':>8}")
    for r in peers:
        print(f"   {r['name']:34} {r['strata_us']:7.2f} {r['lambda_us']:7.2f} {r['growthbook_us']:10.2f} {r['celpy_us']:10.1f} "
              f"{r['x_vs_celpy']:8.0f} {r['x_vs_growthbook']:6.1f} {r['strata_vs_lambda']:8.2f}")
    print("   targets: >= 500x cel-python, >= 10x GrowthBook, <= 2x the hand-written lambda")
    rx = bench_regex(key, n)
    print(f"5. regex condition {REGEX_PATTERN} on an adversarial input ('a' * (n - 1) + '!'), per evaluation:")
    print(f"   {'input':10} {'strata (RE2)':>14} {'Python re':>16}")
    for r in rx:
        py = "not run" if r.get("python_re_note") else ("> 60 s" if r["python_re_s"] is None else f"{r['python_re_s']:.2f} s")
        print(f"   {r['input']:10} {r['strata_re2_us']:11.2f} us {py:>16}")
    print("   Python re doubles per character (backtracking); RE2 is linear in the input")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "trailblazer": tb, "scaling": sc, "peers": peers, "regex": rx, "openfeature_provider": pv, "model": md,
    }, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
