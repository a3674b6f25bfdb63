"""runtime/openfeature_provider.py: the in-process OpenFeature provider answers as the runtime does
(through the mapping of runtime/flags.py), refuses what OFREP refuses, and tells the SDK about
bundle swaps and expiry."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import Reason

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import TRAILBLAZER
from runtime import Runtime, key_id
from runtime.flags import REASONS, metadata_of, session_id_for, variant_of
from runtime.openfeature_provider import StrataProvider

NOW = int(time.time())
TENT = {"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}


@pytest.fixture(scope="module")
def bundle(signing_key) -> bytes:  # type: ignore[no-untyped-def]
    return make_bundle(TRAILBLAZER.read_text(), signing_key, created=NOW - 60, version=7)


def provider_with(signing_key, bundle: bytes, **kw: Any) -> tuple[StrataProvider, list[tuple[ProviderEvent, Any]]]:  # type: ignore[no-untyped-def]
    p = StrataProvider(Runtime({key_id(signing_key.public_key()): signing_key.public_key()}), **kw)
    events: list[tuple[ProviderEvent, Any]] = []
    p.attach(lambda _provider, event, details: events.append((event, details)))
    p.load(bundle)
    return p, events


@pytest.fixture()
def client(signing_key, bundle):  # type: ignore[no-untyped-def]
    """An OpenFeature client of its own domain, so tests share no SDK state."""
    p, _ = provider_with(signing_key, bundle)
    domain = f"strata-{uuid.uuid4().hex}"
    api.set_provider(p, domain)
    yield api.get_client(domain)
    api.clear_providers()


def test_openfeature_provider_object_per_slot_and_typed_fields(client):
    ctx = EvaluationContext("visitor-42", {"utm.source": "newsletter"})
    hero = client.get_object_details("hero", {}, ctx)
    assert hero.error_code is None
    # visitor-42 (like visitor-1) is outside the demo's 5% holdout
    assert (hero.value["headline"], hero.reason, hero.variant) == ("Your camping season starts here", Reason.TARGETING_MATCH, "camping-welcome")
    headline = client.get_string_details("hero.headline", "fallback", ctx)
    assert headline.value == hero.value["headline"] and headline.variant == hero.variant
    assert client.get_string_value("hero.cta.text", "fallback", ctx) == hero.value["cta"]["text"]


def test_openfeature_provider_field_the_content_lacks_is_the_callers_default(client):
    d = client.get_string_details("offer.code", "NONE", EvaluationContext("visitor-1"))  # the offer's default content is {}
    assert (d.value, d.error_code, d.reason, d.variant) == ("NONE", None, Reason.DEFAULT, "default")


@pytest.mark.parametrize("call,key,default,code", [
    ("get_string_details", "hero", "x", ErrorCode.TYPE_MISMATCH),
    ("get_integer_details", "hero.headline", 0, ErrorCode.TYPE_MISMATCH),
    ("get_boolean_details", "offer", False, ErrorCode.TYPE_MISMATCH),
    ("get_object_details", "nope", {}, ErrorCode.FLAG_NOT_FOUND),
    ("get_object_details", "hero..x", {}, ErrorCode.FLAG_NOT_FOUND),
])
def test_openfeature_provider_refusals_give_the_default_and_a_code(client, call, key, default, code):
    d = getattr(client, call)(key, default, EvaluationContext("visitor-1"))
    assert (d.value, d.error_code, d.reason) == (default, code, Reason.ERROR)


@pytest.mark.parametrize("attrs,words", [({"email": "a@b.example"}, "unknown signal 'email'"), ({"device.type": 3}, "device.type"),
                                         ({"cart.items": [{"sku": 1}]}, "cart.items"), ({"consent": "yes"}, "consent")])
def test_openfeature_provider_invalid_context(client, attrs, words):
    d = client.get_object_details("hero", {}, EvaluationContext("visitor-1", attrs))
    assert d.error_code == ErrorCode.INVALID_CONTEXT and words in (d.error_message or "")


def test_openfeature_provider_session_flags_need_a_targeting_key_unless_no_consent(client):
    d = client.get_object_details("banner", {}, EvaluationContext(None, {"geo.country": "US"}))
    assert d.error_code == ErrorCode.TARGETING_KEY_MISSING  # the demo's holdout depends on the session
    d = client.get_object_details("banner", {}, EvaluationContext(None, {"geo.country": "US", "consent": False}))
    assert (d.error_code, d.reason, d.variant, d.value["headline"]) == (None, Reason.DISABLED, "no_consent", "Free returns on every order")


contexts = st.fixed_dictionaries({}, optional={
    "device.type": st.sampled_from(["mobile", "desktop", "tablet"]),
    "utm.source": st.sampled_from(["", "newsletter", "ads"]),
    "geo.country": st.sampled_from(["US", "DE", ""]),
    "session.recent_categories": st.lists(st.sampled_from(["tents", "packs"]), max_size=2),
    "session.visit_count": st.integers(1, 3),
    "session.page_views": st.integers(0, 5),
    "cart.items": st.lists(st.just(TENT), max_size=1),
    "consent": st.booleans(),
})


@given(contexts, st.text(min_size=1, max_size=12), st.sampled_from(["hero", "banner", "offer", "recs"]))
def test_openfeature_provider_answers_as_the_runtime(signing_key, bundle, attrs, key, slot):
    p, _ = provider_with(signing_key, bundle)
    got = p.resolve_object_details(slot, {}, EvaluationContext(key, attrs))
    prepared = p.runtime.current
    assert prepared is not None
    signals = {k: v for k, v in attrs.items() if k != "consent"}
    d = prepared.decide(signals, [slot], session_id=session_id_for(key), consent=attrs.get("consent", True)).decisions[slot]
    assert (got.value, got.reason, got.variant, dict(got.flag_metadata)) == (d.content, REASONS[d.reason], variant_of(d), metadata_of(prepared, d))


def test_openfeature_provider_events_on_swaps_and_expiry(signing_key, bundle):
    clock = [float(NOW)]
    p, events = provider_with(signing_key, bundle, clock=lambda: clock[0])
    assert [e for e, _ in events] == [ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
    assert events[1][1].flags_changed == ["hero", "banner", "offer", "recs"] and events[1][1].metadata["bundleVersion"] == 7
    p.load(make_bundle(TRAILBLAZER.read_text(), signing_key, created=NOW - 30, version=8))
    assert [e for e, _ in events[2:]] == [ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
    prepared = p.runtime.current
    assert prepared is not None and prepared.version == 8
    clock[0] = prepared.expires + 1.0  # the bundle expires while held
    d = p.resolve_object_details("banner", {}, EvaluationContext("visitor-1"))
    d2 = p.resolve_object_details("banner", {}, EvaluationContext("visitor-1"))
    assert d.reason == d2.reason == Reason.STALE and d.value == d2.value
    assert [e for e, _ in events[3:]] == [ProviderEvent.PROVIDER_STALE]  # once
    p.load(make_bundle(TRAILBLAZER.read_text(), signing_key, created=NOW, version=9))
    clock[0] = float(NOW)
    assert [e for e, _ in events[4:]] == [ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
    assert p.resolve_object_details("banner", {}, EvaluationContext("visitor-1")).reason != Reason.STALE


def test_openfeature_provider_not_ready_without_a_bundle(signing_key):
    p = StrataProvider(Runtime({key_id(signing_key.public_key()): signing_key.public_key()}))
    with pytest.raises(ProviderNotReadyError):
        p.initialize(EvaluationContext())
    with pytest.raises(ProviderNotReadyError):
        p.resolve_object_details("hero", {})
