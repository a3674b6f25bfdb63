// A TrailBlazer payload with one 20-feature model whose score a rule reads, for the decide
// benchmark's "with a model" row (the same shape as benchmarks/runtime_bench.py's): built from the
// verified TrailBlazer payload by hand, so it needs no compiler support for `models:`.
//
// The model: 20 features over 19 TrailBlazer signals (9 values, 6 edges, 4 contains, 1 bool),
// coefficients from a seeded generator; a rule in front of slot `hero` reads `score.intent > 2.0`
// (never true: every decision computes the score and goes on to the bundle's own candidates).

import { Op } from '../runtime/format.js';
import { Float } from '../runtime/signals.js';

const F = (x) => new Float(x);

const FEATURES = [
  ['device', 'device.type', 'values', ['mobile', 'desktop', 'tablet']],
  ['country', 'geo.country', 'values', ['US', 'DE', 'FR', 'CA', 'GB']],
  ['referrer', 'referrer.class', 'values', ['search', 'social', 'email', 'direct']],
  ['source', 'utm.source', 'values', ['newsletter', 'google', 'facebook']],
  ['medium', 'utm.medium', 'values', ['email', 'cpc', 'social']],
  ['os', 'device.os', 'values', ['iOS', 'Android', 'Windows', 'Mac OS X']],
  ['browser', 'device.browser', 'values', ['Chrome', 'Safari', 'Firefox']],
  ['category', 'page.category', 'values', ['tents', 'packs', 'stoves']],
  ['language', 'request.language', 'values', ['en', 'de', 'fr']],
  ['depth', 'session.page_views', 'edges', [2, 4, 8]],
  ['visits', 'session.visit_count', 'edges', [1, 2, 5]],
  ['hour', 'time.hour', 'edges', [6, 12, 18]],
  ['weekday', 'time.weekday', 'edges', [1, 5]],
  ['cart', 'cart.value', 'edges', [F(50.0), F(150.0), F(300.0)]],
  ['lifetime', 'session.total_page_views', 'edges', [5, 20, 50]],
  ['tents', 'session.recent_categories', 'contains', ['tents']],
  ['packs', 'session.recent_categories', 'contains', ['packs']],
  ['english', 'request.languages', 'contains', ['en']],
  ['ref', 'page.query', 'contains', ['ref']],
  ['purchased', 'session.purchased', 'values', [false, true]],
];

const text = (a) => (a instanceof Float ? String(a.v) : String(a));

function levels(kind, args) {
  if (kind === 'values') return [...args.map(text), '(other)', '(absent)'];
  if (kind === 'edges') {
    const out = [`<${text(args[0])}`];
    for (let i = 1; i < args.length; i++) out.push(`[${text(args[i - 1])},${text(args[i])})`);
    return [...out, `>=${text(args.at(-1))}`, '(absent)'];
  }
  return ['no', 'yes', '(absent)'];
}

/** Add the model and the rule reading it to a (freshly verified, so unshared) TrailBlazer payload. */
export function withModel(payload) {
  const index = new Map(payload.signals.map((s, i) => [s.name, i]));
  let seed = 12345;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed / 2147483648 - 0.5) * 2; // [-1, 1)
  };
  const features = FEATURES.map(([id, signal, kind, args]) => ({ id, signal: index.get(signal), kind, args, levels: levels(kind, args) }));
  payload.models = [{
    id: 'intent', goal: 'purchase', spec: '0b1e55ed', fit: 'f17f17f1', uplift: null, features,
    sets: [{ bias: F(-2.5), weights: features.map((f) => f.levels.map(() => F(next()))) }],
  }];
  const hero = payload.slots.find((s) => s.id === 'hero');
  hero.candidates.unshift({
    id: 'model-gate', layer: 2, consent: true, content: hero.default,
    when: [Op.CALL, '_>_', 'double,double', [Op.SCORE, 0], [Op.LIT, F(2.0)]],
  });
  return payload;
}
