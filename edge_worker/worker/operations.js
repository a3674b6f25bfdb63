// Endpoints for operators, as edge_server/operations.py: GET /healthz, GET /readyz, GET /metrics
// (Prometheus text) and GET /v1/stats (the measurement snapshot `strata report` reads). The stats
// token, when set, protects both /v1/stats and /metrics: they carry the same per-arm counters.
// Without one, /v1/stats is off and /metrics serves the operational families only (metrics.js BUSINESS).

import * as py from "../runtime/python.js";
import { ApiError, errorResponse, json } from "./errors.js";
import { bump } from "./metrics.js";

function timingSafeEqual(a, b) {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** null when the request carries the stats token (or none is configured), else the 401 response. */
export function authorized(srv, request, what) {
  const token = srv.config.statsToken;
  if (!token) return null;
  const auth = request.headers.get("authorization") ?? "";
  if (auth.startsWith("Bearer ") && timingSafeEqual(py.strip(auth.slice(7)), token)) return null;
  bump(srv.metrics.rejected, "unauthorized");
  const r = errorResponse(new ApiError(401, "unauthorized", `${what} needs 'Authorization: Bearer <STRATA_STATS_TOKEN>'`));
  r.headers.set("www-authenticate", 'Bearer realm="strata"');
  return r;
}

/** GET /healthz. */
export const healthz = () => json({ status: "ok" });

/** GET /readyz: 200 with the bundle served, 503 before the first one is loaded. */
export async function readyz(srv, ctx) {
  const cur = await srv.bundles.get(ctx);
  const st = srv.bundles.state;
  const body = { ready: cur !== null, reload_failures: st.failures, last_error: st.lastError };
  if (cur !== null) body.bundle = { name: cur.name, version: cur.version, key_id: cur.keyId, loaded_at: st.loadedAt };
  return json(body, cur !== null ? 200 : 503);
}

/** GET /v1/stats: the `strata-stats/1` snapshot; 404 without a stats token. */
export function stats(srv, request) {
  const token = srv.config.statsToken;
  if (!token) throw new ApiError(404, "stats_disabled", "statistics are disabled: set STRATA_STATS_TOKEN to enable GET /v1/stats");
  return authorized(srv, request, "GET /v1/stats") ?? json(srv.measure.snapshot(srv.bundles.current), 200, { "cache-control": "no-store" });
}

/** GET /metrics: the Prometheus text of metrics.js; without a stats token, the operational families only. */
export function metrics(srv, request) {
  return authorized(srv, request, "GET /metrics") ??
    new Response(srv.metrics.prometheus(srv.measure, srv.bundles.current, Boolean(srv.config.statsToken)),
      { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
}
