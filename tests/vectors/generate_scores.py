"""``scores.json``: the vectors of docs/models.md "Scores at decision time" (written by
``python -m tests.vectors.generate`` with the others).

Layout (stable; the JavaScript runtime reads it):

``sigmoid``: ``[{"z": repr, "expect": repr}]`` - ``z`` and the sigmoid's result as Python's
``repr`` of the double (shortest round-trip decimal: ``Number(s)`` in JavaScript parses it to the
same double), so ``expect`` is compared bit for bit. Clamps (|z| >= 36), tiny values, the
boundaries where the power of two of the range reduction changes, and random values.

``signals``: ``[{"name", "type"}]`` - the signal table the models' ``signal`` indexes refer to.
``models``: the payload's ``models`` exactly as in a bundle (docs/bundle-format.md).
``cases``: ``[{"name", "signals": {name: tagged value}, "levels": [[level index per feature] per
model], "scores": [repr per model]}]`` - ``signals`` is the map conditions read (defaults merged,
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


def score_vectors() -> dict[str, Any]:
    from runtime.score import build_models
    from tests.runtime.model_payloads import BASE_PAYLOAD, models_payload

    payload = models_payload()
    signals = [{"name": s["name"], "type": s["type"]} for s in BASE_PAYLOAD["signals"]]
    models = build_models(payload["models"], [s["name"] for s in signals], [s["type"] for s in signals])
    cases = []
    for name, s in level_signal_sets():
        levels = [m.levels(s) for m in models]
        scores = [m.score_of(lv) for m, lv in zip(models, levels)]
        assert scores == [m.score(s) for m in models], name
        cases.append({"name": name, "signals": {k: tagged(v) for k, v in s.items()},
                      "levels": [list(lv) for lv in levels], "scores": [repr(x) for x in scores]})
    return {"sigmoid": sigmoid_cases(), "signals": signals, "models": payload["models"], "cases": cases}
