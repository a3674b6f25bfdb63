// The Strata edge worker: a standard `export default { fetch }` module for Cloudflare Workers,
// workerd and other WinterCG runtimes (docs/edge-worker.md). One StrataWorker per isolate holds the
// verified, prepared bundle, the cookie keys and the aggregate counters.

import * as runtime from "./runtime/index.js";
import { StrataWorker } from "./worker/server.js";
import { ConfigError } from "./worker/config.js";

let worker = null;

export default {
  fetch(request, env, ctx) { // not async: the worker's promise is returned as it is, without another turn
    if (worker === null) {
      try {
        worker = new StrataWorker(runtime, env);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        console.error(`strata: misconfigured: ${e.message}`);
        return new Response(JSON.stringify({ error: { code: "misconfigured", message: e.message } }),
          { status: 503, headers: { "content-type": "application/json", "cache-control": "no-store" } });
      }
    }
    return worker.fetch(request, ctx);
  },
};
