// decide() and prepare() of the JavaScript runtime in node.
//
//   node edge_worker/bench/decide.js            (from the repository root or edge_worker/)
//
// 1. decide, all 4 TrailBlazer slots, over the visitor profiles of benchmarks/runtime_bench.py
//    (target: median <= 3 us);
// 2. decide 5 slots of the 10,000-rule bundle and of the 100-rule bundle (target <= 15 us);
// 3. prepare (verify + inflate + decode + validate + closures) of the 10,000-rule bundle
//    (target <= 100 ms);
// 4. TrailBlazer plus a slot whose rule reads a 20-feature model's score, beside the same bundle
//    whose rule reads a signal instead (bench/model_bundle.js; benchmarks/runtime_bench.py's row 7).
// Prints a table and writes bench/results/decide.json.

import { Prepared, importKeys, prepareBundle, verifyBundle } from '../runtime/index.js';
import { validatePayload } from '../runtime/validate.js';
import { OUT, fixture, perCallUs, writeResults } from './common.js';
import { withNudge } from './model_bundle.js';
import { readFileSync } from 'node:fs';

const NOW = 1793494800;
const CART = [
  { sku: 'TB-SUMMIT2', category: 'tents', price: 249.0, quantity: 1 },
  { sku: 'TB-STOVE', category: 'stoves', price: 49.0, quantity: 1 },
];
// The profiles of benchmarks/runtime_bench.py (signals as the edge worker produces them).
const PROFILES = [
  ['first visit, desktop', { 'page.path': '/', 'referrer.class': 'search', 'device.type': 'desktop', 'geo.country': 'DE', 'session.visit_count': 1, 'session.page_views': 1, 'time.hour': 10 }, {}],
  ['first visit, 3rd page', { 'page.path': '/tents.html', 'device.type': 'desktop', 'geo.country': 'US', 'session.visit_count': 1, 'session.page_views': 3, 'session.recent_categories': ['tents'], 'time.hour': 11 }, {}],
  ['newsletter landing', { 'page.path': '/', 'utm.source': 'newsletter', 'utm.medium': 'email', 'referrer.class': 'email', 'device.type': 'mobile', 'geo.country': 'US', 'session.visit_count': 1, 'session.page_views': 1 }, {}],
  ['returning tent browser', { 'page.path': '/tents/summit-2.html', 'device.type': 'mobile', 'geo.country': 'CA', 'session.visit_count': 3, 'session.page_views': 2, 'session.recent_categories': ['tents', 'packs'] }, {}],
  ['cart abandoner', { 'page.path': '/', 'device.type': 'desktop', 'geo.country': 'US', 'session.visit_count': 2, 'session.page_views': 5, 'session.recent_categories': ['tents'], 'cart.items': CART, 'cart.value': 298.0 }, {}],
  ['no consent', { 'page.path': '/tents.html', 'device.type': 'mobile', 'geo.country': 'US' }, { consent: false }],
  ['mobile returning', { 'page.path': '/', 'device.type': 'mobile', 'geo.country': 'FR', 'session.visit_count': 4, 'session.page_views': 7 }, {}],
];

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  fixture('trailblazer.strata');
  const keys = await importKeys([readFileSync(OUT + 'key.pub', 'utf8')]);
  const results = {};

  // 1. TrailBlazer
  const tb = await prepareBundle(fixture('trailblazer.strata'), { keys, now: NOW });
  const rows = PROFILES.map(([name, signals, kw], i) => {
    const opts = { sessionId: `visitor-${String(i).padStart(3, '0')}`, now: NOW, ...kw };
    const t = perCallUs(() => tb.decide(signals, null, opts));
    return { profile: name, median_us: t.median, p90_us: t.p90 };
  });
  const tbMedian = median(rows.map((r) => r.median_us));
  results.trailblazer = { slots: tb.slots.length, profiles: rows, median_us: tbMedian, target_us: 3 };
  console.log(`1. TrailBlazer decide(), all ${tb.slots.length} slots (target median <= 3 us)`);
  for (const r of rows) console.log(`   ${r.profile.padEnd(24)} ${r.median_us.toFixed(2).padStart(7)} us  (p90 ${r.p90_us.toFixed(2)})`);
  console.log(`   ${'median over profiles'.padEnd(24)} ${tbMedian.toFixed(2).padStart(7)} us  ${tbMedian <= 3 ? 'OK' : 'MISSED'}`);

  // 2 + 3. scaling and prepare
  const slots = ['slot0', 'slot3', 'slot5', 'slot7', 'slot9'];
  const signals = PROFILES[4][1];
  console.log('\n2./3. 5 slots of a generated bundle; prepare = verify + inflate + decode + validate + tables;\n   closures are built per slot on first use; +warm = building all of them too (Prepared.warm())');
  console.log(`   ${'rules'.padStart(6)} ${'bundle B'.padStart(9)} ${'decide us'.padStart(10)} ${'prepare ms'.padStart(11)} ${'min ms'.padStart(8)} ${'cpu ms'.padStart(8)} ${'+warm ms'.padStart(8)}`);
  results.scaling = {};
  for (const n of [100, 10000]) {
    const bytes = fixture(`bench${n}.strata`);
    const prep = [];
    const cpu = [];
    const warm = [];
    let p;
    for (let i = 0; i < 9; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      p = await prepareBundle(bytes, { keys, now: NOW });
      prep.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      const t1 = process.hrtime.bigint();
      p.warm();
      warm.push(Number(process.hrtime.bigint() - t1) / 1e6);
    }
    const t = perCallUs(() => p.decide(signals, slots, { sessionId: 'visitor-004', now: NOW }));
    results.scaling[n] = {
      bundle_bytes: bytes.length, slots_in_bundle: p.slots.length, decide_median_us: t.median, decide_p90_us: t.p90,
      prepare_median_ms: median(prep), prepare_min_ms: Math.min(...prep), prepare_cpu_median_ms: median(cpu),
      warm_all_closures_median_ms: median(warm),
    };
    console.log(`   ${String(n).padStart(6)} ${String(bytes.length).padStart(9)} ${t.median.toFixed(2).padStart(10)} ${median(prep).toFixed(1).padStart(11)} ${Math.min(...prep).toFixed(1).padStart(8)} ${median(cpu).toFixed(1).padStart(8)} ${median(warm).toFixed(1).padStart(8)}`);
  }
  const big = results.scaling[10000];
  const verdict = (ok) => (ok ? 'OK' : 'MISSED');
  console.log(`   10,000 rules: decide ${verdict(big.decide_median_us <= 15)} (target <= 15 us); prepare (target <= 100 ms): ` +
    `median wall ${verdict(big.prepare_median_ms <= 100)}, best wall ${verdict(big.prepare_min_ms <= 100)}, cpu ${verdict(big.prepare_cpu_median_ms <= 100)}`);

  // 4. a model's score in the decision (benchmarks/runtime_bench.py's row 7)
  const bundle = async (model) => {
    const verified = await verifyBundle(fixture('trailblazer.strata'), keys, { now: NOW });
    const payload = withNudge(verified.payload, model);
    validatePayload(payload);
    return new Prepared({ ...verified, payload });
  };
  const withM = await bundle(true);
  const withoutM = await bundle(false);
  console.log(`\n4. TrailBlazer + slot nudge, all ${withM.slots.length} slots: its rule reads score.purchase_intent (20 features) or a signal`);
  console.log(`   ${'profile'.padEnd(24)} ${'without us'.padStart(10)} ${'with us'.padStart(8)} ${'diff us'.padStart(8)} ${'score() us'.padStart(10)}`);
  const modelRows = PROFILES.map(([name, signals, kw], i) => {
    const opts = { sessionId: `visitor-${String(i).padStart(3, '0')}`, now: NOW, ...kw };
    const without = perCallUs(() => withoutM.decide(signals, null, opts)).median;
    const withModelUs = perCallUs(() => withM.decide(signals, null, opts)).median;
    const s = withM.prepareSignals(signals, kw.consent ?? true);
    const score = perCallUs(() => withM.models[0].score(s)).median;
    console.log(`   ${name.padEnd(24)} ${without.toFixed(2).padStart(10)} ${withModelUs.toFixed(2).padStart(8)} ${(withModelUs - without).toFixed(2).padStart(8)} ${score.toFixed(2).padStart(10)}`);
    return { profile: name, without_us: without, with_model_us: withModelUs, score_us: score };
  });
  results.model = {
    features: withM.models[0].features.length, profiles: modelRows,
    median_without_us: median(modelRows.map((r) => r.without_us)), median_with_model_us: median(modelRows.map((r) => r.with_model_us)),
    median_score_us: median(modelRows.map((r) => r.score_us)),
  };
  results.model.ratio = results.model.median_with_model_us / results.model.median_without_us;
  const mm = results.model;
  console.log(`   ${'median over profiles'.padEnd(24)} ${mm.median_without_us.toFixed(2).padStart(10)} ${mm.median_with_model_us.toFixed(2).padStart(8)} ${(mm.median_with_model_us - mm.median_without_us).toFixed(2).padStart(8)} ${mm.median_score_us.toFixed(2).padStart(10)}  (ratio ${mm.ratio.toFixed(2)})`);

  results.load_average = (await import('node:os')).loadavg();
  console.log(`   (load average during the run: ${results.load_average.map((x) => x.toFixed(1)).join(' ')}; prepare's cpu ms counts every thread: GC, inflate)`);
  writeResults('decide.json', results);
}

await main();
