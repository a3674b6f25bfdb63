// The worker's HTTP contract, the same as edge_server's for what a worker does (docs/server.md,
// docs/edge-worker.md): POST /v1/decide, POST /v1/events, GET /v1/client.js, GET /v1/stats,
// /healthz, /readyz, /metrics, and page mode for every other GET when STRATA_ORIGIN is set. Bad
// input gets a 4xx with {"error": {"code", "message", "field"?}}; nothing a client sends gives a 500.
// No IP, cookie or signal value is logged.
//
// One isolate's state (configuration, bundle source, cookie codec, counters) and the decision path
// shared by POST /v1/decide and page mode, as edge_server/server.py: request -> signals -> runtime
// -> session and counters. ROUTES is the one route table (edge_server/app.py's routes); each
// endpoint lives in the module named like its Python counterpart.

import { configFrom, normaliseOrigin } from "./config.js";
import { CONSENT_REFUSALS } from "./contract.js";
import { BundleSource } from "./bundles.js";
import { decideEndpoint } from "./decide.js";
import { ApiError, errorResponse } from "./errors.js";
import { eventsEndpoint } from "./events.js";
import { Measurement, POPULATIONS, armOf } from "./measure.js";
import { Metrics, bump } from "./metrics.js";
import { countDecide } from "./model_counts.js";
import { healthz, metrics, readyz, stats } from "./operations.js";
import { clientJs, pageEndpoint } from "./pages.js";
import { RemoteWrite } from "./remote_write.js";
import { CounterBatches } from "./counter_batches.js";
import { DeferredCounts, FleetLedger, claimKey } from "./fleet_ledger.js";
import { render } from "./render.js";
import { CookieCodec, Session, importCookieKeys, stripped } from "./session.js";
import { RequestContext } from "./signals.js";
import { VisitLedger } from "./visit_ledger.js";


/** The API: path -> the methods it accepts and its handler (srv, request, url, ctx). Every other
 * path is a page (pages.js) when STRATA_ORIGIN is set, else 404. */
const ROUTES = {
  "/v1/decide": { methods: ["POST"], handle: decideEndpoint },
  "/v1/events": { methods: ["POST"], handle: (srv, request, url, ctx) => eventsEndpoint(srv, request, ctx) },
  "/v1/client.js": { methods: ["GET", "HEAD"], handle: clientJs },
  "/v1/stats": { methods: ["GET", "HEAD"], handle: (srv, request) => stats(srv, request) },
  "/healthz": { methods: ["GET", "HEAD"], handle: healthz },
  "/readyz": { methods: ["GET", "HEAD"], handle: (srv, request, url, ctx) => readyz(srv, ctx) },
  "/metrics": { methods: ["GET", "HEAD"], handle: (srv, request) => metrics(srv, request) },
};

/** One worker: created once per isolate from its bindings (`runtime`: the JS runtime module). */
export class StrataWorker {
  constructor(runtime, env) {
    this.runtime = runtime;
    this.env = env;
    this.config = configFrom(env);
    this.bundles = new BundleSource(runtime, this.config, env);
    this.context = new RequestContext(this.config.countryHeader, this.config.timezone);
    this.measure = new Measurement();
    this.codec = null; // CookieCodec, once its keys are imported
    const c = this.config;
    const secure = c.cookieSecure ? "; Secure" : "";
    this.cookieAttrs = `; Path=/; Max-Age=${c.cookieMaxAge}; HttpOnly; SameSite=Lax${secure}`;
    this.cookieExpired = `${c.cookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`;
    // what this isolate counted per visit, against replayed and altered cookies (visit_ledger.js);
    // +2 s: visits are judged on whole-second timestamps (Session.touch)
    this.ledger = new VisitLedger(this.config.visitTimeout + 2);
    this.eventsOrigins = new Set(this.config.eventsOrigins.map(normaliseOrigin));
    this.html = new WeakMap(); // content block -> rendered HTML (blocks are the bundle's immutable objects)
    this.metrics = new Metrics();
    this.metrics.visitLedger = this.ledger;
    this.remoteWrite = this.config.remoteWrite ? (this.metrics.remoteWrite = new RemoteWrite(this.config, this.measure.instance)) : null;
    this.fleetLedger = this.config.fleetLedger.length ? (this.metrics.fleetLedger = new FleetLedger(this.config, this.measure)) : null;
    this.counterBatches = this.config.countersUrl ? (this.metrics.counterBatches = new CounterBatches(this.config, this.measure.instance)) : null;
    this.changes = this.remoteWrite !== null || this.counterBatches !== null ? this.measure.track() : null; // the rows a push reads
    if (!this.config.statsToken) {
      console.log("strata: no stats token (STRATA_STATS_TOKEN): /metrics serves operational metrics only; exposures, conversions, "
        + "revenue, cohorts and model counters need the token (and then /metrics needs it too)");
    }
  }

  async fetch(request, ctx) {
    const url = new URL(request.url);
    const route = Object.hasOwn(ROUTES, url.pathname) ? url.pathname : "page";
    let response;
    try {
      response = await this.route(request, url, ctx);
    } catch (e) {
      if (!(e instanceof ApiError)) {
        console.error(`strata: internal error on ${url.pathname}: ${e.stack || e}`);
        e = new ApiError(500, "internal", "internal error; it has been logged");
      } else {
        bump(this.metrics.rejected, e.code);
      }
      response = errorResponse(e);
    }
    bump(this.metrics.requests, `${route}\u0000${response.status}`);
    const flush = this.measure.flush(this.config.collector, this.config.statsToken, this.bundles.current, this.config.collectInterval);
    if (flush && ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(flush);
    const push = this.remoteWrite?.maybePush((full) => this.pushFamilies(full));
    if (push && ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(push);
    const claims = this.fleetLedger?.maybeSend(); // conversions, exposures, cohorts claimed at their visit's owner (fleet_ledger.js)
    if (claims && ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(claims);
    const batch = this.counterBatches?.maybePush((full) => this.pushFamilies(full));
    if (batch && ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(batch);
    return response;
  }

  /** The metric families a push reads (remote_write.js, counter_batches.js): the measurement's rows
   * changed since the last call, or with `full` every row; the other families whole. */
  pushFamilies(full = true) {
    const changed = this.changes.take();
    return this.metrics.families(this.measure, this.bundles.current, full ? null : changed);
  }

  /** The route's response (a promise, or a Response); throws ApiError synchronously or through the promise. */
  route(request, url, ctx) {
    const path = url.pathname;
    const r = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
    if (r !== undefined) {
      if (!r.methods.includes(request.method)) {
        throw new ApiError(405, "method_not_allowed", this.config.origin ? `${path} accepts ${r.methods.join(" and ")}` : "Method Not Allowed");
      }
      return r.handle(this, request, url, ctx);
    }
    if (!this.config.origin) throw new ApiError(404, "not_found", "Not Found");
    if (request.method !== "GET" && request.method !== "HEAD") throw new ApiError(405, "method_not_allowed", "pages accept GET and HEAD");
    return pageEndpoint(this, request, url, ctx);
  }

  // ------------------------------------------------------------------ helpers
  /** The prepared bundle, or 503 not_ready before the first one is loaded: the bundle itself once
   * one is loaded (callers write `await`, which costs one turn; `preparedNow` none), a promise before. */
  prepared(ctx) {
    const p = this.bundles.get(ctx);
    return p instanceof Promise ? p.then(loaded) : loaded(p);
  }

  /** The cookie codec: itself once its keys are imported, a promise before (the first request). */
  cookieCodec() {
    return this.codec ?? importCookieKeys(this.config.cookieKeys).then((keys) => (this.codec ??= new CookieCodec(keys, this.config.cookieName)));
  }

  consent(headers, cookies) {
    if (this.config.honourGpc && isOne(headers.get("sec-gpc"))) return false;
    if (this.config.honourDnt && isOne(headers.get("dnt"))) return false;
    const v = cookies.get(this.config.consentCookie);
    return !(v !== undefined && CONSENT_REFUSALS.has(stripped(v).toLowerCase()));
  }

  htmlOf(content) {
    if (content === null || typeof content !== "object") return render(content);
    let out = this.html.get(content);
    if (out === undefined) {
      out = render(content);
      this.html.set(content, out);
    }
    return out;
  }

  /** server.py's Server.decide: request -> signals -> runtime -> session and counters. {outcome,
   * session, consent}, or a promise of it when a session cookie is to be opened (WebCrypto is
   * asynchronous): a request without one costs no promise turn. Callers `await` it. */
  decide(request, cookies, prepared, pageUrl, referrer, category, slots, client, pageView, explain) {
    const now = Date.now() / 1000;
    const headers = request.headers;
    const consent = this.consent(headers, cookies);
    const derived = this.context.derived(pageUrl, (n) => headers.get(n), referrer, now);
    const finish = (session) => this.decided(prepared, now, derived, consent, session, category, slots, client, pageView, explain);
    if (!consent) return finish(null);
    const open = (codec) => {
      const decided = codec.decodeThen(cookies.get(this.config.cookieName), (s) => finish(s ?? Session.fresh())); // in the decryption's turn
      return decided === null ? finish(Session.fresh()) : decided; // null: no cookie to open
    };
    return this.codec !== null ? open(this.codec) : this.cookieCodec().then(open);
  }

  /** decide's second half, once the session (null without consent) is known. `derived`: the
   * request's derived signals (RequestContext.derived, shared by the requests of its shape), whose
   * values the bundle prepares once (Prepared.preparedOf); this request's own signals — time.epoch,
   * the page's category, the session's, the client's, in that order of precedence as one object
   * would have them — are prepared on top of those. */
  decided(prepared, now, derived, consent, session, category, slots, client, pageView, explain) {
    const own = { "time.epoch": Math.floor(now) };
    if (category) own["page.category"] = category;
    if (session !== null) {
      const previous = session.lastSeen;
      session.touch(Math.floor(now), this.config.visitTimeout, derived["utm.source"], category, pageView);
      session.addSignals(own, previous);
    }
    Object.assign(own, client);
    const values = prepared.prepareSignals(own, consent, prepared.preparedOf(derived));
    // a variant recorded in the cookie stays the visitor's while it exists (adaptive allocation changes weights, not arms)
    const outcome = prepared.decide(null, slots, { sessionId: session ? session.sid : null, caps: session ? session.caps : null,
      assignments: session ? session.assignments() : null, consent, now, explain, checked: true, values });
    this.count(prepared, outcome, session, consent, now);
    return { outcome, session, consent };
  }

  /** Metrics and measurement of one decision (server.py's Server._count): an exposure or a cohort
   * counts when it is new to the visit by its cookie and by this isolate's visit ledger; with a fleet
   * ledger, once the visit's owner answers that it is the fleet's first (fleet_ledger.js), after the
   * response. The visit ledger remembers the key either way (a conversion here is attributed to it). */
  count(prepared, outcome, session, consent, now) {
    const m = this.metrics;
    m.consent[consent ? 0 : 1] += 1;
    m.evalErrors += outcome.errors;
    m.budgetExceeded += outcome.budgetExceeded ?? 0;
    const decided = Object.keys(outcome.decisions).length > 0;
    // every request of a visit touches its record, so the record outlives every cookie this isolate wrote
    const visit = session !== null ? this.ledger.record(session.visitNonce, now) : null;
    const fleet = visit !== null ? this.fleetLedger : null;
    if (session !== null && (outcome.capHits.length || outcome.exposures.length)) {
      for (const [exp, variant, period, assigned] of session.record(outcome.capHits, outcome.exposures, Math.floor(now), prepared.periods)) {
        if (visit !== null && !visit.firstCohortExposure(exp, variant)) continue;
        const counts = fleet === null ? this.measure : new DeferredCounts();
        if (fleet === null) bump(m.variantExposures, `${exp}\u0000${variant}`);
        else counts.later(() => bump(m.variantExposures, `${exp}\u0000${variant}`));
        if (assigned) counts.cohort(exp, variant, period, "assigned");
        counts.cohort(exp, variant, period, "exposed");
        if (fleet !== null) fleet.claim(session.visitNonce, claimKey("cohort", `${exp}=${variant}`), counts);
      }
    }
    const population = POPULATIONS[!consent ? 2 : outcome.holdout ? 1 : 0];
    for (const slot in outcome.decisions) {
      const d = outcome.decisions[slot];
      const [arm, layer, key] = armKeys(d);
      this.measure.decision(d.slot, d.reason, layer);
      if (session === null || (session.firstExposure(key) && (visit === null || visit.firstExposure(key)))) {
        if (fleet === null) this.measure.exposure(d.slot, arm, layer, population);
        else fleet.claim(session.visitNonce, claimKey("exposure", key), new DeferredCounts().exposure(d.slot, arm, layer, population));
      }
    }
    // consent only (no session, nothing counted); decisions mean shown keys to attribute to, as server.py
    if (session !== null && decided) countDecide(this.measure, prepared, session, outcome.signals, outcome.holdout, outcome.memo, visit);
  }

  /** The Set-Cookie value after a request (the sealed session; the expired cookie when consent was
   * withdrawn; null): a promise only when a session is sealed, so a request without one costs no turn. */
  setCookie(cookies, session, consent) {
    if (session !== null) return this.sealed(session);
    if (!consent && cookies.has(this.config.cookieName)) return this.cookieExpired;
    return null;
  }

  /** A promise of the Set-Cookie value of `session`, ready in the encryption's own turn. */
  sealed(session) {
    if (this.codec !== null) return this.codec.setCookie(session, this.cookieAttrs);
    return this.cookieCodec().then((codec) => codec.setCookie(session, this.cookieAttrs));
  }
}

/** [arm, layer, exposure key "slot|arm|layer"] of a decision (measure.py's Arm), made once per
 * decision object (the bundle's immutable decisions; an explained one is made per request). */
const arms = new WeakMap();
function armKeys(d) {
  let a = arms.get(d);
  if (a === undefined) {
    const [arm, layer] = armOf(d);
    a = [arm, layer, `${d.slot}|${arm}|${layer}`];
    if (d.trace === null) arms.set(d, a);
  }
  return a;
}

/** Whether a header's value (null: absent) is "1" once stripped, as py.strip(v) === "1". */
const isOne = (v) => v !== null && (v === "1" || stripped(v) === "1");

/** A loaded bundle, or 503 not_ready for none (StrataWorker.prepared). */
function loaded(p) {
  if (p === null) throw new ApiError(503, "not_ready", "no verified bundle is loaded yet; see /readyz and the worker log");
  return p;
}
