"""Session state, kept only in the visitor's cookie: AES-GCM encrypted and authenticated.

Cookie value: ``s1.<key id>.<base64url(nonce || ciphertext)>``. The associated data binds the
format, the cookie name and the key id, so a value cannot be moved between cookies or keys. The
first configured key encrypts; every configured key decrypts (rotation: add the new key first,
keep the old one until old cookies have expired). A cookie that is forged, truncated, from an
unknown key, expired or otherwise unreadable starts a fresh session; it never causes an error.

What is inside: a random session id, visit and page-view counters, first/last seen, recent
categories, the acquisition source of the visit, a purchase flag, frequency-cap counters,
experiment exposures, the exposure keys and goals counted in this visit, and a random visit nonce
(new at every visit; each process remembers what it counted per nonce, so a replayed cookie counts
its visit once per process: edge_server/visit_ledger.py), and per declared model the visit's feature
level indexes (``models``: what model training counts, edge_server/model_counts.py), which models the visit
entered (``entered``) and the lineage of its model state (``lineage``). No IP, no user id, no
e-mail, no signal values from the page.

Plaintext layout (docs/server.md, for other implementations): a msgpack array of 17 —
``[sid, visit_count, page_views, total_page_views, first_seen, last_seen, recent_categories,
utm_source, purchased, caps, exposures, shown, converted, visit_nonce, models, entered, lineage]``.
A 13-element array (written before the nonce existed) is read with an empty nonce: its visit's
measurement state (``shown``, ``converted``) restarts under a fresh nonce at the next request; its
counters are kept. A 14-element array (written before models) is read with no model entries, a
15-element one (written before ``entered`` and ``lineage``) with none entered and an empty lineage.

``entered`` (an integer) has bit *i* set once the visit entered the bundle's *i*-th counted model:
the size shrink never drops it, so a model whose entry was dropped is not entered again in the visit.
``lineage`` (bytes) holds the random tags of the visit's last LINEAGE_STATES model states,
LINEAGE_TAG_BYTES each, the current state's last: a process counts a model's changes from the
cookie's entries only when they descend from the state it counted last itself
(edge_server/model_counts.py, edge_server/visit_ledger.py).

Each entry is an array; Python reads it as a named tuple (``CapEntry``, ``ExposureEntry``,
``ModelEntry``). A ``caps`` entry is ``"slot/rule" -> [shown, last_shown]``. An ``exposures`` entry
is ``experiment -> [variant, visit_count, period]``: the variant the visitor
was assigned (sticky: the server passes it back to ``decide`` as an assignment), the visit it was
last exposed in, and the **period** (the experiment's weights in basis points joined by ``/``,
e.g. ``"5000/5000"``) it was assigned under, which is its cohort (docs/measurement.md). A
2-element entry (written before periods) is read with period ``""``.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runtime.format import MAX_FEATURES, MAX_ID_LENGTH, MAX_PERIOD, SCORE_BUCKETS, UPLIFT_BUCKETS

from . import contract
from .random_source import RandomSource

# The cookie's bounds (their reasons: edge_contract.json, "session").
_BOUNDS: dict[str, int] = {k: v["value"] for k, v in contract.TABLE["session"].items() if k != "doc"}
#: Hard bound on the cookie value; oldest entries are dropped first to stay under it.
MAX_COOKIE_BYTES: int = _BOUNDS["MAX_COOKIE_BYTES"]
MAX_RECENT_CATEGORIES: int = _BOUNDS["MAX_RECENT_CATEGORIES"]
MAX_SHOWN: int = _BOUNDS["MAX_SHOWN"]
MAX_CONVERTED: int = _BOUNDS["MAX_CONVERTED"]
#: Model entries per visit (``Session.models``; the bundle's first models, in declaration order).
MAX_SESSION_MODELS: int = _BOUNDS["MAX_SESSION_MODELS"]
#: The lineage of a visit's model state: the tags of its last LINEAGE_STATES states, LINEAGE_TAG_BYTES each.
LINEAGE_STATES: int = _BOUNDS["LINEAGE_STATES"]
LINEAGE_TAG_BYTES: int = _BOUNDS["LINEAGE_TAG_BYTES"]
#: The reader's other bounds come from the limits the compiler and the edge enforce, so every state a
#: decision writes is read back (tests/edge_server/test_limits.py compiles rule sets at every limit
#: and reads back what their decisions write, here and in the worker): a page category is at most
#: MAX_CATEGORY characters (decide's page.category, data-strata-category in page mode: the edge
#: contract's MAX_NAME), an exposure's period at most MAX_PERIOD (MAX_VARIANTS weights), a model id at
#: most MAX_ID_LENGTH, its levels one byte per feature (MAX_FEATURES).
MAX_CATEGORY: int = contract.MAX_NAME
MAX_MODEL_LEVELS: int = MAX_FEATURES
_PREFIX = "s1"
#: One msgpack packer for every cookie and ledger entry: ``msgpack.packb`` builds a new Packer per call.
#: (It packs only lists, tuples, dicts, str, bytes, ints and bools, in C, without releasing the GIL.)
_PACK = msgpack.Packer(use_bin_type=True).pack
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
#: The session's random values, read from the OS in batches (random_source.py: fork-safe).
_SID = RandomSource(16).take
_VISIT_NONCE = RandomSource(12).take
_GCM_NONCE = RandomSource(12).take


def b64url(raw: bytes) -> str:
    """``base64.urlsafe_b64encode(raw).decode()`` in one C call and a translation (padding kept)."""
    return binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE).decode()


class CapEntry(NamedTuple):
    """A capped rule's state in ``Session.caps`` (``"slot/rule"`` ->): how often it was shown, and when last."""

    shown: int
    last_shown: int  # unix seconds


class ExposureEntry(NamedTuple):
    """An experiment's state in ``Session.exposures`` (experiment id ->)."""

    variant: str  # the variant assigned (sticky: passed back to decide as an assignment)
    visit: int  # the visit (``visit_count``) it was last exposed in
    period: str  # the weights it was assigned under, its cohort ("5000/5000"; "" when written before periods)


class ModelEntry(NamedTuple):
    """A model's state in ``Session.models`` (model id ->), this visit only (edge_server/model_counts.py)."""

    spec: str  # the model's features hash when the visit entered
    fit: str  # the coefficients' hash its score was computed with
    levels: bytes  # one level index per feature
    bucket: int  # the score bucket
    frozen: bool  # the visit converted: nothing more is counted for it
    arm: str  # "" for a plain model, else the uplift arm followed
    #: an uplift model's uplift row: calibration tag * 128 + uplift bucket (runtime/score.py); 0: none
    #: (a plain model, or an entry of a cookie written before the uplift buckets: 6 fields)
    uplift: int = 0


@dataclass(slots=True)
class Session:
    sid: str
    visit_count: int = 0
    page_views: int = 0  # in the current visit
    total_page_views: int = 0
    first_seen: int = 0
    last_seen: int = 0
    recent_categories: list[str] = field(default_factory=list)
    utm_source: str = ""
    purchased: bool = False
    caps: dict[str, CapEntry] = field(default_factory=dict)  # "slot/rule" ->
    exposures: dict[str, ExposureEntry] = field(default_factory=dict)  # experiment ->
    shown: list[str] = field(default_factory=list)  # exposure keys counted in this visit ("slot|arm|layer")
    converted: list[str] = field(default_factory=list)  # goals counted in this visit
    visit_nonce: str = ""  # random, new at every visit ("" in a cookie written before nonces: see touch)
    models: dict[str, ModelEntry] = field(default_factory=dict)  # model id ->, this visit only
    entered: int = 0  # bit i: the visit entered the bundle's i-th counted model (never dropped by the shrink)
    lineage: bytes = b""  # tags of the visit's last model states, the current one last (model_counts.py)
    is_new: bool = True
    #: What this request's decision wrote (not in the cookie): "caps", "exposures" and "shown" ->
    #: their keys. Shrinking drops these last (_shrink); touch() starts a request with none.
    written: dict[str, set[str]] = field(default_factory=lambda: {"caps": set(), "exposures": set(), "shown": set()},
                                         compare=False, repr=False)

    @classmethod
    def fresh(cls) -> Session:
        return cls(sid=b64url(_SID()).rstrip("="))  # 128 random bits

    # --------------------------------------------------------------------- lifecycle
    def touch(self, now: int, visit_timeout: int, utm_source: str, category: str, page_view: bool) -> None:
        """Record a request: start a new visit after ``visit_timeout`` of inactivity, count the
        page view, remember the category. Nothing is written by this request's decision yet."""
        self.written = {"caps": set(), "exposures": set(), "shown": set()}
        previous = self.last_seen
        if self.visit_count == 0 or now - previous > visit_timeout:
            self.visit_count += 1
            self.page_views = 0
            self.utm_source = utm_source
            self._new_visit_nonce()
        else:
            if not self.visit_nonce:
                self._new_visit_nonce()  # a cookie from before visit nonces: its measurement restarts, its counters stay
            if utm_source and not self.utm_source:
                self.utm_source = utm_source
        if not self.first_seen:
            self.first_seen = now
        if page_view:
            self.page_views += 1
            self.total_page_views += 1
        self.last_seen = now
        if category:
            cats = [category] + [c for c in self.recent_categories if c != category]
            self.recent_categories = cats[:MAX_RECENT_CATEGORIES]

    def _new_visit_nonce(self) -> None:
        """Start the visit's measurement state: a fresh random nonce (96 bits; not derived from the
        session id, so the server's record of converted nonces says nothing about a visitor)."""
        self.visit_nonce = b64url(_VISIT_NONCE())
        self.shown, self.converted, self.models, self.entered, self.lineage = [], [], {}, 0, b""

    def add_signals(self, out: dict[str, Any], previous_seen: int) -> None:
        """Write the session signals (docs/signals.md) into ``out``."""
        out["session.visit_count"] = self.visit_count
        out["session.page_views"] = self.page_views
        out["session.total_page_views"] = self.total_page_views
        out["session.first_seen"] = self.first_seen
        out["session.last_seen"] = previous_seen
        out["session.recent_categories"] = list(self.recent_categories)  # a copy: the session changes later
        out["session.utm_source"] = self.utm_source
        out["session.purchased"] = self.purchased

    def record(self, cap_hits: list[str], exposures: list[tuple[str, str]], now: int,
               periods: Mapping[str, str] | None = None) -> list[tuple[str, str, str, bool]]:
        """Apply a decision's state changes; returns the exposures first seen in this visit as
        ``(experiment, variant, period, assigned)``: ``period`` is the cohort the visitor was
        assigned in (``periods[experiment]`` when the variant is new to this session, else the
        recorded one), ``assigned`` whether this exposure is a new assignment (no entry yet, or
        another variant than the recorded one)."""
        for key in cap_hits:
            cap = self.caps.get(key)
            self.caps[key] = CapEntry((cap.shown if cap else 0) + 1, now)
            self.written["caps"].add(key)
        new = []
        for exp, variant in exposures:
            prev = self.exposures.get(exp)
            if prev is None or prev.variant != variant:
                assigned, period = True, (periods or {}).get(exp, "")
            else:
                assigned, period = False, prev.period
            if assigned or prev is None or prev.visit != self.visit_count:
                new.append((exp, variant, period, assigned))
            self.exposures[exp] = ExposureEntry(variant, self.visit_count, period)
            self.written["exposures"].add(exp)
        return new

    def assignments(self) -> dict[str, str]:
        """Experiment -> the variant this session was assigned (``decide(..., assignments=)``)."""
        return {exp: e.variant for exp, e in self.exposures.items()}

    def exposed_this_visit(self) -> list[tuple[str, str, str]]:
        """(experiment, variant, period) of every experiment exposed in the current visit."""
        vc = self.visit_count
        return [(exp, e.variant, e.period) for exp, e in self.exposures.items() if e.visit == vc]

    def first_exposure(self, key: str) -> bool:
        """True the first time ``key`` is shown in this visit (it is then remembered)."""
        shown = self.shown
        if key in shown:
            return False
        shown.append(key)
        self.written["shown"].add(key)
        if len(shown) > MAX_SHOWN:
            del shown[0]
        return True

    def first_conversion(self, goal: str) -> bool:
        """True the first time ``goal`` converts in this visit according to the cookie (it is then
        remembered). A replayed older cookie does not know; the server's ledger does."""
        if goal in self.converted:
            return False
        self.converted.append(goal)
        if len(self.converted) > MAX_CONVERTED:
            del self.converted[0]
        return True

    # --------------------------------------------------------------------- encoding
    def _pack(self) -> bytes:
        # the entries are tuples: msgpack writes each as the array the layout above names
        packed: bytes = _PACK(
            [self.sid, self.visit_count, self.page_views, self.total_page_views, self.first_seen, self.last_seen,
             self.recent_categories, self.utm_source, self.purchased, self.caps, self.exposures, self.shown, self.converted, self.visit_nonce,
             self.models, self.entered, self.lineage])
        return packed

    @classmethod
    def _unpack(cls, raw: bytes) -> Session | None:
        """The session in an authenticated plaintext, or None when its shape is not one this
        version writes (an older format, or a bug): decryption proves who wrote it, not what."""
        try:
            fields = msgpack.unpackb(raw, raw=False, strict_map_key=True)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return None  # not msgpack
        if type(fields) is not list or len(fields) not in (13, 14, 15, 17):
            return None
        if len(fields) == 13:
            fields.append("")  # written before visit nonces: no nonce (touch starts one)
        if len(fields) == 14:
            fields.append({})  # written before models: no model entries
        if len(fields) == 15:
            fields += [0, b""]  # written before entered and lineage: none entered, no lineage
        sid, vc, pv, tpv, fs, ls, cats, us, bought, caps, exps, shown, conv, nonce, models, entered, lineage = fields
        if type(nonce) is not str or len(nonce) > 64 or not _models_ok(models) or not _lineage_ok(entered, lineage):
            return None
        if type(sid) is not str or not 8 <= len(sid) <= 64 or type(us) is not str or type(bought) is not bool:
            return None
        if type(vc) is not int or type(pv) is not int or type(tpv) is not int or type(fs) is not int or type(ls) is not int or min(vc, pv, tpv, fs, ls) < 0:
            return None
        if type(cats) is not list or type(shown) is not list or type(conv) is not list or type(caps) is not dict or type(exps) is not dict:
            return None
        for x in cats:
            if type(x) is not str or len(x) > MAX_CATEGORY:
                return None
        for x in shown:
            if type(x) is not str:
                return None
        for x in conv:
            if type(x) is not str:
                return None
        for k, c in caps.items():
            if type(k) is not str or type(c) is not list or len(c) != 2 or type(c[0]) is not int or type(c[1]) is not int:
                return None
        for k, e in exps.items():
            if type(k) is not str or type(e) is not list or len(e) not in (2, 3) or type(e[0]) is not str or type(e[1]) is not int:
                return None
            if len(e) == 2:
                e.append("")  # written before periods: cohort unknown
            elif type(e[2]) is not str or len(e[2]) > MAX_PERIOD:
                return None
        # the entries as named tuples, built by tuple.__new__ from their checked lists (a named tuple's
        # own __new__ is a Python call per entry); a 6-field model entry gets the uplift default
        return cls(sid, vc, pv, tpv, fs, ls, cats[:MAX_RECENT_CATEGORIES], us[:128], bought,
                   {k: _tuple(CapEntry, c) for k, c in caps.items()} if caps else {},
                   {k: _tuple(ExposureEntry, e) for k, e in exps.items()} if exps else {},
                   shown[-MAX_SHOWN:], conv[-MAX_CONVERTED:], nonce,
                   {k: _tuple(ModelEntry, e if len(e) == 7 else (*e, 0)) for k, e in models.items()} if models else {}, entered, lineage,
                   is_new=False)


_tuple = tuple.__new__


def _bucket_ok(b: int) -> bool:
    """A stored score bucket: a log-odds bucket, or a legacy 0.05-wide one (a cookie written before
    the log-odds buckets; model_counts counts no row for it)."""
    return 0 <= b < SCORE_BUCKETS.legacy or SCORE_BUCKETS.first <= b < SCORE_BUCKETS.first + SCORE_BUCKETS.buckets


def uplift_ok(u: int) -> bool:
    """A stored uplift row: 0 (none), or a 16-bit calibration tag * 128 + an uplift bucket."""
    b = u & 127
    return u == 0 or (0 <= u < 1 << 23 and UPLIFT_BUCKETS.first <= b < UPLIFT_BUCKETS.first + UPLIFT_BUCKETS.buckets)


def _models_ok(models: object) -> bool:
    """Whether a cookie's ``models`` field has the shape this version writes: at most MAX_SESSION_MODELS
    entries ``id -> [spec, fit, levels, bucket, frozen, arm, uplift]`` (or the first six, as written
    before the uplift buckets)."""
    if type(models) is not dict or len(models) > MAX_SESSION_MODELS:
        return False
    for k, e in models.items():
        if type(k) is not str or len(k) > MAX_ID_LENGTH or type(e) is not list or len(e) not in (6, 7):
            return False
        if len(e) == 7 and (type(e[6]) is not int or not uplift_ok(e[6])):
            return False
        spec, fit, levels, bucket, frozen, arm = e[:6]
        if type(spec) is not str or len(spec) > 16 or type(fit) is not str or len(fit) > 16:
            return False
        if type(levels) is not bytes or len(levels) > MAX_MODEL_LEVELS or type(bucket) is not int or not _bucket_ok(bucket):
            return False
        if type(frozen) is not bool or type(arm) is not str or len(arm) > 16:
            return False
    return True


def pack_models(models: Mapping[str, ModelEntry]) -> bytes:
    """A visit's model entries as the cookie's field 15 encodes them (msgpack): how a visit ledger keeps
    them compactly (edge_server/visit_ledger.py)."""
    packed: bytes = _PACK(models)
    return packed


def unpack_models(raw: bytes) -> dict[str, ModelEntry]:
    """The model entries :func:`pack_models` packed."""
    return {k: ModelEntry(*e) for k, e in msgpack.unpackb(raw, raw=False).items()}


def _lineage_ok(entered: object, lineage: object) -> bool:
    """Whether ``entered`` is a bitmask of MAX_SESSION_MODELS bits and ``lineage`` whole tags, at most LINEAGE_STATES."""
    if type(entered) is not int or not 0 <= entered < 1 << MAX_SESSION_MODELS or type(lineage) is not bytes:
        return False
    return len(lineage) <= LINEAGE_STATES * LINEAGE_TAG_BYTES and len(lineage) % LINEAGE_TAG_BYTES == 0


class CookieCodec:
    """Encrypts and decrypts session cookies with a set of AES-GCM keys."""

    def __init__(self, keys: dict[str, bytes], cookie_name: str):
        if not keys:
            raise ValueError("at least one cookie key is needed")
        self.keys = {kid: AESGCM(k) for kid, k in keys.items()}
        self.current = next(iter(keys))
        self.cookie_name = cookie_name
        self._aads = {kid: f"{_PREFIX}|{cookie_name}|{kid}".encode() for kid in keys}
        self._head = f"{_PREFIX}.{self.current}."

    def encode(self, session: Session) -> str:
        """Encrypt; drops the oldest entries until the value fits MAX_COOKIE_BYTES."""
        while True:
            value = self._seal(session._pack())
            if len(value) <= MAX_COOKIE_BYTES or not _shrink(session):
                return value

    def _seal(self, plain: bytes) -> str:
        nonce = _GCM_NONCE()
        ct = self.keys[self.current].encrypt(nonce, plain, self._aads[self.current])
        return self._head + b64url(nonce + ct).rstrip("=")

    def decode(self, value: str | None) -> Session | None:
        """The session in ``value``, or None when it is absent or not trustworthy."""
        if not value or len(value) > 4096:
            return None
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        _, kid, body = parts
        key = self.keys.get(kid)
        if key is None:
            return None
        try:
            # base64.urlsafe_b64decode's steps, without its Python wrappers
            blob = binascii.a2b_base64((body + "=" * (-len(body) % 4)).encode("ascii").translate(_FROM_URLSAFE))
        except (ValueError, TypeError):
            return None
        if len(blob) < 12 + 16:
            return None
        try:
            plain = key.decrypt(blob[:12], blob[12:], self._aads[kid])
        except InvalidTag:
            return None
        return Session._unpack(plain)


def _shrink(s: Session) -> bool:
    """Drop one entry to make the cookie smaller; False when nothing is left to drop.

    The order (the same in edge_worker/worker/session.js; docs/security.md, "Limits"): first the
    state older than this request's decision (``Session.written``), by ``_drop_one``; then the
    decision's own exposure keys (``shown``, the oldest first); only then its caps and exposures.
    So the current decision's state survives while anything older remains, and its exposures and
    caps survive whenever they fit beside what the cookie never drops: the compiler refuses a rule
    set whose one decision could write more of them than MAX_DECISION_STATE
    (compiler/decision_state.py)."""
    w = s.written
    return _drop_one(s, w) or _drop_one(s, {"caps": w["caps"], "exposures": w["exposures"], "shown": set()}) or _drop_one(s, None)


def _drop_one(s: Session, keep: dict[str, set[str]] | None) -> bool:
    """Drop the first of, leaving the entries in ``keep`` alone: the oldest entry of the larger of
    caps and exposures (so both keep their newest entries), a category (the oldest), a model entry
    (the newest: ``entered`` still says the visit entered it, so it is not entered again; the process
    that counted it last keeps its state in its visit ledger, others count it no further in this
    visit), a shown exposure key (the oldest). ``entered`` and ``lineage`` are never dropped."""
    caps = [k for k in s.caps if keep is None or k not in keep["caps"]]
    exps = [k for k in s.exposures if keep is None or k not in keep["exposures"]]
    if caps and len(caps) >= len(exps):
        del s.caps[min(caps, key=lambda k: s.caps[k].last_shown)]
        return True
    if exps:
        del s.exposures[min(exps, key=lambda k: s.exposures[k].visit)]
        return True
    if s.recent_categories:
        s.recent_categories.pop()
        return True
    if s.models:
        del s.models[next(reversed(s.models))]
        return True
    for i, key in enumerate(s.shown):
        if keep is None or key not in keep["shown"]:
            del s.shown[i]
            return True
    return False


def ephemeral_keys() -> dict[str, bytes]:
    """A random key for development: sessions do not survive a restart."""
    return {"dev" + secrets.token_hex(2): AESGCM.generate_key(bit_length=256)}
