"""``scores.json``: the vectors of docs/models.md "Scores at decision time" (written by
``python -m tests.vectors.generate`` with the others).

Layout (stable; the JavaScript runtime reads it):

``sigmoid``: ``[{"z": repr, "expect": repr}]`` - ``z`` and the sigmoid's result as Python's
``repr`` of the double (shortest round-trip decimal: ``Number(s)`` in JavaScript parses it to the
same double), so ``expect`` is compared bit for bit. Clamps (|z| >= 36), tiny values, the
boundaries where the power of two of the range reduction changes, and random values.

``signals``: ``[{"name", "type"}]`` - the signal table the models' ``signal`` indexes refer to.
``models``: the payload's ``models`` exactly as in a bundle (docs/bundle-format.md).
``buckets``: ``[{"z": repr, "bucket", "name"}]`` - the counting bucket of a log-odds as a cookie
stores it, and its row name (runtime/score.py ``score_bucket``, ``bucket_name``).
``uplift_buckets``: ``[{"u": repr, "bucket", "name"}]`` - the same for an uplift score
(``uplift_bucket``, ``uplift_bucket_name``). ``calibration_tags``, ``uplift_labels``: per model of
``models``, its ``calibration_tag`` and the label of its ``@uplift`` rows.
``calibration``: ``{"knots", "cases": [{"z": repr, "expect": repr}]}`` - one calibration map.
``cases``: ``[{"name", "signals": {name: tagged value}, "levels": [[level index per feature] per
model], "scores": [repr per model]}]`` (models with a calibration and a cross among them) - ``signals`` is the map conditions read (defaults merged,
consent-stripped: a signal not listed is absent) in the tagged form of cel.json's bindings
(``{"int": "5"}``, ``{"uint": "5"}``, ``{"double": 2.5}``, ``{"list": [...]}``, ``{"map": [[k, v]]}``).
"""

from __future__ import annotations

import math
import random
from typing import Any

from runtime.score import sigmoid
from runtime.values import UInt


def tagged(v: Any) -> Any:
    """A Python value in the corpus's tagged form (tests/conformance/data/README.md)."""
    if type(v) is bool:
        return {"bool": v}
    if type(v) is UInt:
        return {"uint": str(int(v))}
    if type(v) is int:
        return {"int": str(v)}
    if type(v) is float:
        return {"double": v if math.isfinite(v) else ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))}
    if type(v) is str:
        return {"string": v}
    if type(v) is list:
        return {"list": [tagged(x) for x in v]}
    if type(v) is dict:
        return {"map": [[tagged(k), tagged(x)] for k, x in v.items()]}
    raise TypeError(type(v))


def sigmoid_cases() -> list[dict[str, str]]:
    rng = random.Random(18)
    zs = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-17, -1e-17, 1e-8, 0.5, -0.5, 1.0, -1.0, 2.0, 10.0, -10.0,
          35.999999999999, 36.0, -36.0, 36.000000001, -36.000000001, 37.0, -37.0, 50.0, -50.0, 1000.0, -1000.0, 3250.0, -3250.0]
    for k in range(-53, 54):  # where round(x / ln 2) changes: (k + 1/2) ln 2, and its neighbours
        b = (k + 0.5) * 0.6931471805599453
        zs += [b, math.nextafter(b, math.inf), math.nextafter(b, -math.inf)]
    zs += [rng.uniform(-40.0, 40.0) for _ in range(300)] + [rng.uniform(-1.0, 1.0) for _ in range(100)]
    return [{"z": repr(z), "expect": repr(sigmoid(z))} for z in zs]


def level_signal_sets() -> list[tuple[str, dict[str, Any]]]:
    """Named signal maps over tests/runtime/model_payloads.py's signals: every level of every
    feature kind, the absent signal, CEL type strictness, edge boundaries, NaN and infinities."""
    rng = random.Random(1818)
    sets: list[tuple[str, dict[str, Any]]] = [
        ("all-absent", {}),
        ("declared-values", {"tier": "gold", "flag": False, "n": 1, "u": UInt(3)}),
        ("other-values", {"tier": "Gold", "flag": True, "n": 5, "u": UInt(4)}),
        ("uint-as-declared", {"u": UInt(3)}),
        ("empty-lists", {"tags": [], "nums": [], "anys": [], "m": {}}),
        ("contains-yes", {"tags": ["boots", "tents"], "nums": [1, 7], "anys": [2, 1], "m": {"k": 0}}),
        ("dyn-strict-bool", {"anys": [True]}),
        ("dyn-strict-double", {"anys": [1.0]}),
        ("dyn-strict-uint", {"anys": [UInt(1)]}),
        ("dyn-strict-string", {"anys": ["1"]}),
        ("dyn-strict-mixed", {"anys": [True, 1.0, UInt(1), "1", 1]}),
        ("map-other-key", {"m": {"K": 1, "kk": 2}}),
        ("double-nan", {"d": math.nan}),
        ("double-inf", {"d": math.inf}),
        ("double-minus-inf", {"d": -math.inf}),
        ("int-extremes-low", {"n": -(2**63), "beh": -(2**63)}),
        ("int-extremes-high", {"n": 2**63 - 1, "beh": 2**63 - 1}),
    ]
    for e in (2, 4, 8):
        sets += [(f"n-below-{e}", {"n": e - 1}), (f"n-at-{e}", {"n": e})]
    for e in (0.5, 2.5):
        sets += [(f"d-below-{e}", {"d": math.nextafter(e, -math.inf)}), (f"d-at-{e}", {"d": e}), (f"d-above-{e}", {"d": math.nextafter(e, math.inf)})]
    for i in range(60):
        s: dict[str, Any] = {}
        if rng.random() < 0.8:
            s["tier"] = rng.choice(["gold", "silver", "bronze", ""])
        if rng.random() < 0.8:
            s["n"] = rng.randint(-3, 12)
        if rng.random() < 0.8:
            s["d"] = rng.choice([0.5, 2.5, rng.uniform(-1, 4)])
        if rng.random() < 0.8:
            s["flag"] = rng.random() < 0.5
        if rng.random() < 0.8:
            s["tags"] = rng.sample(["tents", "boots", "packs"], rng.randint(0, 3))
        if rng.random() < 0.8:
            s["nums"] = [rng.randint(5, 9) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.8:
            s["anys"] = [rng.choice([1, 2, True, 1.5, "x"]) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.8:
            s["m"] = {k: 1 for k in rng.sample(["k", "j"], rng.randint(0, 2))}
        if rng.random() < 0.8:
            s["u"] = UInt(rng.randint(2, 4))
        if rng.random() < 0.8:
            s["beh"] = rng.randint(-1, 3)
        sets.append((f"random-{i}", s))
    return sets


def calibration_knots(seed: int, n: int) -> list[list[float]]:
    """Knots as strata train writes them: z ascending at 4 decimals, p non-decreasing at 6, with flat runs."""
    rng = random.Random(seed)
    z, p, out = -6.0 + rng.random(), rng.random() * 0.01, []
    for _ in range(n):
        out.append([round(z, 4), round(p, 6)])
        z += 0.125 + rng.random() * 0.4
        p = min(p + (0.0 if rng.random() < 0.25 else rng.random() * 0.06), 1.0)
    return out


def calibrated_models(signals: list[str]) -> list[dict[str, Any]]:
    """Models scoring through a calibration and a cross: ``intent_cal`` (the first five features
    and ``tier x tents``, calibrated), ``lift_cal`` (uplift, each arm calibrated) and
    ``intent_cal_flat`` (calibrated, no cross: each runtime's fast path)."""
    from tests.runtime.model_payloads import FEATURES, model, weights_for

    feats = FEATURES[:5]
    tier_tents = {"id": "tier_tents", "kind": "cross", "args": [0, 4],
                  "levels": [f"{a}|{b}" for a in ("gold", "silver", "(other)", "(absent)") for b in ("no", "yes", "(absent)")]}
    cross_w = [round(((j * 5) % 7 - 3) * 0.21, 6) for j in range(12)]
    plain = model("intent_cal", feats, [{"bias": -1.1, "weights": weights_for(feats, 0.05) + [cross_w],
                                         "calibration": calibration_knots(23, 40)}], signals)
    plain["features"].append(tier_tents)
    lift = model("lift_cal", feats[:3], [{"bias": 0.1, "weights": weights_for(feats[:3], 0.2), "calibration": calibration_knots(24, 12)},
                                         {"bias": -0.2, "weights": weights_for(feats[:3], -0.1), "calibration": calibration_knots(25, 1)}],
                 signals, uplift={"experiment": 0, "treatment": "a", "control": "b"})
    flat = model("intent_cal_flat", feats[:4], [{"bias": -0.6, "weights": weights_for(feats[:4], -0.05),
                                                 "calibration": calibration_knots(28, 24)}], signals)
    return [plain, lift, flat]


def bucket_cases() -> list[dict[str, Any]]:
    """The log-odds bucket (and its name) of z at and beside every bucket edge, the clamps and random z."""
    from runtime.format import SCORE_BUCKETS
    from runtime.score import bucket_name, score_bucket

    rng = random.Random(64)
    zs = [0.0, -0.0, 1e-300, -1e-300, 3250.0, -3250.0, -8.0, 8.0, 7.999999999999999]
    for i in range(SCORE_BUCKETS.buckets + 1):
        e = SCORE_BUCKETS.low + i / SCORE_BUCKETS.per_unit
        zs += [e, math.nextafter(e, math.inf), math.nextafter(e, -math.inf)]
    zs += [rng.uniform(-12.0, 12.0) for _ in range(200)]
    return [{"z": repr(z), "bucket": score_bucket(z), "name": bucket_name(score_bucket(z))} for z in zs]


def uplift_bucket_cases() -> list[dict[str, Any]]:
    """The uplift bucket (and its name) of u at and beside every bucket edge, the clamps, the sums
    a calibrated uplift can be (differences of two probabilities) and random u."""
    from runtime.format import UPLIFT_BUCKETS
    from runtime.score import sigmoid, uplift_bucket, uplift_bucket_name

    rng = random.Random(65)
    us = [0.0, -0.0, 1e-300, -1e-300, 1.0, -1.0, -0.5, 0.5, 0.49999999999999994, 0.05, -0.05, 0.1, 0.3]
    for i in range(UPLIFT_BUCKETS.buckets + 1):
        e = UPLIFT_BUCKETS.low + i / UPLIFT_BUCKETS.per_unit
        us += [e, math.nextafter(e, math.inf), math.nextafter(e, -math.inf), e + 0.5 / UPLIFT_BUCKETS.per_unit]  # edges, centre
    us += [sigmoid(rng.uniform(-6.0, 6.0)) - sigmoid(rng.uniform(-6.0, 6.0)) for _ in range(200)]
    us += [rng.uniform(-0.2, 0.2) for _ in range(100)]
    return [{"u": repr(u), "bucket": uplift_bucket(u), "name": uplift_bucket_name(uplift_bucket(u))} for u in us]


def calibration_cases() -> dict[str, Any]:
    """One calibration map at its knots, beside them, between and beyond them."""
    from runtime.score import calibration

    knots = calibration_knots(26, 30)
    m = calibration(knots)
    rng = random.Random(27)
    zs = [-1000.0, 1000.0]
    for z, _ in knots:
        zs += [z, math.nextafter(z, math.inf), math.nextafter(z, -math.inf)]
    zs += [rng.uniform(knots[0][0] - 1, knots[-1][0] + 1) for _ in range(200)]
    return {"knots": knots, "cases": [{"z": repr(z), "expect": repr(m(z))} for z in zs]}


def score_vectors() -> dict[str, Any]:
    from runtime.score import build_models, uplift_label
    from tests.runtime.model_payloads import BASE_PAYLOAD, SIGNALS, models_payload

    payload = models_payload()
    payload["models"] += calibrated_models(SIGNALS)
    signals = [{"name": s["name"], "type": s["type"]} for s in BASE_PAYLOAD["signals"]]
    models = build_models(payload["models"], [s["name"] for s in signals], [s["type"] for s in signals])
    cases = []
    for name, s in level_signal_sets():
        levels = [m.levels(s) for m in models]
        scores = [m.score_of(lv) for m, lv in zip(models, levels)]
        assert scores == [m.score(s) for m in models], name
        cases.append({"name": name, "signals": {k: tagged(v) for k, v in s.items()},
                      "levels": [list(lv) for lv in levels], "scores": [repr(x) for x in scores]})
    return {"sigmoid": sigmoid_cases(), "buckets": bucket_cases(), "uplift_buckets": uplift_bucket_cases(), "calibration": calibration_cases(),
            "signals": signals, "models": payload["models"], "cases": cases,
            "calibration_tags": [m.calibration_tag for m in models], "uplift_labels": [uplift_label(m.fit, m.calibration_tag) for m in models]}


def model_refusal_cases(base: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any], str]]:
    """refused.json cases for the payload's ``models`` and op 18 (SCORE), over the refused.json base
    payload: a valid model (accepted, and read by a rule), then one malformed shape per case."""
    from tests.runtime.model_payloads import level_names, model

    names = [s["name"] for s in base["signals"]]
    feats = [
        {"id": "text", "signal": "text", "kind": "values", "args": ["x", "y"]},
        {"id": "hour", "signal": "time.hour", "kind": "edges", "args": [6, 18]},
        {"id": "cart", "signal": "cart.value", "kind": "edges", "args": [0.5, 50.0]},
        {"id": "words", "signal": "words", "kind": "contains", "args": ["w"]},
        {"id": "bought", "signal": "session.purchased", "kind": "values", "args": [False, True]},
    ]
    weights = [[0.25 * (j - 1) for j in range(len(level_names(f["kind"], f["args"])))] for f in feats]
    good = model("m", feats, [{"bias": -1.0, "weights": weights}], names, goal="g")
    exp = next(i for i, e in enumerate(base["experiments"]) if e["id"] == "e")
    score_gt = [12, "_>_", "double,double", [18, 0], [0, 0.5]]

    def with_model(change: Any = None, when: Any = None) -> Any:
        def f(p: dict[str, Any]) -> None:
            import copy

            p["goals"] = ["g"]
            p["models"] = [copy.deepcopy(good)]
            if change is not None:
                change(p["models"][0], p)
            if when is not None:
                p["slots"][0]["candidates"][0]["when"] = when
        return f

    def feature(i: int, **kv: Any) -> Any:
        return lambda m, p: m["features"][i].update(kv)

    def cross(m: dict[str, Any], fid: str = "text_hour", **kv: Any) -> None:
        """Append a cross of features 0 and 1 (text x hour: 4 x 4 levels) and its weights."""
        f = {"id": fid, "kind": "cross", "args": [0, 1], "levels": [f"{a}|{b}" for a in level_names("values", ["x", "y"])
                                                                       for b in level_names("edges", [6, 18])]} | kv
        m["features"].append(f)
        for st in m["sets"]:
            st["weights"].append([0.1] * 16)

    def uplift(u: Any) -> Any:
        def f(m: dict[str, Any], p: dict[str, Any]) -> None:
            m["uplift"] = u
            m["sets"].append({"bias": 0.0, "weights": [[0.0] * len(w) for w in weights]})
        return f

    return [
        ("accepted: a model", with_model(), {}, "accepted"),
        ("accepted: a rule reading score.m", with_model(when=score_gt), {}, "accepted"),
        ("accepted: an uplift model of an experiment", with_model(uplift({"experiment": exp, "treatment": "a", "control": "b"})), {}, "accepted"),
        ("accepted: an uplift model of a rule vs the holdout", with_model(uplift({"slot": "s", "rule": "r"})), {}, "accepted"),
        ("SCORE of a model that does not exist", with_model(when=[12, "_>_", "double,double", [18, 1], [0, 0.5]]), {}, "invalid_ir"),
        ("SCORE without models", lambda p: p["slots"][0]["candidates"][0].update(when=score_gt), {}, "invalid_ir"),
        ("SCORE used as an int", with_model(when=[12, "_>_", "int,int", [18, 0], [0, 1]]), {}, "invalid_ir"),
        ("unknown model field", with_model(lambda m, p: m.update({"x-extra": 1})), {}, "invalid_ir"),
        ("unknown feature field", with_model(feature(0, **{"x-extra": 1})), {}, "invalid_ir"),
        ("model goal not among the goals", with_model(lambda m, p: m.update(goal="other")), {}, "invalid_ir"),
        ("spec not 8 hex digits", with_model(lambda m, p: m.update(spec="xyz")), {}, "invalid_ir"),
        ("values literal of another type", with_model(feature(0, args=["x", 1])), {}, "invalid_ir"),
        ("bool values given as ints", with_model(feature(4, args=[0, 1])), {}, "invalid_ir"),
        ("values not distinct", with_model(feature(0, args=["x", "x"])), {}, "invalid_ir"),
        ("values feature on a list signal", with_model(feature(0, signal=names.index("words"))), {}, "invalid_ir"),
        ("edges not ascending", with_model(feature(1, args=[18, 6])), {}, "invalid_ir"),
        ("edges on a string signal", with_model(feature(1, signal=names.index("text"))), {}, "invalid_ir"),
        ("contains literal of another type", with_model(feature(3, args=[1])), {}, "invalid_ir"),
        ("contains with two literals", with_model(feature(3, args=["w", "v"])), {}, "invalid_ir"),
        ("wrong number of level names", with_model(feature(3, levels=["no", "yes"])), {}, "invalid_ir"),
        ("a weight over 50", with_model(lambda m, p: m["sets"][0]["weights"][0].__setitem__(0, 50.5)), {}, "invalid_ir"),
        ("a bias under -50", with_model(lambda m, p: m["sets"][0].update(bias=-50.5)), {}, "invalid_ir"),
        ("a weight list short of a level", with_model(lambda m, p: m["sets"][0]["weights"][1].pop()), {}, "invalid_ir"),
        ("two coefficient sets without uplift", with_model(lambda m, p: m["sets"].append(m["sets"][0])), {}, "invalid_ir"),
        ("uplift treatment not a variant", with_model(uplift({"experiment": exp, "treatment": "z", "control": "b"})), {}, "invalid_ir"),
        ("uplift of a rule that does not exist", with_model(uplift({"slot": "s", "rule": "nope"})), {}, "invalid_ir"),
        ("17 models", with_model(lambda m, p: p.update(models=[dict(m, id=f"m{i}") for i in range(17)])), {}, "invalid_ir"),
        ("accepted: a calibrated model with a cross", with_model(lambda m, p: (m["sets"][0].update(calibration=[[-2.0, 0.1], [0.0, 0.1], [1.5, 0.7]]),
                                                                               cross(m))), {}, "accepted"),
        ("a calibration log-odds over 50", with_model(lambda m, p: m["sets"][0].update(calibration=[[-2.0, 0.1], [0.0, 50.5]])), {}, "invalid_ir"),
        ("a calibration log-odds decreasing", with_model(lambda m, p: m["sets"][0].update(calibration=[[-2.0, 0.3], [0.0, 0.2]])), {}, "invalid_ir"),
        ("a calibration z not ascending", with_model(lambda m, p: m["sets"][0].update(calibration=[[0.0, 0.1], [0.0, 0.2]])), {}, "invalid_ir"),
        ("a calibration knot of three numbers", with_model(lambda m, p: m["sets"][0].update(calibration=[[0.0, 0.1, 0.2]])), {}, "invalid_ir"),
        ("a calibration of no knot", with_model(lambda m, p: m["sets"][0].update(calibration=[])), {}, "invalid_ir"),
        ("a calibration of 257 knots", with_model(lambda m, p: m["sets"][0].update(calibration=[[i * 0.01, 0.5] for i in range(257)])), {}, "invalid_ir"),
        ("a calibration z not finite", with_model(lambda m, p: m["sets"][0].update(calibration=[[-math.inf, 0.1], [0.0, 0.2]])), {}, "invalid_ir"),
        ("a cross of a later feature", with_model(lambda m, p: cross(m, args=[0, 5])), {}, "invalid_ir"),
        ("a cross of one feature", with_model(lambda m, p: cross(m, args=[0])), {}, "invalid_ir"),
        ("a cross with a signal", with_model(lambda m, p: cross(m, signal=0)), {}, "invalid_ir"),
        ("a cross with a level name short", with_model(lambda m, p: cross(m, levels=[f"l{i}" for i in range(15)])), {}, "invalid_ir"),
        ("a cross of a cross", with_model(lambda m, p: (cross(m), cross(m, args=[0, 5], fid="again"))), {}, "invalid_ir"),
    ]


#: The decisions.json bundle with models: a plain model read by a segment and a rule, an uplift
#: model of the experiment read by a rule, features of every kind over built-in and declared
#: signals (some behavioral: consent), and an experiment with a variant of weight 0 that only a
#: recorded assignment reaches.
MODELS_RULES = """\
strata: 1
name: models
holdout: {percent: 10, salt: hs}
goals: [purchase]
signals:
  tier: {type: string, category: contextual}
  level: {type: int, category: contextual}
  ids: {type: 'list(int)', category: contextual}
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      source: {signal: utm.source, values: [newsletter, google]}
      depth: {signal: session.page_views, edges: [2, 4, 8]}
      tents: {signal: session.recent_categories, contains: tents}
      cart: {signal: cart.value, edges: [0.5, 50.0, 150.0]}
      tier: {signal: tier, values: [gold, silver]}
      level: {signal: level, values: [1, 2, 3]}
      seven: {signal: ids, contains: 7}
      bought: {signal: session.purchased}
    coefficients:
      bias: -1.25
      weights:
        device: {mobile: 0.5, tablet: -0.25, "(other)": -1.0}
        source: {newsletter: 0.75, google: 0.25}
        depth: {"<2": -0.5, "[4,8)": 0.5, ">=8": 1.0, "(absent)": -0.75}
        tents: {"yes": 1.0, "(absent)": -0.5}
        cart: {"[0.5,50.0)": 0.25, "[50.0,150.0)": 0.5, ">=150.0": 1.25}
        tier: {gold: 0.625, silver: 0.125, "(other)": -0.375, "(absent)": 0.0625}
        level: {"1": -0.25, "3": 0.25}
        seven: {"yes": 0.375, "(absent)": -0.125}
        bought: {"true": -2.0}
  lift:
    goal: purchase
    uplift: {experiment: kit, treatment: bundle, control: ship}
    features:
      device: {signal: device.type, values: [mobile]}
      source: {signal: utm.source, values: [newsletter]}
    coefficients:
      treatment: {bias: 0.25, weights: {device: {mobile: 0.5}, source: {newsletter: -0.5}}}
      control: {bias: 0.0, weights: {device: {mobile: -0.25}, source: {newsletter: 0.5}}}
segments:
  - {id: everyone, layer: broad, when: 'true'}
  - {id: likely, layer: mid, when: 'score.intent > 0.5'}
slots:
  - id: hero
    default: {v: default}
    rules:
      - {id: likely-hero, segment: likely, content: {v: likely}}
      - {id: maybe-hero, when: 'score.intent > 0.2 && device.type == "mobile"', content: {v: maybe}}
  - id: recs
    default: {v: default}
    rules:
      - {id: lift-recs, when: 'score.lift > 0.05', content: {v: lift}}
  - id: offer
    default: {v: default}
experiments:
  - id: kit
    slot: offer
    audience: everyone
    traffic: 80
    variants: [{id: bundle, weight: 50, content: {v: bundle}}, {id: ship, weight: 50, content: {v: ship}}, {id: old, weight: 0, content: {v: old}}]
"""


def model_signals(rng: random.Random) -> dict[str, Any]:
    """A request's signals for the models bundle, as JSON gives them (doubles never integral)."""
    s: dict[str, Any] = {}
    if rng.random() < 0.9:
        s["device.type"] = rng.choice(["mobile", "desktop", "tablet", "bot"])
    if rng.random() < 0.7:
        s["utm.source"] = rng.choice(["newsletter", "google", "blog", ""])
    if rng.random() < 0.8:
        s["session.page_views"] = rng.choice([1, 2, 3, 4, 7, 8, 20])
    if rng.random() < 0.7:
        s["session.recent_categories"] = rng.sample(["tents", "packs", "boots"], rng.randint(0, 2))
    if rng.random() < 0.6:
        s["cart.value"] = rng.choice([0.25, 0.5, 49.5, 50.5, 150.5, 300.25])
    if rng.random() < 0.7:
        s["tier"] = rng.choice(["gold", "silver", "bronze"])
    if rng.random() < 0.6:
        s["level"] = rng.randint(0, 4)
    if rng.random() < 0.5:
        s["ids"] = [rng.randint(5, 8) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.5:
        s["session.purchased"] = rng.random() < 0.3
    return s


def model_assignments(rng: random.Random) -> dict[str, str] | None:
    """What a visitor's cookie may have recorded: nothing, a current variant, the weight-0 one, one
    the bundle no longer has, or an assignment to an experiment the bundle does not have."""
    return rng.choice([None, {"kit": "bundle"}, {"kit": "ship"}, {"kit": "old"}, {"kit": "gone"}, {"other": "a"}])
