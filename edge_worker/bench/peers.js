// The five conditions of benchmarks/peer_conditions/conditions.yaml, side by side in one run:
// Strata's prepared condition (closures from the compiled bundle's IR), GrowthBook JS
// evalCondition over the nested attributes, cel-js (@marcbachmann/cel-js: parse(expr) once,
// then evaluate(ctx)), and a hand-written JavaScript function over the same flat signals.
//
//   node edge_worker/bench/peers.js
//
// Targets: >= 3x faster than GrowthBook, >= 5x faster than cel-js, within 8x of the hand-written
// function. Prints a table and writes bench/results/peers.json.

import { readFileSync } from 'node:fs';
import { evalCondition } from '@growthbook/growthbook';
import { parse } from '@marcbachmann/cel-js';
import { importKeys, prepareBundle } from '../runtime/index.js';
import { Activation } from '../runtime/interp.js';
import { OUT, fixture, perCallUs, writeResults } from './common.js';

const NOW = 1793494800;
// The signals of benchmarks/runtime_bench.py bench_peers.
const FLAT = {
  'session.page_views': 4, 'session.purchased': false, 'session.utm_source': 'blog', 'session.visit_count': 2,
  'session.recent_categories': ['tents', 'packs'], 'device.type': 'mobile', 'utm.source': 'newsletter',
  'referrer.class': 'email', 'geo.country': 'US', 'cart.items': [{ sku: 'T1', name: 'Summit', category: 'tent', price: 249.0, quantity: 1 }],
  'cart.value': 249.0, 'page.path': '/tents/summit-2.html',
};

function nested(flat) {
  const out = {};
  for (const [k, v] of Object.entries(flat)) {
    const parts = k.split('.');
    let cur = out;
    for (const p of parts.slice(0, -1)) cur = cur[p] ??= {};
    cur[parts[parts.length - 1]] = v;
  }
  return out;
}

// cel-js has int and double types like CEL: ints as BigInt, doubles as numbers.
function celJsValue(v) {
  if (typeof v === 'number') return Number.isInteger(v) && v !== 249 ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(celJsValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'quantity' ? BigInt(x) : celJsValue(x)]));
  return v;
}

// Hand-written equivalents over the flat signals (the floor to compare with).
const HAND = [
  (s) => s['session.page_views'] >= 3 && !s['session.purchased'] && ['newsletter', 'blog'].includes(s['session.utm_source']) &&
    s['device.type'] === 'mobile' && s['cart.items'].some((i) => i.category === 'tent'),
  (s) => s['utm.source'] === 'newsletter' || s['referrer.class'] === 'email',
  (s) => s['session.recent_categories'].includes('tents') && s['device.type'] !== 'bot',
  (s) => s['session.visit_count'] > 1 && s['session.page_views'] >= 3 && ['US', 'CA'].includes(s['geo.country']),
  (s) => s['cart.value'] > 100.0 && s['cart.items'].length >= 1 && s['page.path'].startsWith('/tents'),
];

async function main() {
  fixture('peer0.strata');
  const conds = JSON.parse(readFileSync(OUT + 'conditions.json', 'utf8'));
  const keys = await importKeys([readFileSync(OUT + 'key.pub', 'utf8')]);
  const attrs = nested(FLAT);
  const celCtx = celJsValue(attrs);
  const rows = [];
  for (const [i, c] of conds.entries()) {
    const p = await prepareBundle(fixture(`peer${i}.strata`), { keys, now: NOW });
    const cand = p.slot('s').candidates[0];
    const signals = p.prepareSignals(FLAT, true);
    // What decide() does per candidate: evaluate the condition's closure on the request's signals.
    const strata = () => cand.cond(new Activation(signals, []));
    const gb = () => evalCondition(attrs, c.growthbook);
    const celFn = parse(c.cel.trim());
    const cel = () => celFn(celCtx);
    const hand = () => HAND[i](FLAT);
    const results = { strata: strata(), growthbook: gb(), celjs: cel(), hand: hand() };
    if (new Set(Object.values(results)).size !== 1) throw new Error(`${c.name}: engines disagree: ${JSON.stringify(results)}`);
    const row = {
      name: c.name,
      result: results.strata,
      strata_us: perCallUs(strata).median,
      hand_us: perCallUs(hand).median,
      growthbook_us: perCallUs(gb, { batch: 20 }).median,
      celjs_us: perCallUs(cel, { batch: 20 }).median,
    };
    row.x_vs_growthbook = row.growthbook_us / row.strata_us;
    row.x_vs_celjs = row.celjs_us / row.strata_us;
    row.strata_vs_hand = row.strata_us / row.hand_us;
    rows.push(row);
  }
  console.log('conditions of benchmarks/peer_conditions, median us per evaluation (targets: >=3x GrowthBook, >=5x cel-js, <=8x hand-written)');
  console.log(`   ${'condition'.padEnd(34)} ${'strata'.padStart(7)} ${'hand'.padStart(7)} ${'growthbook'.padStart(10)} ${'cel-js'.padStart(8)} ${'x GB'.padStart(6)} ${'x cel-js'.padStart(8)} ${'/ hand'.padStart(7)}`);
  for (const r of rows) {
    console.log(`   ${r.name.padEnd(34)} ${r.strata_us.toFixed(3).padStart(7)} ${r.hand_us.toFixed(3).padStart(7)} ${r.growthbook_us.toFixed(3).padStart(10)} ${r.celjs_us.toFixed(3).padStart(8)} ` +
      `${r.x_vs_growthbook.toFixed(1).padStart(6)} ${r.x_vs_celjs.toFixed(1).padStart(8)} ${r.strata_vs_hand.toFixed(1).padStart(7)}`);
  }
  const ok = rows.every((r) => r.x_vs_growthbook >= 3 && r.x_vs_celjs >= 5 && r.strata_vs_hand <= 8);
  console.log(`   all targets met: ${ok ? 'yes' : 'NO'}`);
  writeResults('peers.json', { rows, targets_met: ok });
}

await main();
