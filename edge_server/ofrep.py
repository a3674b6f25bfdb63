"""OpenFeature Remote Evaluation Protocol (OFREP) on the edge server (docs/openfeature.md):
``POST /ofrep/v1/evaluate/flags/{key}`` (one flag) and ``POST /ofrep/v1/evaluate/flags`` (all slots,
``ETag``/``If-None-Match``).

A flag is a slot (runtime/flags.py has the mapping). An evaluation is ``/v1/decide`` in another
envelope: the same decision path (``Server.decide``: request signals, consent, the session cookie,
metrics and exposures), with the OFREP ``context`` in place of decide's body. Context keys:
``targetingKey`` (the session id's source, from a trusted caller only: see below),
``page.url``/``page.referrer``/``page.category`` (decide's ``page`` object), and client signals,
validated exactly as decide's ``signals``. An evaluation is not a page view.

A visitor cannot choose their session, arm or holdout side (docs/security.md): a ``targetingKey`` is
honoured only from a caller that sends ``Authorization: Bearer <STRATA_OFREP_TOKEN>`` (a server-side
application evaluating on a visitor's behalf), and a session derived from a key is never written into
the session cookie. An anonymous caller's key is ignored: its session is its cookie's, or a new random
one (written into the cookie, as on /v1/decide). A Bearer token that is not the OFREP token is refused
(401), so a misconfigured server-side caller learns it instead of silently losing its keys.

Errors answer OFREP's shapes, ``{"key", "errorCode", "errorDetails"}`` (one flag) or
``{"errorCode", "errorDetails"}`` (bulk), and are counted in ``strata_rejected_requests_total``
under the lower-cased error code.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from runtime.decide import Prepared
from runtime.decision import Decision, Outcome
from runtime.flags import (
    MAX_TARGETING_KEY,
    MISSING,
    REASONS,
    FlagNotFound,
    metadata_of,
    needs_session,
    session_id_for,
    split_key,
    value_of,
    variant_of,
)

from .accepted_bodies import AcceptedBodies
from .bearer import bearer_of, bearer_ok
from .body import parse_json, read_body
from .contract import VARY
from .decide import decide_fields
from .errors import ApiError
from .server import DecideRequest, Server, cookies_of, headers_of
from .signals import ClientSignalError, client_signals

#: Context keys that are not signals: OFREP's targeting key and decide's page object.
PAGE_KEYS = {"page.url": "url", "page.referrer": "referrer", "page.category": "category"}
RESERVED = frozenset({"targetingKey", *PAGE_KEYS})
_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"private, no-store"), (b"vary", VARY.encode())]
#: ApiError codes of the shared body reader and readiness check -> OFREP error codes.
_CODES = {"invalid_json": "PARSE_ERROR", "bad_request": "PARSE_ERROR", "client_disconnected": "PARSE_ERROR"}


class OfrepError(Exception):
    def __init__(self, status: int, code: str, details: str):
        super().__init__(details)
        self.status, self.code, self.details = status, code, details


class Context:
    """A validated OFREP context: targeting key, decide's page fields and client signals."""

    __slots__ = ("key", "url", "referrer", "category", "signals")

    def __init__(self, body: Any, prepared: Prepared, limit: int):
        if not isinstance(body, dict) or not {"context"}.issuperset(body):
            raise OfrepError(400, "INVALID_CONTEXT", "body must be {\"context\": {...}}")
        ctx = body.get("context") or {}
        if not isinstance(ctx, dict):
            raise OfrepError(400, "INVALID_CONTEXT", "context must be an object")
        key = ctx.get("targetingKey")
        if key is not None and (not isinstance(key, str) or len(key) > MAX_TARGETING_KEY):
            raise OfrepError(400, "INVALID_CONTEXT", f"targetingKey must be a string of at most {MAX_TARGETING_KEY} characters")
        self.key: str | None = key or None
        page = {PAGE_KEYS[k]: v for k, v in ctx.items() if k in PAGE_KEYS}
        signals = {k: v for k, v in ctx.items() if k not in RESERVED}
        try:  # the same validation as a decide body's page object and signals
            f = decide_fields({"page": page})
            self.url, self.referrer, self.category = f.url, f.referrer, f.category
            self.signals = client_signals(signals, prepared, limit)
        except ApiError as e:
            raise OfrepError(400, "INVALID_CONTEXT", e.message.replace("page.", "context page.", 1)) from None
        except ClientSignalError as e:
            raise OfrepError(400, "INVALID_CONTEXT", f"context: {e}") from None


class _Cache:
    """Per bundle: the slots that need a session, and the JSON of each (decision, field) answer."""

    def __init__(self, prepared: Prepared):
        self.prepared = prepared
        self.needs = frozenset(s for s in prepared.slot_ids if needs_session(prepared, s))
        self.json: dict[tuple[Decision, str, tuple[str, ...]], bytes] = {}
        self.metadata = orjson.dumps({"bundle": prepared.name, "version": prepared.version})

    def answer(self, key: str, d: Decision, path: tuple[str, ...]) -> bytes:
        """``{"key","value","reason","variant","metadata"}`` (no value: use the code default)."""
        k = (d, key, path)
        out = self.json.get(k)
        if out is None:
            value = value_of(d, path)
            body: dict[str, Any] = {"key": key}
            if value is not MISSING:
                body["value"] = value
            body.update(reason=REASONS[d.reason], variant=variant_of(d), metadata=metadata_of(self.prepared, d))
            out = orjson.dumps(body)
            if d.trace is None and value is not MISSING:  # bounded: only fields the bundle's content has
                self.json[k] = out
        return out


class _Endpoint:
    def __init__(self, srv: Server):
        self.srv = srv
        self._cache: _Cache | None = None
        self._contexts: AcceptedBodies[Context] = AcceptedBodies()

    def context(self, raw: bytes, prepared: Prepared) -> Context:
        """The validated context of a body, or its refusal; an accepted body's context is remembered
        per bundle by its bytes, as decide's bodies are (accepted_bodies.py)."""
        ctx = self._contexts.get(raw, prepared)
        if ctx is not None:
            return ctx
        try:
            body = parse_json(raw)
        except ApiError as e:
            raise OfrepError(e.status, _CODES.get(e.code, "GENERAL"), e.message) from None
        return self._contexts.put(raw, Context(body, prepared, self.srv.config.max_client_signals))

    def cache(self, prepared: Prepared) -> _Cache:
        c = self._cache
        if c is None or c.prepared is not prepared:
            c = self._cache = _Cache(prepared)
        return c

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = scope.get("path_params", {}).get("key")
        try:
            try:
                prepared = self.srv.prepared()
                h = headers_of(scope)
                raw = await read_body(h, receive, self.srv.config.max_body_bytes)
            except ApiError as e:
                raise OfrepError(e.status, _CODES.get(e.code, "GENERAL"), e.message) from None
            ctx = self.context(raw, prepared)
            status, payload, extra = self.evaluate(prepared, h, ctx, key)
        except OfrepError as e:
            self.srv.metrics.rejected.inc(e.code.lower())
            err: dict[str, Any] = {"key": key} if key is not None else {}
            err.update(errorCode=e.code, errorDetails=e.details)
            status, payload, extra = e.status, orjson.dumps(err), []
        headers = [*_HEADERS, *extra]
        if payload:
            headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def evaluate(self, prepared: Prepared, h: dict[str, str], ctx: Context, key: str | None) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """(status, body, extra headers) of one evaluation request."""
        raise NotImplementedError

    def decide(self, prepared: Prepared, h: dict[str, str], ctx: Context, slots: list[str]) -> tuple[Outcome, list[tuple[bytes, bytes]], list[str]]:
        """The outcome for ``slots`` (minus those needing a session nobody gave), the Set-Cookie
        header if any, and the slots left out for want of a targeting key."""
        srv = self.srv
        cookies = cookies_of(h)
        trusted = trusted_caller(h, srv.config.ofrep_token)
        sid = session_id_for(ctx.key) if ctx.key is not None and trusted else None
        missing: list[str] = []
        # a cookie (even an unreadable one) is a session, as on /v1/decide; so is an anonymous caller's
        # (ignored) key: a new random session, as decide gives; no cookie and no key: none
        create = sid is None and (srv.config.cookie_name in cookies or ctx.key is not None)
        if sid is None and not create and srv.consent(h, cookies):
            needs = self.cache(prepared).needs
            missing = [s for s in slots if s in needs]
            slots = [s for s in slots if s not in needs]
            if not slots:  # nothing to decide: no decision, no counter moves
                return Outcome(prepared.name, prepared.version, {}), [], missing
        req = DecideRequest(ctx.url, ctx.referrer, ctx.category, slots, ctx.signals, page_view=False, sid=sid, create=create)
        outcome, session, consent = srv.decide(h, cookies, prepared, req)
        # a keyed session lives for this evaluation only: never in the cookie, where /v1/decide would keep it
        cookie = srv.set_cookie(h, cookies, session if sid is None else None, consent)
        return outcome, [(b"set-cookie", cookie.encode("latin-1"))] if cookie is not None else [], missing


class FlagEndpoint(_Endpoint):
    """``POST /ofrep/v1/evaluate/flags/{key}``."""

    def evaluate(self, prepared: Prepared, h: dict[str, str], ctx: Context, key: str | None) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        assert key is not None
        try:
            slot, path = split_key(prepared, key)
        except FlagNotFound as e:
            raise OfrepError(404, "FLAG_NOT_FOUND", str(e)) from None
        outcome, cookie, missing = self.decide(prepared, h, ctx, [slot])
        if missing:
            raise OfrepError(400, "TARGETING_KEY_MISSING", _no_key(slot))
        return 200, self.cache(prepared).answer(key, outcome.decisions[slot], path), cookie


class FlagsEndpoint(_Endpoint):
    """``POST /ofrep/v1/evaluate/flags``: every slot; 304 when ``If-None-Match`` names the answer's ETag."""

    def evaluate(self, prepared: Prepared, h: dict[str, str], ctx: Context, key: str | None) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        outcome, cookie, missing = self.decide(prepared, h, ctx, list(prepared.slot_ids))
        cache = self.cache(prepared)
        parts = [cache.answer(s, d, ()) for s, d in outcome.decisions.items()]
        parts += [orjson.dumps({"key": s, "errorCode": "TARGETING_KEY_MISSING", "errorDetails": _no_key(s)}) for s in missing]
        payload = b'{"flags":[' + b",".join(parts) + b'],"metadata":' + cache.metadata + b"}"
        etag = '"' + hashlib.blake2b(payload, digest_size=16).hexdigest() + '"'
        headers = [(b"etag", etag.encode()), *cookie]
        if _matches(h.get("if-none-match"), etag):
            return 304, b"", headers
        return 200, payload, headers


def trusted_caller(h: dict[str, str], token: str | None) -> bool:
    """Whether the caller sent the OFREP token (its targetingKey names the session); a Bearer
    token that is not it is refused with 401, whether or not the server has one."""
    given = bearer_of(h)
    if given is None:
        return False
    if not bearer_ok(h, token):
        raise OfrepError(401, "GENERAL", "Authorization: Bearer is not the OFREP token (STRATA_OFREP_TOKEN)" if token else
                         "this server has no OFREP token: set STRATA_OFREP_TOKEN (or --ofrep-token) for server-side callers")
    return True


def _no_key(slot: str) -> str:
    return (f"flag {slot!r} depends on the session (an experiment or the holdout): send a targetingKey in the context, "
            "or the session cookie")


def _matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of entity tags, compared weakly."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in (t[2:] if t.startswith("W/") else t for t in tags)
