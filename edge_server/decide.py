"""``POST /v1/decide`` (docs/server.md): a plain ASGI endpoint on the Starlette router.

It is the hot path, so it reads the body from ``receive`` and sends the response itself instead of
building Starlette Request and Response objects, and it assembles the response from the JSON of
each slot's decision, cached per bundle. Errors are raised as :class:`ApiError` before anything is
sent, and answered by the application's exception handler like every other endpoint's.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from runtime.decide import Prepared

from .accepted_bodies import AcceptedBodies
from .body import parse_json, read_body
from .contract import DECIDE_FIELDS, MAX_NAME, MAX_SLOTS, MAX_URL, VARY, error
from .server import DecideRequest, Server, cookies_of, headers_of
from .signals import ClientSignalError, client_signals, split_url

_FIELDS = frozenset(DECIDE_FIELDS)
#: The headers of every decide response, before Content-Length and Set-Cookie.
RESPONSE_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"private, no-store"), (b"vary", VARY.encode())]


class DecideFields(NamedTuple):
    """The fields of a decide body (docs/server.md), checked for type and size."""

    url: str
    referrer: str | None
    category: str
    slots: list[str] | None
    signals: Any  # the client signals as sent (client_signals validates them against the bundle)
    page_view: bool
    html: bool


def decide_fields(body: Any) -> DecideFields:
    """The fields of a decide body, or 422 naming the offending field."""
    if not isinstance(body, dict):
        raise error("body_not_object")
    if not _FIELDS.issuperset(body):
        f = sorted(set(body) - _FIELDS)[0]
        raise error("unknown_field", name=repr(f), fields=", ".join(DECIDE_FIELDS), field=f)
    html = body.get("html", False)
    if not isinstance(html, bool):
        raise error("html_not_bool")
    page = body.get("page", {})
    if not isinstance(page, dict):
        raise error("page_not_object")
    url = page.get("url", "/")
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise error("page_url_type", max_url=MAX_URL)
    if split_url(url) is None:
        raise error("page_url_invalid")
    ref = page.get("referrer")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_URL):
        raise error("page_referrer_type")
    cat = page.get("category", "")
    if not isinstance(cat, str) or len(cat) > MAX_NAME:
        raise error("page_category_type", max_name=MAX_NAME)
    slots = body.get("slots")
    if slots is not None:
        if not isinstance(slots, list) or len(slots) > MAX_SLOTS:
            raise error("slots_type", max_slots=MAX_SLOTS)
        for s in slots:  # a loop, not all(<generator>): no generator frame resumed per slot
            if not isinstance(s, str) or len(s) > MAX_NAME:
                raise error("slots_type", max_slots=MAX_SLOTS)
    pv = body.get("page_view", True)
    if not isinstance(pv, bool):
        raise error("page_view_not_bool")
    return DecideFields(url, ref, cat, slots, body.get("signals"), pv, html)


def check_slots(slots: list[str] | None, prepared: Prepared) -> None:
    """422 ``unknown_slot`` naming the requested slots the bundle does not have, and the ones it has.
    Strict rather than lenient: a page naming a slot its bundle lacks is a deployment mistake, and a
    silent ``{}`` hides it (docs/server.md)."""
    if slots is None:
        return
    unknown = [s for s in dict.fromkeys(slots) if s not in prepared.slots]
    if unknown:
        known = ", ".join(prepared.slot_ids) or "(none)"
        raise error("unknown_slot", slots=", ".join(map(repr, unknown)), bundle=repr(prepared.name), known=known)


class DecideEndpoint:
    """The ASGI application behind ``Route("/v1/decide", ...)``."""

    def __init__(self, srv: Server):
        self.srv = srv
        self._known: tuple[Any, frozenset[str]] = (None, frozenset())  # the current bundle and its slot ids
        self._bodies: AcceptedBodies[tuple[DecideFields, dict[str, Any]]] = AcceptedBodies()

    def _checked(self, raw: bytes, prepared: Prepared) -> tuple[DecideFields, dict[str, Any]]:
        """The fields and client signals of a body, or its refusal; an accepted body's are remembered
        per bundle by its bytes (accepted_bodies.py: a repeat skips the JSON parse and every check)."""
        out = self._bodies.get(raw, prepared)
        if out is not None:
            return out
        f = decide_fields(parse_json(raw))
        self._check_slots(f.slots, prepared)
        try:
            client = client_signals(f.signals, prepared, self.srv.config.max_client_signals)
        except ClientSignalError as e:
            raise e.api_error() from None
        return self._bodies.put(raw, (f, client))

    def _check_slots(self, slots: list[str] | None, prepared: Prepared) -> None:
        """check_slots, with the common case (every slot known) one set operation."""
        if slots is None:
            return
        known = self._known
        if known[0] is not prepared:
            known = self._known = (prepared, frozenset(prepared.slot_ids))
        if not known[1].issuperset(slots):
            check_slots(slots, prepared)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        srv = self.srv
        prepared = srv.prepared()
        h = headers_of(scope)
        f, client = self._checked(await read_body(h, receive, srv.config.max_body_bytes), prepared)
        explain = srv.config.debug and dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("explain") in ("1", "true")
        cookies = cookies_of(h)
        outcome, session, consent = srv.decide(h, cookies, prepared, DecideRequest(f.url, f.referrer, f.category, f.slots, client, f.page_view, explain))
        # Outcome.to_dict() plus html and consent, joined from per-decision JSON (cached unless explained)
        parts = [srv.bundle_json(prepared), b',"slots":', srv.slots_json(prepared, outcome.decisions, f.html)]
        if outcome.segments is not None:
            parts += (b',"segments":', orjson.dumps(outcome.segments), b',"scores":', orjson.dumps(outcome.scores or {}))
        parts.append(b',"consent":true}' if consent else b',"consent":false}')
        payload = b"".join(parts)
        headers = [*RESPONSE_HEADERS, (b"content-length", str(len(payload)).encode())]
        cookie = srv.set_cookie(h, cookies, session, consent)
        if cookie is not None:
            headers.append((b"set-cookie", cookie.encode("latin-1")))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
