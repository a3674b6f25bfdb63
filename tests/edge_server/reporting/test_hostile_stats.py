"""`strata report`, `train` and `rebalance` against hostile stats files and `/metrics` scrapes: every
generated class (hostile value x field x command) ends with exit code 1 and an `error:` line naming the
file and the field (or scrape line), no traceback, no coefficient file and an untouched rule set; and
`strata train` refuses impossible counts summed over a fleet (left > entered, converted > the level's
or the arm's visits, sums beyond 2^53), naming the rows and the instances, writing nothing. The values
are checked by one definition (edge_server/reporting/validate.py) for files, scrapes and Prometheus
(whose hostile answers are test_prometheus_answers.py)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from edge_server.reporting import validate
from edge_server.reporting.training.model_info import models
from runtime.cli import main

RULESET = """\
strata: 1
name: tiny
version: 3
goals: [purchase]
experiments:
  - id: hero-test
    slot: hero
    audience: everyone
    traffic: 100
    salt: hero-test
    variants:
      - {id: a, weight: 50, content: {headline: A}}
      - {id: b, weight: 50, content: {headline: B}}
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop]}
    coefficients: intent.coefficients.yaml
segments:
  - id: everyone
    layer: broad
    when: "true"
slots:
  - id: hero
    default: {headline: Welcome}
"""

COMMANDS = ("report", "train", "rebalance")
#: raw JSON text of a hostile value (a placeholder is replaced by it after json.dumps)
NOT_A_COUNT = ["Infinity", "-Infinity", "NaN", "1e400", "1e300", "-1", "1.5", '"5"', "true", "null", "[]", "{}", "9007199254740993"]
NOT_A_VALUE = ["Infinity", "NaN", "1e400", "-1", '"5"', "null", "[1]"]
NOT_A_STRING = ["5", "null", "[]", "{}", "true", "1e400"]
NOT_AN_OBJECT = ["5", '"x"', "[]", "null", "Infinity"]
NOT_A_LIST = ["5", '"x"', "{}", "Infinity"]
#: field (as the error names it) -> JSON path in the snapshot -> hostile values
FIELDS: list[tuple[str, tuple[Any, ...], list[str]]] = [
    ("exposures[0].count", ("exposures", 0, "count"), NOT_A_COUNT),
    ("conversions[0].count", ("conversions", 0, "count"), NOT_A_COUNT),
    ("conversions[0].value", ("conversions", 0, "value"), NOT_A_VALUE),
    ("cohorts[1].count", ("cohorts", 1, "count"), NOT_A_COUNT),
    ("cohorts[2].value", ("cohorts", 2, "value"), NOT_A_VALUE),
    ("models[0].entered", ("models", 0, "entered"), NOT_A_COUNT),
    ("models[1].left", ("models", 1, "left"), NOT_A_COUNT),
    ("models[2].converted", ("models", 2, "converted"), NOT_A_COUNT),
    ("models[1].level", ("models", 1, "level"), NOT_A_STRING),
    ("exposures[0].slot", ("exposures", 0, "slot"), NOT_A_STRING),
    ("experiments.hero-test.variants[0][1]", ("experiments", "hero-test", "variants", 0, 1), [*NOT_A_COUNT, "10001"]),
    ("experiments.hero-test.variants", ("experiments", "hero-test", "variants"), NOT_A_LIST),
    ("experiments.hero-test", ("experiments", "hero-test"), NOT_AN_OBJECT),
    ("model_specs", ("model_specs",), ["5", '"x"', "[]", "Infinity"]),
    ("model_specs.intent", ("model_specs", "intent"), NOT_AN_OBJECT),
    ("model_specs.intent.features", ("model_specs", "intent", "features"), NOT_AN_OBJECT[:-2]),
    ("model_specs.intent.features.device", ("model_specs", "intent", "features", "device"), NOT_A_LIST),
    ("model_specs.intent.spec", ("model_specs", "intent", "spec"), NOT_A_STRING[:1] + NOT_A_STRING[2:]),
    ("model_specs.intent.uplift", ("model_specs", "intent", "uplift"), ["5", '"x"', "[]"]),
    ("generated", ("generated",), NOT_A_VALUE[:-2]),
    ("models", ("models",), NOT_A_LIST),
]
PLACEHOLDER = "\u2063hostile\u2063"


def _spec(ruleset: Path) -> str:
    return next(m.spec for m in models(str(ruleset)))


def honest(spec: str, instance: str = "edge-1", *, visits: int = 2000, conv: int = 120, left: int = 7) -> dict[str, Any]:
    """A snapshot an honest server could write (train, report and rebalance succeed on it)."""
    rows = [{"model": "intent", "spec": spec, "arm": "", "feature": "*", "level": "*", "entered": visits, "left": 0, "converted": conv}]
    for level, share in (("mobile", 0.6), ("desktop", 0.4)):
        n, x = int(visits * share), int(conv * share)
        rows.append({"model": "intent", "spec": spec, "arm": "", "feature": "device", "level": level, "entered": n + left, "left": left, "converted": x})
    cohorts = [{"experiment": "hero-test", "variant": v, "period": "5000/5000", "event": ev, "goal": "purchase", "count": n, "value": val}
               for v, k in (("a", 0), ("b", 1)) for ev, n, val in (("assigned", 1000, 0.0), ("exposed", 1000, 0.0), ("converted", 40 + 20 * k, 99.5))]
    return {
        "format": "strata-stats/1", "instance": instance, "generated": 1_796_000_000.0, "bundle": {"name": "tiny", "version": 3},
        "experiments": {"hero-test": {"slot": "hero", "variants": [["a", 5000], ["b", 5000]], "traffic_bp": 10000, "period": "5000/5000"}},
        "exposures": [{"slot": "hero", "arm": f"hero-test/{v}", "layer": "experiment", "population": "personalized", "count": 1000} for v in "ab"],
        "conversions": [{"goal": "purchase", "slot": "hero", "arm": f"hero-test/{v}", "layer": "experiment", "population": "personalized",
                         "count": 40 + 20 * k, "value": 99.5} for k, v in enumerate("ab")],
        "models": rows,
        "model_specs": {"intent": {"spec": spec, "fit": None, "goal": "purchase", "uplift": None, "features": {"device": ["mobile", "desktop", "(other)", "(absent)"]}}},
        "cohorts": cohorts,
    }


def hostile_text(snap: dict[str, Any], path: tuple[Any, ...], raw: str) -> str:
    node = snap
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = PLACEHOLDER
    return json.dumps(snap).replace(json.dumps(PLACEHOLDER), raw)


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(RULESET, encoding="utf-8")
    return p


def run(command: str, ruleset: Path, files: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    argv = {"report": ["report", *files], "train": ["train", str(ruleset), *files, "--min-visits", "1", "--min-conversions", "1"],
            "rebalance": ["rebalance", str(ruleset), *files]}[command]
    try:
        code = main(argv)
    except BaseException:  # noqa: BLE001 - the class under test: a traceback instead of an error line
        pytest.fail(f"strata {command} raised instead of answering with an error:\n{traceback.format_exc()}")
    return code, capsys.readouterr().err


def assert_refused(command: str, ruleset: Path, code: int, err: str, *names: str) -> None:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 1 and lines, (command, code, err)
    assert any(names[0] in line for line in lines), (command, names[0], err)  # the error line names the file (and field)
    assert all(n in err for n in names), (command, names, err)
    assert "Traceback" not in err
    assert not (ruleset.parent / "intent.coefficients.yaml").exists(), "a coefficient file was written"
    assert ruleset.read_text(encoding="utf-8") == RULESET, "the rule set was rewritten"


def test_hostile_stats_honest_instance_passes_every_command(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The base the hostile classes alter: every command succeeds on it (so each refusal below is the hostile value's)."""
    good = tmp_path / "edge-1.json"
    good.write_text(json.dumps(honest(_spec(ruleset))), encoding="utf-8")
    assert run("report", ruleset, [str(good)], capsys)[0] == 0
    assert run("rebalance", ruleset, [str(good), "--dry-run"], capsys)[0] == 0
    assert run("train", ruleset, [str(good)], capsys)[0] == 0
    assert (tmp_path / "intent.coefficients.yaml").exists()


def test_hostile_stats_every_value_field_and_command_is_an_error_naming_file_and_field(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every (field, hostile value) pair, each through a command drawn by a seeded generator (each
    command sees every field), next to an honest instance's file."""
    rng = random.Random(22)
    spec = _spec(ruleset)
    good = tmp_path / "edge-2.json"
    good.write_text(json.dumps(honest(spec, "edge-2")), encoding="utf-8")
    seen: dict[str, set[str]] = {c: set() for c in COMMANDS}
    for i, (field, path, values) in enumerate(FIELDS):
        for j, raw in enumerate(values):
            command = COMMANDS[(i + j) % 3] if j < 3 else rng.choice(COMMANDS)
            seen[command].add(field)
            bad = tmp_path / f"hostile-{i}-{j}.json"
            bad.write_text(hostile_text(honest(spec), path, raw), encoding="utf-8")
            code, err = run(command, ruleset, [str(good), str(bad)], capsys)
            assert_refused(command, ruleset, code, err, f"{bad}: {field}")
    assert all(len(s) == len(FIELDS) for s in seen.values()), seen


@pytest.mark.parametrize(("name", "text", "message"), [
    ("deep nesting", '{"format": "strata-stats/1", "models": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ("an integer of 5,000 digits", '{"format": "strata-stats/1", "exposures": [{"count": ' + "9" * 5000 + "}]}", "not a Strata stats snapshot"),
    ("not UTF-8", b'{"format": "strata-stats/1", "instance": "\xff"}', "not UTF-8"),
    ("not an object", '{"format": "strata-stats/1"} [1]', "not JSON"),
    ("a list", "[" * 50 + "]" * 50, "is this a /metrics scrape"),
    ("wrong format", '{"format": "strata-stats/2"}', "not a Strata stats snapshot"),
])
@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_stats_malformed_files_are_an_error_naming_the_file(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], command: str, name: str, text: str | bytes, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, err = run(command, ruleset, [str(bad)], capsys)
    assert_refused(command, ruleset, code, err, f"{bad}: ", message)


@pytest.mark.parametrize(("bound", "suffix", "message"), [
    ("MAX_FILE", ".json", "larger than"), ("MAX_ITEMS", ".json", "JSON values"), ("MAX_SAMPLES", ".prom", "Strata samples")])
@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_stats_a_file_beyond_the_bounds_is_refused(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], command: str,
                                                            bound: str, suffix: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Size, JSON values and scrape samples are bounded before memory grows with them (the real
    bounds, 64 MiB, 4,000,000 and 500,000, are lowered here; the checks are the same)."""
    monkeypatch.setattr(validate, bound, 40)
    bad = tmp_path / f"huge{suffix}"
    bad.write_text(json.dumps(honest(_spec(ruleset))) if suffix == ".json" else SCRAPE * 10, encoding="utf-8")
    code, err = run(command, ruleset, [str(bad)], capsys)
    assert_refused(command, ruleset, code, err, f"{bad}: ", message)


SCRAPE = """\
# TYPE strata_slot_exposures_total counter
strata_slot_exposures_total{slot="hero",arm="hero-test/a",layer="experiment",population="personalized"} 1000
strata_conversions_total{goal="purchase",slot="hero",arm="hero-test/a",layer="experiment",population="personalized"} 40
strata_conversion_value_total{goal="purchase",slot="hero",arm="hero-test/a",layer="experiment",population="personalized"} 99.5
strata_model_visits_total{model="intent",spec="S",arm="",feature="*",level="*",event="entered"} 2000
strata_experiment_variant_weight{experiment="hero-test",variant="a",slot="hero",index="0"} 5000
strata_experiment_cohort_total{experiment="hero-test",variant="a",period="5000/5000",event="exposed",goal=""} 1000
strata_experiment_cohort_value_total{experiment="hero-test",variant="a",period="5000/5000",goal="purchase"} 99.5
"""


def test_hostile_stats_every_scrape_family_value_and_command_is_an_error_naming_file_and_line(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = SCRAPE.splitlines()
    rng = random.Random(53)
    n = 0
    for lineno in range(2, len(lines) + 1):
        value_sum = "value_total" in lines[lineno - 1]
        hostile = ["NaN", "+Inf", "-Inf", "-1", "abc", "1e400"] + ([] if value_sum else ["1.5", "9007199254740993", "1e300"])
        for raw in hostile:
            text = lines.copy()
            text[lineno - 1] = text[lineno - 1].rsplit(" ", 1)[0] + " " + raw
            bad = tmp_path / f"scrape-{n}.prom"
            bad.write_text("\n".join(text) + "\n", encoding="utf-8")
            command = COMMANDS[n % 3] if n < 3 else rng.choice(COMMANDS)
            code, err = run(command, ruleset, [str(bad)], capsys)
            assert_refused(command, ruleset, code, err, f"{bad}: line {lineno} ")
            n += 1
    for broken, message in (('strata_model_visits_total{model="intent",spec="S",arm="",feature="*",level="*",event="bogus"} 1', "event 'bogus'"),
                            ('strata_model_visits_total{model="intent",level="*",event="entered"} 1', "no spec, arm, feature label"),
                            ('strata_slot_exposures_total{slot="hero"} 1', "no arm, layer, population label")):
        bad = tmp_path / f"scrape-{n}.prom"
        bad.write_text(SCRAPE + broken + "\n", encoding="utf-8")
        for command in COMMANDS:
            code, err = run(command, ruleset, [str(bad)], capsys)
            assert_refused(command, ruleset, code, err, f"{bad}: line 9 ", message)
        n += 1


# ---------------------------------------------------------------------------------- impossible counts for train
def _fleet(tmp_path: Path, snaps: list[dict[str, Any]]) -> list[str]:
    out = []
    for s in snaps:
        p = tmp_path / f"{s['instance']}.json"
        p.write_text(json.dumps(s), encoding="utf-8")
        out.append(str(p))
    return out


def _set(snap: dict[str, Any], feature: str, level: str, **counts: int) -> dict[str, Any]:
    row = next(r for r in snap["models"] if r["feature"] == feature and r["level"] == level)
    row.update(counts)
    return snap


def test_hostile_stats_train_refuses_impossible_sums_naming_rows_and_instances(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Generated fleets of 1-4 instances, one row made impossible in sum (left > entered, converted >
    the level's net visits, converted > the arm's visits); and, per instance, what one instance may
    honestly see (a visit leaving or converting where it entered elsewhere) trains when the sums agree."""
    spec = _spec(ruleset)
    rng = random.Random(2**53)
    for case in range(12):
        n = rng.randint(1, 4)
        snaps = [honest(spec, f"edge-{k}", visits=2000, conv=120, left=0) for k in range(n)]
        feature, level = rng.choice([("device", "mobile"), ("device", "desktop"), ("*", "*")])
        row = next(r for r in snaps[-1]["models"] if r["feature"] == feature and r["level"] == level)
        kind = rng.choice(["left", "converted"]) if feature != "*" else "converted"
        fleet_entered = row["entered"] * n
        if kind == "left":
            row["left"] = fleet_entered + rng.randint(1, 50)
            why = "left "
        else:
            row["converted"] = fleet_entered + rng.randint(1, 50)
            why = "converted "
        (tmp_path / f"case-{case}").mkdir()
        files = _fleet(tmp_path / f"case-{case}", snaps)
        code, err = run("train", ruleset, files, capsys)
        assert_refused("train", ruleset, code, err, "error: impossible model counts", f"feature {feature} level {level}", why, f"edge-{n - 1} (")
    # honest per-instance imbalance: edge-1 saw the visits leave and convert that edge-0 saw enter
    a = _set(honest(spec, "edge-0", left=0), "device", "mobile", entered=1500, left=0, converted=0)
    b = _set(honest(spec, "edge-1", visits=0, conv=0, left=0), "device", "mobile", entered=0, left=300, converted=72)
    b["models"] = [r for r in b["models"] if r["level"] == "mobile"]
    code, err = run("train", ruleset, _fleet(tmp_path, [a, b]), capsys)
    assert code == 0, err
    assert (tmp_path / "intent.coefficients.yaml").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_stats_sums_beyond_2_to_53_are_refused_naming_the_instances(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    spec = _spec(ruleset)
    snaps = [honest(spec, f"edge-{k}") for k in range(3)]
    for s in snaps:
        s["models"][0]["entered"] = 2**52  # each a count; the three add up beyond 2^53
        s["exposures"][0]["count"] = 2**52
    code, err = run(command, ruleset, _fleet(tmp_path, snaps), capsys)
    assert_refused(command, ruleset, code, err, "beyond 2^53", "edge-0 (", "edge-1 (", "edge-2 (")


@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_stats_the_installed_cli_prints_an_error_line_not_a_traceback(tmp_path: Path, ruleset: Path, command: str) -> None:
    """Through the real entry point, in a process of its own: `python -m runtime.cli`."""
    bad = tmp_path / "edge-1.json"
    bad.write_text(hostile_text(honest(_spec(ruleset)), ("models", 0, "entered"), "1e300"), encoding="utf-8")
    argv = {"report": ["report"], "train": ["train", str(ruleset)], "rebalance": ["rebalance", str(ruleset)]}[command] + [str(bad)]
    r = subprocess.run([sys.executable, "-m", "runtime.cli", *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert f"error: {bad}: models[0].entered: 1e+300 is not a count" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "intent.coefficients.yaml").exists() and ruleset.read_text(encoding="utf-8") == RULESET


# ---------------------------------------------------------------------------------- counts, but no fleet's
def _mutate(s: dict[str, Any], case: str, rng: random.Random) -> None:
    big = rng.choice([10**6, 10**9, 2**53])
    if case == "conversions beyond exposures":
        for r in s["conversions"]:
            r["count"] = big
    elif case == "cohort conversions beyond exposed":
        for r in s["cohorts"]:
            if r["event"] == "converted":
                r["count"] = big
    elif case == "no variants":
        s["experiments"]["hero-test"]["variants"] = []
    elif case == "duplicate variants":
        s["experiments"]["hero-test"]["variants"] = [["a", 5000], ["a", 5000]]
    elif case == "zero weights and period":
        s["experiments"]["hero-test"]["variants"] = [["a", 0], ["b", 0]]
        for r in s["cohorts"]:
            r["period"] = "0/0"
    elif case == "largest goal values":
        for r in s["conversions"] + s["cohorts"]:
            r["value"] = 1.7e308
    elif case == "counts at 2^53":
        for r in s["exposures"] + s["cohorts"]:
            r["count"] = 2**53


COUNT_CASES = ["conversions beyond exposures", "cohort conversions beyond exposed", "no variants", "duplicate variants",
               "zero weights and period", "largest goal values", "counts at 2^53"]


@pytest.mark.parametrize("case", COUNT_CASES)
def test_hostile_stats_impossible_relations_never_crash_report_or_rebalance(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    """Every value a count, their relations impossible for a real fleet: report and rebalance answer
    (a report, or an error line), never a traceback; rebalance --dry-run writes nothing."""
    rng = random.Random(case)
    s = honest(_spec(ruleset))
    _mutate(s, case, rng)
    f = tmp_path / "edge-1.json"
    f.write_text(json.dumps(s), encoding="utf-8")
    for argv in (["report", str(f), "--html", str(tmp_path / "r.html")], ["rebalance", str(ruleset), str(f), "--dry-run"]):
        try:
            code = main(argv)
        except BaseException:  # noqa: BLE001
            pytest.fail(f"strata {argv[0]} raised on {case}:\n{traceback.format_exc()}")
        err = capsys.readouterr().err
        assert code == 0 or (code == 1 and "error:" in err), (argv[0], case, code, err)
        assert ruleset.read_text(encoding="utf-8") == RULESET
