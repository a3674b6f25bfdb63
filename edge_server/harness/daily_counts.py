"""Cumulative counters of simulated experiments read once a day: what an arm's exposure and
conversion counters hold after each day, drawn from binomial distributions with known true rates
(tests/edge_server/reporting/test_sequential.py and benchmarks/sim_sequential.py). Only aggregate
counts, as the edge exports them; no visit is simulated one by one."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw, exact: the number of geometric waiting times between successes that
    fit in ``n`` trials (cost proportional to ``n * min(p, 1 - p)``; conversion rates are small)."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1 - p)
    log_q = math.log1p(-p)
    k = pos = 0
    while True:
        pos += int(math.log(1.0 - rng.random()) / log_q) + 1  # trials up to and including the next success
        if pos > n:
            return k
        k += 1


def daily_reads(rng: random.Random, days: int, visits_per_day: int, rates: list[float],
                shares: list[float]) -> Iterator[list[tuple[int, int]]]:
    """One experiment's cumulative ``(conversions, visits)`` per arm after each day: each day's
    visits split by a multinomial draw over ``shares`` (sequential binomials), conversions binomial
    at each arm's true rate."""
    totals = [(0, 0)] * len(rates)
    for _ in range(days):
        left, rest = visits_per_day, 1.0
        today = []
        for i, s in enumerate(shares):
            n = left if i == len(shares) - 1 else binomial(rng, left, min(1.0, s / rest) if rest > 0 else 0.0)
            left, rest = left - n, rest - s
            today.append(n)
        totals = [(x + binomial(rng, n, r), m + n) for (x, m), n, r in zip(totals, today, rates)]
        yield list(totals)
