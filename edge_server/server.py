"""One server's state (configuration, bundle manager, cookie codec, metrics) and the decision path
shared by ``POST /v1/decide`` and page mode: request → signals → runtime → session and counters.

Everything here works on the ASGI scope and plain dicts, not on framework request objects: the
decision path is the hot path, and docs/server.md's performance section measures it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson

from runtime.decide import Prepared
from runtime.decision import Decision, Outcome

from . import render as render_mod
from .bundles import BundleManager
from .config import Config, ConfigError
from .contract import CONSENT_REFUSALS
from .errors import ApiError
from .fleet_ledger import DeferredCounts, claim_key
from .measure import HOLDOUT, NO_CONSENT, PERSONALIZED, Arm, Arms, Measurement, periods_of
from .metrics import Metrics
from .model_counts import ModelCounter
from .session import CookieCodec, Session, ephemeral_keys
from .signals import RequestContext
from .visit_ledger import VisitLedger, VisitRecord

log = logging.getLogger("strata.server")



@dataclass(slots=True)
class DecideRequest:
    """One page view to decide, from whichever endpoint it came (``/v1/decide``, a served page, OFREP)."""

    url: str  # the page's path and query, or an absolute http(s) URL
    referrer: str | None = None
    category: str = ""
    slots: list[str] | None = None  # None: every slot
    client: dict[str, Any] = field(default_factory=dict)  # client signals, validated
    page_view: bool = True  # counts as a page view of the visit
    explain: bool = False
    sid: str | None = None  # a session id to use instead of the cookie's (OFREP's targeting key): see Server.visit
    create: bool = True  # start a session when the request has none: see Server.visit


class Server:
    """Per-app state: configuration, bundle manager, cookie codec, metrics."""

    def __init__(self, config: Config):
        config.validate()
        self.config = config
        try:
            self.tz = ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {config.timezone!r} (use an IANA name such as Europe/Berlin)") from None
        self.measure = Measurement()
        self.metrics = Metrics(lambda: self.bundles.current, self.measure, config.metrics_dir)
        # what this process counted per visit, against replayed and altered cookies (visit_ledger.py);
        # +2 s: visits are judged on whole-second timestamps (Session.touch)
        self.ledger = VisitLedger(config.visit_timeout + 2, on_evict=self.metrics.ledger_evictions.inc)
        self.model_counter = ModelCounter(self.measure.models, self.ledger)
        self.fleet_ledger: Any = None  # fleet_ledger.FleetLedger with --fleet-ledger (app.py): conversions once per visit across the fleet
        self.bundles: BundleManager = BundleManager(config, self.metrics)
        if not config.cookie_keys:
            log.warning("no cookie keys configured (STRATA_COOKIE_KEYS): using a random key; sessions reset on restart")
        self.codec = CookieCodec(config.cookie_keys or ephemeral_keys(), config.cookie_name)
        if not config.stats_token:
            log.info("no stats token (STRATA_STATS_TOKEN): /metrics serves operational metrics only; exposures, conversions, revenue, "
                     "cohorts and model counters need the token (and then /metrics needs it too)")
        log.info("OFREP: a context's targetingKey is honoured only with 'Authorization: Bearer <STRATA_OFREP_TOKEN>'%s",
                 "" if config.ofrep_token else " (no token set: every targetingKey is ignored)")
        self.context = RequestContext(config.country_header, self.tz)
        self.origin = httpx.AsyncClient(timeout=config.origin_timeout, follow_redirects=False) if config.origin else None
        self.pages_root = Path(config.pages).resolve() if config.pages else None
        secure = "; Secure" if config.cookie_secure else ""
        self._cookie_attrs = f"; Path=/; Max-Age={config.cookie_max_age}; HttpOnly; SameSite=Lax{secure}"
        self._cookie_expired = f"{config.cookie_name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
        self._per_bundle: Prepared | None = None
        self._html: dict[int, str] = {}
        self._json: dict[Decision, bytes] = {}
        self._json_html: dict[Decision, bytes] = {}
        self._arms: dict[Decision, Arm] = {}
        self._combinations: dict[tuple[Decision, ...], Arms] = {}
        self._slots_json: dict[tuple[Any, ...], bytes] = {}
        self._periods: dict[str, str] = {}
        self._bundle_json = b""

    # ------------------------------------------------------------------ per-bundle caches
    def _caches_for(self, prepared: Prepared) -> None:
        """Caches keyed by content objects live exactly as long as the bundle holding them."""
        if self._per_bundle is not prepared:
            self._per_bundle, self._html, self._json, self._json_html, self._arms, self._slots_json = prepared, {}, {}, {}, {}, {}
            self._combinations = {}
            self._periods = periods_of(prepared)
            self._bundle_json = b'{"bundle":' + orjson.dumps({"name": prepared.name, "version": prepared.version})

    def bundle_json(self, prepared: Prepared) -> bytes:
        """``{"bundle":{"name":…,"version":…}`` — the opening of a decide response."""
        self._caches_for(prepared)
        return self._bundle_json

    def html(self, prepared: Prepared, content: Any) -> str:
        """Rendered HTML of a content block, cached for the lifetime of its bundle (content blocks
        are immutable; the cache key is the object, alive as long as the bundle)."""
        self._caches_for(prepared)
        key = id(content)
        out = self._html.get(key)
        if out is None:
            out = self._html[key] = render_mod.render(content)
        return out

    def decision_json(self, prepared: Prepared, d: Decision, with_html: bool) -> bytes:
        """The JSON of one slot's decision (docs/server.md). Decisions without a trace are the
        bundle's own immutable objects, so their JSON is cached per bundle, keyed by identity."""
        self._caches_for(prepared)
        cache = self._json_html if with_html else self._json
        out = cache.get(d)
        if out is None:
            body = d.to_dict()
            if with_html:
                body["html"] = self.html(prepared, d.content)
            out = orjson.dumps(body)
            if d.trace is None:
                cache[d] = out
        return out

    #: Combinations of decisions whose slots' JSON is cached (slots_json); beyond, the cache starts afresh.
    MAX_SLOTS_JSON = 4096

    def slots_json(self, prepared: Prepared, decisions: Mapping[str, Decision], with_html: bool) -> bytes:
        """``{"slot":decision,…}`` of a decide response (decision_json's, in the outcome's order).
        The same combination of the bundle's own decisions repeats from request to request, so
        its JSON is cached per bundle too, keyed by the decisions (by identity, in order: they
        name their slots); a combination with an explained decision is joined per request."""
        self._caches_for(prepared)
        key = (with_html, *decisions.values())
        out = self._slots_json.get(key)
        if out is None:
            parts = [b"{"]
            for slot, d in decisions.items():
                parts += (orjson.dumps(slot), b":", self.decision_json(prepared, d, with_html), b",")
            if decisions:
                parts.pop()
            parts.append(b"}")
            out = b"".join(parts)
            if all(d.trace is None for d in decisions.values()):
                if len(self._slots_json) >= self.MAX_SLOTS_JSON:
                    self._slots_json.clear()
                self._slots_json[key] = out
        return out

    # ------------------------------------------------------------------ helpers
    def prepared(self) -> Prepared:
        p = self.bundles.current
        if p is None:
            raise ApiError(503, "not_ready", "no verified bundle is loaded yet; see /readyz and the server log")
        return p

    def consent(self, h: dict[str, str], cookies: dict[str, str]) -> bool:
        if self.config.honour_gpc and h.get("sec-gpc", "").strip() == "1":
            return False
        if self.config.honour_dnt and h.get("dnt", "").strip() == "1":
            return False
        v = cookies.get(self.config.consent_cookie)
        return not (v is not None and v.strip().lower() in CONSENT_REFUSALS)

    def visit(self, cookies: dict[str, str], consent: bool, utm_source: str, category: str, page_view: bool, now: float,
              sid: str | None = None, create: bool = True) -> tuple[Session | None, int]:
        """The visitor's session (None without consent) updated for this request, and the previous
        last-seen time. ``sid`` (OFREP's targeting key): the cookie's session only if it has this id,
        else a new session with it; ``create=False``: no new random session (None instead)."""
        if not consent:
            return None, 0
        s = self.codec.decode(cookies.get(self.config.cookie_name))
        if sid is not None and (s is None or s.sid != sid):
            s = Session(sid=sid)
        elif s is None:
            if not create:
                return None, 0
            s = Session.fresh()
        previous = s.last_seen
        s.touch(int(now), self.config.visit_timeout, utm_source, category, page_view)
        return s, previous

    def decide(self, h: dict[str, str], cookies: dict[str, str], prepared: Prepared, req: DecideRequest) -> tuple[Outcome, Session | None, bool]:
        """Decide the slots of one page view. ``h``: request headers (lower-case names);
        ``cookies``: the request's cookies."""
        now = time.time()
        consent = self.consent(h, cookies)
        # the request's derived signals, shared by the requests of its shape, are checked once per
        # bundle (Prepared.checked_of); this request's own — time.epoch, the page's category, the
        # session's, the client's, in that order of precedence — are checked on top of them
        derived = self.context.derived(req.url, h, req.referrer, now)
        own: dict[str, Any] = {"time.epoch": int(now)}
        category = req.category
        if category:
            own["page.category"] = category
        session, previous = self.visit(cookies, consent, derived["utm.source"], category, req.page_view, now, req.sid, req.create)
        if session is not None:
            session.add_signals(own, previous)
        if req.client:
            own.update(req.client)
        # every value here is typed by construction (request and cookie) or validated (client)
        values = prepared.checked_signals(own, consent, prepared.checked_of(derived))
        # a session keeps the variant it was assigned while the variant exists, whatever the weights now
        # are (sticky assignment, docs/measurement.md "Adaptive allocation")
        outcome = prepared.decide(own, req.slots, session_id=session.sid if session else None, caps=session.caps if session else None,
                                  consent=consent, now=now, explain=req.explain, checked=True, values=values,
                                  assignments=session.assignments() if session is not None and session.exposures else None)
        visit = self._count(prepared, outcome, session, consent, now)
        if session is not None and outcome.decisions:  # a session means consent; decisions mean shown keys to attribute to
            self.model_counter.decided(prepared, session, outcome.signals or {}, outcome.holdout, consent, outcome.memo, now, visit)
        return outcome, session, consent

    def _count(self, prepared: Prepared, outcome: Outcome, session: Session | None, consent: bool, now: float) -> VisitRecord | None:
        """Metrics and measurement of one decision; the session remembers what it was shown. An
        exposure or a cohort counts when it is new to the visit by its cookie and by this process's
        visit ledger (a replayed older cookie does not know what the visit was shown since); with a
        fleet ledger, once the visit's owner answers that it is the fleet's first (fleet_ledger.py),
        after the response. The visit ledger remembers the key either way, so a conversion here is
        attributed to it wherever it was counted. Returns the visit's ledger record (None without a
        session), which model counting then reads instead of looking it up again."""
        m = self.metrics
        m.consent.values[_YES if consent else _NO] += 1
        if outcome.errors:
            m.eval_errors.inc(by=outcome.errors)
            if outcome.budget_exceeded:
                m.budget_exceeded.inc(by=outcome.budget_exceeded)
        self._caches_for(prepared)
        # every request of a visit touches its record, so the record outlives every cookie this process wrote
        visit = self.ledger.record(session.visit_nonce, now) if session is not None else None
        fleet = self.fleet_ledger if visit is not None else None
        if session is not None and (outcome.cap_hits or outcome.exposures):
            cohort = self.measure.cohort_exposure
            for exp, variant, period, assigned in session.record(outcome.cap_hits, outcome.exposures, int(now), self._periods):
                if visit is None or visit.first_cohort_exposure(exp, variant):
                    if fleet is None:
                        m.exposures.inc(exp, variant)
                        cohort(exp, variant, period, assigned)
                    else:
                        counts = DeferredCounts().later(m.exposures.inc, exp, variant).later(cohort, exp, variant, period, assigned)
                        fleet.claim(session.visit_nonce, claim_key("cohort", f"{exp}={variant}"), counts, now)
        population = NO_CONSENT if not consent else (HOLDOUT if outcome.holdout else PERSONALIZED)
        exposed = self.measure.exposures
        combination = tuple(outcome.decisions.values())
        arms = self._combinations.get(combination)
        if arms is None:
            arms = self._arms_of(combination, m)
        else:
            m.decisions.combined[arms] += 1  # strata_decisions: one count per combination, added to its arms' labels when read
        if session is None:
            for a in arms.arms:
                exposed[a.exposure[population]] += 1
            return visit
        shown = session.shown
        for a in arms.arms:
            if a.key not in shown and session.first_exposure(a.key) and (visit is None or visit.first_exposure(a.key)):
                if fleet is None:
                    exposed[a.exposure[population]] += 1
                else:
                    fleet.claim(session.visit_nonce, claim_key("exposure", a.key), DeferredCounts().increment(exposed, a.exposure[population]), now)
        return visit

    #: Combinations of decisions whose arms are cached (_arms_of); beyond, the cache starts afresh.
    MAX_COMBINATIONS = 4096

    def _arms_of(self, combination: tuple[Decision, ...], m: Metrics) -> Arms:
        """The arms of a combination not cached yet, counted in ``strata_decisions`` directly; cached
        (and counted per combination from then on) when every decision is the bundle's own."""
        arms, counted = self._arms, m.decisions.values
        out = []
        for d in combination:
            a = arms.get(d)
            if a is None:
                a = Arm(d)
                if d.trace is None:  # the bundle's own decision (an explained one is built per request)
                    arms[d] = a
            counted[a.labels] += 1
            out.append(a)
        result = Arms(tuple(out))
        if all(d.trace is None for d in combination):
            if len(self._combinations) >= self.MAX_COMBINATIONS:
                m.decisions.folded()  # the counts of the combinations forgotten, into their labels
                self._combinations.clear()
            self._combinations[combination] = result
        return result

    def set_cookie(self, h: dict[str, str], cookies: dict[str, str], session: Session | None, consent: bool) -> str | None:
        """The Set-Cookie header value for this response, or None."""
        if session is not None:
            return f"{self.config.cookie_name}={self.codec.encode(session)}{self._cookie_attrs}"
        if not consent and self.config.cookie_name in cookies:
            return self._cookie_expired
        return None


_YES, _NO = ("yes",), ("no",)


def headers_of(scope: MutableMapping[str, Any]) -> dict[str, str]:
    """Request headers as a plain dict (lower-case names), built once per request: Starlette's
    Headers.get scans the raw list on every lookup. A repeated header keeps its last value."""
    h: dict[str, str] | None = scope.get("strata.headers")
    if h is None:
        h = scope["strata.headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    return h


def cookies_of(h: dict[str, str]) -> dict[str, str]:
    """Name -> value of the Cookie header (first occurrence wins; values unquoted as-is)."""
    out: dict[str, str] = {}
    raw = h.get("cookie")
    if not raw:
        return out
    for part in raw.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name and name not in out:
            out[name] = value.strip()
    return out
