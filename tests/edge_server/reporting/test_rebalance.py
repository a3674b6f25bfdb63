"""``strata rebalance`` (edge_server/reporting/rebalance.py): only the weights change (and the
version), the result compiles, and it refuses on a flagged sample ratio or thin data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import TRAILBLAZER
from compiler.pipeline import run
from compiler.source import load_text
from edge_server.reporting.rebalance import apply_edits
from runtime.cli import main


def snapshot(tmp: Path, exp: str, variants: list[str], periods: dict[str, list[tuple[int, int, int]]], name: str = "snap.json") -> str:
    """A /v1/stats snapshot with cohorts ``{period: [(assigned, exposed, converted) per variant]}``."""
    now = list(periods)[-1]
    rows = []
    for period, arms in periods.items():
        for v, (assigned, exposed, converted) in zip(variants, arms):
            rows += [{"experiment": exp, "variant": v, "period": period, "event": "assigned", "goal": "", "count": assigned, "value": 0.0},
                     {"experiment": exp, "variant": v, "period": period, "event": "exposed", "goal": "", "count": exposed, "value": 0.0},
                     {"experiment": exp, "variant": v, "period": period, "event": "converted", "goal": "purchase", "count": converted,
                      "value": 10.0 * converted}]
    snap = {"format": "strata-stats/1", "instance": "i1", "started": 0, "generated": 1, "bundle": {"name": "x", "version": 1},
            "holdout_bp": 0, "experiments": {exp: {"slot": "s", "variants": [[v, int(bp)] for v, bp in zip(variants, now.split("/"))],
                                                   "traffic_bp": 10000, "period": now}},
            "exposures": [], "conversions": [{"goal": "purchase", "slot": "*", "arm": "*", "layer": "", "population": "personalized",
                                              "count": 1, "value": 1.0}], "cohorts": rows}
    p = tmp / name
    p.write_text(json.dumps(snap))
    return str(p)


CLEAR = {"5000/5000": [(3000, 3000, 90), (3000, 3000, 180)]}  # 3% against 6%


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_rebalance_trailblazer_rewrites_only_weights_and_compiles(tmp_path, capsys):
    rs = tmp_path / "trailblazer.yaml"
    before = TRAILBLAZER.read_text()
    rs.write_text(before)
    snap = snapshot(tmp_path, "starter-kit", ["bundle-discount", "free-shipping"], CLEAR)
    assert main(["rebalance", str(rs), snap]) == 0
    after = rs.read_text()
    changed = _changed_lines(before, after)
    assert [(x.strip(), y.strip()) for x, y in changed] == [("weight: 50", "weight: 5"), ("weight: 50", "weight: 95")]
    out = capsys.readouterr().out
    assert "bundle-discount" in out and "50 -> 5" in out and "50 -> 95" in out
    ctx = run(rs)  # the result compiles, with the new weights in the bundle
    exp = next(e for e in ctx.payload["experiments"] if e["id"] == "starter-kit")
    assert [v[1] for v in exp["variants"]] == [500, 9500]


RULESET = """\
strata: 1
name: rb   # a comment
version: {version}
goals: [purchase]
segments:
  - {{id: everyone, layer: broad, when: 'true'}}
slots:
  - id: offer
    default: {{}}
experiments:
  - id: e
    slot: offer
    audience: everyone
    variants:
{variants}
"""


def _variants(style: str, weights: list[str], comment: bool) -> str:
    out = []
    for i, w in enumerate(weights):
        note = "  # weight set by hand" if comment else ""
        if style == "flow":
            out.append(f"      - {{id: v{i}, weight: {w}, content: {{headline: Variant {i}}}}}{note}")
        else:
            out.append(f"      - id: v{i}\n        weight: {w}{note}\n        content: {{headline: Variant {i}}}")
    return "\n".join(out)


@settings(deadline=None, max_examples=20)  # each example compiles the rule set and draws the suggestion
@given(st.sampled_from(["flow", "block"]), st.booleans(), st.booleans(), st.integers(1, 10**9),
       st.lists(st.integers(0, 2), min_size=2, max_size=3), st.integers(0, 2))
def test_rebalance_keeps_every_other_byte_in_any_layout(style, comment, crlf, version, spellings, best):
    """Flow or block variants, comments after the weight, CRLF line endings, weights written as
    ints, floats or quoted: the rewrite changes exactly the weight scalars and the version."""
    import tempfile

    k = len(spellings)
    best %= k
    base = [100 // k + (100 % k if i == 0 else 0) for i in range(k)]
    written = [[str(b), f"{b}.0", f"'{b}'"][s] if s != 2 or style == "block" else str(b) for b, s in zip(base, spellings)]
    text = RULESET.format(version=version, variants=_variants(style, written, comment))
    if crlf:
        text = text.replace("\n", "\r\n")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rs = tmp / "rb.yaml"
        rs.write_bytes(text.encode())
        period = "/".join(str(b * 100) for b in base)
        snap = snapshot(tmp, "e", [f"v{i}" for i in range(k)], {period: [(4000, 4000, 240 if i == best else 120) for i in range(k)]})
        code = main(["rebalance", str(rs), snap])
        new = rs.read_bytes().decode()
        assert code == 0, new
        doc, _ = load_text(new, str(rs))
        weights = [v["weight"] for v in doc["experiments"][0]["variants"]]
        assert weights[best] == 100 - 5 * (k - 1) and sum(weights) == 100 and doc["version"] == version + 1
        changed = _changed_lines(text, new)
        assert len(changed) == k + 1  # the weights and the version
        for old_line, new_line in changed:  # each changed line differs in its one scalar only
            assert re.sub(r"(weight: |version: )'?[0-9.]+'?", r"\1#", old_line) == re.sub(r"(weight: |version: )[0-9]+", r"\1#", new_line)
        run(rs)


def test_rebalance_refuses_on_sample_ratio_mismatch(tmp_path, capsys):
    rs = tmp_path / "t.yaml"
    rs.write_text(TRAILBLAZER.read_text())
    before = rs.read_bytes()
    snap = snapshot(tmp_path, "starter-kit", ["bundle-discount", "free-shipping"], {"5000/5000": [(3300, 3000, 90), (2700, 3000, 180)]})
    assert main(["rebalance", str(rs), snap]) == 1
    err = capsys.readouterr().err
    assert "sample ratio mismatch in period(s) 5000/5000" in err and "unchanged" in err
    assert rs.read_bytes() == before


def test_rebalance_refuses_thin_data_and_dry_run_writes_nothing(tmp_path, capsys):
    rs = tmp_path / "t.yaml"
    rs.write_text(TRAILBLAZER.read_text())
    before = rs.read_bytes()
    thin = snapshot(tmp_path, "starter-kit", ["bundle-discount", "free-shipping"], {"5000/5000": [(40, 40, 2), (40, 40, 5)]}, "thin.json")
    assert main(["rebalance", str(rs), thin]) == 1
    assert "too little data" in capsys.readouterr().err and rs.read_bytes() == before
    clear = snapshot(tmp_path, "starter-kit", ["bundle-discount", "free-shipping"], CLEAR)
    assert main(["rebalance", str(rs), clear, "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out and rs.read_bytes() == before


def test_rebalance_apply_edits_replaces_exactly_the_scalar():
    text = "a: 1\nb: {x: 50, y: 50}  # c\r\nc: '7'\n"
    assert apply_edits(text, [((1, 7), "9"), ((1, 14), "91"), ((2, 3), "8")]) == "a: 1\nb: {x: 9, y: 91}  # c\r\nc: 8\n"


def test_rebalance_unknown_experiment_in_stats_is_skipped_with_reason(tmp_path, capsys):
    rs = tmp_path / "t.yaml"
    rs.write_text(TRAILBLAZER.read_text())
    snap = snapshot(tmp_path, "other-exp", ["a", "b"], CLEAR)
    assert main(["rebalance", str(rs), snap]) == 1
    assert "starter-kit: not rebalanced: no counters" in capsys.readouterr().err


@pytest.mark.parametrize("share", ["-0.1", "1", "x"])
def test_rebalance_bad_min_share_is_usage_error(tmp_path, share):
    with pytest.raises(SystemExit) as e:
        main(["rebalance", str(tmp_path / "x.yaml"), "s.json", "--min-share", share])
    assert e.value.code == 2
