"""Models in the compiler (compiler/models.py and its uses): features type-checked against their
signals, level names, coefficients inline and from a file, spec/fit hashes, ``score.<model>`` in
CEL (type, reserved name, consent, cost, IR op 18) and the payload's ``models`` array.

Errors are asserted as ``line:col: code: message`` prefixes, like tests/compiler/test_errors.py.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from compiler import cost
from compiler.errors import Diagnostic
from compiler.harness.fixtures import CREATED
from compiler.models import levels_of, spec_hash
from compiler.pipeline import Context, Options, run
from runtime import Runtime, key_id
from runtime.codec import from_columns, to_columns
from runtime.format import Op
from runtime.score import sigmoid
from tests.compiler.helpers import compile_text, errors_of

#: Features over built-in signals of every kind; line numbers below count from this text.
MODEL = """\
strata: 1
name: shop
goals: [purchase]
holdout: {percent: 5}
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      depth: {signal: session.page_views, edges: [2, 4, 8]}
      tents: {signal: session.recent_categories, contains: tents}
      bought: {signal: session.purchased}
    coefficients: {bias: -3.2, weights: {device: {mobile: 0.3}, tents: {yes: 1.2}, depth: {">=8": 2, "[2,4)": 0.5}}}
slots:
  - id: hero
    default: {headline: Hi}
    rules:
      - id: hot
        when: score.intent > 0.4
        content: {headline: Buy}
"""


def payload_models(ctx: Context) -> list[dict[str, Any]]:
    assert ctx.payload is not None
    out: list[dict[str, Any]] = ctx.payload["models"]
    return out


def first_error(text: str, **kw: Any) -> str:
    d = errors_of(text, **kw)[0]
    return f"{d.pos.line}:{d.pos.col}: {d.code}: {d.message}" + (f" ({d.hint})" if d.hint else "")


def with_feature(spec: str, signals: str = "") -> str:
    """MODEL with the 'device' feature replaced by ``spec`` (still on line 9)."""
    text = MODEL.replace("{signal: device.type, values: [mobile, desktop, tablet]}", spec)
    text = text.replace("device: {mobile: 0.3}, ", "")
    return text + (f"signals:\n{signals}" if signals else "")


# ------------------------------------------------------------------------------- payload


def test_models_payload_carries_levels_args_and_signal_indexes() -> None:
    ctx = compile_text(MODEL)
    (m,) = payload_models(ctx)
    assert ctx.ruleset is not None
    sig = list(ctx.ruleset.signals)
    assert [f["id"] for f in m["features"]] == ["device", "depth", "tents", "bought"]
    assert [sig[f["signal"]] for f in m["features"]] == ["device.type", "session.page_views", "session.recent_categories", "session.purchased"]
    assert m["features"][0]["levels"] == ["mobile", "desktop", "tablet", "(other)", "(absent)"]
    assert m["features"][1]["levels"] == ["<2", "[2,4)", "[4,8)", ">=8", "(absent)"]
    assert m["features"][2] == {"id": "tents", "signal": sig.index("session.recent_categories"), "kind": "contains", "args": ["tents"], "levels": ["no", "yes", "(absent)"]}
    assert m["features"][3]["args"] == [False, True] and m["features"][3]["levels"] == ["false", "true", "(other)", "(absent)"]
    assert m["sets"] == [{"bias": -3.2, "weights": [[0.3, 0, 0, 0, 0], [0, 0.5, 0, 2.0, 0], [0, 1.2, 0], [0, 0, 0, 0]]}]
    assert all(type(w) is float for ws in m["sets"][0]["weights"] for w in ws)
    assert m["uplift"] is None and m["goal"] == "purchase"


def test_models_spec_and_fit_are_the_contract_hashes() -> None:
    (m,) = payload_models(compile_text(MODEL))
    spec_src = json.dumps(["purchase", [[f["id"], n, f["kind"], f["args"]] for f, n in zip(m["features"], [
        "device.type", "session.page_views", "session.recent_categories", "session.purchased"])]], separators=(",", ":"))
    assert m["spec"] == hashlib.sha256(spec_src.encode()).hexdigest()[:8]
    fit_src = json.dumps([m["spec"], m["sets"]], separators=(",", ":"))
    assert m["fit"] == hashlib.sha256(fit_src.encode()).hexdigest()[:8]


def test_models_spec_ignores_coefficients_but_fit_follows_them() -> None:
    (a,) = payload_models(compile_text(MODEL))
    (b,) = payload_models(compile_text(MODEL.replace("bias: -3.2", "bias: -1.0")))
    (c,) = payload_models(compile_text(MODEL.replace("edges: [2, 4, 8]", "edges: [2, 4, 9]").replace(">=8", ">=9")))
    assert a["spec"] == b["spec"] and a["fit"] != b["fit"]
    assert c["spec"] != a["spec"]


def test_models_absent_leaves_payload_without_models() -> None:
    text = MODEL.split("models:")[0] + "slots:" + MODEL.split("slots:")[1].replace("score.intent > 0.4", "session.page_views > 3")
    ctx = compile_text(text)
    assert ctx.payload is not None and "models" not in ctx.payload


def test_models_score_lowers_to_op_score_with_model_index() -> None:
    text = MODEL.replace("  intent:\n", "  first:\n    goal: purchase\n    features: {d: {signal: device.type, values: [mobile]}}\n    coefficients: {bias: 0}\n  intent:\n")
    ctx = compile_text(text)
    assert [m["id"] for m in payload_models(ctx)] == ["first", "intent"]
    assert ctx.payload is not None
    when = ctx.payload["slots"][0]["candidates"][0]["when"]
    assert when == [Op.CALL, "_>_", "double,double", [Op.SCORE, 1], [Op.LIT, 0.4]]


@pytest.mark.parametrize(("edges", "names"), [
    ([2.5], ["<2.5", ">=2.5", "(absent)"]),
    ([0.1, 1, 10], ["<0.1", "[0.1,1)", "[1,10)", ">=10", "(absent)"]),
    ([-1e-07, 3.0], ["<-1e-07", "[-1e-07,3.0)", ">=3.0", "(absent)"]),
])
def test_models_edge_level_names_are_numbers_as_written(edges: list[Any], names: list[str]) -> None:
    assert levels_of("edges", edges) == names
    text = with_feature(f"{{signal: cart.value, edges: {yaml.safe_dump(edges, default_flow_style=True).strip()}}}")
    (m,) = payload_models(compile_text(text))
    assert m["features"][0]["levels"] == names and m["features"][0]["args"] == edges


def test_models_value_level_names_for_int_and_bool() -> None:
    assert levels_of("values", [1, -20]) == ["1", "-20", "(other)", "(absent)"]
    assert levels_of("values", [True]) == ["true", "(other)", "(absent)"]


def test_models_contains_on_a_double_list_is_a_double_literal() -> None:
    text = with_feature("{signal: prices, contains: 3}", "  prices: {type: list(double), category: behavioral}\n")
    (m,) = payload_models(compile_text(text))
    assert m["features"][0]["args"] == [3.0] and type(m["features"][0]["args"][0]) is float


def test_models_contains_on_a_map_checks_the_key() -> None:
    (m,) = payload_models(compile_text(with_feature('{signal: page.query, contains: "gclid"}')))
    assert m["features"][0]["kind"] == "contains" and m["features"][0]["args"] == ["gclid"]


# ------------------------------------------------------------------------------- CEL


def test_models_score_is_a_double_in_arithmetic_and_segments() -> None:
    text = MODEL.replace("score.intent > 0.4", "score.intent * 2.0 - 0.5 >= 0.0 && keen").replace(
        "slots:", "segments:\n  - id: keen\n    layer: specific\n    when: score.intent > 0.2\nslots:")
    ctx = compile_text(text)
    assert ctx.ruleset is not None and ctx.ruleset.segments[0].when.models == {"intent"}


@pytest.mark.parametrize(("when", "expected"), [
    ('score.intent == "high"', "19:28: type-mismatch: cannot compare double with string using '=='"),
    ("score > 0.4", "19:15: unknown-model: 'score' alone is not a value: write score.<model> (declared models: intent)"),
    ("score.intnt > 0.4", "19:21: unknown-model: score.intnt: no model 'intnt' is declared (declared models: intent) (did you mean intent?)"),
    ("score.intent.x > 0.4", "19:28: type-mismatch: 'x' cannot be selected from a value of type double"),
    ("score.intent", "19:15: type-mismatch: rule 'hot' must be a bool condition, but this expression is double"),
])
def test_models_score_errors(when: str, expected: str) -> None:
    assert first_error(MODEL.replace("score.intent > 0.4", when)).startswith(expected)


def test_models_score_without_models_lists_none() -> None:
    text = "strata: 1\nname: s\nslots:\n  - id: a\n    default: {}\n    rules:\n      - id: r\n        when: score.x > 0.1\n        content: {}\n"
    assert first_error(text) == "8:21: unknown-model: score.x: no model 'x' is declared (no model is declared under 'models:') (declare it under 'models:')"


def test_models_comprehension_variable_named_score_shadows_the_namespace() -> None:
    text = MODEL.replace("score.intent > 0.4", "'[0.1, 0.9].exists(score, score > 0.5)'")
    compile_text(text)


@pytest.mark.parametrize(("extra", "expected"), [
    ("signals:\n  score: {type: double, category: behavioral}\n", "22:3: reserved-name: signal 'score' uses the reserved name 'score'"),
    ("signals:\n  score.mine: {type: double, category: behavioral}\n", "22:3: reserved-name: signal 'score.mine' uses the reserved name 'score'"),
    ("segments:\n  - id: score\n    layer: broad\n    when: 'true'\n", "22:9: reserved-name: segment 'score' uses the reserved name 'score'"),
])
def test_models_score_is_a_reserved_name(extra: str, expected: str) -> None:
    assert first_error(MODEL + extra).startswith(expected)


def test_models_consent_follows_the_feature_signals() -> None:
    ctx = compile_text(MODEL)
    assert ctx.ruleset is not None and ctx.ruleset.models[0].consent and ctx.payload is not None
    assert ctx.payload["slots"][0]["candidates"][0]["consent"] is True
    contextual = MODEL.replace(
        "      depth: {signal: session.page_views, edges: [2, 4, 8]}\n      tents: {signal: session.recent_categories, contains: tents}\n      bought: {signal: session.purchased}\n", "",
    ).replace(", tents: {yes: 1.2}, depth: {\">=8\": 2, \"[2,4)\": 0.5}", "")
    ctx2 = compile_text(contextual)
    assert ctx2.payload is not None and ctx2.payload["slots"][0]["candidates"][0]["consent"] is False


def test_models_consent_propagates_through_segments() -> None:
    text = MODEL.replace("when: score.intent > 0.4", "segment: keen").replace(
        "slots:", "segments:\n  - id: keen\n    layer: specific\n    when: score.intent > 0.2\n  - id: keener\n    layer: specific\n    when: keen && true\nslots:")
    text += "      - id: other\n        segment: keener\n        content: {headline: X}\n"
    ctx = compile_text(text)
    assert ctx.payload is not None
    assert [s["consent"] for s in ctx.payload["segments"]] == [True, True]


def test_models_requires_consent_false_rejects_a_behavioral_score() -> None:
    text = MODEL.replace("        when: score.intent > 0.4\n", "        when: score.intent > 0.4\n        requires_consent: false\n")
    assert first_error(text).startswith("20:27: consent: rule 'hot' is meant for visitors without consent (requires_consent: false) but reads behavioral signal session.page_views")


def test_models_cost_of_a_score_is_one_plus_features() -> None:
    ctx = compile_text(MODEL)
    assert ctx.ruleset is not None
    rule = ctx.ruleset.slots[0].rules[0]
    # _>_ (1) + score (1 + 4 features) + literal (1)
    assert cost.estimate(rule.ir, ctx.ruleset).cost == 1 + (1 + 4) + 1


# ------------------------------------------------------------------------------- feature errors

#: Signal type -> a custom signal declaration of that type.
TYPES = ["string", "int", "uint", "double", "bool", "bytes", "list(string)", "list(int)", "map(string, int)", "list(CartItem)", "dyn"]
FITS = {
    "values": {"string", "int", "uint", "bool"},
    "edges": {"int", "uint", "double"},
    "contains": {"list(string)", "list(int)", "map(string, int)"},
}
SPEC_OF = {"values": "values: [a]", "edges": "edges: [1]", "contains": "contains: a"}


@given(st.sampled_from(TYPES), st.sampled_from(sorted(FITS)))
def test_models_feature_kind_must_fit_the_signal_type(t: str, kind: str) -> None:
    text = with_feature(f"{{signal: custom.sig, {SPEC_OF[kind]}}}", f"  custom.sig: {{type: '{t}', category: behavioral}}\n")
    if t in FITS[kind]:
        return  # the kind fits the type: only the literal may be wrong, tested below
    first = errors_of(text)[0]
    assert (first.pos.line, first.pos.col, first.code) == (9, text.splitlines()[8].index(kind) + 1, "type-mismatch")
    assert first.message.startswith(f"feature 'device': {kind}: needs") and f"custom.sig is {t}" in first.message.replace("'", "")
    assert first.hint


LITERALS: list[tuple[str, str, bool]] = [
    # (signal type, YAML literal, is it a literal of that type?)
    ("string", "a", True), ("string", "1", False), ("string", "true", False), ("string", '"1"', True),
    ("int", "1", True), ("int", "-3", True), ("int", "a", False), ("int", "true", False), ("int", "1.5", False), ("int", "9223372036854775808", False),
    ("uint", "1", True), ("uint", "-1", False), ("uint", "18446744073709551615", True),
    ("bool", "true", True), ("bool", "1", False), ("bool", "yes", True), ("bool", "a", False),
]


@given(st.sampled_from(LITERALS))
def test_models_values_must_be_literals_of_the_signal_type(case: tuple[str, str, bool]) -> None:
    t, lit, ok = case
    text = with_feature(f"{{signal: custom.sig, values: [{lit}]}}", f"  custom.sig: {{type: {t}, category: behavioral}}\n")
    if ok:
        compile_text(text)
        return
    first = errors_of(text)[0]
    assert (first.pos.line, first.code) == (9, "type-mismatch") and "is not a " + t + " literal" in first.message


@given(st.sampled_from([("list(string)", "1", False), ("list(string)", "x", True), ("list(int)", "x", False), ("list(int)", "7", True),
                        ("map(string, int)", "k", True), ("map(string, int)", "2", False), ("map(int, string)", "2", True),
                        ("list(double)", "2", True), ("list(double)", ".nan", False), ("list(bool)", "false", True)]))
def test_models_contains_must_be_a_literal_of_the_element_or_key(case: tuple[str, str, bool]) -> None:
    t, lit, ok = case
    text = with_feature(f"{{signal: custom.sig, contains: {lit}}}", f"  custom.sig: {{type: '{t}', category: behavioral}}\n")
    if ok:
        compile_text(text)
        return
    first = errors_of(text)[0]
    assert (first.pos.line, first.code) == (9, "type-mismatch") and "literal" in first.message


@pytest.mark.parametrize(("spec", "expected"), [
    ("{signal: device.typ, values: [a]}", "9:24: unknown-signal: device.typ is not declared (did you mean device.type?)"),
    ("{signal: device.type, values: [a, b, a]}", "9:52: feature: feature 'device': value 'a' is listed twice"),
    ('{signal: device.type, values: [a, "(other)"]}', "9:49: feature: feature 'device': the value '(other)' is the name of a built-in level"),
    ("{signal: session.page_views, edges: [4, 2]}", "9:55: feature: feature 'device': edges must be strictly ascending, but 4 is followed by 2"),
    ("{signal: session.page_views, edges: [1, 1]}", "9:55: feature: feature 'device': edges must be strictly ascending, but 1 is followed by 1"),
    ("{signal: cart.value, edges: [1, .inf]}", "9:47: feature: feature 'device': edge inf is not a finite number"),
    ("{signal: device.type, values: [a], contains: a}", "9:50: feature: feature 'device' has both values: and contains:"),
    ("{signal: device.type}", "9:7: feature: feature 'device' says nothing about how to read device.type (string)"),
    ("{signal: device.type, values: []}", "9:45: schema: models.intent.features.device.values: [] should be non-empty"),
    ("{signal: device.type, valuse: [a]}", "9:37: schema: unknown field 'valuse' in models.intent.features.device (did you mean values?)"),
])
def test_models_feature_errors(spec: str, expected: str) -> None:
    assert first_error(with_feature(spec)).startswith(expected)


def test_models_too_many_values_is_a_schema_error() -> None:
    values = ", ".join(f"v{i}" for i in range(255))
    assert "models.intent.features.device.values" in first_error(with_feature(f"{{signal: device.type, values: [{values}]}}"))


@pytest.mark.parametrize(("replace", "expected"), [
    (("goal: purchase", "goal: purchases"), "7:11: unknown-goal: goal 'purchases' is not defined (did you mean purchase?)"),
    (("  intent:", "  Intent:"), "6:3: schema: models: 'Intent' is not valid here"),
])
def test_models_declaration_errors(replace: tuple[str, str], expected: str) -> None:
    assert first_error(MODEL.replace(*replace)).startswith(expected)


# ------------------------------------------------------------------------------- coefficients


@pytest.mark.parametrize(("coefficients", "expected"), [
    ("{bias: -3.2, weights: {devise: {mobile: 0.3}}}", "13:42: unknown-feature: model 'intent' has no feature 'devise' (did you mean device?)"),
    ("{bias: -3.2, weights: {device: {mobil: 0.3}}}", "13:51: unknown-level: feature 'device' has no level 'mobil' (did you mean mobile?)"),
    ("{bias: -3.2, weights: {depth: {'>=9': 0.3}}}", "13:50: unknown-level: feature 'depth' has no level '>=9' (did you mean >=8?)"),
    ("{bias: -3.2, weights: {tents: {maybe: 0.3}}}", "13:50: unknown-level: feature 'tents' has no level 'maybe' (levels of tents: no, yes, (absent))"),
    ("{bias: 51, weights: {}}", "13:26: coefficient-range: bias is 51: coefficients must be finite numbers between -50 and 50"),
    ("{bias: 0, weights: {device: {mobile: .nan}}}", "13:56: coefficient-range: weight device/mobile is nan"),
    ("{bias: 0, weights: {device: {mobile: -.inf}}}", "13:56: coefficient-range: weight device/mobile is -inf"),
    ("{weights: {}}", "13:19: schema: models.intent.coefficients is missing the required field 'bias'"),
    ("{treatment: {bias: 0}, control: {bias: 0}}", "13:19: coefficients: model 'intent' is not an uplift model"),
])
def test_models_coefficient_errors(coefficients: str, expected: str) -> None:
    text = MODEL.replace(MODEL.splitlines()[12].split("coefficients: ")[1], coefficients)
    assert first_error(text).startswith(expected)


@given(st.sampled_from(["device", "depth", "tents", "bought"]), st.text(alphabet="abcz<>=[),(0123456789", min_size=1, max_size=6))
def test_models_any_undeclared_level_is_an_error_naming_it(feature: str, level: str) -> None:
    declared = {"device": ["mobile", "desktop", "tablet", "(other)", "(absent)"], "depth": ["<2", "[2,4)", "[4,8)", ">=8", "(absent)"],
                "tents": ["no", "yes", "(absent)"], "bought": ["false", "true", "(other)", "(absent)"]}[feature]
    line = MODEL.splitlines()[12]
    text = MODEL.replace(line, f"    coefficients: {{bias: 0, weights: {{{feature}: {{{json.dumps(level)}: 0.5}}}}}}")
    if level in declared:
        (m,) = payload_models(compile_text(text))
        f = [x["id"] for x in m["features"]].index(feature)
        assert m["sets"][0]["weights"][f][declared.index(level)] == 0.5
        return
    d = errors_of(text)[0]
    assert d.code == "unknown-level" and repr(level) in d.message and d.pos.line == 13


def test_models_yaml_booleans_read_as_the_levels_they_spell() -> None:
    text = MODEL.replace("tents: {yes: 1.2}", "tents: {yes: 1.2, no: -1}, bought: {true: 0.7, false: 0.1}")
    (m,) = payload_models(compile_text(text))
    assert m["sets"][0]["weights"][2] == [-1.0, 1.2, 0.0] and m["sets"][0]["weights"][3] == [0.1, 0.7, 0.0, 0.0]


def test_models_without_coefficients_score_one_half_with_a_warning() -> None:
    text = MODEL.replace(MODEL.splitlines()[12] + "\n", "")
    ctx = compile_text(text)
    (m,) = payload_models(ctx)
    assert m["sets"] == [{"bias": 0.0, "weights": [[0.0] * len(f["levels"]) for f in m["features"]]}]
    assert [w.code for w in ctx.warnings] == ["untrained-model"]


# ------------------------------------------------------------------------------- coefficient files


def write_model(tmp_path: Path, coefficients: Any, file: Any = None) -> Path:
    """The MODEL rule set in tmp_path, its coefficients: set to ``coefficients``; ``file``, if
    given, written (as YAML, or as text) to tmp_path/intent.coefficients.yaml."""
    line = MODEL.splitlines()[12]
    text = MODEL.replace(line, f"    coefficients: {coefficients}")
    rs = tmp_path / "shop.yaml"
    rs.write_text(text)
    if file is not None:
        (tmp_path / "intent.coefficients.yaml").write_text(file if isinstance(file, str) else yaml.safe_dump(file, sort_keys=False))
    return rs


def compile_path(path: Path) -> Context:
    return compile_text(path.read_text(), path=str(path))


def file_errors(path: Path) -> list[Diagnostic]:
    return errors_of(path.read_text(), path=str(path))


def spec_of_model() -> str:
    (m,) = payload_models(compile_text(MODEL))
    return str(m["spec"])


def test_models_coefficient_file_next_to_the_rule_set(tmp_path: Path) -> None:
    spec = spec_of_model()
    rs = write_model(tmp_path, "intent.coefficients.yaml", {"model": "intent", "spec": spec, "bias": -2.0,
                                                             "weights": {"depth": {">=8": 1.5, "[2,4)": 0.25}, "tents": {"yes": 0.8}}})
    ctx = compile_path(rs)
    (m,) = payload_models(ctx)
    assert m["sets"][0]["bias"] == -2.0 and m["sets"][0]["weights"][1] == [0.0, 0.25, 0.0, 1.5, 0.0]
    assert ctx.ruleset is not None and ctx.ruleset.models[0].coefficients_path == str(tmp_path / "intent.coefficients.yaml")
    assert m["spec"] == spec and not ctx.warnings


def test_models_coefficient_file_of_other_features_is_stale(tmp_path: Path) -> None:
    rs = write_model(tmp_path, "intent.coefficients.yaml", {"model": "intent", "spec": "0badc0de", "bias": -2.0})
    (d,) = file_errors(rs)
    assert d.pos.path == str(tmp_path / "intent.coefficients.yaml") and (d.pos.line, d.pos.col) == (2, 7)
    assert str(d).endswith(f"stale-coefficients: these coefficients were fitted for other features (spec 0badc0de, now {spec_of_model()}): run strata train again"
                           " (train on counters of the new spec, or remove the file to publish the new features untrained (every weight 0))")


def test_models_coefficient_file_of_another_model(tmp_path: Path) -> None:
    rs = write_model(tmp_path, "intent.coefficients.yaml", {"model": "other", "bias": -2.0})
    (d,) = file_errors(rs)
    assert (d.pos.line, d.code) == (1, "stale-coefficients") and "for model 'other', not 'intent'" in d.message


def test_models_coefficient_file_errors_point_into_the_file(tmp_path: Path) -> None:
    rs = write_model(tmp_path, "intent.coefficients.yaml", "bias: -2.0\nweights:\n  depth:\n    '>=9': 1.0\n")
    (d,) = file_errors(rs)
    assert str(d).startswith(f"{tmp_path / 'intent.coefficients.yaml'}:4:5: unknown-level: feature 'depth' has no level '>=9'")


def test_models_coefficient_file_schema_and_yaml_errors(tmp_path: Path) -> None:
    rs = write_model(tmp_path, "intent.coefficients.yaml", "bias: -2.0\nfitted: yesterday\n")
    (d,) = file_errors(rs)
    assert str(d).startswith(f"{tmp_path / 'intent.coefficients.yaml'}:2:1: schema: unknown field 'fitted'")
    write_model(tmp_path, "intent.coefficients.yaml", "bias: [\n")
    (d,) = file_errors(rs)
    assert d.code == "yaml-syntax" and d.pos.path.endswith("intent.coefficients.yaml")


def test_models_missing_coefficient_file_is_a_warning_and_zero_weights(tmp_path: Path) -> None:
    rs = write_model(tmp_path, "intent.coefficients.yaml")
    ctx = compile_path(rs)
    (w,) = ctx.warnings
    assert (w.pos.line, w.code) == (13, "untrained-model") and "does not exist yet" in w.message
    (m,) = payload_models(ctx)
    assert m["sets"][0]["bias"] == 0.0 and not any(any(ws) for ws in m["sets"][0]["weights"])


# ------------------------------------------------------------------------------- uplift

UPLIFT_EXP = """\
experiments:
  - id: kit
    slot: hero
    audience: everyone
    variants:
      - {id: bundle, weight: 50, content: {headline: B}}
      - {id: ship, weight: 50, content: {headline: S}}
segments:
  - id: everyone
    layer: broad
    when: 'true'
"""


def uplift_model(uplift: str, coefficients: str = "{treatment: {bias: 0.5, weights: {tents: {yes: 1}}}, control: {bias: -0.5}}") -> str:
    line = MODEL.splitlines()[12]
    return MODEL.replace(line, f"    uplift: {uplift}\n    coefficients: {coefficients}") + UPLIFT_EXP


def test_models_uplift_experiment_is_encoded_by_index() -> None:
    ctx = compile_text(uplift_model("{experiment: kit, treatment: bundle, control: ship}"))
    (m,) = payload_models(ctx)
    assert m["uplift"] == {"experiment": 0, "treatment": "bundle", "control": "ship"}
    assert [s["bias"] for s in m["sets"]] == [0.5, -0.5] and m["sets"][0]["weights"][2] == [0.0, 1.0, 0.0]


def test_models_uplift_rule_versus_holdout() -> None:
    (m,) = payload_models(compile_text(uplift_model("{slot: hero, rule: hot}")))
    assert m["uplift"] == {"slot": "hero", "rule": "hot"} and len(m["sets"]) == 2


@pytest.mark.parametrize(("uplift", "coefficients", "expected"), [
    ("{experiment: kitt, treatment: bundle, control: ship}", None, "13:26: unknown-experiment: experiment 'kitt' is not defined (did you mean kit?)"),
    ("{experiment: kit, treatment: bundel, control: ship}", None, "13:42: unknown-variant: variant 'bundel' is not defined (did you mean bundle?)"),
    ("{experiment: kit, treatment: ship, control: ship}", None, "13:57: uplift: model 'intent': treatment and control are the same variant"),
    ("{slot: hero, rule: kit}", None, "13:32: unknown-rule: rule 'kit' is not defined"),
    ("{slot: her, rule: hot}", None, "13:20: unknown-slot: slot 'her' is not defined (did you mean hero?)"),
    ("{slot: hero, rule: hot}", "{bias: 0}", "14:19: coefficients: model 'intent' is an uplift model"),
    ("{experiment: kit}", None, "13:13: schema: models.intent.uplift is missing the required field"),
])
def test_models_uplift_errors(uplift: str, coefficients: str | None, expected: str) -> None:
    text = uplift_model(uplift, coefficients) if coefficients else uplift_model(uplift)
    assert first_error(text).startswith(expected)


def test_models_uplift_against_the_holdout_needs_one() -> None:
    text = uplift_model("{slot: hero, rule: hot}").replace("holdout: {percent: 5}\n", "")
    assert first_error(text).startswith("12:5: uplift: model 'intent' measures a rule against the holdout, but the rule set has no holdout")


# ------------------------------------------------------------------------------- generated


@st.composite
def declared_features(draw: st.DrawFn) -> list[tuple[str, str, str, list[Any]]]:
    """(id, signal, kind, args) of 1..6 valid features over built-in signals."""
    choices = [
        ("session.page_views", "edges", st.lists(st.integers(-5, 100), min_size=1, max_size=6, unique=True).map(sorted)),
        ("cart.value", "edges", st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=4, unique=True).map(sorted)),
        ("device.type", "values", st.lists(st.sampled_from(["mobile", "desktop", "tablet", "bot", "1", ""]), min_size=1, max_size=4, unique=True)),
        ("session.visit_count", "values", st.lists(st.integers(-3, 9), min_size=1, max_size=4, unique=True)),
        ("session.recent_categories", "contains", st.sampled_from(["tents", "packs"]).map(lambda x: [x])),
    ]
    n = draw(st.integers(1, 6))
    out = []
    for i in range(n):
        sig, kind, args = draw(st.sampled_from(choices))
        out.append((f"f{i}", sig, kind, draw(args)))
    return out


@given(declared_features(), st.floats(-50, 50, allow_nan=False))
def test_models_generated_features_compile_to_their_contract_levels(features: list[tuple[str, str, str, list[Any]]], bias: float) -> None:
    feats = {fid: {"signal": sig, kind: args[0] if kind == "contains" else args} for fid, sig, kind, args in features}
    doc = {"strata": 1, "name": "g", "goals": ["purchase"],
           "models": {"m": {"goal": "purchase", "features": feats, "coefficients": {"bias": bias}}},
           "slots": [{"id": "a", "default": {}, "rules": [{"id": "r", "when": "score.m >= 0.5", "content": {}}]}]}
    ctx = compile_text(yaml.safe_dump(doc, sort_keys=False))
    (m,) = payload_models(ctx)
    assert ctx.ruleset is not None
    names = list(ctx.ruleset.signals)
    for f, (fid, sig, kind, args) in zip(m["features"], features):
        assert (f["id"], names[f["signal"]], f["kind"], f["args"]) == (fid, sig, kind, args)
        assert f["levels"] == levels_of(kind, args)
        assert len(f["levels"]) == {"values": len(args) + 2, "edges": len(args) + 2, "contains": 3}[kind]
        assert len(set(f["levels"])) == len(f["levels"])
    assert m["sets"][0]["bias"] == bias and math.isfinite(m["sets"][0]["bias"])
    assert m["spec"] == spec_hash("purchase", ctx.ruleset.models[0].features)


def test_models_survive_the_gzip_column_layout() -> None:
    ctx = compile_text(uplift_model("{experiment: kit, treatment: bundle, control: ship}"))
    assert ctx.payload is not None
    assert from_columns(to_columns(ctx.payload))["models"] == ctx.payload["models"]


# ------------------------------------------------------------------------------- end to end


def _levels_by_payload(f: dict[str, Any], signals: dict[str, Any], name: str) -> int:
    """The level index of a feature, as the contract defines it (docs/models.md), for plain values."""
    if name not in signals:
        return len(f["levels"]) - 1
    v = signals[name]
    if f["kind"] == "values":
        same = [i for i, a in enumerate(f["args"]) if type(a) is type(v) and a == v]
        return same[0] if same else len(f["args"])
    if f["kind"] == "edges":
        return sum(1 for e in f["args"] if e <= v)
    return 1 if f["args"][0] in v else 0


@given(declared_features(), st.floats(-5, 5, allow_nan=False), st.integers(0, 12), st.sampled_from(["mobile", "desktop", "1"]),
       st.lists(st.sampled_from(["tents", "packs", "stoves"]), max_size=3))
def test_models_compiled_bundle_scores_in_the_runtime_as_the_payload_says(
    features: list[tuple[str, str, str, list[Any]]], bias: float, views: int, device: str, cats: list[str],
) -> None:
    """The runtime (runtime/score.py) loads what the compiler writes, and the score it puts on the
    decision is sigmoid(bias + the weight of each feature's level) over the payload's own tables."""
    feats = {fid: {"signal": sig, kind: args[0] if kind == "contains" else args} for fid, sig, kind, args in features}
    weights = {fid: {lv: round(0.1 * (i + 1) * (j + 1), 3) for j, lv in enumerate(levels_of(kind, args))}
               for i, (fid, _, kind, args) in enumerate(features)}
    doc = {"strata": 1, "name": "g", "goals": ["purchase"],
           "models": {"m": {"goal": "purchase", "features": feats, "coefficients": {"bias": bias, "weights": weights}}},
           "slots": [{"id": "a", "default": {}, "rules": [{"id": "r", "when": "score.m >= 0.5", "content": {"hit": 1}}]}]}
    key = Ed25519PrivateKey.generate()
    ctx = run("g.yaml", Options(key=key, created=CREATED), text=yaml.safe_dump(doc, sort_keys=False))
    assert ctx.bundle is not None and ctx.payload is not None and ctx.ruleset is not None
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    rt.load(ctx.bundle, now=CREATED + 60)
    signals = {"session.page_views": views, "device.type": device, "session.recent_categories": cats}
    out = rt.decide(signals, ["a"], session_id="s", now=CREATED + 60, explain=True)
    (m,) = ctx.payload["models"]
    names = list(ctx.ruleset.signals)
    merged = {n: d.default for n, d in ctx.ruleset.signals.items() if d.default is not None} | signals
    z = m["sets"][0]["bias"]
    for f in m["features"]:
        z = z + m["sets"][0]["weights"][m["features"].index(f)][_levels_by_payload(f, merged, names[f["signal"]])]
    assert out.scores == {"m": sigmoid(z)}
    assert (out.decisions["a"].rule == "r") == (sigmoid(z) >= 0.5)


@pytest.mark.parametrize("uplift", ["{experiment: kit, treatment: bundle, control: ship}", "{slot: hero, rule: hot}"])
def test_models_compiled_uplift_bundle_loads_and_scores_the_difference(uplift: str) -> None:
    key = Ed25519PrivateKey.generate()
    ctx = run("u.yaml", Options(key=key, created=CREATED), text=uplift_model(uplift))
    assert ctx.bundle is not None
    rt = Runtime({key_id(key.public_key()): key.public_key()})
    rt.load(ctx.bundle, now=CREATED + 60)
    out = rt.decide({"session.recent_categories": ["tents"]}, ["hero"], session_id="s", now=CREATED + 60, explain=True)
    # treatment: 0.5 + tents yes 1; control: -0.5 (the other features weigh 0)
    assert out.scores == {"intent": sigmoid(0.5 + 1.0) - sigmoid(-0.5)}


# ------------------------------------------------------------------------------- crosses
CROSSED = MODEL.replace("      bought: {signal: session.purchased}\n",
                        "      bought: {signal: session.purchased}\n      device_tents: {cross: [device, tents]}\n")


def test_models_cross_levels_are_the_combinations_and_its_parts_go_by_index() -> None:
    (m,) = payload_models(compile_text(CROSSED))
    cross = m["features"][4]
    assert cross == {"id": "device_tents", "kind": "cross", "args": [0, 2],
                     "levels": [f"{d}|{t}" for d in ("mobile", "desktop", "tablet", "(other)", "(absent)") for t in ("no", "yes", "(absent)")]}
    assert len(m["sets"][0]["weights"][4]) == 15


def test_models_cross_weights_by_level_name_and_the_runtime_scores_them() -> None:
    text = CROSSED.replace("depth: {\">=8\": 2, \"[2,4)\": 0.5}}", "depth: {\">=8\": 2, \"[2,4)\": 0.5}, device_tents: {\"mobile|yes\": 0.9}}")
    ctx = compile_text(text)
    (m,) = payload_models(ctx)
    assert m["sets"][0]["weights"][4][1] == 0.9  # mobile (0) x yes (1) = level 0 * 3 + 1
    from runtime.score import build_models

    assert ctx.payload is not None
    sigs = ctx.payload["signals"]
    (model,) = build_models(ctx.payload["models"], [s["name"] for s in sigs], [s["type"] for s in sigs])
    s = {"device.type": "mobile", "session.page_views": 1, "session.recent_categories": ["tents"], "session.purchased": False}
    assert list(model.levels(s)) == [0, 0, 1, 0, 1]
    assert model.score(s) == sigmoid(-3.2 + 0.3 + 0.0 + 1.2 + 0.0 + 0.9)


@pytest.mark.parametrize(("cross", "expected"), [
    ("[device, nope]", "13:38: feature: feature 'device_tents': the cross names 'nope', which is not a feature declared above it (features above it: device, depth, tents, bought)"),
    ("[device]", "13:29: schema: models.intent.features.device_tents.cross: ['device'] is too short"),
    ("[device, device]", "13:29: schema: models.intent.features.device_tents.cross: ['device', 'device'] has non-unique elements"),
    ("[device, depth, tents, bought]", "13:29: schema: models.intent.features.device_tents.cross: ['device', 'depth', 'tents', 'bought'] is too long"),
])
def test_models_cross_errors_point_at_the_part(cross: str, expected: str) -> None:
    assert first_error(CROSSED.replace("{cross: [device, tents]}", f"{{cross: {cross}}}")).startswith(expected)


def test_models_cross_of_a_cross_and_with_a_signal_are_errors() -> None:
    twice = CROSSED.replace("      device_tents: {cross: [device, tents]}\n",
                            "      device_tents: {cross: [device, tents]}\n      again: {cross: [device_tents, depth]}\n")
    assert first_error(twice).startswith("14:23: feature: feature 'again': 'device_tents' is a cross itself")
    both = CROSSED.replace("{cross: [device, tents]}", "{cross: [device, tents], signal: device.type}")
    assert first_error(both) == ("13:46: feature: feature 'device_tents': a cross has no signal: (it reads its parts' signals) "
                                 "(remove signal: from device_tents)")


def test_models_cross_of_more_than_256_levels_is_an_error() -> None:
    text = MODEL.replace("      bought: {signal: session.purchased}\n",
                         "      bought: {signal: session.purchased}\n      big: {signal: session.page_views, edges: [" + ", ".join(str(i) for i in range(1, 60))
                         + "]}\n      x: {cross: [device, big]}\n")
    assert first_error(text).startswith("14:11: feature: feature 'x': the cross has 305 levels (5 x 61), more than 256")


# ------------------------------------------------------------------------------- calibration in a coefficient file
def test_models_calibration_ships_for_its_fit_and_is_refused_for_other_weights(tmp_path: Path) -> None:
    body = {"model": "intent", "spec": spec_of_model(), "bias": -2.0, "weights": {"tents": {"yes": 0.8}}}
    rs = write_model(tmp_path, "intent.coefficients.yaml", body)
    (m,) = payload_models(run(str(rs), Options()))
    knots = [[-3.0, 0.01], [-1.0, 0.2], [0.5, 0.2], [2.0, 0.9]]
    write_model(tmp_path, "intent.coefficients.yaml", body | {"calibration": {"fit": m["fit"], "knots": knots}})
    (c,) = payload_models(run(str(rs), Options()))
    assert c["fit"] == m["fit"] and c["sets"][0]["calibration"] == knots  # the fit is the weights'; the knots ride along
    write_model(tmp_path, "intent.coefficients.yaml", body | {"bias": -2.5, "calibration": {"fit": m["fit"], "knots": knots}})
    (d,) = file_errors(rs)
    assert d.code == "stale-calibration" and (d.pos.line, d.pos.col) == (8, 8) and f"fit {m['fit']}" in d.message


@pytest.mark.parametrize(("knots", "message"), [
    ([[-1.0, 0.2], [-1.0, 0.3]], "knots must be strictly ascending in z and non-decreasing in l"),
    ([[-1.0, 0.3], [0.0, 0.2]], "knots must be strictly ascending in z and non-decreasing in l"),
    ([[-1.0, 51.0]], "l a log-odds between -50 and 50"),
])
def test_models_calibration_knots_out_of_shape_are_errors_in_the_file(tmp_path: Path, knots: list[list[float]], message: str) -> None:
    body = {"model": "intent", "spec": spec_of_model(), "bias": -2.0, "calibration": {"fit": "0badc0de", "knots": knots}}
    rs = write_model(tmp_path, "intent.coefficients.yaml", body)
    (d,) = file_errors(rs)
    assert d.code == "calibration" and message in d.message and d.pos.path.endswith("intent.coefficients.yaml")
