"""``strata plan``: size a new experiment before it starts — visits and days to detect a lift from a
baseline conversion rate and the daily visits, for the always-valid test the report uses (read
as often as you like) beside the fixed-horizon test (read once, at the planned sample); the
figures come from ``sequential.visits_to_detect`` (docs/measurement.md, "Power and duration")."""

from __future__ import annotations

import argparse
import math
from typing import Any

from . import sequential as sq

#: Lifts shown when --mde is not given.
DEFAULT_LIFTS = (0.05, 0.10, 0.20, 0.30)


def fraction(flag: str, *, low: float = 0.0, high: float = 1.0, example: str = "10%") -> Any:
    """An argparse type for a share or lift given as ``4%`` or ``0.04``, strictly above ``low`` and
    at most ``high``; a bare number above 1 is refused (is ``4`` 4% or 400%?)."""
    def parse(v: str) -> float:
        text = v.strip()
        try:
            x = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {v!r}: give a percentage such as {example}") from None
        if not text.endswith("%") and x > 1:
            raise argparse.ArgumentTypeError(f"{flag} {v!r}: write {x:g}% (or {x / 100:g}); a bare number is a fraction")
        if not (low < x <= high) or not math.isfinite(x):
            raise argparse.ArgumentTypeError(f"{flag} {v!r}: give a value above {low * 100:g}% and at most {high * 100:g}%, e.g. {example}")
        return x
    return parse


def _visits(v: str) -> int:
    try:
        n = int(v.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--daily-visits {v!r}: give a whole number of visits a day, e.g. 20000") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"--daily-visits {v!r}: give at least 1 visit a day")
    return n


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="size a new experiment: visits and days to detect a lift",
        description="Before an experiment starts: how many visits and days it needs to detect a relative lift with 80% power, from the "
        "control's conversion rate and the visits a day that will see it. Two answers: the always-valid test strata report uses by "
        "default (read the report as often as you like and stop when it says STOP), and the fixed-horizon test (read once, at the "
        "planned sample; strata report --fixed-horizon). Example: strata plan --baseline 4% --daily-visits 20000 --mde 10%. "
        "docs/measurement.md, Power and duration.",
    )
    p.add_argument("--baseline", required=True, type=fraction("--baseline", example="4%"), metavar="RATE",
                   help="the control's conversion rate (visits that convert the goal), e.g. 4%% or 0.04")
    p.add_argument("--daily-visits", required=True, type=_visits, metavar="N", help="visits a day to the page or slot, e.g. 20000")
    p.add_argument("--mde", type=fraction("--mde", high=10.0), metavar="LIFT",
                   help="the smallest relative lift worth detecting, e.g. 10%% (default: a table of 5%%, 10%%, 20%%, 30%%)")
    p.add_argument("--variants", type=int, default=2, metavar="K", help="arms including the control, traffic split evenly (default 2)")
    p.add_argument("--traffic", type=fraction("--traffic", example="90%"), default=1.0, metavar="SHARE",
                   help="share of the visits that enter the experiment (its traffic, outside the holdout), e.g. 90%% (default 100%%)")
    p.add_argument("--expected-lift", type=fraction("--expected-lift", high=10.0), default=sq.EXPECTED_LIFT, metavar="LIFT",
                   help="the tuning of the always-valid test, as in strata report (default 10%%)")
    p.add_argument("--alpha", type=fraction("--alpha", high=0.5, example="5%"), default=sq.ALPHA, metavar="RATE",
                   help="false-positive rate (default 5%%)")
    p.add_argument("--power", type=fraction("--power", example="80%"), default=sq.POWER, metavar="RATE",
                   help="chance of detecting the lift when it is real (default 80%%)")
    p.set_defaults(func=cmd_plan)


def plan(baseline: float, daily_visits: int, lifts: list[float], *, variants: int = 2, traffic: float = 1.0,
         expected_lift: float = sq.EXPECTED_LIFT, alpha: float = sq.ALPHA, power: float = sq.POWER) -> list[dict[str, float]]:
    """Per lift: visits per arm and days, always-valid and fixed-horizon (each variant against the
    control, the traffic split evenly over ``variants`` arms)."""
    per_arm_day = daily_visits * traffic / variants
    out = []
    for lift in lifts:
        row: dict[str, float] = {"lift": lift}
        for kind, seq in (("sequential", True), ("fixed", False)):
            pair = sq.visits_to_detect(lift, baseline, 0.5, alpha=alpha, power=power, expected_lift=expected_lift, sequential=seq)
            row[f"{kind}_per_arm"] = pair / 2
            row[f"{kind}_days"] = pair / 2 / per_arm_day if per_arm_day > 0 else math.inf
        out.append(row)
    return out


def cmd_plan(a: argparse.Namespace) -> int:
    from runtime.cli import UserError

    if not 2 <= a.variants <= 20:
        raise UserError(f"--variants {a.variants}: an experiment has 2 to 20 arms, the control included")
    if a.baseline >= 1:
        raise UserError("--baseline 100%: every visit converts already; nothing to detect")
    lifts = [a.mde] if a.mde is not None else list(DEFAULT_LIFTS)
    rows = plan(a.baseline, a.daily_visits, lifts, variants=a.variants, traffic=a.traffic, expected_lift=a.expected_lift,
                alpha=a.alpha, power=a.power)
    per_arm = a.daily_visits * a.traffic / a.variants
    print(f"Plan: baseline {a.baseline * 100:.2f}%, {a.daily_visits:,} visits a day, {a.traffic * 100:g}% in the experiment over "
          f"{a.variants} arms ({per_arm:,.0f} a day each); alpha {a.alpha * 100:g}%, power {a.power * 100:g}%")
    print(f"  {'lift':>6}  {'always-valid (read daily)':>34}  {'fixed horizon (read once)':>34}")
    for r in rows:
        seq = f"{_n(r['sequential_per_arm'])} visits/arm, {_d(r['sequential_days'])}"
        fix = f"{_n(r['fixed_per_arm'])} visits/arm, {_d(r['fixed_days'])}"
        print(f"  {r['lift'] * 100:>+5g}%  {seq:>34}  {fix:>34}")
    print("The always-valid figures are the sample at which the lift is detected with this power if the report is read only then; "
          "read every day, the report may say STOP earlier (a larger true lift crosses sooner) and stays valid however often it is "
          "read. The fixed-horizon figures hold only when the results are read once, at that sample.")
    if a.variants > 2:
        print(f"With {a.variants - 1} variants against the control the report controls the false-discovery rate across them: plan on the "
              "longer side.")
    return 0


def _n(v: float) -> str:
    return "never" if not math.isfinite(v) else f"{math.ceil(v):,}"


def _d(v: float) -> str:
    return "never" if not math.isfinite(v) else (f"{math.ceil(v):,} day{'s' if math.ceil(v) != 1 else ''}")
