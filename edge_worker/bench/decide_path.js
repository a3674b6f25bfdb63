// Strata's own decide path in node, without HTTP objects: the steps of POST /v1/decide that are
// Strata's work — StrataWorker.decide (consent, signals, the cookie opened, the session, the
// decision, counting), setCookie (the session sealed) and decideBody — on reused Request objects,
// decide.lua's visitor mix (four pages, half with a session cookie, 10% Sec-GPC). No body read,
// no Request or Response built per request: what is left is the worker's own code and the two
// WebCrypto calls, so it moves little with the machine's load (min and p25 over batches).
//
//   node bench/decide_path.js [--batches 30] [--root /other/checkout]      (from edge_worker/)
//
// --root runs another checkout's worker (its edge_worker/ with node_modules) in this harness, so
// that two versions alternate in one session (docs/edge-worker.md, "What was cut").

import { mixHeaders, mixUrl } from './decide_mix.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const BATCHES = Number(arg('--batches', 30));
const ROOT = arg('--root', new URL('../..', import.meta.url).pathname.replace(/\/$/, ''));

const runtime = await import(`${ROOT}/edge_worker/runtime/index.js`);
const { StrataWorker } = await import(`${ROOT}/edge_worker/worker/server.js`);
const { decideBody } = await import(`${ROOT}/edge_worker/worker/decide.js`);
const { parseCookies } = await import(`${ROOT}/edge_worker/worker/session.js`);
const { BUNDLE_URL, TRAILBLAZER_BUNDLE, VECTORS_PUB } = await import(`${ROOT}/edge_worker/test/vectors.js`);

globalThis.fetch = async (url) => {
  if (String(url) === BUNDLE_URL) return new Response(TRAILBLAZER_BUNDLE, { headers: { etag: '"v100"' } });
  throw new TypeError(`no network in the bench: ${url}`);
};
const log = console.log;
console.log = () => {}; // the worker's start-up notes
const KEYS = 'k1:' + Buffer.alloc(32, 5).toString('base64');
const worker = new StrataWorker(runtime, { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_COOKIE_SECURE: '0' });
const ctx = { waitUntil() {} };

const first = await worker.fetch(new Request('http://shop.example/v1/decide', { method: 'POST', body: '{"page": {"url": "/tents.html"}}' }), ctx);
const cookie = first.headers.get('set-cookie').split(';')[0];
const prepared = await worker.prepared(ctx);
const requests = [];
for (let n = 0; n < 20; n++) {
  requests.push([new Request('http://shop.example/v1/decide', { method: 'POST', headers: mixHeaders(n, cookie) }), mixUrl(n)]);
}

async function one(n) {
  const [request, url] = requests[n % requests.length];
  const cookies = parseCookies(request.headers.get('cookie'));
  let d = worker.decide(request, cookies, prepared, url, null, '', null, {}, true, false);
  if (d instanceof Promise) d = await d;
  let c = worker.setCookie(cookies, d.session, d.consent);
  if (c instanceof Promise) c = await c;
  return decideBody(worker, prepared, d.outcome, d.consent, false).length + (c ? c.length : 0);
}

async function batch(n0, count) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) await one(n0 + i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / count;
}

for (let i = 0; i < 10; i++) await batch(i * 1000, 1000); // warm-up: JIT, caches
const xs = [];
for (let i = 0; i < BATCHES; i++) xs.push(await batch(i * 2000, 2000));
xs.sort((a, b) => a - b);
const f = (x) => x.toFixed(1);
log(`node ${process.version}, ${ROOT}: decide path CPU per request (user + system), ${BATCHES} batches of 2000: `
  + `min ${f(xs[0])} µs, p25 ${f(xs[xs.length >> 2])} µs, median ${f(xs[xs.length >> 1])} µs`);
