from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edge_server.reporting.training.model_info import models
from runtime.cli import main

from .fleet import LEVELS, RULESET, nb_counts, rows, snapshot, write_json

GIVEN_CONV = {"device": [0.5, 0.3, 0.1, 0.05, 0.05], "depth": [0.1, 0.2, 0.3, 0.35, 0.05], "tents": [0.4, 0.5, 0.1]}
GIVEN_OTHER = {"device": [0.3, 0.4, 0.2, 0.05, 0.05], "depth": [0.4, 0.3, 0.2, 0.05, 0.05], "tents": [0.8, 0.1, 0.1]}


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    p = tmp_path / "shop.yaml"
    p.write_text(RULESET, encoding="utf-8")
    return p


def _specs(ruleset: Path) -> dict[str, str]:
    return {m.id: m.spec for m in models(str(ruleset))}


def _plain_rows(spec: str, seed: int, visits: int = 20_000) -> list[dict[str, Any]]:
    conv, tables = nb_counts(np.random.default_rng(seed), visits, 0.05, GIVEN_CONV, GIVEN_OTHER)
    return rows("purchase_intent", spec, visits, conv, tables, churn=7)


def _uplift_rows(spec: str, seed: int, control_visits: int = 20_000) -> list[dict[str, Any]]:
    out = []
    feats = ("device", "tents")
    for arm, rate, visits in (("treatment", 0.08, 20_000), ("control", 0.05, control_visits)):
        conv, tables = nb_counts(np.random.default_rng(seed), visits, rate, {f: GIVEN_CONV[f] for f in feats}, {f: GIVEN_OTHER[f] for f in feats})
        out += rows("discount_uplift", spec, visits, conv, tables, arm=arm)
    return out


def _fleet(tmp_path: Path, ruleset: Path, *, control_visits: int = 20_000) -> list[str]:
    """Two instances, the first with an older snapshot that must not be added in."""
    s = _specs(ruleset)
    files = []
    for i, inst in enumerate(("edge-1", "edge-2")):
        rs = _plain_rows(s["purchase_intent"], i) + _uplift_rows(s["discount_uplift"], i, control_visits)
        files.append(write_json(tmp_path / f"{inst}.json", snapshot(rs, instance=inst, generated=1_796_000_000.0 + i)))
    files.append(write_json(tmp_path / "edge-1-old.json", snapshot(_plain_rows(s["purchase_intent"], 9, 5_000), instance="edge-1", generated=1_795_000_000.0)))
    return files


def test_train_writes_coefficient_files_with_model_spec_and_every_level(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intent"]) == 0
    written = yaml.safe_load((tmp_path / "purchase_intent.coefficients.yaml").read_text())
    assert written["model"] == "purchase_intent" and written["spec"] == _specs(ruleset)["purchase_intent"]
    assert {f: list(w) for f, w in written["weights"].items()} == {f: list(LEVELS[f]) for f in LEVELS}
    assert written["weights"]["tents"]["yes"] > 1.0 > 0 > written["weights"]["tents"]["no"]
    out = capsys.readouterr().out
    assert "40,000 visits" in out  # two instances' latest snapshots, not the older one
    assert "AUC alone" in out and "cannot be computed from per-feature counts" in out


def test_train_output_is_deterministic(tmp_path: Path, ruleset: Path) -> None:
    stats = _fleet(tmp_path, ruleset)
    target = tmp_path / "purchase_intent.coefficients.yaml"
    assert main(["train", str(ruleset), *stats, "--model", "purchase_intent"]) == 0
    first = target.read_bytes()
    assert main(["train", str(ruleset), *reversed(stats), "--model", "purchase_intent"]) == 0
    assert target.read_bytes() == first
    assert b"2026-" in first.split(b"\n", 2)[1]  # the newest snapshot's time, not the clock's


def test_train_fits_uplift_models_per_arm(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "discount_uplift"]) == 0
    out = capsys.readouterr().out
    assert "arm treatment: 40,000 visits" in out and "arm control: 40,000 visits" in out and "uplift by level" in out
    written = yaml.safe_load((tmp_path / "discount_uplift.coefficients.yaml").read_text())
    assert set(written) == {"model", "spec", "treatment", "control"}
    assert written["treatment"]["bias"] > written["control"]["bias"]  # 8% against 5%
    assert list(written["control"]["weights"]) == ["device", "tents"]


def test_train_refuses_thin_data_naming_counts_thresholds_and_remedy(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = _fleet(tmp_path, ruleset, control_visits=300)
    assert main(["train", str(ruleset), *stats]) == 1
    err = capsys.readouterr().err
    assert "discount_uplift: " in err and "in arm control" in err
    assert "at least 1,000 visits and 50 converting visits" in err and "--min-visits" in err and "run strata train again" in err
    assert "nothing written" in err
    assert not (tmp_path / "purchase_intent.coefficients.yaml").exists()  # all or nothing


def test_train_refuses_when_counters_are_of_another_spec(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = write_json(tmp_path / "s.json", snapshot(_plain_rows("0badc0de", 1)))
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent"]) == 1
    err = capsys.readouterr().err
    assert "0 visits" in err and "0badc0de (20,000 visits)" in err and "publish a bundle with the current features" in err


def test_train_dry_run_writes_nothing(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intent", "--dry-run"]) == 0
    assert "would write" in capsys.readouterr().out
    assert not (tmp_path / "purchase_intent.coefficients.yaml").exists()


def test_train_out_writes_the_named_file(tmp_path: Path, ruleset: Path) -> None:
    out = tmp_path / "elsewhere" / "pi.yaml"
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intent", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["model"] == "purchase_intent"


def test_train_reports_the_deployed_fit_auc_from_score_rows(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = _plain_rows(_specs(ruleset)["purchase_intent"], 1)
    for i, (n, x) in enumerate([(9000, 90), (6000, 300), (5000, 610)]):
        r.append({"model": "purchase_intent", "spec": "feedf00d", "arm": "", "feature": "@logit", "level": f"{-3 + i:.3f}", "entered": n, "left": 0, "converted": x})
    # rows of the old 0.05-wide buckets (a snapshot from before the log-odds buckets): noted, not read
    r.append({"model": "purchase_intent", "spec": "feedf00d", "arm": "", "feature": "@score", "level": "0.95", "entered": 700, "left": 0, "converted": 0})
    stats = write_json(tmp_path / "s.json", snapshot(r, specs={"purchase_intent": {"spec": "x", "fit": "feedf00d"}}))
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "deployed fit feedf00d (served by the newest snapshot): AUC 0.7" in out
    assert "ignored: 700 visits in 0.05-wide @score rows counted before the log-odds buckets" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json {", "is this a /metrics scrape"),
        ('{"format": "other"}', "not a Strata stats snapshot"),
        ('{"format": "strata-stats/1", "exposures": [], "conversions": [], "models": {"a": 1}}', "bad.json: models: expected a list"),
        ('{"format": "strata-stats/1", "exposures": [], "conversions": [], "models": [{"model": "m", "entered": 1}]}', "bad.json: models[0].spec: NoneType None is not a string"),
    ],
)
def test_train_rejects_bad_stats_files(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["train", str(ruleset), str(bad)]) == 1
    assert message in capsys.readouterr().err


def test_train_rejects_a_missing_stats_file(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ruleset), str(tmp_path / "nope.json")]) == 1
    assert "nope.json: No such file" in capsys.readouterr().err


def test_train_rejects_an_unknown_model(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intnet"]) == 1
    err = capsys.readouterr().err
    assert "no model purchase_intnet" in err and "declared: purchase_intent, discount_uplift, handmade" in err


def test_train_rejects_inline_coefficients_suggesting_a_file(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "handmade"]) == 1
    err = capsys.readouterr().err
    assert "shop.yaml:" in err and "inline coefficients" in err and "coefficients: handmade.coefficients.yaml" in err


def test_train_reads_prometheus_scrapes(tmp_path: Path, ruleset: Path) -> None:
    lines = ["# TYPE strata_model_visits_total counter"]
    for r in _plain_rows(_specs(ruleset)["purchase_intent"], 3):
        for event in ("entered", "left", "converted"):
            labels = ",".join(f'{k}="{r[k]}"' for k in ("model", "spec", "arm", "feature", "level"))
            lines.append(f"strata_model_visits_total{{{labels},event=\"{event}\"}} {float(r[event])}")
    scrape = tmp_path / "metrics.txt"
    scrape.write_text("\n".join(lines) + "\n")
    out = tmp_path / "pi.yaml"
    assert main(["train", str(ruleset), str(scrape), "--model", "purchase_intent", "--out", str(out)]) == 0
    from_json = tmp_path / "pj.yaml"
    stats = write_json(tmp_path / "s.json", snapshot(_plain_rows(_specs(ruleset)["purchase_intent"], 3), generated=None))  # type: ignore[arg-type]
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent", "--out", str(from_json)]) == 0
    assert yaml.safe_load(out.read_text())["weights"] == yaml.safe_load(from_json.read_text())["weights"]
    assert json.dumps(yaml.safe_load(out.read_text())["bias"])


def test_train_without_scipy_names_the_train_extra(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("scipy", "scipy.stats", "scipy.stats.contingency"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intent"]) == 1
    assert "'strata train' needs the [train] extra" in capsys.readouterr().err


def test_train_replaces_a_file_fitted_for_other_features(tmp_path: Path, ruleset: Path) -> None:
    stale = tmp_path / "purchase_intent.coefficients.yaml"
    stale.write_text("model: purchase_intent\nspec: deadbeef\nbias: -1.0\nweights: {}\n")
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intent"]) == 0
    assert yaml.safe_load(stale.read_text())["spec"] == _specs(ruleset)["purchase_intent"] != "deadbeef"


def test_train_writes_files_the_compiler_accepts_for_the_model(tmp_path: Path, ruleset: Path) -> None:
    from compiler.pipeline import Options, run

    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset)]) == 0
    ctx = run(str(ruleset), Options())
    assert ctx.payload is not None
    compiled = {m["id"]: m for m in ctx.payload["models"]}
    for mid, arms in (("purchase_intent", [None]), ("discount_uplift", ["treatment", "control"])):
        written = yaml.safe_load((tmp_path / f"{mid}.coefficients.yaml").read_text())
        assert compiled[mid]["spec"] == written["spec"]
        for arm, got in zip(arms, compiled[mid]["sets"]):
            want = written if arm is None else written[arm]
            assert got["bias"] == want["bias"]
            assert got["weights"] == [list(want["weights"][f["id"]].values()) for f in compiled[mid]["features"]]
    assert not any(w.code == "untrained-model" for w in ctx.warnings if "purchase_intent" in w.message)


def test_train_names_the_rule_sets_own_fit_among_deployed_fits(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit = next(m.fit for m in models(str(ruleset)) if m.id == "purchase_intent")
    r = _plain_rows(_specs(ruleset)["purchase_intent"], 1)
    r.append({"model": "purchase_intent", "spec": fit, "arm": "", "feature": "@logit", "level": "0.000", "entered": 100, "left": 0, "converted": 5})
    r.append({"model": "purchase_intent", "spec": "0ldf1t00", "arm": "", "feature": "@logit", "level": "0.000", "entered": 100, "left": 0, "converted": 5})
    stats = write_json(tmp_path / "s.json", snapshot(r))
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"deployed fit {fit} (the rule set's coefficients): AUC 0.500" in out and "deployed fit 0ldf1t00 (an earlier fit)" in out
    assert out.index(fit) < out.index("0ldf1t00")


def test_train_refuses_when_every_visit_converted(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tables = {"device": [(2000, 2000), (0, 0), (0, 0), (0, 0), (0, 0)]}
    stats = write_json(tmp_path / "s.json", snapshot(rows("purchase_intent", _specs(ruleset)["purchase_intent"], 2000, 2000, tables)))
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent"]) == 1
    assert "prior log-odds is undefined" in capsys.readouterr().err


# ---------------------------------------------------------------------------- files it may write
@pytest.mark.parametrize("mode", [0o444, 0o400, 0o555])
def test_train_never_replaces_a_read_only_file_and_writes_nothing(tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], mode: int) -> None:
    """A coefficient file whose permissions say no stays as it was (even for root, who could), and
    the other model's file is not written either."""
    stats = _fleet(tmp_path, ruleset)
    locked = tmp_path / "discount_uplift.coefficients.yaml"
    locked.write_text("# hand-kept\n")
    locked.chmod(mode)
    assert main(["train", str(ruleset), *stats]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and str(locked) in err
    assert locked.read_text() == "# hand-kept\n" and (locked.stat().st_mode & 0o777) == mode
    assert not (tmp_path / "purchase_intent.coefficients.yaml").exists()
    out = tmp_path / "out.yaml"
    out.write_text("keep\n")
    out.chmod(0o444)
    assert main(["train", str(ruleset), *stats, "--model", "purchase_intent", "--out", str(out)]) == 1
    assert out.read_text() == "keep\n"


def test_train_follows_no_planted_link_and_keeps_the_file_mode(tmp_path: Path, ruleset: Path) -> None:
    """A link planted where a temporary file could be written is not followed; a replaced file keeps
    its permissions."""
    stats = _fleet(tmp_path, ruleset)
    victim = tmp_path.parent / f"{tmp_path.name}-victim.txt"
    victim.write_text("untouched\n")
    target = tmp_path / "purchase_intent.coefficients.yaml"
    target.write_text("bias: 0\n")
    target.chmod(0o640)
    (tmp_path / "purchase_intent.coefficients.yaml.tmp").symlink_to(victim)
    assert main(["train", str(ruleset), *stats, "--model", "purchase_intent"]) == 0
    assert victim.read_text() == "untouched\n"
    assert yaml.safe_load(target.read_text())["model"] == "purchase_intent" and (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == ["purchase_intent.coefficients.yaml.tmp"]


@pytest.mark.parametrize("name", ["../outside.yaml", "ABSOLUTE", "link.yaml"])
def test_train_refuses_a_coefficient_file_outside_the_rule_sets_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """``coefficients:`` naming a file outside (``..``, absolute, a link out) is refused before anything is written."""
    specs = tmp_path / "specs.yaml"  # the fleet's specs come from an unmodified copy (the modified one is refused)
    specs.write_text(RULESET, encoding="utf-8")
    stats = _fleet(tmp_path, specs)
    rs_dir = tmp_path / "rs"
    rs_dir.mkdir()
    outside = tmp_path / "outside.yaml"
    outside.write_text("precious\n")
    (rs_dir / "link.yaml").symlink_to(outside)
    ruleset = rs_dir / "shop.yaml"
    ruleset.write_text(RULESET.replace("purchase_intent.coefficients.yaml", str(outside) if name == "ABSOLUTE" else name))
    assert main(["train", str(ruleset), *stats, "--model", "purchase_intent"]) == 1
    assert "path-outside" in capsys.readouterr().err
    assert outside.read_text() == "precious\n"
