// The request signals' cache, for bench/steps_workerd.py (docs/edge-worker.md, "What remains"): decide.lua's
// four pages with its headers. derived: RequestContext.derived (the key read from six headers, the
// cache's lookup); gets: the six Headers.get calls alone.

import { RequestContext } from "@@ROOT@@/edge_worker/worker/signals.js";
import { URLS, baseHeaders } from "@@BENCH@@/decide_mix.js";
const ctx = new RequestContext();
const reqs = URLS.map(() => new Request("http://shop.example/v1/decide", { method: "POST", headers: baseHeaders() }));
const now = 1790000000;
export const modes = {
  derived: (n) => { let t = 0; for (let i = 0; i < n; i++) { const h = reqs[i & 3].headers; t += ctx.derived(URLS[i & 3], (k) => h.get(k), null, now) === null ? 0 : 1; } return t; },
  gets: (n) => { let t = 0; for (let i = 0; i < n; i++) { const h = reqs[i & 3].headers; for (const k of ["host", "accept-language", "cf-ipcountry", "user-agent", "sec-ch-ua-mobile", "sec-ch-ua-platform"]) t += (h.get(k) ?? "").length; } return t; },
};
