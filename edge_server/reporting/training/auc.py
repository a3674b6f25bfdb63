"""AUC from a table of (score, converting visits, other visits): exact from the counts.

AUC = P(score of a converting visit > score of a non-converting one) + 1/2 P(equal), summed over
the table's rows; visits that share a row (one level, one score bucket) tie.
"""

from __future__ import annotations

from collections.abc import Iterable


def auc(rows: Iterable[tuple[float, int, int]]) -> float | None:
    """``rows``: (score, positives, negatives). None when either class is empty.

    >>> auc([(0.0, 1, 3), (1.0, 3, 1)])  # (1 * 1.5 + 3 * (3 + 0.5)) / (4 * 4)
    0.75
    """
    by_score: dict[float, list[int]] = {}
    for s, pos, neg in rows:
        cell = by_score.setdefault(s, [0, 0])
        cell[0] += max(pos, 0)
        cell[1] += max(neg, 0)
    total_pos = sum(c[0] for c in by_score.values())
    total_neg = sum(c[1] for c in by_score.values())
    if total_pos == 0 or total_neg == 0:
        return None
    wins = 0.0
    neg_below = 0
    for s in sorted(by_score):
        pos, neg = by_score[s]
        wins += pos * (neg_below + 0.5 * neg)
        neg_below += neg
    return wins / (total_pos * total_neg)
