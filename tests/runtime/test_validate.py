"""runtime/validate.py on the payload's ``models`` and IR op 18 (SCORE): every malformed shape is
refused with InvalidIR naming the field, the well-formed bundle loads."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import BundleError, InvalidIR, Runtime
from runtime.format import Op
from tests.runtime.model_payloads import NOW, SIGNALS, TRUSTED, load, models_payload, score_gt, sign

GOOD = models_payload()

Mutation = Callable[[dict[str, Any], Any], None]


def m0(p: dict[str, Any]) -> dict[str, Any]:
    return p["models"][0]  # type: ignore[no-any-return]


def feat(p: dict[str, Any], fid: str) -> dict[str, Any]:
    return next(f for f in m0(p)["features"] if f["id"] == fid)


def set_when(p: dict[str, Any], when: Any) -> None:
    p["slots"][0]["candidates"][0]["when"] = when


#: (expected text in the error, mutation(payload, drawn value)). The drawn value is any JSON-ish
#: scalar or small container, used where a mutation replaces something with garbage.
MUTATIONS: list[tuple[str, Mutation]] = [
    ("models", lambda p, x: p.__setitem__("models", {"a": 1})),
    ("more than 16", lambda p, x: p.__setitem__("models", [copy.deepcopy(m0(p)) | {"id": f"m{i}"} for i in range(17)])),
    ("unknown field", lambda p, x: m0(p).__setitem__("description", "x")),
    ("unknown field", lambda p, x: m0(p)["features"][0].__setitem__("bins", [1])),
    ("unknown field", lambda p, x: m0(p)["sets"][0].__setitem__("scale", 1.0)),
    ("unknown field", lambda p, x: p["models"][1]["uplift"].__setitem__("slot", "hero")),
    ("missing field 'id'", lambda p, x: m0(p).pop("id")),
    ("missing field 'goal'", lambda p, x: m0(p).pop("goal")),
    ("missing field 'sets'", lambda p, x: m0(p).pop("sets")),
    ("missing field 'levels'", lambda p, x: m0(p)["features"][0].pop("levels")),
    ("missing field 'bias'", lambda p, x: m0(p)["sets"][0].pop("bias")),
    ("model id", lambda p, x: m0(p).__setitem__("id", "Intent")),
    ("model id", lambda p, x: p["models"][1].__setitem__("id", "intent")),
    ("goal", lambda p, x: m0(p).__setitem__("goal", "signup")),
    ("hex", lambda p, x: m0(p).__setitem__("spec", "ABCDEF12")),
    ("hex", lambda p, x: m0(p).__setitem__("fit", "1234567")),
    ("more than 64", lambda p, x: m0(p).__setitem__("features", [copy.deepcopy(m0(p)["features"][0]) | {"id": f"f{i}"} for i in range(65)])),
    ("feature ids", lambda p, x: m0(p)["features"][1].__setitem__("id", m0(p)["features"][0]["id"])),
    ("signal index", lambda p, x: m0(p)["features"][0].__setitem__("signal", len(SIGNALS))),
    ("signal index", lambda p, x: m0(p)["features"][0].__setitem__("signal", -1)),
    ("unknown feature kind", lambda p, x: m0(p)["features"][0].__setitem__("kind", "bins")),
    ("literals of the signal", lambda p, x: feat(p, "tier").__setitem__("args", ["gold", 1])),
    ("literals of the signal", lambda p, x: feat(p, "nval").__setitem__("args", [0, True])),
    ("literals of the signal", lambda p, x: feat(p, "nval").__setitem__("args", [0, 2**63])),
    ("literals of the signal", lambda p, x: feat(p, "u").__setitem__("args", [-1])),
    ("literals of the signal", lambda p, x: feat(p, "flag").__setitem__("args", [0, 1])),
    ("not distinct", lambda p, x: feat(p, "tier").__setitem__("args", ["gold", "gold"])),
    ("1..254 values", lambda p, x: feat(p, "tier").__setitem__("args", [])),
    ("1..254 values", lambda p, x: feat(p, "tier").__setitem__("args", [f"v{i}" for i in range(255)])),
    ("values feature needs", lambda p, x: feat(p, "tier").__setitem__("signal", SIGNALS.index("d"))),
    ("values feature needs", lambda p, x: feat(p, "tier").__setitem__("signal", SIGNALS.index("tags"))),
    ("ascending", lambda p, x: feat(p, "n").__setitem__("args", [2, 2, 8])),
    ("ascending", lambda p, x: feat(p, "n").__setitem__("args", [8, 4, 2])),
    ("finite number", lambda p, x: feat(p, "d").__setitem__("args", [0.5, math.inf])),
    ("finite number", lambda p, x: feat(p, "d").__setitem__("args", [math.nan, 2.5])),
    ("number", lambda p, x: feat(p, "d").__setitem__("args", [True, 2.5])),
    ("number", lambda p, x: feat(p, "d").__setitem__("args", ["0.5", 2.5])),
    ("1..254 edges", lambda p, x: feat(p, "n").__setitem__("args", [])),
    ("edges feature needs", lambda p, x: feat(p, "n").__setitem__("signal", SIGNALS.index("tier"))),
    ("contains takes one", lambda p, x: feat(p, "tents").__setitem__("args", ["tents", "boots"])),
    ("contains takes one", lambda p, x: feat(p, "tents").__setitem__("args", [1])),
    ("contains takes one", lambda p, x: feat(p, "seven").__setitem__("args", ["7"])),
    ("contains takes one", lambda p, x: feat(p, "key").__setitem__("args", [1])),
    ("contains feature needs", lambda p, x: feat(p, "tents").__setitem__("signal", SIGNALS.index("tier"))),
    ("level names", lambda p, x: feat(p, "tier")["levels"].pop()),
    ("level names", lambda p, x: feat(p, "tents")["levels"].append("maybe")),
    ("level names", lambda p, x: feat(p, "tents").__setitem__("levels", ["no", "no", "(absent)"])),
    ("level names", lambda p, x: feat(p, "tents").__setitem__("levels", ["no", 1, "(absent)"])),
    ("coefficient set", lambda p, x: m0(p)["sets"].append(copy.deepcopy(m0(p)["sets"][0]))),
    ("coefficient set", lambda p, x: p["models"][1]["sets"].pop()),
    ("weight lists", lambda p, x: m0(p)["sets"][0]["weights"].pop()),
    ("one per level", lambda p, x: m0(p)["sets"][0]["weights"][0].pop()),
    ("one per level", lambda p, x: m0(p)["sets"][0]["weights"].__setitem__(0, x)),
    ("finite number", lambda p, x: m0(p)["sets"][0]["weights"][0].__setitem__(0, math.nan)),
    ("finite number", lambda p, x: m0(p)["sets"][0]["weights"][0].__setitem__(0, True)),
    ("finite number", lambda p, x: m0(p)["sets"][0]["weights"][0].__setitem__(0, "0.1")),
    ("over 50", lambda p, x: m0(p)["sets"][0]["weights"][1].__setitem__(0, 50.5)),
    ("over 50", lambda p, x: m0(p)["sets"][0].__setitem__("bias", -51)),
    ("finite number", lambda p, x: m0(p)["sets"][0].__setitem__("bias", -math.inf)),
    ("experiment index", lambda p, x: p["models"][1]["uplift"].__setitem__("experiment", 5)),
    ("two different variants", lambda p, x: p["models"][1]["uplift"].__setitem__("control", "a")),
    ("two different variants", lambda p, x: p["models"][1]["uplift"].__setitem__("treatment", "z")),
    ("no rule", lambda p, x: p["models"][1].__setitem__("uplift", {"slot": "hero", "rule": "nope"})),
    ("no rule", lambda p, x: p["models"][1].__setitem__("uplift", {"slot": "offer", "rule": "exp"})),
    ("model index", lambda p, x: set_when(p, score_gt(2, 0.5))),
    ("model index", lambda p, x: set_when(p, score_gt(-1, 0.5))),
    ("model index", lambda p, x: set_when(p, [Op.CALL, "_>_", "double, double", [Op.SCORE, 2 if x in (0, 1) else x], [Op.LIT, 0.5]])),
    ("operands", lambda p, x: set_when(p, [Op.CALL, "_>_", "double, double", [Op.SCORE, 0, 1], [Op.LIT, 0.5]])),
    ("argument 1 is double", lambda p, x: set_when(p, [Op.CALL, "_>_", "int, int", [Op.SCORE, 0], [Op.LIT, 1]])),
    ("model index", lambda p, x: (p.pop("models"), set_when(p, score_gt(0, 0.5)))),
]

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=4), st.lists(st.none(), max_size=2))


def refusal(payload: dict[str, Any]) -> BundleError | None:
    rt = Runtime(TRUSTED)
    try:
        rt.load(sign(payload), now=NOW)
    except BundleError as e:
        return e
    return None


@pytest.mark.parametrize("which", range(len(MUTATIONS)), ids=[f"{i}-{e}" for i, (e, _) in enumerate(MUTATIONS)])
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk=JUNK)
def test_validate_refuses_each_malformed_models_shape(which: int, junk: Any) -> None:
    expected, mutate = MUTATIONS[which]
    p = copy.deepcopy(GOOD)
    mutate(p, junk)
    err = refusal(p)
    assert isinstance(err, InvalidIR), f"{expected}: accepted"
    assert expected in str(err), str(err)


def test_validate_accepts_the_good_models_bundle_and_one_without_models() -> None:
    assert refusal(GOOD) is None
    bare = copy.deepcopy(GOOD)
    bare.pop("models")
    for slot in bare["slots"]:
        for c in slot["candidates"]:
            c["when"] = [Op.LIT, True] if c["when"][0] == Op.CALL else c["when"]
    bare["segments"][1]["when"] = bare["segments"][1]["when"][1]
    assert refusal(bare) is None


def test_validate_accepts_limits_at_the_edge() -> None:
    p = copy.deepcopy(GOOD)
    tier = feat(p, "tier")
    tier["args"] = [f"v{i}" for i in range(254)]
    tier["levels"] = tier["args"] + ["(other)", "(absent)"]
    i = m0(p)["features"].index(tier)
    m0(p)["sets"][0]["weights"][i] = [50.0 if j % 2 else -50 for j in range(256)]
    m0(p)["sets"][0]["bias"] = -50.0
    p["models"][1]["uplift"] = {"slot": "hero", "rule": "likely"}
    rt = load(p)
    assert rt.current is not None and rt.current.models[0].score({"tier": "v1"}) > 0
