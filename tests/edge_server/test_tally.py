from edge_server.tally import Tally


def test_tally_reads_missing_keys_as_zero_without_inserting_them():
    t: Tally[tuple[str, ...]] = Tally()
    assert t[("hero", "rule")] == 0.0 and ("hero", "rule") not in t  # a read (a scrape) adds no series
    t[("hero", "rule")] += 0.25
    t[("hero", "rule")] += 1
    assert t == {("hero", "rule"): 1.25} and isinstance(t[("hero", "rule")], float)
    assert Tally(t) == t and Tally(t) is not t
