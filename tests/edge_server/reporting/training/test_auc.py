from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_server.reporting.training.auc import auc


def test_auc_counts_ties_half() -> None:
    assert auc([(0.0, 1, 3), (1.0, 3, 1)]) == (1 * 1.5 + 3 * 3.5) / 16


def test_auc_is_none_without_both_classes() -> None:
    assert auc([(0.0, 0, 5), (1.0, 0, 2)]) is None


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=8))
def test_auc_equals_the_pairwise_definition(rows: list[tuple[int, int, int]]) -> None:
    pos = [s for s, p, _ in rows for _ in range(p)]
    neg = [s for s, _, n in rows for _ in range(n)]
    got = auc([(float(s), p, n) for s, p, n in rows])
    if not pos or not neg:
        assert got is None
        return
    want = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg) / (len(pos) * len(neg))
    assert got is not None and abs(got - want) < 1e-12
