"""The per-process ledger of converted (visit nonce, goal) pairs: once per pair within the visit
timeout, forgotten after it, bounded in memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_server.dedup import ConversionLedger

TTL = 100.0
# (nonce, goal, seconds since the previous call): few nonces and goals, so pairs repeat
calls = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["purchase", "signup"]), st.sampled_from([0.0, 1.0, 30.0, 99.0, 150.0])),
                 max_size=60)


@given(calls)
def test_dedup_ledger_counts_each_pair_once_per_ttl(seq):
    ledger = ConversionLedger(TTL)
    recorded: dict[tuple[int, str], float] = {}  # the model: when each pair last counted
    now = 1000.0
    for nonce, goal, step in seq:
        now += step
        expected = (nonce, goal) not in recorded or now - recorded[(nonce, goal)] > TTL
        assert ledger.first(f"nonce{nonce}", goal, now) is expected
        if expected:
            recorded[(nonce, goal)] = now
    assert len(ledger) <= len({k for k, t in recorded.items() if now - t <= TTL})  # expired pairs are gone


@given(st.integers(1, 8), st.lists(st.integers(0, 20), max_size=80))
def test_dedup_ledger_bounded_forgets_oldest_first(capacity, nonces):
    ledger = ConversionLedger(TTL, capacity=capacity)
    distinct: list[int] = []
    for n in nonces:
        first = ledger.first(str(n), "purchase", 0.0)
        assert len(ledger) <= capacity
        # a pair still among the newest `capacity` distinct pairs is remembered
        assert first is (n not in distinct[-capacity:])
        if first:
            distinct.append(n)
    assert ledger.evicted == max(0, len(distinct) - capacity)
