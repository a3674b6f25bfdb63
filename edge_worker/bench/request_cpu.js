// Strata's own CPU per request in node, no network: the edge worker's fetch handler (worker.js's
// StrataWorker) beside the control worker of workerd_bench.py (bench/control.js, the same I/O and
// none of Strata's work), called in alternating batches with decide.lua's and events.lua's visitor
// mix (four pages, half with a session cookie, 10% Sec-GPC). The split workerd_bench.py measures in
// workerd, without the HTTP server, so that a profile shows Strata's own code:
//
//   node bench/request_cpu.js [--seconds 3] [--rounds 5]            (from edge_worker/)
//   node --cpu-prof --cpu-prof-dir=bench/out bench/request_cpu.js --only decide
//
// CPU is process.cpuUsage() (user + system) over a batch divided by its requests; own CPU = the
// median over the rounds of (route − control). Page mode needs HTMLRewriter (workerd only).

import * as runtime from '../runtime/index.js';
import { StrataWorker } from '../worker/server.js';
import { TABLE } from '../worker/contract.js';
import { BUNDLE_URL, TRAILBLAZER_BUNDLE, VECTORS_PUB } from '../test/vectors.js';
import control from './control.js';
import { mixHeaders, mixUrl } from './decide_mix.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const SECONDS = Number(arg('--seconds', 3));
const ROUNDS = Number(arg('--rounds', 5));
const ONLY = arg('--only', null);

globalThis.fetch = async (url) => {
  if (String(url) === BUNDLE_URL) return new Response(TRAILBLAZER_BUNDLE, { headers: { etag: '"v100"' } });
  throw new TypeError(`no network in the bench: ${url}`);
};

const KEYS = 'k1:' + Buffer.alloc(32, 5).toString('base64');
const ENV = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_COOKIE_SECURE: '0' };
const CONTROL_ENV = { STRATA_COOKIE_KEYS: KEYS, CONTROL_BODY_BYTES: '1000', CONTROL_VARY: TABLE.http.VARY.value };
const worker = new StrataWorker(runtime, ENV);
const ctx = { waitUntil() {} };
const strata = (request) => worker.fetch(request, ctx);
const ctl = (request) => control.fetch(request, CONTROL_ENV);

/** The n-th request of a route's mix (decide.lua, events.lua). */
function request(mode, n, cookie) {
  const body = mode === 'decide' ? `{"page": {"url": "${mixUrl(n)}"}}` : '{"goal": "add_to_cart", "value": 12.5}';
  return new Request(`http://shop.example/v1/${mode}`, { method: 'POST', headers: mixHeaders(n, cookie), body });
}

async function batch(handler, mode, cookie, ms) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 50; i++, n++) {
      const r = await handler(request(mode, n, cookie));
      await r.arrayBuffer();
      if (r.status >= 300) throw new Error(`${mode}: ${r.status} ${await r.text()}`);
    }
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  const first = await strata(new Request('http://shop.example/v1/decide', { method: 'POST', body: '{"page": {"url": "/tents.html"}}' }));
  const cookie = first.headers.get('set-cookie').split(';')[0];
  const rows = [];
  for (const mode of ['decide', 'events']) {
    if (ONLY && ONLY !== mode) continue;
    await batch(strata, mode, cookie, 500); // warm-up: JIT, caches
    await batch(ctl, mode, cookie, 500);
    const route = [], control = [], own = [];
    for (let i = 0; i < ROUNDS; i++) {
      let r, c; // alternate which runs first, so a trend in the machine's load falls on both alike
      if (i % 2) {
        r = await batch(strata, mode, cookie, SECONDS * 500);
        c = await batch(ctl, mode, cookie, SECONDS * 500);
      } else {
        c = await batch(ctl, mode, cookie, SECONDS * 500);
        r = await batch(strata, mode, cookie, SECONDS * 500);
      }
      route.push(r); control.push(c); own.push(r - c);
    }
    rows.push([mode, median(route), median(control), median(own), own]);
  }
  console.log(`node ${process.version}, ${ROUNDS} alternating pairs of ${SECONDS / 2} s, CPU per request (user + system)\n`);
  console.log('| route | Strata | control | own (route − control) |\n|---|---|---|---|');
  for (const [mode, r, c, o, own] of rows) {
    console.log(`| POST /v1/${mode} | ${r.toFixed(1)} µs | ${c.toFixed(1)} µs | **${o.toFixed(1)} µs** (${own.map((x) => x.toFixed(1)).join(', ')}) |`);
  }
}

main();
