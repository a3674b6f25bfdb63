"""The session cookie: authenticated encryption, rotation, size bound, visits."""

from __future__ import annotations

import base64

from edge_server.session import MAX_COOKIE_BYTES, CapEntry, CookieCodec, ExposureEntry, ModelEntry, Session

K1 = {"k1": b"\x01" * 32}
K2 = {"k2": b"\x02" * 32}


def test_session_round_trip():
    c = CookieCodec(K1, "strata_session")
    s = Session.fresh()
    s.touch(1000, 1800, "newsletter", "tents", True)
    s.record(["hero/x"], [("exp", "a")], 1000, {"exp": "5000/5000"})
    back = c.decode(c.encode(s))
    assert back is not None and back.sid == s.sid and back.caps == {"hero/x": CapEntry(1, 1000)} and back.exposures == {"exp": ExposureEntry("a", 1, "5000/5000")}
    assert back.recent_categories == ["tents"] and back.utm_source == "newsletter" and not back.is_new


def test_session_tampered_or_foreign_cookie_is_rejected():
    c = CookieCodec(K1, "strata_session")
    v = c.encode(Session.fresh())
    kid_body = v.split(".")
    blob = bytearray(base64.urlsafe_b64decode(kid_body[2] + "=" * (-len(kid_body[2]) % 4)))
    blob[-1] ^= 1
    tampered = f"s1.k1.{base64.urlsafe_b64encode(bytes(blob)).rstrip(b'=').decode()}"
    assert c.decode(tampered) is None
    assert CookieCodec(K1, "other_cookie").decode(v) is None  # bound to the cookie name
    assert CookieCodec(K2, "strata_session").decode(v) is None  # unknown key id
    for junk in ("", "s1", "s1.k1", "s2.k1.AAAA", "s1.k1.%%%", "a.b.c.d"):
        assert c.decode(junk) is None


def test_session_key_rotation_reads_old_writes_new():
    old = CookieCodec(K1, "s")
    v = old.encode(Session.fresh())
    rotated = CookieCodec({**K2, **K1}, "s")
    assert rotated.decode(v) is not None
    assert rotated.encode(Session.fresh()).startswith("s1.k2.")


def test_session_cookie_never_exceeds_bound():
    c = CookieCodec(K1, "s")
    s = Session.fresh()
    for i in range(200):
        s.caps[f"slot{i}/rule-with-a-long-name-{i}"] = CapEntry(3, 1000 + i)
        s.exposures[f"experiment-{i}"] = ExposureEntry("variant-" + "x" * 20, i, "5000/5000")
    v = c.encode(s)
    assert len(v) <= MAX_COOKIE_BYTES
    back = c.decode(v)
    assert "slot199/rule-with-a-long-name-199" in back.caps and "experiment-199" in back.exposures  # newest kept
    assert "slot0/rule-with-a-long-name-0" not in back.caps and "experiment-0" not in back.exposures  # oldest dropped


def test_session_new_visit_after_timeout_counts_page_views():
    s = Session.fresh()
    s.touch(100, 1800, "", "", True)
    s.touch(200, 1800, "", "", True)
    assert (s.visit_count, s.page_views, s.total_page_views) == (1, 2, 2)
    s.touch(200 + 1801, 1800, "blog", "", True)
    assert (s.visit_count, s.page_views, s.total_page_views, s.utm_source) == (2, 1, 3, "blog")


def test_session_exposure_counted_once_per_visit():
    s = Session.fresh()
    s.touch(100, 1800, "", "", True)
    assert s.record([], [("e", "a")], 100, {"e": "5000/5000"}) == [("e", "a", "5000/5000", True)]
    assert s.record([], [("e", "a")], 101, {"e": "5000/5000"}) == []
    s.touch(5000, 1800, "", "", True)
    assert s.record([], [("e", "a")], 5000, {"e": "5000/5000"}) == [("e", "a", "5000/5000", False)]


def test_session_exposure_keeps_cohort_of_assignment_until_variant_changes():
    s = Session.fresh()
    s.touch(100, 1800, "", "", True)
    s.record([], [("e", "a")], 100, {"e": "5000/5000"})
    s.touch(5000, 1800, "", "", True)  # a new visit, after a reweighting
    assert s.record([], [("e", "a")], 5000, {"e": "9000/1000"}) == [("e", "a", "5000/5000", False)]  # same arm: old cohort
    assert s.assignments() == {"e": "a"}
    assert s.exposed_this_visit() == [("e", "a", "5000/5000")]
    assert s.record([], [("e", "b")], 5001, {"e": "9000/1000"}) == [("e", "b", "9000/1000", True)]  # another arm: a new assignment
    assert s.exposures["e"] == ExposureEntry(variant="b", visit=2, period="9000/1000")
    s.touch(9000, 1800, "", "", True)
    assert s.exposed_this_visit() == []  # nothing exposed yet in the third visit


def test_session_reads_two_element_exposures_with_empty_period():
    """A cookie written before periods (entries [variant, visit]) still reads; its cohort is ''."""
    import msgpack

    c = CookieCodec(K1, "s")
    s = Session.fresh()
    plain = msgpack.packb([s.sid, 1, 1, 1, 100, 100, [], "", False, {}, {"e": ["a", 1]}, [], [], "nonce"], use_bin_type=True)
    back = c.decode(c._seal(plain))
    assert back is not None and back.exposures == {"e": ExposureEntry("a", 1, "")}
    for bad in ({"e": ["a", 1, 7]}, {"e": ["a", 1, "x" * 200]}, {"e": ["a", 1, "", "extra"]}):
        plain = msgpack.packb([s.sid, 1, 1, 1, 100, 100, [], "", False, {}, bad, [], [], "nonce"], use_bin_type=True)
        assert c.decode(c._seal(plain)) is None


def test_session_visit_nonce_random_new_each_visit_and_kept_within():
    c = CookieCodec(K1, "s")
    s = Session.fresh()
    s.touch(100, 1800, "", "", True)
    first = s.visit_nonce
    assert len(first) == 16 and first != s.sid
    s.first_exposure("hero|default|")
    s.first_conversion("purchase")
    back = c.decode(c.encode(s))
    back.touch(200, 1800, "", "", True)
    assert back.visit_nonce == first and back.converted == ["purchase"]  # the same visit, across the cookie
    back.touch(200 + 1801, 1800, "", "", True)
    assert back.visit_nonce not in (first, "") and back.shown == [] and back.converted == []
    assert len({_touched().visit_nonce for _ in range(50)}) == 50


def _touched() -> Session:
    s = Session.fresh()
    s.touch(100, 1800, "", "", True)
    return s


def test_session_cookie_from_before_visit_nonces_restarts_measurement_keeps_counters():
    """A 13-field plaintext (written before the nonce was added) is still read; its visit's
    measurement state restarts under a fresh nonce, its counters and assignments stay."""
    import msgpack

    c = CookieCodec(K1, "s")
    old = ["A" * 22, 2, 3, 9, 100, 150, ["tents"], "blog", False, {"hero/x": [1, 150]}, {"exp": ["a", 2]},
           ["hero|tent-hero|mid"], ["purchase"]]
    s = c.decode(c._seal(msgpack.packb(old, use_bin_type=True)))
    assert s is not None and s.visit_nonce == "" and s.converted == ["purchase"]
    s.touch(160, 1800, "", "", True)
    assert len(s.visit_nonce) == 16 and s.shown == [] and s.converted == []
    assert (s.visit_count, s.page_views, s.total_page_views, s.utm_source, s.caps, s.exposures) == \
        (2, 4, 10, "blog", {"hero/x": CapEntry(1, 150)}, {"exp": ExposureEntry("a", 2, "")})
    for bad in (old[:12], [*old, "n" * 16, 1], [*old, 5], [*old, "n" * 65]):  # wrong lengths or nonce types
        assert c.decode(c._seal(msgpack.packb(bad, use_bin_type=True))) is None


GOOD_ENTRY = ["0a1b2c3d", "4e5f6a7b", bytes([0, 3, 1]), 7, False, ""]


def test_session_models_round_trip_and_a_new_visit_empties_them():
    c = CookieCodec(K1, "s")
    s = _touched()
    s.models = {"intent": ModelEntry(*GOOD_ENTRY), "discount": ModelEntry("0a1b2c3d", "4e5f6a7b", bytes(64), 39, True, "treatment")}
    back = c.decode(c.encode(s))
    assert back is not None and back.models == s.models
    back.touch(150, 1800, "", "", True)
    assert back.models == s.models  # the same visit
    back.touch(150 + 1801, 1800, "", "", True)
    assert back.models == {}


def test_session_cookie_from_before_models_reads_without_entries():
    import msgpack

    c = CookieCodec(K1, "s")
    old = ["A" * 22, 2, 3, 9, 100, 150, ["tents"], "blog", False, {}, {"exp": ["a", 2]}, ["hero|x|mid"], [], "n" * 16]
    s = c.decode(c._seal(msgpack.packb(old, use_bin_type=True)))
    assert s is not None and s.models == {} and s.visit_nonce == "n" * 16 and s.shown == ["hero|x|mid"]


def _bad_models() -> list[object]:
    """Every way a models field can break the shape this version writes, one change each."""
    out: list[object] = [[], 5, {"m": GOOD_ENTRY[:5]}, {"m": [*GOOD_ENTRY, 1, 1]}, {1: GOOD_ENTRY}, {"m" * 65: GOOD_ENTRY},
                         {f"m{i}": GOOD_ENTRY for i in range(5)}]  # more than MAX_SESSION_MODELS
    # the uplift row: an int, 0 or a 16-bit tag * 128 + an uplift bucket (1..100)
    out += [{"m": [*GOOD_ENTRY, v]} for v in (-1, 128, 101, 127, 65536 * 128 + 1, "1", 1.0, None, True)]
    wrong = {0: [5, None, "x" * 17], 1: [5, None, "x" * 17], 2: ["abc", [0, 1], bytes(65)], 3: [-1, 40, True, 1.0],
             4: [0, 1, None], 5: [None, 1, "x" * 17]}
    for i, values in wrong.items():
        for v in values:
            e = list(GOOD_ENTRY)
            e[i] = v
            out.append({"m": e})
    return out


def test_session_refuses_each_malformed_models_field():
    import msgpack

    c = CookieCodec(K1, "s")
    base = ["A" * 22, 2, 3, 9, 100, 150, [], "", False, {}, {}, [], [], "n" * 16]
    assert c.decode(c._seal(msgpack.packb([*base, {"m": GOOD_ENTRY}], use_bin_type=True))) is not None
    for u in (0, 1, 100, 65535 * 128 + 100):  # a seventh field: the uplift row (six: written before it, read as 0)
        s = c.decode(c._seal(msgpack.packb([*base, {"m": [*GOOD_ENTRY, u]}], use_bin_type=True)))
        assert s is not None and s.models["m"].uplift == u
    assert c.decode(c._seal(msgpack.packb([*base, {"m": GOOD_ENTRY}], use_bin_type=True))).models["m"].uplift == 0
    for bad in _bad_models():
        assert c.decode(c._seal(msgpack.packb([*base, bad], use_bin_type=True))) is None, bad


def test_session_cookie_bound_drops_model_entries_after_caps_exposures_and_categories():
    c = CookieCodec(K1, "s")
    s = _touched()
    s.models = {f"model_{i}": ModelEntry("0a1b2c3d", "4e5f6a7b", bytes(64), 3, False, "treatment") for i in range(4)}
    s.recent_categories = ["c" * 60 for _ in range(10)]
    s.shown = [f"slot{i}|rule-{i}|mid" for i in range(24)]
    s.caps = {f"slot{i}/rule-{i}": CapEntry(1, i) for i in range(30)}
    v = c.encode(s)
    back = c.decode(v)
    assert len(v) <= MAX_COOKIE_BYTES and back is not None
    assert back.caps == {} and back.recent_categories == []  # gone first
    assert 0 < len(back.models) < 4 and list(back.models) == [f"model_{i}" for i in range(len(back.models))]  # the newest dropped
    assert len(back.shown) == 24  # the visit's exposure keys stay
