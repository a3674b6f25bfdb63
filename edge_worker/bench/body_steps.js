// A decide request's body read, three ways, for bench/steps_workerd.py (docs/edge-worker.md, "What
// remains"): each mode builds decide.lua's Request (its body and Content-Length) and reads the body.
//   request: the Request alone (the cost the other modes share);
//   strict: what the worker does (body.js's readBody, json_syntax.js's plainJson): arrayBuffer(),
//     a fatal UTF-8 decode, JSON.parse — invalid bytes are refused by their offset, as the server does;
//   text: text() and JSON.parse, as the control does — invalid bytes become U+FFFD, unrefusable;
//   json: json(), the same.

import { readBody, parseJson } from "@@ROOT@@/edge_worker/worker/body.js";

const body = '{"page": {"url": "/tents.html"}}';
const init = () => ({ method: "POST", headers: { "content-type": "application/json", "content-length": String(body.length) }, body });
const request = () => new Request("http://shop.example/v1/decide", init());

export const modes = {
  request: async (n) => { let t = 0; for (let i = 0; i < n; i++) t += request().method.length; return t; },
  strict: async (n) => { let t = 0; for (let i = 0; i < n; i++) t += Object.keys(parseJson(await readBody(request(), 65536))).length; return t; },
  text: async (n) => { let t = 0; for (let i = 0; i < n; i++) t += Object.keys(JSON.parse(await request().text())).length; return t; },
  json: async (n) => { let t = 0; for (let i = 0; i < n; i++) t += Object.keys(await request().json()).length; return t; },
};
