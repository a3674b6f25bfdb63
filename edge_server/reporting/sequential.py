"""Always-valid inference from aggregate counters (docs/measurement.md, "Always-valid results").

The **mixture sequential probability ratio test** (mSPRT) of Johari, Koomen, Pekelis and Walsh,
"Peeking at A/B tests: why it matters, and what to do about it" (KDD 2017; Johari, Pekelis and
Walsh, "Always valid inference", Operations Research 70(3), 2022), with the two-sided
**normal-mixture confidence sequence** that inverts it (Howard, Ramdas, McAuliffe and Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of Statistics 49(2),
2021, section 3.5 and eq. (14) for the Gaussian case).

For an estimate ``d`` of an effect ``theta`` with (estimated) variance ``V`` — the difference of two
rates, its log ratio, or the difference of two means of value per visit, all of them sums per arm
that the counters hold — the mixture likelihood ratio against ``theta = theta0`` with a
N(theta0, tau^2) mixing distribution is::

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 V (V + tau^2)))

Under the null it is a nonnegative martingale in the information ``1/V``, so by Ville's inequality
``P(Lambda ever >= 1/alpha) <= alpha``: the **always-valid p-value** ``min(1, 1/Lambda)`` may be
read after every visit, every morning or at any moment chosen by looking at the data, and the
interval of every ``theta0`` with ``Lambda < 1/alpha`` is a **confidence sequence**: it covers the
truth at all reads at once with probability ``1 - alpha``. The Gaussian form is asymptotic (the
central limit theorem for the counts, the variance plugged in): the A/A simulation
(benchmarks/sim_sequential.py) checks it at the sample sizes of real experiments.

**Tuning.** ``tau`` is the effect one expects: the boundary is tightest around the sample where
an effect of size ``tau`` becomes detectable (Johari et al. fit it to the effects of past
experiments; Howard et al. optimise it for a chosen sample). Strata states the expected effect as a
relative lift ``delta`` (default 10%, ``strata report --expected-lift``) and mixes on the log ratio
with ``tau = log(1 + delta)``; on the difference of rates the same effect is
``tau = p * log(1 + delta)`` at the pooled rate ``p`` (near the null the two statistics agree to
first order, so the verdicts of the difference and of the lift agree). A smaller ``delta`` detects
small effects sooner and large ones later; the guarantee holds for any ``tau`` fixed in advance.

Pure Python (math only), as the rest of the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

#: Default error rate of the always-valid tests and intervals.
ALPHA = 0.05
#: Default expected relative effect that tunes the mixing variance (docs/measurement.md).
EXPECTED_LIFT = 0.10
#: Power at which the minimum detectable effect and the duration are stated.
POWER = 0.80


# ---------------------------------------------------------------------------------- the mixture
def log_mixture_ratio(d: float, variance: float, tau2: float, theta0: float = 0.0) -> float:
    """log Lambda: the mixture likelihood ratio of an estimate ``d`` with ``variance`` against
    ``theta0``, mixing over N(theta0, ``tau2``). 0 (no evidence) without information.

    >>> round(log_mixture_ratio(0.0, 1.0, 1.0), 4)  # an estimate at the null is evidence for it
    -0.3466
    """
    if variance <= 0 or tau2 <= 0 or not math.isfinite(variance):
        return 0.0
    s = variance + tau2
    return 0.5 * math.log(variance / s) + tau2 * (d - theta0) ** 2 / (2 * variance * s)


def p_value(d: float, variance: float, tau2: float) -> float:
    """Always-valid p-value of ``theta = 0`` at this read: min(1, 1/Lambda).

    >>> p_value(0.0, 1.0, 1.0), p_value(10.0, 1.0, 1.0) < 1e-9
    (1.0, True)
    """
    return min(1.0, math.exp(-log_mixture_ratio(d, variance, tau2)))


def half_width(variance: float, tau2: float, alpha: float = ALPHA) -> float:
    """Half-width of the confidence sequence around the estimate: every ``theta0`` with
    Lambda < 1/alpha, i.e. ``sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))``.
    Infinite without information.

    >>> round(half_width(1.0, 1.0), 3)  # wider than the fixed-sample 1.96
    3.656
    """
    if variance <= 0 or tau2 <= 0 or not math.isfinite(variance):
        return math.inf
    s = variance + tau2
    return math.sqrt(variance * s / tau2 * (2 * math.log(1 / alpha) + math.log(s / variance)))


# ---------------------------------------------------------------------------------- effects
@dataclass(frozen=True)
class Sequential:
    """One comparison of a treatment against a baseline at one read: the estimate, the always-valid
    interval (confidence sequence) and p-value. ``lift`` and its interval are relative (0.25 = +25%)."""

    diff: float | None  # p1 - p0 (or value per visit: v1 - v0)
    low: float | None
    high: float | None
    p_value: float
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    variance: float = math.inf  # of diff: the information is 1 / variance
    tau2: float = 0.0

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


NONE = Sequential(None, None, None, 1.0)


def tau2_difference(pooled: float, expected_lift: float = EXPECTED_LIFT) -> float:
    """Mixing variance on the difference of rates for an expected relative lift at the pooled rate."""
    return (pooled * math.log1p(expected_lift)) ** 2


def tau2_log_ratio(expected_lift: float = EXPECTED_LIFT) -> float:
    """Mixing variance on the log ratio of rates for an expected relative lift."""
    return math.log1p(expected_lift) ** 2


def rates(x1: int, n1: int, x0: int, n0: int, *, alpha: float = ALPHA, expected_lift: float = EXPECTED_LIFT) -> Sequential:
    """Treatment ``x1/n1`` against baseline ``x0/n0`` (converting visits / exposed visits): the
    confidence sequence of the difference of rates (the test, and the always-valid p-value) and of
    the relative lift (on the log ratio, delta method). Nothing to say (p = 1, no interval) without
    visits in both arms, with a rate above 1 (counters of part of a fleet, or forged), or before
    both arms have a conversion or a non-conversion (no variance to estimate yet)."""
    if n1 <= 0 or n0 <= 0 or x1 > n1 or x0 > n0 or x1 < 0 or x0 < 0:
        return NONE
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    var = p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0
    if var <= 0:
        return NONE
    tau2 = tau2_difference(pooled, expected_lift)
    d = p1 - p0
    w = half_width(var, tau2, alpha)
    lift = lo = hi = None
    if x1 > 0 and x0 > 0:
        lvar = (1 - p1) / x1 + (1 - p0) / x0
        lr = math.log(p1 / p0)
        lw = half_width(lvar, tau2_log_ratio(expected_lift), alpha) if lvar > 0 else 0.0
        lift, lo, hi = p1 / p0 - 1, _expm1(lr - lw), _expm1(lr + lw)
    elif p0 > 0:
        lift = p1 / p0 - 1
    return Sequential(d, d - w, d + w, p_value(d, var, tau2), lift, lo, hi, var, tau2)


def stratified(strata: list[tuple[int, int, int, int]], *, alpha: float = ALPHA, expected_lift: float = EXPECTED_LIFT) -> Sequential:
    """Treatment against baseline over strata ``(x1, n1, x0, n0)`` — allocation periods (cohorts),
    or strata of visitors known at assignment — combined by inverse-variance weights: the
    difference ``sum w_k d_k / sum w_k`` with ``w_k = 1 / V_k`` (``V_k`` at the stratum's pooled
    rate, so a stratum without conversions in one arm keeps its weight), variance ``1 / sum w_k``;
    the lift likewise on the log ratio. Within a stratum the arms were randomised alike, so a
    change of weights between periods cannot bias it as pooling the counts can (Simpson's paradox);
    where the strata predict conversion the variance is smaller than the pooled one. One stratum
    gives the pooled test's estimate."""
    ws = wd = wl = wll = 0.0
    x_all = n_all = 0
    for x1, n1, x0, n0 in strata:
        if n1 <= 0 or n0 <= 0 or x1 > n1 or x0 > n0 or x1 < 0 or x0 < 0:
            continue
        x_all, n_all = x_all + x1 + x0, n_all + n1 + n0
        pk = (x1 + x0) / (n1 + n0)
        v = pk * (1 - pk) * (1 / n1 + 1 / n0)
        if v <= 0:
            continue  # no conversion (or only conversions) in the stratum: no information on the difference
        ws += 1 / v
        wd += (x1 / n1 - x0 / n0) / v
        if x1 > 0 and x0 > 0:
            lv = (1 - x1 / n1) / x1 + (1 - x0 / n0) / x0
            if lv > 0:
                wl += 1 / lv
                wll += math.log((x1 / n1) / (x0 / n0)) / lv
    if ws <= 0:
        return NONE
    var = 1 / ws
    d = wd / ws
    tau2 = tau2_difference(x_all / n_all, expected_lift)
    w = half_width(var, tau2, alpha)
    lift = lo = hi = None
    if wl > 0:
        lr, lw = wll / wl, half_width(1 / wl, tau2_log_ratio(expected_lift), alpha)
        lift, lo, hi = math.expm1(lr), _expm1(lr - lw), _expm1(lr + lw)
    return Sequential(d, d - w, d + w, p_value(d, var, tau2), lift, lo, hi, var, tau2)


def post_stratified(strata: list[tuple[int, int, int, int]], *, alpha: float = ALPHA, expected_lift: float = EXPECTED_LIFT) -> Sequential:
    """Treatment against baseline **post-stratified** on strata known at assignment (device,
    channel, new or returning): per stratum ``(x1, n1, x0, n0)``, the difference of rates weighted
    by the stratum's share of the visits, ``d = sum w_k (p1_k - p0_k)`` with ``w_k = N_k / N``, and
    variance ``sum w_k^2 p_k (1 - p_k) (1/n1_k + 1/n0_k)`` (``p_k`` the stratum's pooled rate);
    the lift on the log ratio of the weighted rates. It estimates the same effect as the pooled
    comparison, with the between-strata part of the variance removed: where strata explain a share
    R^2 of the conversion variance the interval is about ``sqrt(1 - R^2)`` as wide (Miratrix, Sekhon
    and Yu, "Adjusting treatment effect estimates by post-stratification in randomized experiments",
    JRSS B 75(2), 2013). A stratum with no visit in an arm is left out (its weight with it)."""
    cells = [(x1, n1, x0, n0) for x1, n1, x0, n0 in strata if n1 > 0 and n0 > 0 and 0 <= x1 <= n1 and 0 <= x0 <= n0]
    total = sum(n1 + n0 for _, n1, _, n0 in cells)
    if total <= 0:
        return NONE
    d = var = r1 = r0 = v1 = v0 = 0.0
    x_all = 0
    for x1, n1, x0, n0 in cells:
        w = (n1 + n0) / total
        p1, p0, pk = x1 / n1, x0 / n0, (x1 + x0) / (n1 + n0)
        d += w * (p1 - p0)
        var += w * w * pk * (1 - pk) * (1 / n1 + 1 / n0)
        r1, r0 = r1 + w * p1, r0 + w * p0
        v1, v0 = v1 + w * w * pk * (1 - pk) / n1, v0 + w * w * pk * (1 - pk) / n0
        x_all += x1 + x0
    if var <= 0:
        return NONE
    tau2 = tau2_difference(x_all / total, expected_lift)
    w_half = half_width(var, tau2, alpha)
    lift = lo = hi = None
    if r1 > 0 and r0 > 0:
        lr, lvar = math.log(r1 / r0), v1 / (r1 * r1) + v0 / (r0 * r0)
        lw = half_width(lvar, tau2_log_ratio(expected_lift), alpha)
        lift, lo, hi = math.expm1(lr), _expm1(lr - lw), _expm1(lr + lw)
    return Sequential(d, d - w_half, d + w_half, p_value(d, var, tau2), lift, lo, hi, var, tau2)


def _expm1(v: float) -> float:
    return math.expm1(v) if v < 700 else math.inf


def values(v1: float, x1: int, n1: int, v0: float, x0: int, n0: int, *, value_cv: float = 1.0,
           alpha: float = ALPHA, expected_lift: float = EXPECTED_LIFT) -> Sequential:
    """Value per visit (``v`` the summed goal values of ``x`` converting visits among ``n``): the
    confidence sequence of the difference of means, and the relative lift.

    The counters hold the sum of values, not the sum of their squares, so the variance of a visit's
    value needs one assumption, stated: order values vary with coefficient of variation
    ``value_cv`` (default 1, as an exponential distribution) around the arm's mean order value
    ``m = v/x``; a visit's value is then ``conversion * order`` with variance
    ``p (1 + cv^2) m^2 - (p m)^2``. A larger ``value_cv`` is more conservative."""
    if n1 <= 0 or n0 <= 0 or x1 > n1 or x0 > n0 or x1 <= 0 or x0 <= 0:
        return NONE
    scale = max(v1 / x1, v0 / x0)  # the statistic is scale-free: computed in units of the larger mean order value
    if not 0 < scale < math.inf or not (math.isfinite(v1) and math.isfinite(v0)) or v1 < 0 or v0 < 0:
        return NONE
    r = _values(v1 / scale, x1, n1, v0 / scale, x0, n0, value_cv, alpha, expected_lift)
    if r.diff is None:
        return r
    return Sequential(r.diff * scale, r.low * scale, r.high * scale, r.p_value, r.lift, r.lift_low, r.lift_high,  # type: ignore[operator]
                      r.variance * scale * scale, r.tau2 * scale * scale)


def _values(v1: float, x1: int, n1: int, v0: float, x0: int, n0: int, value_cv: float, alpha: float, expected_lift: float) -> Sequential:
    def var_of(v: float, x: int, n: int) -> float:
        p, m = x / n, v / x
        return max(p * (1 + value_cv ** 2) * m * m - (p * m) ** 2, 0.0) / n

    m1, m0 = v1 / n1, v0 / n0
    var = var_of(v1, x1, n1) + var_of(v0, x0, n0)
    if var <= 0:
        return NONE
    pooled = (v1 + v0) / (n1 + n0)
    tau2 = tau2_difference(pooled, expected_lift)  # the pooled value per visit in place of the rate
    d = m1 - m0
    w = half_width(var, tau2, alpha)
    lift = lo = hi = None
    if m0 > 0:
        lift, lo, hi = m1 / m0 - 1, max(-1.0, (d - w) / m0), (d + w) / m0  # relative to the baseline's mean (a mean is never below 0)
    return Sequential(d, d - w, d + w, p_value(d, var, tau2), lift, lo, hi, var, tau2)


# ---------------------------------------------------------------------------------- power and duration
def _z(p: float) -> float:
    """The standard normal quantile (the standard library's)."""
    return NormalDist().inv_cdf(p)


def detectable(variance: float, tau2: float, *, alpha: float = ALPHA, power: float = POWER, sequential: bool = True) -> float:
    """Smallest true effect (on the scale of ``variance``) that this read detects with ``power``:
    the interval's half-width plus ``z_power`` standard errors (the estimate must land beyond the
    boundary). Fixed horizon: ``(z_{1-alpha/2} + z_power) * sqrt(V)``. The sequential figure is
    conservative: a test read every day may also have crossed at an earlier read."""
    if variance <= 0 or not math.isfinite(variance):
        return math.inf
    se = math.sqrt(variance)
    edge = half_width(variance, tau2, alpha) if sequential else _z(1 - alpha / 2) * se
    return edge + _z(power) * se


def mde(n1: int, n0: int, p0: float, *, alpha: float = ALPHA, power: float = POWER, expected_lift: float = EXPECTED_LIFT,
        sequential: bool = True) -> float:
    """Minimum detectable relative lift at the current sample: ``n1`` and ``n0`` visits, a
    baseline rate ``p0`` (the variance taken at the baseline rate in both arms). Infinite before
    there is a sample or a baseline."""
    if n1 <= 0 or n0 <= 0 or not 0 < p0 < 1:
        return math.inf
    var = p0 * (1 - p0) * (1 / n1 + 1 / n0)
    return detectable(var, tau2_difference(p0, expected_lift), alpha=alpha, power=power, sequential=sequential) / p0


def visits_to_detect(lift: float, p0: float, share1: float = 0.5, *, alpha: float = ALPHA, power: float = POWER,
                     expected_lift: float = EXPECTED_LIFT, sequential: bool = True, limit: float = 1e12) -> float:
    """Visits in all (both arms, ``share1`` of them to the treatment) for the minimum detectable
    lift to reach ``lift`` at baseline rate ``p0``: the smallest N with ``mde <= lift`` (the MDE
    falls as N grows; bisection on log N). Infinite beyond ``limit``."""
    if not 0 < p0 < 1 or lift <= 0 or not 0 < share1 < 1:
        return math.inf

    def ok(n: float) -> bool:
        var = p0 * (1 - p0) * (1 / (n * share1) + 1 / (n * (1 - share1)))
        return detectable(var, tau2_difference(p0, expected_lift), alpha=alpha, power=power, sequential=sequential) <= lift * p0

    lo, hi = 1.0, 2.0
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return math.inf
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
        if hi - lo < 1:
            break
    return math.ceil(hi)


# ---------------------------------------------------------------------------------- many comparisons
def benjamini_hochberg(p: list[float], q: float = ALPHA) -> list[bool]:
    """Which of the hypotheses with p-values ``p`` are rejected at false-discovery rate ``q``
    (Benjamini and Hochberg, JRSS B 57(1), 1995): the k smallest, k the largest rank with
    ``p_(k) <= k q / m``. On always-valid p-values at the current read (1 / Lambda, an e-value)
    this is the e-BH procedure of Wang and Ramdas (JRSS B 84(3), 2022), which controls the FDR
    under any dependence between the comparisons (they share a control arm, goals are correlated)
    and at any stopping time.

    >>> benjamini_hochberg([0.001, 0.02, 0.04, 0.5])
    [True, True, False, False]
    """
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    k = 0
    for rank, i in enumerate(order, 1):
        if p[i] <= rank * q / m:
            k = rank
    out = [False] * m
    for i in order[:k]:
        out[i] = True
    return out
