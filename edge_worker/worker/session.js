// The session cookie, byte for byte the format of edge_server/session.py, so a visitor served by a
// Python replica on one request and by a worker on the next keeps one session.
//
// Value: `s1.<key id>.<base64url(nonce || ciphertext)>`, AES-GCM (WebCrypto) with a random 96-bit
// nonce; the associated data `s1|<cookie name>|<key id>` binds format, cookie name and key id. The
// first key encrypts, every key decrypts. Plaintext: msgpack of a 17-element list (see pack()): the
// 14th a random visit nonce (new at every visit; the visit ledger in worker/visit_ledger.js counts a
// visit once per nonce), the 15th the visit's model entries (worker/model_counts.js; emptied at every
// visit), the 16th which models the visit entered (a bitmask the shrink never drops), the 17th the
// lineage of its model state (session.py's layout says why).
// Exposure entries are [variant, visit counted, period] (the allocation period the visitor was
// assigned in); a 2-element entry reads with period "". A 13-element list (written before nonces)
// reads with an empty nonce, a 13- or 14-element one with no model entries, a 15-element one with
// none entered and an empty lineage. A cookie that is
// forged, truncated, from an unknown key or of another shape starts a fresh session.
// tests/vectors/cookies.json holds the cases both implementations must reproduce.

import { MAX_FEATURES, MAX_ID_LENGTH, MAX_PERIOD, SCORE_BUCKETS, UPLIFT_BUCKETS } from "../runtime/format.js";
import * as py from "../runtime/python.js";
import { b64url, b64urlDecode } from "./base64url.js";
import * as mp from "./cookie_msgpack.js";
import { MAX_NAME, TABLE } from "./contract.js";
import { RandomSource } from "./random_source.js";

// The cookie's bounds (their reasons: edge_server/edge_contract.json, "session").
const BOUNDS = Object.fromEntries(Object.entries(TABLE.session).filter(([k]) => k !== "doc").map(([k, v]) => [k, v.value]));
export const MAX_COOKIE_BYTES = BOUNDS.MAX_COOKIE_BYTES;
export const MAX_RECENT_CATEGORIES = BOUNDS.MAX_RECENT_CATEGORIES;
export const MAX_SHOWN = BOUNDS.MAX_SHOWN;
export const MAX_CONVERTED = BOUNDS.MAX_CONVERTED;
/** Model entries a cookie holds (the first models of the bundle, in declaration order). */
export const MAX_SESSION_MODELS = BOUNDS.MAX_SESSION_MODELS;
/** The lineage of a visit's model state: the tags of its last LINEAGE_STATES states, LINEAGE_TAG_BYTES each. */
export const LINEAGE_STATES = BOUNDS.LINEAGE_STATES;
export const LINEAGE_TAG_BYTES = BOUNDS.LINEAGE_TAG_BYTES;
/** The reader's other bounds come from the limits the compiler and the edge enforce (session.py):
 * a page category (MAX_NAME), an exposure's period (MAX_PERIOD), a model id (MAX_ID_LENGTH), its
 * levels (one byte per feature: MAX_FEATURES), so every state a decision writes is read back
 * (tests/edge_server/test_limits.py). */
export const MAX_CATEGORY = MAX_NAME;
export const MAX_MODEL_LEVELS = MAX_FEATURES;
export { MAX_PERIOD };
const PREFIX = "s1";
/** The empty lineage, shared: a lineage is replaced, never written in place (a typed array per
 * Session cost an allocation on every request). */
const NO_LINEAGE = new Uint8Array(0);
const enc = new TextEncoder();
/** The random values a session draws, each from its own batches (random_source.js; session.py's). */
const SID = new RandomSource(16);
const VISIT_NONCE = new RandomSource(12);
const GCM_NONCE = new RandomSource(12);

/** Where each field of a session entry sits: the cookie keeps every entry as an array, and both
 * implementations read it by these names (session.py's named tuples CapEntry, ExposureEntry, ModelEntry). */
export const CapEntry = Object.freeze({ shown: 0, lastShown: 1 });
export const ExposureEntry = Object.freeze({ variant: 0, visit: 1, period: 2 });
export const ModelEntry = Object.freeze({ spec: 0, fit: 1, levels: 2, bucket: 3, frozen: 4, arm: 5, uplift: 6 });
const C = CapEntry, X = ExposureEntry;

export class Session {
  constructor(sid) {
    this.sid = sid;
    this.visitCount = 0;
    this.pageViews = 0; // in the current visit
    this.totalPageViews = 0;
    this.firstSeen = 0;
    this.lastSeen = 0;
    this.recentCategories = [];
    this.utmSource = "";
    this.purchased = false;
    this.caps = {}; // "slot/rule" -> CapEntry [shown, lastShown]; ids start with a letter, so key order is insertion order
    this.exposures = {}; // experiment -> ExposureEntry [variant, visit counted, period assigned in]
    this.shown = []; // exposure keys counted in this visit ("slot|arm|layer")
    this.converted = []; // goals counted in this visit
    this.visitNonce = ""; // random, new at every visit ("" in a cookie written before nonces: see touch)
    this.models = {}; // model id -> ModelEntry [spec, fit, levels (one byte per feature), score bucket, frozen, arm, uplift row]; this visit's only
    this.entered = 0; // bit i: the visit entered the bundle's i-th counted model (never dropped by the shrink)
    this.lineage = NO_LINEAGE; // tags of the visit's last model states, the current one last (model_counts.js; never written in place)
    this.isNew = true;
    this.written = NONE_WRITTEN; // what this request's decision wrote (not in the cookie): shrink drops it last
  }

  static fresh() {
    return new Session(b64url(SID.take())); // 128 random bits
  }

  /** Record a request (Session.touch in session.py). */
  touch(now, visitTimeout, utmSource, category, pageView) {
    this.written = NONE_WRITTEN; // a request starts with nothing written by its decision
    const previous = this.lastSeen;
    if (this.visitCount === 0 || now - previous > visitTimeout) {
      this.visitCount += 1;
      this.pageViews = 0;
      this.utmSource = utmSource;
      this.newVisitNonce();
    } else {
      if (!this.visitNonce) this.newVisitNonce(); // a cookie from before visit nonces: its measurement restarts, its counters stay
      if (utmSource && !this.utmSource) this.utmSource = utmSource;
    }
    if (!this.firstSeen) this.firstSeen = now;
    if (pageView) {
      this.pageViews += 1;
      this.totalPageViews += 1;
    }
    this.lastSeen = now;
    if (category) {
      const cats = [category, ...this.recentCategories.filter((c) => c !== category)];
      this.recentCategories = cats.slice(0, MAX_RECENT_CATEGORIES);
    }
  }

  /** Start the visit's measurement state: a fresh random 96-bit nonce (not derived from the session
   * id), and nothing shown, converted or entered in a model yet (session.py's _new_visit_nonce). */
  newVisitNonce() {
    this.visitNonce = b64url(Session.randomBytes(12));
    this.shown = [];
    this.converted = [];
    this.models = {};
    this.entered = 0;
    this.lineage = NO_LINEAGE;
  }

  /** The random source of visit nonces (replaced only by the lifecycle vectors' test). */
  static randomBytes(n) {
    return n === VISIT_NONCE.size ? VISIT_NONCE.take() : crypto.getRandomValues(new Uint8Array(n));
  }

  /** The session signals (docs/signals.md) into `out`. */
  addSignals(out, previousSeen) {
    out["session.visit_count"] = this.visitCount;
    out["session.page_views"] = this.pageViews;
    out["session.total_page_views"] = this.totalPageViews;
    out["session.first_seen"] = this.firstSeen;
    out["session.last_seen"] = previousSeen;
    out["session.recent_categories"] = [...this.recentCategories];
    out["session.utm_source"] = this.utmSource;
    out["session.purchased"] = this.purchased;
  }

  /** Apply a decision's state changes; returns the exposures first seen in this visit as
   * [experiment, variant, period, assigned]: `period` the cohort the visitor was assigned in (kept
   * while the variant stays; a new or changed variant takes `periods[experiment]`, the
   * experiment's current allocation — a Map or an object — and is `assigned`). */
  record(capHits, exposures, now, periods = null) {
    for (const key of capHits) {
      const shown = this.caps[key] ? this.caps[key][C.shown] : 0;
      this.caps[key] = [shown + 1, now];
      this.wrote().caps.add(key);
    }
    const fresh = [];
    for (const [exp, variant] of exposures) {
      const prev = this.exposures[exp];
      const assigned = prev === undefined || prev[X.variant] !== variant;
      const period = assigned ? periodIn(periods, exp) : prev[X.period];
      if (assigned || prev[X.visit] !== this.visitCount) fresh.push([exp, variant, period, assigned]);
      this.exposures[exp] = [variant, this.visitCount, period];
      this.wrote().exposures.add(exp);
    }
    return fresh;
  }

  /** The recorded variant of every experiment (the runtime's `assignments`: sticky across reweighting). */
  assignments() {
    const out = {};
    for (const [exp, e] of Object.entries(this.exposures)) out[exp] = e[X.variant];
    return out;
  }

  /** [experiment, variant, period] of each experiment exposed in the current visit. */
  exposedThisVisit() {
    return Object.entries(this.exposures).filter(([, e]) => e[X.visit] === this.visitCount).map(([exp, e]) => [exp, e[X.variant], e[X.period]]);
  }

  /** True the first time `key` is shown in this visit (it is then remembered). */
  firstExposure(key) {
    if (this.shown.includes(key)) return false;
    this.shown.push(key);
    this.wrote().shown.add(key);
    if (this.shown.length > MAX_SHOWN) this.shown.shift();
    return true;
  }

  /** This request's own `written` sets, made on its first write (most requests write nothing). */
  wrote() {
    if (this.written === NONE_WRITTEN) this.written = { caps: new Set(), exposures: new Set(), shown: new Set() };
    return this.written;
  }

  firstConversion(goal) {
    if (this.converted.includes(goal)) return false;
    this.converted.push(goal);
    if (this.converted.length > MAX_CONVERTED) this.converted.shift();
    return true;
  }

  /** The cookie's plaintext: msgpack of the 17 fields (a copy, the caller's), written field by field
   * (no list of them built, no type test per field): the bytes cookie_msgpack.js's pack() writes for that list. */
  pack() {
    mp.begin();
    mp.arrayHeader(17);
    mp.str(this.sid);
    mp.num(this.visitCount);
    mp.num(this.pageViews);
    mp.num(this.totalPageViews);
    mp.num(this.firstSeen);
    mp.num(this.lastSeen);
    mp.strings(this.recentCategories);
    mp.str(this.utmSource);
    mp.any(this.purchased);
    mp.tables(this.caps);
    mp.tables(this.exposures);
    mp.strings(this.shown);
    mp.strings(this.converted);
    mp.str(this.visitNonce);
    mp.tables(this.models);
    mp.num(this.entered);
    mp.any(this.lineage);
    return mp.written();
  }

  /** The 17 fields as a list, as pack() writes them (its tests' oracle). */
  fields() {
    return [this.sid, this.visitCount, this.pageViews, this.totalPageViews, this.firstSeen, this.lastSeen,
      this.recentCategories, this.utmSource, this.purchased, this.caps, this.exposures, this.shown, this.converted, this.visitNonce, this.models,
      this.entered, this.lineage];
  }

  /** The session in an authenticated plaintext, or null when its shape is not one this version writes.
   * (Checked field by field without temporary arrays or objects: a cookie is read on every request
   * with consent.) */
  static unpack(raw) {
    let v;
    try {
      v = mp.unpack(raw);
    } catch {
      return null;
    }
    if (!Array.isArray(v) || v.length < 13 || v.length > 17 || v.length === 16) return null;
    if (v.length === 13) v.push(""); // written before visit nonces: no nonce (touch starts one)
    if (v.length === 14) v.push({}); // written before models: no model entries
    if (v.length === 15) v.push(0, new Uint8Array(0)); // written before entered and lineage: none entered, no lineage
    const [sid, vc, pv, tpv, fs, ls, cats, us, bought, caps, exps, shown, conv, nonce, models, entered, lineage] = v;
    if (typeof nonce !== "string" || longer(nonce, 64) || !modelsOk(models) || !lineageOk(entered, lineage)) return null;
    if (typeof sid !== "string" || shorter(sid, 8) || longer(sid, 64) || typeof us !== "string" || typeof bought !== "boolean") return null;
    if (!count(vc) || !count(pv) || !count(tpv) || !count(fs) || !count(ls)) return null;
    if (!Array.isArray(cats) || !Array.isArray(shown) || !Array.isArray(conv) || !isMap(caps) || !isMap(exps)) return null;
    for (let i = 0; i < cats.length; i++) if (typeof cats[i] !== "string" || longer(cats[i], MAX_CATEGORY)) return null;
    for (let i = 0; i < shown.length; i++) if (typeof shown[i] !== "string") return null;
    for (let i = 0; i < conv.length; i++) if (typeof conv[i] !== "string") return null;
    for (const k in caps) {
      const c = caps[k];
      if (!Array.isArray(c) || c.length !== 2 || !isInt(c[C.shown]) || !isInt(c[C.lastShown])) return null;
    }
    for (const k in exps) {
      const e = exps[k];
      if (!Array.isArray(e) || (e.length !== 2 && e.length !== 3) || typeof e[X.variant] !== "string" || !isInt(e[X.visit])) return null;
      if (e.length === 2) e.push(""); // written before periods: the cohort is unknown
      else if (typeof e[X.period] !== "string" || longer(e[X.period], MAX_PERIOD)) return null;
    }
    const s = new Session(sid);
    s.visitCount = vc;
    s.pageViews = pv;
    s.totalPageViews = tpv;
    s.firstSeen = fs;
    s.lastSeen = ls;
    s.recentCategories = cats.length > MAX_RECENT_CATEGORIES ? cats.slice(0, MAX_RECENT_CATEGORIES) : cats;
    s.utmSource = py.slice(us, 128);
    s.purchased = bought;
    s.caps = caps;
    s.exposures = exps;
    s.shown = shown.length > MAX_SHOWN ? shown.slice(-MAX_SHOWN) : shown;
    s.converted = conv.length > MAX_CONVERTED ? conv.slice(-MAX_CONVERTED) : conv;
    s.visitNonce = nonce;
    s.models = models;
    s.entered = entered;
    s.lineage = lineage;
    s.isNew = false;
    return s;
  }
}

const periodIn = (periods, exp) => (periods instanceof Map ? periods.get(exp) : periods && Object.hasOwn(periods, exp) ? periods[exp] : undefined) ?? "";
const isInt = (x) => typeof x === "number" && Number.isInteger(x);
const count = (x) => isInt(x) && x >= 0;
const { longer, shorter } = py; // code-point lengths compared, as Python counts them
/** A stored score bucket: a log-odds bucket, or a legacy 0.05-wide one (session.py's _bucket_ok). */
const bucketOk = (b) => (b >= 0 && b < SCORE_BUCKETS.legacy) || (b >= SCORE_BUCKETS.first && b < SCORE_BUCKETS.first + SCORE_BUCKETS.buckets);
const isMap = (x) => x !== null && typeof x === "object" && !Array.isArray(x) && !(x instanceof Uint8Array);
const isStr = (x, n) => typeof x === "string" && !longer(x, n);

/** A stored uplift row: 0 (none), or a 16-bit calibration tag * 128 + an uplift bucket (session.py's uplift_ok). */
export const upliftOk = (u) => isInt(u) && (u === 0 || (u > 0 && u < 2 ** 23 && (u & 127) >= UPLIFT_BUCKETS.first && (u & 127) < UPLIFT_BUCKETS.first + UPLIFT_BUCKETS.buckets));

/** Whether a cookie's `models` field has the shape this version writes (session.py's _models_ok):
 * at most MAX_SESSION_MODELS entries id -> ModelEntry [spec, fit, levels (bin), bucket (a log-odds bucket first..first+count-1, or a legacy one below SCORE_BUCKETS.legacy), frozen, arm, uplift]
 * (or the first six, as written before the uplift buckets: uplift 0 is appended). */
function modelsOk(models) {
  if (!isMap(models)) return false;
  let n = 0;
  for (const k in models) {
    if (++n > MAX_SESSION_MODELS) return false;
    const e = models[k];
    if (longer(k, MAX_ID_LENGTH) || !Array.isArray(e) || (e.length !== 6 && e.length !== 7)) return false;
    if (e.length === 7 && !upliftOk(e[6])) return false;
    const spec = e[0], fit = e[1], levels = e[2], bucket = e[3], frozen = e[4], arm = e[5];
    if (!isStr(spec, 16) || !isStr(fit, 16)) return false;
    if (!(levels instanceof Uint8Array) || levels.length > MAX_MODEL_LEVELS || !isInt(bucket) || !bucketOk(bucket)) return false;
    if (typeof frozen !== "boolean" || !isStr(arm, 16)) return false;
    if (e.length === 6) e.push(0); // written before the uplift buckets: no uplift row
  }
  return true;
}

/** Whether `entered` is a bitmask of MAX_SESSION_MODELS bits and `lineage` whole tags, at most LINEAGE_STATES (session.py's _lineage_ok). */
function lineageOk(entered, lineage) {
  if (!isInt(entered) || entered < 0 || entered >= 2 ** MAX_SESSION_MODELS || !(lineage instanceof Uint8Array)) return false;
  return lineage.length <= LINEAGE_STATES * LINEAGE_TAG_BYTES && lineage.length % LINEAGE_TAG_BYTES === 0;
}

/** A visit's model entries as the cookie's field 15 encodes them (msgpack): how a visit ledger keeps
 * them compactly (session.py's pack_models). */
export function packModels(models) {
  mp.begin();
  mp.tables(models, 1); // the bytes of pack(models), written as the cookie writes its field 15
  return mp.written(); // a copy, the caller's
}
/** The model entries packModels packed (fresh arrays: the caller may change them). */
export const unpackModels = (raw) => mp.unpack(raw);

/** "caps", "exposures", "shown" -> the keys this request's decision wrote (session.py's Session.written):
 * this one, shared and never added to, until the request writes (Session.wrote). */
const NONE_WRITTEN = Object.freeze({ caps: new Set(), exposures: new Set(), shown: new Set() });

/** Drop one entry to make the cookie smaller; false when nothing is left to drop (session.py's _shrink,
 * the same order: docs/security.md, "Limits"): first the state older than this request's decision, by
 * dropOne; then the decision's own exposure keys (shown, the oldest first); only then its caps and exposures. */
function shrink(s) {
  const w = s.written;
  return dropOne(s, w) || dropOne(s, { caps: w.caps, exposures: w.exposures, shown: new Set() }) || dropOne(s, null);
}

/** Drop the first of, leaving the entries in `keep` alone (session.py's _drop_one): the oldest entry of
 * the larger of caps and exposures, a category (the oldest), a model entry (the newest: `entered` still
 * says the visit entered it, so it is not entered again), a shown exposure key (the oldest). `entered`
 * and `lineage` are never dropped. */
function dropOne(s, keep) {
  const caps = Object.keys(s.caps).filter((k) => keep === null || !keep.caps.has(k));
  const exps = Object.keys(s.exposures).filter((k) => keep === null || !keep.exposures.has(k));
  if (caps.length && caps.length >= exps.length) {
    delete s.caps[oldest(caps, s.caps, C.lastShown)];
    return true;
  }
  if (exps.length) {
    delete s.exposures[oldest(exps, s.exposures, X.visit)];
    return true;
  }
  if (s.recentCategories.length) {
    s.recentCategories.pop();
    return true;
  }
  const models = Object.keys(s.models);
  if (models.length) {
    delete s.models[models[models.length - 1]];
    return true;
  }
  const i = s.shown.findIndex((k) => keep === null || !keep.shown.has(k));
  if (i >= 0) {
    s.shown.splice(i, 1);
    return true;
  }
  return false;
}

/** The key whose entry has the smallest field `at` (the first of equals, as Python's min()). */
function oldest(keys, table, at) {
  let best = keys[0];
  for (const k of keys) if (table[k][at] < table[best][at]) best = k;
  return best;
}

export class CookieCodec {
  /** `keys`: Map key id -> CryptoKey (AES-GCM), in order; the first encrypts. */
  constructor(keys, cookieName) {
    if (!keys.size) throw new Error("at least one cookie key is needed");
    this.keys = keys;
    this.current = keys.keys().next().value;
    this.cookieName = cookieName;
    this.aads = new Map([...keys.keys()].map((kid) => [kid, enc.encode(`${PREFIX}|${cookieName}|${kid}`)]));
    this.head = `${PREFIX}.${this.current}.`;
  }

  /** From `KID:BASE64,...` (STRATA_COOKIE_KEYS, the same text the Python server reads). */
  static async fromSpec(spec, cookieName) {
    return new CookieCodec(await importCookieKeys(spec), cookieName);
  }

  /** Encrypt; drops the oldest entries until the value fits MAX_COOKIE_BYTES. `nonce` is for test vectors only.
   * (Promise chains rather than async functions here and below, each a single reaction on the
   * WebCrypto promise: every further layer would cost the request a promise and a turn, and the
   * cookie is sealed and opened on every request with consent.) */
  encode(session, nonce) {
    return this.encodeThen(session, nonce, same);
  }

  /** The Set-Cookie value of `session` sealed: `<cookie name>=<value><attrs>`, in the same turn. */
  setCookie(session, attrs) {
    return this.encodeThen(session, undefined, (value) => `${this.cookieName}=${value}${attrs}`);
  }

  /** A promise of `then(the sealed value)`, with the shrink and `then` in the encryption's own turn. */
  encodeThen(session, nonce, then) {
    return this.sealThen(session.pack(), nonce, (value) => (value.length <= MAX_COOKIE_BYTES || !shrink(session) ? then(value) : this.encodeThen(session, nonce, then)));
  }

  seal(plain, nonce) {
    return this.sealThen(plain, nonce, same);
  }

  sealThen(plain, nonce = GCM_NONCE.take(), then) {
    const key = this.keys.get(this.current);
    // base64url(nonce || ciphertext) is base64url(nonce) + base64url(ciphertext): 12 bytes are whole
    // groups of three, so no joined copy of the two is made
    return crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: this.aads.get(this.current) }, key, plain)
      .then((ct) => then(this.head + b64url(nonce) + b64url(new Uint8Array(ct))));
  }

  /** The authenticated plaintext of `value`, or null: null itself when there is nothing to decrypt
   * (no cookie, a malformed one), else a promise. */
  open(value) {
    return this.openThen(value, same);
  }

  /** open(value), handing the plaintext (or null) to `then` in the decryption's own turn: null
   * itself when there is nothing to decrypt, else a promise of what `then` returns. */
  openThen(value, then) {
    if (!value || value.length > 4096) return null;
    const parts = value.split(".");
    if (parts.length !== 3 || parts[0] !== PREFIX) return null;
    const key = this.keys.get(parts[1]);
    if (key === undefined) return null;
    const blob = b64urlDecode(parts[2]);
    if (blob === null || blob.length < 12 + 16) return null;
    return crypto.subtle.decrypt({ name: "AES-GCM", iv: blob.subarray(0, 12), additionalData: this.aads.get(parts[1]) }, key, blob.subarray(12))
      .then((plain) => then(new Uint8Array(plain)), () => then(null));
  }

  /** The session in `value`, or null when it is absent or not trustworthy: null itself when there
   * is nothing to decrypt, else a promise. */
  decode(value) {
    return this.decodeThen(value, same);
  }

  /** decode(value), handing the session (or null) to `then` in the decryption's own turn: null itself
   * when there is nothing to decrypt, else a promise of what `then` returns. */
  decodeThen(value, then) {
    return this.openThen(value, (p) => then(p === null ? null : Session.unpack(p)));
  }
}

const same = (x) => x;

/** `KID:BASE64,...` -> Map key id -> AES-GCM CryptoKey (16, 24 or 32 bytes), in order. */
export async function importCookieKeys(spec) {
  const out = new Map();
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf(":");
    if (at <= 0) throw new Error(`cookie key ${JSON.stringify(part.slice(0, 12))}...: write KEY_ID:BASE64`);
    const kid = part.slice(0, at);
    let raw;
    try {
      raw = Uint8Array.from(atob(part.slice(at + 1)), (c) => c.charCodeAt(0));
    } catch {
      throw new Error(`cookie key ${JSON.stringify(kid)}: not valid base64`);
    }
    if (![16, 24, 32].includes(raw.length)) throw new Error(`cookie key ${JSON.stringify(kid)} must be 16, 24 or 32 bytes (base64), got ${raw.length}`);
    out.set(kid, await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]));
  }
  return out;
}

/** Name -> value of a Cookie header (first occurrence wins; values as-is), as server.py's cookies_of. */
export function parseCookies(header) {
  const out = new Map();
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = stripped(part, 0, eq);
    if (name && !out.has(name)) out.set(name, stripped(part, eq + 1, part.length));
  }
  return out;
}

/** py.strip(s.slice(from, to)) (Python's str.strip(): Unicode whitespace), without its regex for the
 * common text: spaces or tabs around characters that are printable ASCII at both ends, which no
 * whitespace is. Anything else goes to py.strip. (A cookie header and the consent headers are read
 * on every request.) */
export function stripped(s, from = 0, to = s.length) {
  let i = from;
  let j = to;
  while (i < j && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
  while (j > i && (s.charCodeAt(j - 1) === 0x20 || s.charCodeAt(j - 1) === 0x09)) j--;
  if (i === j) return "";
  const a = s.charCodeAt(i);
  const b = s.charCodeAt(j - 1);
  return a > 0x20 && a < 0x7f && b > 0x20 && b < 0x7f ? s.slice(i, j) : py.strip(s.slice(from, to));
}

// ------------------------------------------------------------------ base64url
export { b64url, b64urlDecode }; // base64url.js: the cookie's encoding

export { enc as utf8 };
