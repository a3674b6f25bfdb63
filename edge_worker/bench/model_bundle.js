// The decide benchmark's model row, as benchmarks/runtime_bench.py builds it: TrailBlazer plus a
// slot `nudge` whose rule reads `score.purchase_intent > 0.4` of a 20-feature calibrated model ("with"), and
// the same bundle whose rule reads `session.page_views > 4` instead ("without"). Built from the
// verified TrailBlazer payload by hand (same features, level names, weights and bias as the Python
// benchmark), so it needs nothing but the TrailBlazer fixture.

import { Op } from '../runtime/format.js';
import { Float } from '../runtime/signals.js';
import { reprFloat } from '../runtime/python.js';

const F = (x) => new Float(x);

/** benchmarks/runtime_bench.py MODEL_FEATURES: [id, signal, kind, args] (doubles as Float). */
export const MODEL_FEATURES = [
  ['device', 'device.type', 'values', ['mobile', 'desktop', 'tablet']],
  ['country', 'geo.country', 'values', ['US', 'DE', 'FR', 'GB', 'CA']],
  ['source', 'utm.source', 'values', ['newsletter', 'google', 'facebook']],
  ['medium', 'utm.medium', 'values', ['email', 'cpc', 'social']],
  ['referrer', 'referrer.class', 'values', ['search', 'social', 'email', 'direct', 'internal']],
  ['language', 'request.language', 'values', ['en', 'de', 'fr']],
  ['os', 'device.os', 'values', ['iOS', 'Android', 'Windows', 'Mac OS X']],
  ['browser', 'device.browser', 'values', ['Chrome', 'Safari', 'Firefox']],
  ['weekday', 'time.weekday', 'values', [1, 2, 3, 4, 5, 6, 7]],
  ['purchased', 'session.purchased', 'values', [false, true]],
  ['visits', 'session.visit_count', 'edges', [2, 3, 5, 10]],
  ['depth', 'session.page_views', 'edges', [2, 4, 8]],
  ['total_depth', 'session.total_page_views', 'edges', [5, 20, 50]],
  ['hour', 'time.hour', 'edges', [6, 12, 18, 22]],
  ['cart', 'cart.value', 'edges', [F(0.01), F(50.0), F(150.0), F(300.0)]],
  ['tents', 'session.recent_categories', 'contains', ['tents']],
  ['packs', 'session.recent_categories', 'contains', ['packs']],
  ['boots', 'session.recent_categories', 'contains', ['boots']],
  ['english', 'request.languages', 'contains', ['en']],
  ['utm', 'page.query', 'contains', ['utm_source']],
];

const text = (a) => (a instanceof Float ? reprFloat(a.v) : String(a));

function levels(kind, args) {
  if (kind === 'values') return [...args.map(text), '(other)', '(absent)'];
  if (kind === 'edges') {
    const e = args.map(text);
    const out = [`<${e[0]}`];
    for (let i = 1; i < e.length; i++) out.push(`[${e[i - 1]},${e[i]})`);
    return [...out, `>=${e.at(-1)}`, '(absent)'];
  }
  return ['no', 'yes', '(absent)'];
}

/** Add slot `nudge` (rule `likely-buyer`) to a freshly verified (so unshared) TrailBlazer payload;
 * `model`: its rule reads the model's score (and the payload gets the model), else the signal. */
export function withNudge(payload, model) {
  const index = new Map(payload.signals.map((s, i) => [s.name, i]));
  payload.content.push({}, { headline: 'Ready when you are' });
  const n = payload.content.length;
  const when = model
    ? [Op.CALL, '_>_', 'double,double', [Op.SCORE, 0], [Op.LIT, F(0.4)]]
    : [Op.CALL, '_>_', 'int,int', [Op.SIG, index.get('session.page_views')], [Op.LIT, 4]];
  payload.slots.push({ id: 'nudge', default: n - 2, candidates: [{ id: 'likely-buyer', layer: 2, when, consent: true, content: n - 1 }] });
  if (model) {
    const features = MODEL_FEATURES.map(([id, signal, kind, args]) => ({ id, signal: index.get(signal), kind, args, levels: levels(kind, args) }));
    const weights = features.map((f, i) => f.levels.map((_, j) => F((((i * 5 + j * 3) % 7) - 3) * 0.2)));
    // calibrated as benchmarks/runtime_bench.py's BENCH_KNOTS: 64 knots over the log-odds -8..8, p = sigmoid(z / 2)
    const calibration = Array.from({ length: 64 }, (_, i) => {
      const z = -8 + i * 0.25;
      return [F(z), F(Number((1 / (1 + Math.exp(-z / 2))).toFixed(6)))];
    });
    payload.models = [{ id: 'purchase_intent', goal: 'purchase', spec: '0b1e55ed', fit: 'f17f17f1', uplift: null, features, sets: [{ bias: F(-1.5), weights, calibration }] }];
  }
  return payload;
}
