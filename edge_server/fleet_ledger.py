"""Conversions, exposures and cohort exposures once per visit **across the fleet** (docs/deployment.md,
"Replays across a fleet"; docs/security.md, "Measurement integrity"); worker/fleet_ledger.js is the port.

Each process's :class:`~edge_server.visit_ledger.VisitLedger` counts a visit's conversion of a goal,
its exposure keys and its cohort exposures once *per process*: a replayed pre-conversion (or
pre-exposure) cookie sent to N processes would count N conversions (or exposures). With a fleet
ledger configured (``--fleet-ledger URL...`` on servers, ``STRATA_FLEET_LEDGER`` on workers: the same
list of ``strata serve`` replicas everywhere), the fleet shares one claim per (visit nonce, key), the
key one of ``goal:NAME``, ``exposure:SLOT|ARM|LAYER`` (server.py's and beacons.py's exposure keys) and
``cohort:EXPERIMENT=VARIANT`` (a reassignment to another variant is another key, as
``VisitRecord.first_cohort_exposure`` counts it):

- **The owner** of a visit nonce is one replica of the list, chosen by rendezvous
  (highest-random-weight) hashing (:func:`owner_of`), the same on every process of either language
  (tests/vectors/fleet_ledger.json pins it).
- **A claim.** When a process's own ledger sees a conversion (exposure, cohort exposure) as new, it
  does not count it yet: it claims ``(nonce, key)`` at the owner (``POST /v1/ledger``, a ``strata-ledger/1`` body signed
  like a counter batch: ``X-Strata-Signature`` = HMAC-SHA256 of the body with the counters secret, its
  ``created`` inside the signature). The owner answers, per claim, whether it is the first; the
  process counts only those. A replica that owns the nonce answers from its own
  :class:`ClaimStore` without HTTP.
- **Never on the response path.** Claims wait in memory (at most ``MAX_PENDING``) and a background
  task sends them, batched per owner every ``TICK``; the conversion is counted when the answer
  arrives. An owner that does not answer after ``ATTEMPTS`` (or refuses the body) leaves the
  conversion to the local ledger: it is counted, as without a fleet ledger (at most once per
  process), and ``strata_fleet_ledger_fallbacks_total{reason}`` counts it. A claim that finds
  ``MAX_PENDING`` claims waiting counts locally at once (reason ``full``).
- **The owner's store** (:class:`ClaimStore`) is a visit ledger: bounded by ``VISIT_LEDGER_CAPACITY``
  visits and forgotten after the visit timeout (evictions in ``strata_visit_ledger_evictions_total``),
  in memory only (an owner's restart forgets its claims: a replay after it can count once more per
  process), never exported, holding nothing but the random nonce and the goal's name.
- A replica that takes claims runs with ``--workers 1`` (one store per replica: claims of a visit must
  meet one process); config.py refuses a replica of its own list with more workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from .beacons import visit_of
from .contract import (
    FLEET_LEDGER_FALLBACKS,
    FLEET_LEDGER_FORMAT,
    FLEET_LEDGER_KEY_KINDS,
    FLEET_LEDGER_LIMITS,
    FLEET_LEDGER_PATH,
    FLEET_LEDGER_RESULTS,
    VISIT_LEDGER_CAPACITY,
)
from .counter_batches import SIGNATURE, created_at, sign, signed
from .errors import ApiError
from .visit_ledger import VisitLedger

log = logging.getLogger("strata.server")

FORMAT = FLEET_LEDGER_FORMAT
PATH = FLEET_LEDGER_PATH
MAX_CLAIMS = int(FLEET_LEDGER_LIMITS["MAX_CLAIMS"])
MAX_BODY = int(FLEET_LEDGER_LIMITS["MAX_CLAIM_BYTES"])
MAX_KEY = int(FLEET_LEDGER_LIMITS["MAX_KEY"])
MAX_AGE = float(FLEET_LEDGER_LIMITS["MAX_AGE"])
MAX_PENDING = int(FLEET_LEDGER_LIMITS["MAX_PENDING"])
ATTEMPTS = int(FLEET_LEDGER_LIMITS["ATTEMPTS"])
TIMEOUT = float(FLEET_LEDGER_LIMITS["TIMEOUT"])
TICK = float(FLEET_LEDGER_LIMITS["TICK"])
UNREACHABLE, REFUSED, FULL = FLEET_LEDGER_FALLBACKS
FIRST, REPEAT = FLEET_LEDGER_RESULTS


# ------------------------------------------------------------------ the owner of a visit
def ledger_urls(spec: str | Sequence[str]) -> tuple[str, ...]:
    """The replicas of a fleet ledger setting (URLs separated by spaces or commas; a list of such),
    each without a trailing slash; ValueError naming one that is not an http(s) URL."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for part in parts:
        for u in part.replace(",", " ").split():
            u = u.rstrip("/")
            s = urlsplit(u)
            if s.scheme not in ("http", "https") or not s.netloc or "@" in s.netloc or s.query or s.fragment:
                raise ValueError(f"{u[:100]!r} is not a replica's base URL: write http(s)://host[:port] (claims go to {PATH} under it)")
            if u not in out:
                out.append(u)
    return tuple(out)


def _weight(url: str, nonce: str) -> int:
    """The rendezvous weight of ``url`` for ``nonce``: FNV-1a (32 bits) of the UTF-8 of url, a NUL and
    the nonce, then murmur3's 32-bit finaliser (so every bit of the hash depends on every byte)."""
    h = 0x811C9DC5
    for b in url.encode() + b"\0" + nonce.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def owner_of(nonce: str, urls: Sequence[str]) -> str:
    """The replica of ``urls`` that owns ``nonce``: the highest weight, on a tie the URL whose UTF-8
    is smaller. Adding or removing a replica moves only the nonces it owns or comes to own."""
    if not urls:
        raise ValueError("a fleet ledger needs at least one replica URL")
    best, bw = urls[0], _weight(urls[0], nonce)
    for u in urls[1:]:
        w = _weight(u, nonce)
        if w > bw or (w == bw and u.encode() < best.encode()):
            best, bw = u, w
    return best


# ------------------------------------------------------------------ the owner's side
class ClaimStore:
    """The owner's claims: ``first(nonce, key, now)`` is True once per (nonce, key) within the visit
    timeout (a :class:`VisitLedger` holding the keys as its goals)."""

    def __init__(self, ttl: float, capacity: int = VISIT_LEDGER_CAPACITY, on_evict: Callable[[], Any] | None = None):
        self.visits = VisitLedger(ttl, capacity, on_evict)

    def first(self, nonce: str, key: str, now: float) -> bool:
        return self.visits.first_conversion(nonce, key, now)


def claim_key(kind: str, name: str) -> str:
    """``kind:name`` (kind one of FLEET_LEDGER_KEY_KINDS)."""
    assert kind in FLEET_LEDGER_KEY_KINDS, kind
    return f"{kind}:{name}"


def parse_claims(body: bytes, now: float) -> list[tuple[str, str]]:
    """The [(nonce, key)] of a verified claim body, or an ApiError (400/413/422) naming what is wrong."""
    def bad(message: str, field: str | None = None) -> ApiError:
        return ApiError(422, "invalid_claims", f"POST {PATH}: {message}", field)

    try:
        d = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, "invalid_json", f"POST {PATH}: the body is not JSON: {e.msg} at character {e.pos}") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise bad(f'a claim body is an object with "format": "{FORMAT}"', "format")
    unknown = set(d) - {"format", "created", "claims"}
    if unknown:
        raise bad(f"unknown field {sorted(unknown)[0][:40]!r} (fields: format, created, claims)", sorted(unknown)[0][:40])
    created_at(d, now, MAX_AGE, "body", "the claims were", bad, lambda age: ApiError(422, "claims_expired",
        f"POST {PATH}: the claims were created {age:.0f} s ago, beyond {MAX_AGE:.0f} s: "
        "stale (the sender counts from its own ledger)", "created"))
    claims = d.get("claims")
    if not isinstance(claims, list) or not 1 <= len(claims) <= MAX_CLAIMS:
        raise bad(f"claims must be a list of 1 to {MAX_CLAIMS} [visit nonce, key] pairs", "claims")
    out = []
    for i, c in enumerate(claims):
        where = f"claims[{i}]"
        if not (isinstance(c, list) and len(c) == 2 and isinstance(c[1], str)):
            raise bad(f"{where}: a claim is [visit nonce, key]", where)
        try:
            nonce = visit_of(c[0])
        except ApiError:
            raise bad(f"{where}: the visit nonce is not one (a session's random nonce)", where) from None
        key = c[1]
        kind, sep, name = key.partition(":")
        if not sep or kind not in FLEET_LEDGER_KEY_KINDS or not name or len(key) > MAX_KEY:
            raise bad(f"{where}: a key is {' or '.join(k + ':NAME' for k in FLEET_LEDGER_KEY_KINDS)}, at most {MAX_KEY} characters", where)
        out.append((nonce, key))
    return out


class LedgerEndpoint:
    """``POST /v1/ledger``: 200 ``{"first": [bool per claim]}``; 401 unsigned or forged, 4xx for a body
    refused (nothing changes), 404 when this replica has no secret to check claims with."""

    def __init__(self, store: ClaimStore, secret: str | None):
        self.store, self.secret = store, secret

    async def handle(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        if not self.secret:
            raise ApiError(404, "ledger_disabled", f"POST {PATH}: this replica takes no claims: give it --counters-secret "
                           "(STRATA_COUNTERS_SECRET), the secret the fleet signs claims with")
        cl = request.headers.get("content-length")
        if cl is not None and (not cl.isdigit() or int(cl) > MAX_BODY):
            raise ApiError(413, "too_large", f"POST {PATH}: a claim body is at most {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise ApiError(413, "too_large", f"POST {PATH}: a claim body is at most {MAX_BODY} bytes")
        given = request.headers.get(SIGNATURE, "")
        if not signed(self.secret, bytes(body), given):
            raise ApiError(401, "unauthorized", f"POST {PATH} needs 'X-Strata-Signature: v1=<HMAC-SHA256 of the body with "
                           "STRATA_COUNTERS_SECRET>' (the fleet's shared secret)")
        now = time.time()
        claims = parse_claims(bytes(body), now)  # validated whole before any claim is taken
        return JSONResponse({"first": [self.store.first(n, k, now) for n, k in claims]}, headers={"cache-control": "no-store"})


# ------------------------------------------------------------------ the claiming side
class DeferredCounts:
    """What one claim would count, held until it is answered: the calls on Measurement (a conversion's
    ``attribute``, ``cohort_conversion``), the model rows (a Counter of ModelCounter's keys) and any
    other counter's increments (an exposure's row, a cohort's ``strata_variant_exposures_total``:
    ``later``)."""

    __slots__ = ("calls", "models", "thunks")

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.models: Counter[Any] = Counter()
        self.thunks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def later(self, fn: Callable[..., Any], *args: Any) -> DeferredCounts:
        """Call ``fn(*args)`` when the claim counts."""
        self.thunks.append((fn, args))
        return self

    def increment(self, counter: Counter[Any], key: Any) -> DeferredCounts:
        """Add one to ``counter[key]`` when the claim counts (an exposure's row)."""
        return self.later(_increment, counter, key)

    def attribute(self, *args: Any) -> None:
        self.calls.append(("attribute", args))

    def cohort_conversion(self, *args: Any) -> None:
        self.calls.append(("cohort_conversion", args))

    def apply(self, measure: Any) -> None:
        for method, args in self.calls:
            getattr(measure, method)(*args)
        if self.models:
            measure.models.update(self.models)
        for fn, args in self.thunks:
            fn(*args)


class FleetLedger:
    """This process's side: ``claim(nonce, key, counts)`` counts ``counts`` (DeferredCounts) into the
    measurement when the fleet's owner of ``nonce`` answers that the claim is the first, or when it
    cannot be asked (a fallback, counted)."""

    def __init__(self, urls: Sequence[str], secret: str, measure: Any, metrics: Any, own_url: str | None = None,
                 store: ClaimStore | None = None):
        self.urls = tuple(urls)
        self.secret = secret
        self.measure = measure
        self.fallbacks = metrics.fleet_fallbacks  # strata_fleet_ledger_fallbacks_total{reason}
        self.claims = metrics.fleet_claims  # strata_fleet_ledger_claims_total{result}
        self.own_url = own_url
        self.store = store  # this replica's claim store, when it is one of the owners
        self.pending: list[tuple[str, str, str, DeferredCounts]] = []  # (owner, nonce, key, counts)
        self.inflight = 0  # claims sent and not yet answered
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._client: Any = None

    def claim(self, nonce: str, key: str, counts: DeferredCounts, now: float | None = None) -> None:
        if len(key) > MAX_KEY:  # the owner would refuse the whole batch: this one counts from the local ledger
            self._fallback([counts], REFUSED)
            return
        owner = owner_of(nonce, self.urls)
        if owner == self.own_url and self.store is not None:  # this replica owns the visit: no HTTP
            self._answered(counts, self.store.first(nonce, key, time.time() if now is None else now))
            return
        if len(self.pending) + self.inflight >= MAX_PENDING:
            self._fallback([counts], FULL)
            return
        self.pending.append((owner, nonce, key, counts))  # the owner found once: its hash is a loop in Python
        if not self._scheduled:
            self._scheduled = True
            self._spawn(self._tick())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answered(self, counts: DeferredCounts, first: bool) -> None:
        self.claims.inc(FIRST if first else REPEAT)
        if first:
            counts.apply(self.measure)

    def _fallback(self, counts: list[DeferredCounts], reason: str) -> None:
        for c in counts:
            c.apply(self.measure)
            self.fallbacks.inc(reason)

    async def _tick(self) -> None:
        """After TICK (the response goes first, and claims gather): send what is pending, batched per
        owner, each batch on its own (a slow owner delays no other's answers)."""
        await asyncio.sleep(TICK)
        self._scheduled = False
        batch, self.pending = self.pending, []
        by_owner: dict[str, list[tuple[str, str, DeferredCounts]]] = defaultdict(list)
        for owner, nonce, key, counts in batch:
            by_owner[owner].append((nonce, key, counts))
        for owner, claims in by_owner.items():
            for i in range(0, len(claims), MAX_CLAIMS):
                part = claims[i:i + MAX_CLAIMS]
                self.inflight += len(part)
                self._spawn(self._send(owner, part))

    async def _send(self, owner: str, claims: list[tuple[str, str, DeferredCounts]]) -> None:
        try:
            await self._attempts(owner, claims)
        except Exception:  # a claim is never lost: it counts from the local ledger
            log.exception("fleet ledger: claims to %s failed", owner)
            self._fallback([c for _, _, c in claims], UNREACHABLE)
        finally:
            self.inflight -= len(claims)

    async def _attempts(self, owner: str, claims: list[tuple[str, str, DeferredCounts]]) -> None:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        reason = UNREACHABLE
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.1 * 2 ** attempt)
            body = orjson.dumps({"format": FORMAT, "created": int(time.time() * 1000), "claims": [[n, k] for n, k, _ in claims]})
            try:
                r = await self._client.post(owner + PATH, content=body, headers={
                    "content-type": "application/json", SIGNATURE: sign(self.secret, body), "user-agent": "strata-serve"})
            except httpx.HTTPError as e:
                log.warning("fleet ledger: %s did not answer %d claims (attempt %d of %d): %s", owner, len(claims), attempt + 1, ATTEMPTS, e)
                continue
            if r.status_code == 200:
                first = _answer(r.content, len(claims))
                if first is not None:
                    for (_, _, counts), f in zip(claims, first):
                        self._answered(counts, f)
                    return
            elif 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                log.warning("fleet ledger: %s refused %d claims with %d: %s (check --counters-secret and the clocks)", owner, len(claims),
                            r.status_code, r.text[:200])
                reason = REFUSED
                break
        self._fallback([c for _, _, c in claims], reason)

    async def aclose(self) -> None:
        """Send what is pending (the claims are counted), then close the HTTP client."""
        while self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._tasks)
        if self._client is not None:
            await self._client.aclose()


def _increment(counter: Counter[Any], key: Any) -> None:
    counter[key] += 1


def _answer(content: bytes, n: int) -> list[bool] | None:
    """The ``first`` list of an owner's answer to ``n`` claims, or None for an answer that is not one."""
    try:
        d = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    first = d.get("first") if isinstance(d, dict) else None
    if not isinstance(first, list) or len(first) != n or not all(isinstance(f, bool) for f in first):
        return None
    return first


def own_url(urls: Sequence[str], host: str, port: int) -> str | None:
    """The URL of ``urls`` that names this server (its ``--host`` and ``--port``; a loopback host
    matches any loopback name), or None."""
    loopback = {"127.0.0.1", "localhost", "::1"}
    for u in urls:
        s = urlsplit(u)
        try:
            p = s.port or (443 if s.scheme == "https" else 80)
        except ValueError:
            continue
        h = (s.hostname or "").lower()
        if p == port and (h == host.lower() or (host in loopback and h in loopback)) and s.path in ("", "/"):
            return u
    return None

