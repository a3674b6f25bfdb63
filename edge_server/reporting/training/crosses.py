"""Whether a declared cross earns its cost (docs/models.md, Crosses): its cells' counts against the
additive prediction.

The edge counts a cross like any categorical feature: per combination of its parts' levels, visits
and converting visits — a joint table of its parts, the only one training ever sees. Fitting the
**additive** logistic model to that table (``logit p = mu + a[level of part 1] + b[level of part 2]
...``, maximum likelihood, ``scipy.optimize.minimize``) and comparing it with the cells (the
likelihood-ratio statistic G², chi-square with the cells' degrees of freedom left) says whether the
parts interact: if they do, the cross carries what an additive model cannot; if they do not, it only
costs counter rows and a cookie byte. Nothing here adds or removes a cross: ``strata train`` prints
the verdict, the author edits the rule set.

Pairs that are not declared cannot be assessed: no joint table of them exists anywhere (by design).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .counts import Cell

#: the interaction is reported when the additive model is rejected at this level
ALPHA = 0.01


@dataclass(frozen=True)
class CellFit:
    level: str
    visits: int
    converted: int
    additive: float  # the additive model's rate for the cell

    @property
    def observed(self) -> float:
        return self.converted / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class CrossVerdict:
    cross: str
    arm: str
    g2: float
    df: int
    p_value: float
    cells: tuple[CellFit, ...]

    @property
    def interacts(self) -> bool:
        return self.df > 0 and self.p_value < ALPHA

    def largest(self, k: int) -> CellFit | None:
        """The cell (of at least ``k`` visits) furthest from the additive prediction."""
        big = [c for c in self.cells if c.visits >= k]
        return max(big, key=lambda c: abs(c.observed - c.additive)) if big else None


def assess(cross: str, arm: str, table: dict[str, Cell], parts: int) -> CrossVerdict | None:
    """The additive fit of a cross's cell table (level names ``a|b[|c]``); None without data."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.stats import chi2

    rows = [(name.split("|"), c.visits, max(min(c.converted, c.visits), 0)) for name, c in sorted(table.items()) if c.visits > 0]
    rows = [r for r in rows if len(r[0]) == parts]
    if not rows:
        return None
    levels = [sorted({r[0][j] for r in rows}) for j in range(parts)]
    index = [{lv: i for i, lv in enumerate(ls)} for ls in levels]
    # one column per level but the first of each part (the reference), plus the intercept
    offsets, width = [], 1
    for ls in levels:
        offsets.append(width)
        width += len(ls) - 1
    x = np.zeros((len(rows), width))
    x[:, 0] = 1.0
    for i, (names, _, _) in enumerate(rows):
        for j, name in enumerate(names):
            k = index[j][name]
            if k:
                x[i, offsets[j] + k - 1] = 1.0
    n = np.array([r[1] for r in rows], dtype=float)
    c = np.array([r[2] for r in rows], dtype=float)

    def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ beta
        p = 1 / (1 + np.exp(-z))
        ll = float(np.sum(c * -np.logaddexp(0, -z) + (n - c) * -np.logaddexp(0, z)))
        return -ll, -(x.T @ (c - n * p))

    rate = (c.sum() + 0.5) / (n.sum() + 1.0)
    beta0 = np.zeros(width)
    beta0[0] = math.log(rate / (1 - rate))
    fit = minimize(nll, beta0, jac=True, method="L-BFGS-B")
    p = 1 / (1 + np.exp(-(x @ fit.x)))
    g2 = 0.0
    for ci, ni, pi in zip(c, n, p):
        if ci > 0:
            g2 += 2 * ci * math.log(ci / (ni * pi))
        if ni - ci > 0:
            g2 += 2 * (ni - ci) * math.log((ni - ci) / (ni * (1 - pi)))
    df = len(rows) - width
    pv = float(chi2.sf(g2, df)) if df > 0 else 1.0
    cells = tuple(CellFit("|".join(r[0]), r[1], r[2], float(pi)) for r, pi in zip(rows, p))
    return CrossVerdict(cross, arm, g2, df, pv, cells)


def render(v: CrossVerdict, k: int, levels: int, detail: bool) -> list[str]:
    arm = f" (arm {v.arm})" if v.arm else ""
    worst = v.largest(k)
    far = f"; furthest cell {worst.level}: observed {worst.observed:.3f}, additive {worst.additive:.3f}" if worst else ""
    if v.interacts:
        verdict = f"keep: its cells depart from the additive prediction (G2 {v.g2:.1f}, {v.df} df, p {v.p_value:.2g}){far}"
    else:
        verdict = (f"drop suggested: its cells agree with the additive prediction (G2 {v.g2:.1f}, {v.df} df, p {v.p_value:.2g}){far}; "
                   f"it costs {levels} counter rows per arm and a cookie byte")
    out = [f"  cross {v.cross}{arm}: {verdict}"]
    if detail:
        out.append(f"    {'cell':<28} {'visits':>9} {'observed':>9} {'additive':>9}")
        for c in v.cells:
            out.append(f"    {c.level:<28} {c.visits:>9,} {c.observed:>9.4f} {c.additive:>9.4f}")
    return out


UNDECLARED = ("  crosses not declared cannot be assessed: the edge keeps no joint table of features that no cross combines. "
              "To test a pair, declare it (cross: [a, b]), publish, and run strata train --suggest-crosses once the fleet has counted it.")
