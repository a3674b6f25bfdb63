"""``POST /v1/events``: goal conversions, counted in aggregate (docs/measurement.md).

What keeps the counts honest (docs/security.md, "Measurement"):

- only ``application/json`` bodies (415 otherwise): a cross-site page cannot send one without a
  CORS preflight, which this server never answers;
- browsers only from the server's own origin or a configured one (``--events-origin``): a request
  whose ``Origin`` is another site's, or whose ``Sec-Fetch-Site`` is ``cross-site``, gets 403.
  Clients that are not browsers send neither header and are accepted;
- a goal value is finite, non-negative and at most ``--max-goal-value`` (422 otherwise);
- a conversion (its count and its value) counts once per visit and goal: the cookie remembers the
  goals of its visit, and this process's :class:`VisitLedger` remembers which visit nonces
  converted, so replaying an older cookie converts nothing more; with a fleet ledger
  (``--fleet-ledger``), once per visit and goal across the fleet (fleet_ledger.py);
- only visits with a decision (an exposure) count as ``personalized`` or ``holdout``; an event in a
  visit that has shown nothing (no cookie, or a cookie idle past the visit timeout, which the event
  turns into a new visit) counts in the ``unattributed`` overall row, like an event without cookie;
- without consent an existing session cookie is expired, and the event counts in the no-consent
  overall row only.
"""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runtime.decide import Prepared

from .beacons import count_exposures, exposures_of, known_exposures, refusal_of, visit_of
from .body import read_json
from .config import normalise_origin
from .contract import EVENTS_FIELDS, error
from .errors import ApiError
from .fleet_ledger import DeferredCounts, claim_key
from .measure import ALL, POPULATIONS, population_of
from .server import Server, cookies_of, headers_of

_DEFAULT_PORTS = {"http": 80, "https": 443}


class EventsEndpoint:
    """Route("/v1/events", EventsEndpoint(srv).handle, methods=["POST"])."""

    def __init__(self, srv: Server):
        self.srv = srv
        self.origins = frozenset(normalise_origin(o) for o in srv.config.events_origins)
        self._known: tuple[Prepared | None, frozenset[tuple[str, str, str]]] = (None, frozenset())  # the bundle's exposure keys

    async def handle(self, request: Request) -> Response:
        srv = self.srv
        h = headers_of(request.scope)
        check_media_type(h)
        check_browser_origin(h, self.origins)
        prepared = srv.prepared()
        body = await read_json(h, request.receive, srv.config.max_body_bytes)
        headers = {"cache-control": "no-store"}
        if isinstance(body, dict) and "refused" in body:  # a browser refused its bundle: nothing of the visitor is read
            srv.metrics.client_refusals.inc(refusal_of(body))
            return JSONResponse({"accepted": True}, status_code=202, headers=headers)
        if isinstance(body, dict) and "exposures" in body:
            return self.exposures(h, body, prepared, headers)
        goal, value = self.fields(body, prepared.goals)
        cookies = cookies_of(h)
        consent = srv.consent(h, cookies)
        overall = (ALL, ALL, "")
        measure = srv.measure
        if consent and "visit" in body:  # a conversion of a visit the browser decided (beacons.py)
            population = self.browser_conversion(visit_of(body["visit"]), goal, value)
            return JSONResponse({"accepted": True, "population": population}, status_code=202, headers=headers)
        if not consent:
            population = "no_consent"
            measure.conversion(goal, overall, population, value)
            cookie = srv.set_cookie(h, cookies, None, consent)  # expires an existing session cookie
            if cookie is not None:
                headers["set-cookie"] = cookie
            return JSONResponse({"accepted": True, "population": population}, status_code=202, headers=headers)
        session = srv.codec.decode(cookies.get(srv.config.cookie_name))
        now = time.time()
        if session is not None:
            # a cookie idle for longer than the visit timeout starts a new visit (a new nonce, nothing shown
            # yet), so a visit's nonce is only ever presented while the ledger remembers its conversions
            session.touch(int(now), srv.config.visit_timeout, "", "", False)
            visit = srv.ledger.record(session.visit_nonce, now)  # touched: it outlives every cookie this process wrote
        if session is None or not session.shown:
            # consenting, but no decision in this visit yet (no cookie, or the event itself started the visit):
            # nothing to attribute to, and no visit among the exposures the rates divide by
            population = "unattributed"
            measure.conversion(goal, overall, population, value)
        else:
            population = POPULATIONS[population_of(prepared, session.sid, consent)]
            if session.first_conversion(goal) and visit.first_conversion(goal):
                counts = DeferredCounts()
                counts.attribute(goal, list(session.shown), population, value)
                srv.model_counter.converted(prepared, session, goal, now, into=counts.models)  # the visit's model entries of this goal
                counts.cohort_conversion(goal, session.exposed_this_visit(), value)
                self.count(session.visit_nonce, goal, counts, now)
        if session is not None:
            if goal == "purchase":
                session.purchased = True
            cookie = srv.set_cookie(h, cookies, session, consent)
            if cookie is not None:
                headers["set-cookie"] = cookie
        return JSONResponse({"accepted": True, "population": population}, status_code=202, headers=headers)

    def exposures(self, h: dict[str, str], body: dict[str, object], prepared: Prepared, headers: dict[str, str]) -> Response:
        """A browser's ``{visit, exposures}`` (beacons.py): each key counted once per visit by this
        process's ledger (with a fleet ledger, once per visit across the fleet), in the population the
        visit's first counted exposure named; nothing without consent."""
        if self._known[0] is not prepared:
            self._known = (prepared, known_exposures(prepared))
        nonce, entries = exposures_of(body, self._known[1], f"{prepared.name} v{prepared.version}")
        if not self.srv.consent(h, cookies_of(h)):
            return JSONResponse({"accepted": True, "counted": 0, "population": "no_consent"}, status_code=202, headers=headers)
        now = time.time()
        visit = self.srv.ledger.record(nonce, now)
        exposures, fleet = self.srv.measure.exposures, self.srv.fleet_ledger
        claim = None if fleet is None else (  # each new key counts once the visit's owner answers first (fleet_ledger.py)
            lambda key, row: fleet.claim(nonce, claim_key("exposure", key), DeferredCounts().increment(exposures, row), now))
        counted = count_exposures(visit, entries, exposures, claim)
        return JSONResponse({"accepted": True, "counted": counted, "population": visit.population}, status_code=202, headers=headers)

    def browser_conversion(self, nonce: str, goal: str, value: float) -> str:
        """A consenting browser's conversion: attributed to the exposure keys this process counted for
        the visit nonce, once per visit and goal; unattributed when it counted none here."""
        visit = self.srv.ledger.record(nonce, time.time())
        if visit.population is None or not visit.shown:
            self.srv.measure.conversion(goal, (ALL, ALL, ""), "unattributed", value)
            return "unattributed"
        if visit.first_conversion(goal):
            counts = DeferredCounts()
            counts.attribute(goal, list(visit.shown), visit.population, value)
            self.count(nonce, goal, counts, visit.seen)
        return visit.population

    def count(self, nonce: str, goal: str, counts: DeferredCounts, now: float) -> None:
        """A conversion new to this process's ledger: counted now, or, with a fleet ledger, once the
        visit's owner answers that it is the fleet's first (fleet_ledger.py), after the response."""
        fleet = self.srv.fleet_ledger
        if fleet is None:
            counts.apply(self.srv.measure)
        else:
            fleet.claim(nonce, claim_key("goal", goal), counts, now)

    def fields(self, body: object, goals: tuple[str, ...]) -> tuple[str, float]:
        """(goal, value) of an events body, or 422 naming the field."""
        if not isinstance(body, dict) or set(body) - set(EVENTS_FIELDS[:3]):  # a conversion's: goal, value, visit
            raise error("events_body")
        goal = body.get("goal")
        if not isinstance(goal, str) or goal not in goals:
            raise error("unknown_goal", goals=", ".join(goals) or "(none declared)")
        value = body.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise error("goal_value")
        limit = self.srv.config.max_goal_value
        if value > limit:
            raise error("goal_value_too_large", value=f"{value:g}", limit=f"{limit:g}")
        return goal, float(value)


def check_media_type(h: dict[str, str]) -> None:
    """415 unless the body is declared ``application/json`` (parameters such as charset allowed)."""
    ctype = h.get("content-type", "")
    if ctype.split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "POST /v1/events takes Content-Type: application/json")


def check_browser_origin(h: dict[str, str], allowed: frozenset[str]) -> None:
    """403 for a browser request from another site: an ``Origin`` that is neither this server's
    host (``Host``, or ``X-Forwarded-Host`` set by a proxy in front) nor in ``allowed``; or, without
    ``Origin``, ``Sec-Fetch-Site: cross-site``. Requests with neither header (servers, scripts) pass.

    The scheme is not compared with the server's: behind a TLS-terminating proxy the server sees
    http while the page is https; a page on the same host and port over plain http is the site's own.
    """
    origin = h.get("origin")
    if origin is None:
        if h.get("sec-fetch-site", "").strip().lower() == "cross-site":
            raise ApiError(403, "forbidden_origin", "POST /v1/events from another site (Sec-Fetch-Site: cross-site)")
        return
    o = normalise_origin(origin)
    if o in allowed:
        return
    hosts = [h.get("host", "")] + [x.strip() for x in h.get("x-forwarded-host", "").split(",")[:1]]
    if any(same_host(o, host) for host in hosts if host):
        return
    raise ApiError(403, "forbidden_origin", f"POST /v1/events from origin {origin[:100]!r}: not this site; "
                   "allow another origin with --events-origin or STRATA_EVENTS_ORIGINS")


def same_host(origin: str, host: str) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) names ``host`` (a Host header, ``host[:port]``),
    default ports counted by the origin's scheme.

    >>> same_host("https://shop.example", "shop.example:443"), same_host("http://a:8080", "a:8081")
    (True, False)
    """
    try:
        o = urlsplit(origin)
        hh = urlsplit("//" + host.strip().lower())
        if o.scheme not in _DEFAULT_PORTS or not o.hostname or o.path or o.query or o.username is not None:
            return False
        default = _DEFAULT_PORTS[o.scheme]
        return o.hostname == hh.hostname and (o.port or default) == (hh.port or default)
    except ValueError:  # a port that is not a number or out of range
        return False
