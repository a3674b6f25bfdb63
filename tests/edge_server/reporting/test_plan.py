"""``strata plan`` (edge_server/reporting/plan.py): visits and days to detect a lift before an
experiment starts, always-valid beside fixed-horizon; its help and its errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from compiler.harness.fixtures import ROOT
from edge_server.reporting import sequential as sq
from edge_server.reporting.plan import plan


def strata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], cwd=ROOT, capture_output=True, text=True)


def test_plan_figures_match_the_textbook_fixed_size_and_the_reports_mde():
    (row,) = plan(0.04, 20_000, [0.10])
    textbook = 2 * (1.959964 + 0.841621) ** 2 * 0.04 * 0.96 / 0.004 ** 2  # per arm
    assert row["fixed_per_arm"] == pytest.approx(textbook, rel=0.01)
    assert row["fixed_days"] == pytest.approx(textbook / 10_000, rel=0.01)
    assert row["fixed_per_arm"] < row["sequential_per_arm"] < 3 * row["fixed_per_arm"]
    # at the planned sample the report's MDE is the planned lift
    n = round(row["sequential_per_arm"])
    assert sq.mde(n, n, 0.04) == pytest.approx(0.10, rel=0.01)
    # three arms, 90% of the traffic: each arm gets 30% of the visits, so the days grow by 1/0.6
    (three,) = plan(0.04, 20_000, [0.10], variants=3, traffic=0.9)
    assert three["sequential_days"] == pytest.approx(row["sequential_days"] * 0.5 / 0.3, rel=1e-9)


def test_plan_cli_prints_both_answers():
    p = strata("plan", "--baseline", "4%", "--daily-visits", "20,000", "--mde", "10%")
    assert p.returncode == 0, p.stderr
    assert "baseline 4.00%, 20,000 visits a day" in p.stdout and "+10%" in p.stdout
    assert "37,675 visits/arm, 4 days" in p.stdout  # the fixed-horizon size of the textbook formula
    default = strata("plan", "--baseline", "0.04", "--daily-visits", "20000")
    assert [ln.split()[0] for ln in default.stdout.splitlines()[2:6]] == ["+5%", "+10%", "+20%", "+30%"]
    h = strata("plan", "--help")
    assert h.returncode == 0 and "--baseline RATE" in h.stdout and "e.g. 4% or 0.04" in h.stdout and "%%" not in h.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--daily-visits", "100"], "the following arguments are required: --baseline"),
    (["--baseline", "4", "--daily-visits", "100"], "--baseline '4': write 4% (or 0.04); a bare number is a fraction"),
    (["--baseline", "four", "--daily-visits", "100"], "--baseline 'four': give a percentage such as 4%"),
    (["--baseline", "0%", "--daily-visits", "100"], "--baseline '0%': give a value above 0% and at most 100%"),
    (["--baseline", "4%", "--daily-visits", "0"], "--daily-visits '0': give at least 1 visit a day"),
    (["--baseline", "4%", "--daily-visits", "lots"], "--daily-visits 'lots': give a whole number of visits a day"),
    (["--baseline", "4%", "--daily-visits", "100", "--variants", "1"], "--variants 1: an experiment has 2 to 20 arms"),
    (["--baseline", "100%", "--daily-visits", "100"], "every visit converts already"),
])
def test_plan_cli_errors_say_what_to_write(args, message):
    p = strata("plan", *args)
    assert p.returncode != 0 and message in p.stderr and "Traceback" not in p.stderr
