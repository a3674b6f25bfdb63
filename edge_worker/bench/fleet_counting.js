// The worker's half of benchmarks/fleet_counting_bench.py (run that; it runs this): per bundle
// (TrailBlazer, the generated 10,000-rule set) a StrataWorker in node serves a stream of decide
// requests from generated visitors, and a push runs every R requests (R = requests per push
// interval), in direct mode (remote_write.js: collect, encode, snappy) and aggregated mode
// (counter_batches.js: collect, delta, JSON, HMAC), for up to an isolate's mean lifetime of pushes.
// Prints JSON: per-request CPU, per-push CPU (the mean, the first, the median after the first
// tenth: a long-lived isolate's), the rows changed per push, series per isolate. With --write URL --instances N it instead remote-writes N instances' series
// (an isolate's TrailBlazer families, relabelled) to a Prometheus, for the report timing.
//
// The endpoint is an in-process stub (fetch answers 200 at once): the figures are the worker's
// own CPU for a push, not the network's.

import { readFileSync } from 'node:fs';
import * as runtime from '../runtime/index.js';
import { StrataWorker } from '../worker/server.js';
import { RemoteWrite } from '../worker/remote_write.js';
import { OUT, fixture } from './common.js';

const BUNDLE = 'https://bundles.example/bench.strata';
const COOKIE_KEYS = 'k1:' + Buffer.alloc(32, 7).toString('base64');
const UAS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36',
  'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1',
];
const PAGES = ['/', '/tents.html', '/tents.html?utm_source=newsletter&utm_medium=email', '/jackets.html', '/?utm_source=google', '/c/packs'];

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function stubFetch(bundle) {
  const pushes = { bytes: 0, n: 0 };
  globalThis.fetch = async (url, init) => {
    if (String(url) === BUNDLE) return new Response(bundle, { headers: { etag: '"v1"' } });
    pushes.n += 1;
    pushes.bytes += init?.body?.length ?? 0;
    return new Response('{"accepted":true,"duplicate":false}', { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return pushes;
}

function workerFor(mode) {
  const env = { STRATA_BUNDLE: BUNDLE, STRATA_PUB: readFileSync(OUT + 'key.pub', 'utf8'), STRATA_COOKIE_KEYS: COOKIE_KEYS, STRATA_COOKIE_SECURE: '0',
    STRATA_PUSH_INTERVAL: String(INTERVAL_S) }; // pushes are driven by the bench, every R requests
  if (mode === 'direct') env.STRATA_REMOTE_WRITE = 'http://prometheus.invalid/api/v1/write';
  if (mode === 'aggregated') Object.assign(env, { STRATA_COUNTERS_URL: 'http://strata.invalid/v1/counters', STRATA_COUNTERS_SECRET: 'bench-secret-0123456789' });
  return new StrataWorker(runtime, env);
}

/** The push interval (STRATA_PUSH_INTERVAL's default): the bench's clock advances by it from push to
 * push, so the refresh of unchanged series (STRATA_PUSH_REFRESH, 240 s) comes every 24th push, as
 * in an isolate pushing every 10 s. The clock starts far ahead of the real one, so that the worker
 * never pushes by itself (after a request, at the real time): the bench's pushes are all. */
const INTERVAL_S = 10;
const CLOCK = 1e13;
/** Pushes in a run at most: an isolate's mean lifetime (benchmarks/fleet_counting_bench.py's
 * LIFETIME_MIN, 30 min) at INTERVAL_S, so that its first pushes (new series, a cold JIT) weigh as
 * much as in an isolate's life; a run is also capped at BENCH_REQUESTS requests. */
const LIFETIME_PUSHES = 180;

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/** `n` visitors (a decide each, one in four converting) through a worker; a push every `every` requests. */
async function run(mode, bundleName, slotsOf, n, every) {
  const worker = workerFor(mode);
  const pusher = worker.remoteWrite ?? worker.counterBatches;
  const rnd = rng(22);
  const ctx = { waitUntil() {} };
  let reqMs = 0, pushMs = 0, pushes = 0, fake = CLOCK, changed = 0;
  const each = []; // CPU ms of every push
  if (pusher !== null) pusher.next = CLOCK; // not before the bench's first push
  for (let i = 0; i < n; i++) {
    const headers = { 'content-type': 'application/json', 'user-agent': UAS[Math.floor(rnd() * UAS.length)] };
    const body = JSON.stringify({ page: { url: PAGES[Math.floor(rnd() * PAGES.length)] }, slots: slotsOf(rnd) });
    let t = cpuMs();
    const r = await worker.fetch(new Request('https://shop.example/v1/decide', { method: 'POST', body, headers }), ctx);
    const cookie = r.headers.get('set-cookie')?.split(';')[0];
    await r.arrayBuffer();
    if (cookie && rnd() < 0.25) {
      await (await worker.fetch(new Request('https://shop.example/v1/events', { method: 'POST', body: '{"goal":"purchase","value":10}',
        headers: { 'content-type': 'application/json', cookie } }), ctx)).arrayBuffer();
    }
    reqMs += cpuMs() - t;
    if (pusher !== null && (i + 1) % every === 0) {
      changed += worker.changes.size;
      t = cpuMs();
      await pusher.maybePush((full) => worker.pushFamilies(full), fake);
      fake += INTERVAL_S * 1000;
      each.push(cpuMs() - t);
      pushMs += each.at(-1);
      pushes += 1;
    }
  }
  const families = worker.metrics.families(worker.measure, worker.bundles.current);
  const rows = families.reduce((s, f) => s + f.rows.length, 0);
  const counterRows = families.filter((f) => f.type === 'counter').reduce((s, f) => s + f.rows.length, 0);
  const later = each.slice(Math.ceil(each.length / 10)).sort((a, b) => a - b); // the pushes after the first tenth of the run
  const steady = later.length ? later[later.length >> 1] : 0;
  return { mode, bundle: bundleName, requests: n, push_every: every, request_cpu_ms: reqMs / n, pushes, push_cpu_ms: pushes ? pushMs / pushes : 0,
    overhead: pushes ? pushMs / reqMs : 0, push_cpu_first_ms: each[0] ?? 0, push_cpu_steady_ms: steady,
    steady_overhead: pushes ? steady / (every * reqMs / n) : 0, changed_rows_per_push: pushes ? changed / pushes : 0,
    series: rows, counter_series: counterRows, families };
}

async function measure() {
  const out = [];
  const bundles = [
    ['trailblazer', fixture('trailblazer.strata'), () => null],
    ['bench10000', fixture('bench10000.strata'), (rnd) => Array.from({ length: 5 }, () => `slot${Math.floor(rnd() * 1000)}`)],
  ];
  const n = Number(process.env.BENCH_REQUESTS ?? 20000);
  for (const [name, bytes, slotsOf] of bundles) {
    stubFetch(bytes);
    for (const every of [100, 1000]) { // 10 and 100 requests/s per isolate at the default 10 s interval
      const base = await run('none', name, slotsOf, Math.min(n, every * 3), every);
      for (const mode of ['direct', 'aggregated']) {
        const r = await run(mode, name, slotsOf, Math.min(every * LIFETIME_PUSHES, Math.max(n, every * 3)), every);
        delete r.families;
        out.push({ ...r, baseline_request_cpu_ms: base.request_cpu_ms });
      }
    }
    // series per isolate lifetime: what one isolate's pushes carry after 1,000 and 10,000 visitors
    for (const visitors of [1000, 10000]) {
      const r = await run('direct', name, slotsOf, visitors, visitors);
      out.push({ series_per_isolate: true, bundle: name, visitors, series: r.series, counter_series: r.counter_series });
    }
  }
  console.log(JSON.stringify(out));
}

/** Remote-write `instances` isolates' TrailBlazer series (one isolate's families, relabelled) to `url`. */
async function write(url, instances) {
  const bytes = fixture('trailblazer.strata');
  stubFetch(bytes);
  const r = await run('none', 'trailblazer', () => null, 500, 1e9);
  const realFetch = (await import('node:http')).request;
  let series = 0;
  const now = Date.now();
  for (let j = 0; j < instances; j++) {
    const rw = new RemoteWrite({ remoteWrite: url, pushInterval: 10, pushMaxSamples: 1e9 }, `bench-${String(j).padStart(5, '0')}`);
    rw.enqueue(r.families, now - 1000);
    series += rw.queued;
    const body = rw.body();
    await new Promise((ok, fail) => {
      const u = new URL(url);
      const req = realFetch({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST',
        headers: { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode < 300 ? ok() : fail(new Error(`remote write answered ${res.statusCode}`))));
      });
      req.on('error', fail);
      req.end(Buffer.from(body));
    });
  }
  console.log(JSON.stringify({ instances, series, series_per_instance: series / instances,
    exposures: r.families.find((f) => f.name === 'strata_slot_exposures_total').rows.reduce((s, [, v]) => s + v, 0) }));
}

const args = process.argv.slice(2);
if (args[0] === '--write') await write(args[1], Number(args[3] ?? 1000));
else await measure();
