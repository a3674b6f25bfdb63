"""The per-process visit ledger: what each visit counted, once per (nonce, key) while the visit is
served within the visit timeout, forgotten after it, bounded in memory (least recently served first)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_server.visit_ledger import VisitLedger

TTL = 100.0
# (nonce, what, key, seconds since the previous call): few nonces and keys, so pairs repeat
calls = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["conversion", "exposure", "cohort"]), st.sampled_from(["a", "b"]),
                           st.sampled_from([0.0, 1.0, 30.0, 99.0, 150.0])), max_size=80)


@given(calls)
def test_visit_ledger_counts_each_key_once_while_the_visit_is_served(seq):
    ledger = VisitLedger(TTL)
    touched: dict[int, float] = {}  # the model: each nonce's last request, and what it counted since its record began
    counted: dict[int, set[tuple[str, str]]] = {}
    now = 1000.0
    for nonce, what, key, step in seq:
        now += step
        if nonce not in touched or now - touched[nonce] > TTL:
            counted[nonce] = set()  # forgotten: a visit this process never saw
        touched[nonce] = now
        expected = (what, key) not in counted[nonce]
        counted[nonce].add((what, key))
        rec = ledger.record(f"nonce{nonce}", now)
        got = {"conversion": rec.first_conversion, "exposure": rec.first_exposure,
               "cohort": lambda k, rec=rec: rec.first_cohort_exposure(k, "variant")}[what](key)
        assert got is expected
    assert len(ledger) == len({n for n, t in touched.items() if now - t <= TTL})  # expired visits are gone


def test_visit_ledger_a_cohort_counts_again_only_for_another_variant():
    rec = VisitLedger(TTL).record("n", 0.0)
    assert [rec.first_cohort_exposure("e", v) for v in ("a", "a", "b", "b", "a")] == [True, False, True, False, True]


@given(st.integers(1, 8), st.lists(st.integers(0, 20), max_size=80))
def test_visit_ledger_bounded_forgets_the_least_recently_served_first(capacity, nonces):
    evictions: list[int] = []
    ledger = VisitLedger(TTL, capacity=capacity, on_evict=lambda: evictions.append(1))
    recent: list[int] = []  # the model: the remembered nonces by last touch, most recent last
    expected_evictions = 0
    for n in nonces:
        first = ledger.first_conversion(str(n), "purchase", 0.0)
        assert len(ledger) <= capacity
        assert first is (n not in recent)
        expected_evictions += first and len(recent) == capacity
        recent = ([x for x in recent if x != n] + [n])[-capacity:]
    assert ledger.evicted == len(evictions) == expected_evictions
