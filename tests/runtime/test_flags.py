"""runtime/flags.py: a slot seen as an OpenFeature flag (the mapping the OFREP endpoints and the
in-process provider share)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED, trailblazer_without_holdout
from runtime import REASONS as STRATA_REASONS
from runtime import Runtime, key_id
from runtime.decision import Decision
from runtime.flags import MISSING, REASONS, FlagNotFound, metadata_of, needs_session, session_id_for, split_key, value_of, variant_of


@pytest.fixture(scope="module")
def prepared(signing_key, trailblazer_bundle):  # type: ignore[no-untyped-def]
    rt = Runtime({key_id(signing_key.public_key()): signing_key.public_key()})
    return rt.load(trailblazer_bundle, now=CREATED + 60)


def test_flags_every_strata_reason_has_an_openfeature_reason():
    assert set(REASONS) == set(STRATA_REASONS)
    assert set(REASONS.values()) <= {"STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "CACHED", "DISABLED", "UNKNOWN", "STALE", "ERROR"}
    assert REASONS["no_consent"] == "DISABLED" and REASONS["experiment"] == "SPLIT" and REASONS["rule"] == "TARGETING_MATCH"


@pytest.mark.parametrize("key,expected", [("hero", ("hero", ())), ("hero.headline", ("hero", ("headline",))),
                                          ("hero.cta.text", ("hero", ("cta", "text")))])
def test_flags_split_key_slot_and_field_path(prepared, key, expected):
    assert split_key(prepared, key) == expected


@pytest.mark.parametrize("key", ["nope", "", "hero.", "hero..x", ".hero", "Hero"])
def test_flags_split_key_refuses_what_is_no_slot(prepared, key):
    with pytest.raises(FlagNotFound, match="not a slot of bundle trailblazer"):
        split_key(prepared, key)


def test_flags_value_of_walks_the_content_and_says_missing():
    d = Decision("hero", {"headline": "H", "cta": {"text": "Go"}, "items": ["a"]}, "default")
    assert value_of(d, ()) is d.content
    assert value_of(d, ("cta", "text")) == "Go"
    assert value_of(d, ("nope",)) is MISSING and value_of(d, ("headline", "x")) is MISSING and value_of(d, ("items", "0")) is MISSING


def test_flags_variant_and_metadata_name_the_rule_experiment_or_reason(prepared):
    exp = Decision("hero", {}, "experiment", "starter-kit", "starter-kit", "free-shipping", "specific", "tent_cart_abandoner")
    rule = Decision("hero", {}, "rule", "tent-hero", None, None, "mid", "tent_viewer")
    assert (variant_of(exp), variant_of(rule), variant_of(Decision("hero", {}, "no_consent"))) == ("free-shipping", "tent-hero", "no_consent")
    assert metadata_of(prepared, exp) == {"rule": "starter-kit", "layer": "specific", "segment": "tent_cart_abandoner", "experiment": "starter-kit",
                                          "strataReason": "experiment", "bundle": "trailblazer", "bundleVersion": 100}
    assert metadata_of(prepared, Decision("hero", {}, "default")) == {"strataReason": "default", "bundle": "trailblazer", "bundleVersion": 100}


def test_flags_needs_session_with_a_holdout_or_an_experiment(prepared, signing_key):
    assert all(needs_session(prepared, s) for s in prepared.slot_ids)  # the demo has a 5% holdout
    rt = Runtime({key_id(signing_key.public_key()): signing_key.public_key()})
    p = rt.load(make_bundle(trailblazer_without_holdout(), signing_key), now=CREATED + 60)
    assert [s for s in p.slot_ids if needs_session(p, s)] == ["hero"]  # the starter-kit experiment


@given(st.text(max_size=300))
def test_flags_session_id_for_is_a_deterministic_session_shaped_pseudonym(key):
    sid = session_id_for(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", sid) and sid == session_id_for(key)
    assert key not in sid or len(key) < 3


@given(st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=30, unique=True))
def test_flags_session_id_for_tells_keys_apart(keys):
    assert len({session_id_for(k) for k in keys}) == len(keys)
