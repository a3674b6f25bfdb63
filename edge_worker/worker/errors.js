// Client errors of the HTTP API, as edge_server/errors.py: every 4xx carries
// {"error": {"code", "message", "field"?}}; and the JSON responses every endpoint answers with.

/** A request the worker refuses; raised anywhere below an endpoint, answered by StrataWorker.fetch
 * (server.js) with errorResponse. */
export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    Object.assign(this, { status, code, field });
  }
}

/** A JSON response. */
export function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** The response of an ApiError (errors.py's error_response). */
export function errorResponse(e) {
  const body = { code: e.code, message: e.message };
  if (e.field !== null) body.field = e.field;
  return json({ error: body }, e.status, { "cache-control": "no-store" });
}
