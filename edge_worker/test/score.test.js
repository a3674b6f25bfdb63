// Model scores in the JavaScript runtime (runtime/score.js, the port of runtime/score.py):
// levels per feature kind (absent, other, CEL type strictness), the +-*/ sigmoid, SCORE memoised
// once per decision, explain scores, validation of payload.models, sticky assignments,
// modelLevels and ruleMatches. Payloads are built by hand as msgpack.js decodes them (small ints
// as numbers, doubles as Float); tests/vectors/scores.json checks parity with Python.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidIR } from '../runtime/errors.js';
import { Op } from '../runtime/format.js';
import { Prepared } from '../runtime/decide.js';
import { Feature, Model, calibration, sigmoid } from '../runtime/score.js';
import { Float } from '../runtime/signals.js';
import { validatePayload } from '../runtime/validate.js';
import { CelUint } from '../runtime/values.js';
import { rng as floats } from './vectors.js';

/** The seeded generator of test/vectors.js as integers: r(n) in 0..n-1. */
const rng = (seed) => {
  const f = floats(seed);
  return (n) => Math.floor(f() * n);
};

const F = (x) => new Float(x);
const NOW = 1793494800;

/** A payload with one plain model over five features of five signals, one uplift model and an
 * experiment; segment `likely` is `score.intent > 0.5`, slot `hero` has a rule reading
 * score.intent again, then the experiment. */
function payload() {
  const weights = (n, r) => Array.from({ length: n }, () => F((r(2001) - 1000) / 100));
  const r = rng(7);
  const features = [
    { id: 'device', signal: 0, kind: 'values', args: ['mobile', 'desktop', 'tablet'], levels: ['mobile', 'desktop', 'tablet', '(other)', '(absent)'] },
    { id: 'depth', signal: 1, kind: 'edges', args: [2, 4, 8], levels: ['<2', '[2,4)', '[4,8)', '>=8', '(absent)'] },
    { id: 'tents', signal: 2, kind: 'contains', args: ['tents'], levels: ['no', 'yes', '(absent)'] },
    { id: 'spend', signal: 3, kind: 'edges', args: [F(0.5), 10, F(99.5)], levels: ['<0.5', '[0.5,10)', '[10,99.5)', '>=99.5', '(absent)'] },
    { id: 'member', signal: 4, kind: 'values', args: [false, true], levels: ['false', 'true', '(other)', '(absent)'] },
  ];
  const set = () => ({ bias: F(-0.75), weights: features.map((f) => weights(f.levels.length, r)) });
  return {
    name: 'scores', version: 1, created: NOW - 10, not_before: NOW - 10, expires: NOW + 86400, compiler: 'test',
    signals: [
      { name: 'device.type', type: 'string', category: 'contextual' },
      { name: 'session.page_views', type: 'int', category: 'behavioral' },
      { name: 'session.recent_categories', type: 'list(string)', category: 'behavioral' },
      { name: 'cart.value', type: 'double', category: 'behavioral' },
      { name: 'user.member', type: 'bool', category: 'contextual' },
    ],
    types: {},
    segments: [{ id: 'likely', layer: 1, when: [Op.CALL, '_>_', 'double,double', [Op.SCORE, 0], [Op.LIT, F(0.5)]], consent: true }],
    content: [{ v: 'default' }, { v: 'likely' }, { v: 'a' }, { v: 'b' }, { v: 'high' }],
    experiments: [{ id: 'exp', salt: 'exp-salt', group: null, start: 0, end: 10000, variants: [['a', 10000, 2], ['b', 0, 3]] }],
    slots: [
      { id: 'banner', default: 0, candidates: [{ id: 'likely-rule', layer: 1, when: [Op.SEG, 0], consent: true, content: 1, segment: 0 }] },
      {
        id: 'hero', default: 0, candidates: [
          { id: 'high', layer: 2, when: [Op.CALL, '_>=_', 'double,double', [Op.SCORE, 0], [Op.LIT, F(0.9)]], consent: true, content: 4 },
          { id: 'test', layer: 1, when: [Op.LIT, true], consent: false, experiment: 0 },
        ],
      },
    ],
    holdout: null,
    consent: { requires: ['behavioral'], without: 'contextual' },
    goals: ['purchase'],
    models: [
      { id: 'intent', goal: 'purchase', spec: '0123abcd', fit: '89abcdef', features, sets: [set()], uplift: null },
      { id: 'lift', goal: 'purchase', spec: '0123abce', fit: '89abcdee', features: features.slice(0, 2), sets: [{ bias: F(0.5), weights: [weights(5, r), weights(5, r)] }, { bias: F(-0.5), weights: [weights(5, r), weights(5, r)] }], uplift: { experiment: 0, treatment: 'b', control: 'a' } },
    ],
  };
}

function prepare(p) {
  validatePayload(p);
  return new Prepared({ payload: p, keyId: 'test', size: 0 });
}

// ------------------------------------------------------------------ sigmoid
test('score_sigmoid_agrees_with_math_exp_within_1e-14', () => {
  const r = rng(3);
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const z = ((r(2 ** 30) / 2 ** 30) - 0.5) * 80; // [-40, 40)
    const d = Math.abs(sigmoid(z) - 1 / (1 + Math.exp(-z)));
    if (d > worst) worst = d;
  }
  for (const z of [0, 1e-300, -1e-300, 0.34657359027997264, -0.34657359027997264, 36, -36, 35.999, 1, -1, 17.5]) {
    const d = Math.abs(sigmoid(z) - 1 / (1 + Math.exp(-z)));
    if (d > worst) worst = d;
  }
  assert.ok(worst < 1e-14, `worst difference ${worst}`);
});

test('score_sigmoid_is_monotone_symmetric_bounded_and_clamped', () => {
  assert.equal(sigmoid(0), 0.5);
  assert.equal(sigmoid(100), sigmoid(36));
  assert.equal(sigmoid(-100), sigmoid(-36));
  assert.equal(sigmoid(Infinity), sigmoid(36));
  assert.equal(sigmoid(-Infinity), sigmoid(-36));
  const r = rng(5);
  const zs = Array.from({ length: 5000 }, () => ((r(2 ** 30) / 2 ** 30) - 0.5) * 90).sort((a, b) => a - b);
  let prev = -1;
  for (const z of zs) {
    const s = sigmoid(z);
    assert.ok(s > 0 && s <= 1, `sigmoid(${z}) = ${s}`);
    assert.ok(s >= prev, `not monotone at ${z}`);
    assert.ok(Math.abs(s + sigmoid(-z) - 1) < 1e-15, `asymmetric at ${z}`);
    prev = s;
  }
});

// ------------------------------------------------------------------ levels
test('score_levels_values_feature_first_equal_value_of_the_same_type_else_other', () => {
  const str = new Feature({ id: 'd', signal: 0, kind: 'values', args: ['mobile', 'desktop'], levels: ['mobile', 'desktop', '(other)', '(absent)'] }, ['string']);
  assert.deepEqual(['mobile', 'desktop', 'tv', ''].map(str.level), [0, 1, 2, 2]);
  const int = new Feature({ id: 'n', signal: 0, kind: 'values', args: [1, 0, 2n ** 62n], levels: ['1', '0', String(2n ** 62n), '(other)', '(absent)'] }, ['int']);
  // bool is not int, uint is not int, double is not int (CEL types, not JavaScript equality)
  assert.deepEqual([1n, 0n, 2n ** 62n, 3n, true, false, new CelUint(1n), 1, 0].map(int.level), [0, 1, 2, 3, 3, 3, 3, 3, 3]);
  const uint = new Feature({ id: 'u', signal: 0, kind: 'values', args: [7], levels: ['7', '(other)', '(absent)'] }, ['uint']);
  assert.deepEqual([new CelUint(7n), 7n, new CelUint(8n)].map(uint.level), [0, 1, 1]);
  const bool = new Feature({ id: 'b', signal: 0, kind: 'values', args: [false, true], levels: ['false', 'true', '(other)', '(absent)'] }, ['bool']);
  assert.deepEqual([false, true, 0n, 1n, 'true'].map(bool.level), [0, 1, 2, 2, 2]);
});

test('score_levels_edges_feature_counts_edges_at_or_below_the_value_exactly', () => {
  const f = new Feature({ id: 'x', signal: 0, kind: 'edges', args: [2, F(4.5), 8], levels: ['<2', '[2,4.5)', '[4.5,8)', '>=8', '(absent)'] }, ['double']);
  const cases = [[-Infinity, 0], [1.999, 0], [2, 1], [4.4999, 1], [4.5, 2], [7.99, 2], [8, 3], [Infinity, 3], [NaN, 0], [-0, 0], [2n, 1], [5n, 2], [new CelUint(9n), 3], ['5', 0], [true, 0]]; // not a number: 0, as Python
  for (const [v, want] of cases) assert.equal(f.level(v), want, String(v));
  // ints beyond 2^53 compare exactly with a double edge, as Python compares int with float
  const big = new Feature({ id: 'b', signal: 0, kind: 'edges', args: [F(2 ** 53)], levels: ['<', '>=', '(absent)'] }, ['int']);
  assert.equal(big.level(2n ** 53n - 1n), 0);
  assert.equal(big.level(2n ** 53n), 1);
  const r = rng(11);
  const edges = [-7, -1, 0, 3, 10, 1000];
  const g = new Feature({ id: 'g', signal: 0, kind: 'edges', args: edges, levels: Array.from({ length: 8 }, (_, i) => String(i)) }, ['int']);
  for (let i = 0; i < 2000; i++) {
    const v = BigInt(r(2400) - 1200);
    assert.equal(g.level(v), edges.filter((e) => BigInt(e) <= v).length);
  }
});

test('score_levels_contains_feature_lists_by_same_typed_element_maps_by_key', () => {
  const tents = new Feature({ id: 't', signal: 0, kind: 'contains', args: ['tents'], levels: ['no', 'yes', '(absent)'] }, ['list(string)']);
  assert.deepEqual([[], ['boots'], ['boots', 'tents'], new Map([['tents', 1n]]), new Map([['x', 1n]])].map(tents.level), [0, 0, 1, 1, 0]);
  const dyn = new Feature({ id: 'd', signal: 0, kind: 'contains', args: [1], levels: ['no', 'yes', '(absent)'] }, ['list(dyn)']);
  assert.deepEqual([[1n], [1], [true], [new CelUint(1n)], ['1'], [2n, 1n]].map(dyn.level), [1, 0, 0, 0, 0, 1]);
  const uintKeys = new Feature({ id: 'u', signal: 0, kind: 'contains', args: [3], levels: ['no', 'yes', '(absent)'] }, ['map(uint, string)']);
  assert.deepEqual([new Map([[new CelUint(3n), 'a']]), new Map([[new CelUint(4n), 'a']]), new Map()].map(uintKeys.level), [1, 0, 0]);
  const intKeys = new Feature({ id: 'i', signal: 0, kind: 'contains', args: [3], levels: ['no', 'yes', '(absent)'] }, ['map(int, list(string))']);
  assert.deepEqual([new Map([[3n, []]]), new Map([[4n, []]])].map(intKeys.level), [1, 0]);
});

test('score_levels_absent_signal_is_the_last_level_for_every_kind', () => {
  const p = prepare(payload());
  const m = p.models[0];
  assert.deepEqual(Array.from(m.levels(p.prepareSignals({}, true))), m.features.map((f) => f.levels.length - 1));
  assert.deepEqual(
    Array.from(m.levels(p.prepareSignals({ 'device.type': 'tv', 'session.page_views': 4, 'session.recent_categories': ['tents'], 'cart.value': 10, 'user.member': true }, true))),
    [3, 2, 1, 2, 1],
  );
});

test('score_model_levels_without_consent_drop_consent_signals_like_conditions', () => {
  const p = prepare(payload());
  const signals = { 'device.type': 'mobile', 'session.page_views': 9, 'session.recent_categories': ['tents'], 'cart.value': F(150.0), 'user.member': false };
  const [withConsent] = p.modelLevels(signals);
  const [without] = p.modelLevels(signals, false);
  assert.deepEqual(Array.from(withConsent), [0, 3, 1, 3, 0]);
  assert.deepEqual(Array.from(without), [0, 4, 2, 4, 0]); // behavioral signals absent
  assert.equal(p.modelLevels(signals).length, 2);
});

test('score_uplift_model_is_treatment_sigmoid_minus_control_sigmoid', () => {
  const p = prepare(payload());
  const r = rng(13);
  const up = p.models[1];
  assert.equal(up.uplift.experiment, 0);
  for (let i = 0; i < 200; i++) {
    const lv = Uint8Array.of(r(5), r(5));
    const z = (set) => set[1].reduce((acc, w, j) => acc + w[lv[j]], set[0]);
    assert.equal(up.scoreOf(lv), sigmoid(z(up.sets[0])) - sigmoid(z(up.sets[1])));
    assert.ok(up.scoreOf(lv) >= -1 && up.scoreOf(lv) <= 1);
  }
});

// ------------------------------------------------------------------ calibration and crosses
test('score_calibration_generated_maps_are_monotone_exact_at_knots_and_flat_beyond', () => {
  const r = floats(29);
  for (let n = 0; n < 200; n++) {
    const knots = [];
    let z = -10 * r();
    let p = 0;
    for (let k = 1 + Math.floor(r() * 40); k > 0; k--) {
      knots.push([F(z), F(p)]);
      z += 0.001 + 2 * r();
      p = Math.min(p + (r() < 0.3 ? 0 : 0.2 * r()), 1);
    }
    const m = calibration(knots);
    const zs = knots.map((k) => k[0].v);
    const ps = knots.map((k) => k[1].v);
    zs.forEach((kz, j) => assert.equal(m(kz), ps[j]));
    assert.equal(m(zs[0] - 1), ps[0]);
    assert.equal(m(zs.at(-1) + 1), ps.at(-1));
    for (let j = 0; j + 1 < zs.length; j++) {
      const mid = (zs[j] + zs[j + 1]) / 2;
      assert.ok(ps[j] <= m(mid) && m(mid) <= ps[j + 1]);
    }
    const a = -20 + 40 * r();
    const b = -20 + 40 * r();
    assert.ok(m(Math.min(a, b)) <= m(Math.max(a, b)));
  }
});

test('score_calibrated_set_maps_the_log_odds_without_crosses_then_adds_them_and_a_cross_is_the_mixed_radix_of_its_parts', () => {
  const p = payload();
  const m = p.models[0];
  m.features.push({ id: 'device_tents', kind: 'cross', args: [0, 2], levels: ['mobile', 'desktop', 'tablet', '(other)', '(absent)'].flatMap((d) => ['no', 'yes', '(absent)'].map((t) => `${d}|${t}`)) });
  m.sets[0].weights.push(Array.from({ length: 15 }, (_, i) => F(i / 10 - 0.7)));
  const knots = [[F(-30), F(0.001)], [F(-2), F(0.1)], [F(0), F(0.1)], [F(30), F(0.95)]];
  m.sets[0].calibration = knots;
  const prepared = prepare(p);
  const model = prepared.models[0];
  const cal = calibration(knots);
  const r = rng(31);
  for (let i = 0; i < 300; i++) {
    const s = [['mobile', 'desktop', 'tablet', 'tv', undefined][r(5)], BigInt(r(10)), [[], ['tents'], undefined][r(3)], r(200) + 0.5, undefined];
    const lv = model.levels(s);
    assert.equal(lv[5], lv[0] * 3 + lv[2]);
    assert.equal(model.features[5].levels[lv[5]], `${model.features[0].levels[lv[0]]}|${model.features[2].levels[lv[2]]}`);
    // the log-odds without the cross, calibrated, plus the cross's weight summed apart from 0.0, through the sigmoid
    const [bias, w] = model.sets[0];
    let z = bias;
    for (let j = 0; j < 5; j++) z = z + w[j][lv[j]];
    assert.equal(model.zOf(lv), z);
    assert.equal(model.crossOf(lv), 0.0 + w[5][lv[5]]);
    assert.equal(model.score(s), sigmoid(cal(z) + (0.0 + w[5][lv[5]])));
    assert.equal(model.scoreOf(lv), model.score(s));
  }
});

// ------------------------------------------------------------------ decide
test('score_computed_at_most_once_per_decision_and_shown_in_explain', () => {
  const p = prepare(payload());
  const m = p.models[0];
  const real = m.score.bind(m);
  let calls = 0;
  m.score = (s) => {
    calls += 1;
    return real(s);
  };
  const r = rng(17);
  const devices = ['mobile', 'desktop', 'tablet', 'tv'];
  for (let i = 0; i < 300; i++) {
    const signals = { 'device.type': devices[r(4)], 'session.page_views': r(12), 'session.recent_categories': r(2) ? ['tents'] : [], 'cart.value': F(r(200)), 'user.member': r(2) === 1 };
    calls = 0;
    const out = p.decide(signals, null, { sessionId: `s${i}`, now: NOW, explain: true });
    assert.equal(calls, 1, 'segment and rule read score.intent: one computation');
    const score = real(p.prepareSignals(signals, true));
    assert.deepEqual(out.toJSON().scores, { intent: score });
    assert.equal(out.decisions.banner.rule === 'likely-rule', score > 0.5);
    assert.equal(out.decisions.hero.rule === 'high', score >= 0.9);
    calls = 0;
    const plain = p.decide(signals, ['banner'], { sessionId: `s${i}`, now: NOW });
    assert.equal(calls, 1);
    assert.deepEqual(plain.scores, { intent: score }); // for the caller; not in the decision JSON
    assert.equal(plain.toJSON().scores, undefined);
  }
  calls = 0;
  const none = p.decide({}, ['hero'], { sessionId: null, consent: false, now: NOW, explain: true });
  assert.equal(calls, 0, 'no condition reads a score without consent here: none computed');
  assert.deepEqual(none.toJSON().scores, {});
});

test('score_decide_accepts_bundles_without_models', () => {
  const q = payload();
  delete q.models;
  q.segments[0].when = [Op.LIT, true];
  q.slots[1].candidates[0].when = [Op.LIT, false];
  const p = prepare(q);
  assert.equal(p.models.length, 0);
  assert.deepEqual(p.modelLevels({}), []);
  const out = p.decide({}, null, { sessionId: 'x', now: NOW, explain: true });
  assert.equal(out.decisions.banner.rule, 'likely-rule');
  assert.equal(out.toJSON().scores, undefined); // the explain JSON of a bundle without models is unchanged, as Python
  assert.equal(out.scores, null);
});

test('score_rule_matches_evaluates_the_rule_condition_alone', () => {
  const p = prepare(payload());
  const m = p.models[0];
  const r = rng(19);
  for (let i = 0; i < 200; i++) {
    const signals = { 'device.type': ['mobile', 'desktop'][r(2)], 'session.page_views': r(12), 'cart.value': F(r(200)) };
    const score = m.score(p.prepareSignals(signals, true));
    assert.equal(p.ruleMatches('banner', 'likely-rule', signals), score > 0.5);
    assert.equal(p.ruleMatches('hero', 'high', signals), score >= 0.9);
  }
  assert.equal(p.ruleMatches('hero', 'test', {}), true); // an experiment candidate: its condition
  assert.equal(p.ruleMatches('banner', 'likely-rule', { 'device.type': 'mobile' }, { consent: false }), false); // needs consent
  assert.equal(p.ruleMatches('nope', 'high', {}), false);
  assert.equal(p.ruleMatches('hero', 'nope', {}), false);
});

// ------------------------------------------------------------------ sticky assignments
test('score_sticky_assignment_shows_the_recorded_variant_whatever_its_weight', () => {
  const q = payload();
  q.slots[1].candidates[0].when = [Op.LIT, false]; // only the experiment can match
  const p = prepare(q);
  const noScore = { 'device.type': 'desktop' };
  let seen = 0;
  for (let i = 0; i < 200; i++) {
    const sid = `visitor-${i}`;
    const hashed = p.decide(noScore, ['hero'], { sessionId: sid, now: NOW, explain: true }).decisions.hero;
    if (hashed.rule !== 'test') continue;
    seen += 1;
    assert.equal(hashed.variant, 'a'); // weight 10000
    assert.equal(hashed.trace.at(-1).sticky, undefined);
    const sticky = p.decide(noScore, ['hero'], { sessionId: sid, now: NOW, explain: true, assignments: { exp: 'b' } });
    assert.equal(sticky.decisions.hero.variant, 'b');
    assert.equal(sticky.decisions.hero.content.v, 'b');
    assert.equal(sticky.decisions.hero.trace.at(-1).sticky, true);
    assert.deepEqual(sticky.exposures, [['exp', 'b']]);
    const viaMap = p.decide(noScore, ['hero'], { sessionId: sid, now: NOW, assignments: new Map([['exp', 'b']]) });
    assert.equal(viaMap.decisions.hero.variant, 'b');
    // a variant the experiment no longer has, or another experiment's entry: the hash decides
    for (const assignments of [{ exp: 'gone' }, { other: 'b' }, { exp: 7 }, {}]) {
      assert.equal(p.decide(noScore, ['hero'], { sessionId: sid, now: NOW, assignments }).decisions.hero.variant, 'a');
    }
  }
  assert.equal(seen, 200, 'every visitor reached the experiment');
});

test('score_sticky_assignment_needs_a_session_and_the_traffic_range', () => {
  const q = payload();
  q.experiments[0].end = 5000;
  q.slots[1].candidates[0].when = [Op.LIT, false]; // only the experiment can match
  const p = prepare(q);
  let outside = 0;
  for (let i = 0; i < 200; i++) {
    const sid = `visitor-${i}`;
    const out = p.decide({}, ['hero'], { sessionId: sid, now: NOW, explain: true, assignments: { exp: 'b' } }).decisions.hero;
    if (out.trace.some((t) => t.result === 'not_in_traffic')) {
      outside += 1;
      assert.equal(out.variant, null);
    } else {
      assert.equal(out.variant, 'b');
    }
  }
  assert.ok(outside > 50 && outside < 150);
  const anon = p.decide({}, ['hero'], { sessionId: null, consent: false, now: NOW, assignments: { exp: 'b' } }).decisions.hero;
  assert.equal(anon.variant, null);
});

// ------------------------------------------------------------------ validation
/** Mutations of the valid payload, each of which must be refused as InvalidIR. */
const REFUSED = {
  'models not a list': (p) => { p.models = {}; },
  'models nil': (p) => {
    p.models = null;
    p.segments[0].when = [Op.LIT, true]; // no SCORE left to refuse instead
    p.slots[1].candidates[0].when = [Op.LIT, true];
  },
  'more than 16 models': (p) => { p.models = Array.from({ length: 17 }, (_, i) => ({ ...p.models[0], id: `m${i}` })); },
  'unknown model field': (p) => { p.models[0].extra = 1; },
  'model id not an identifier': (p) => { p.models[0].id = 'Intent'; },
  'repeated model id': (p) => { p.models[1].id = 'intent'; },
  'unknown goal': (p) => { p.models[0].goal = 'signup'; },
  'spec not 8 hex': (p) => { p.models[0].spec = '0123ABCD'; },
  'fit not 8 hex': (p) => { p.models[0].fit = '0123abc'; },
  'more than 64 features': (p) => {
    const f = p.models[0].features[0];
    p.models[0].features = Array.from({ length: 65 }, (_, i) => ({ ...f, id: `f${i}` }));
    p.models[0].sets[0].weights = Array.from({ length: 65 }, () => [F(0), F(0), F(0), F(0), F(0)]);
  },
  'repeated feature id': (p) => { p.models[0].features[1].id = 'device'; },
  'signal index out of range': (p) => { p.models[0].features[0].signal = 5; },
  'unknown kind': (p) => { p.models[0].features[0].kind = 'range'; },
  'values on a double signal': (p) => { p.models[0].features[0].signal = 3; },
  'values of another type': (p) => { p.models[0].features[0].args = ['mobile', 1, 'tablet']; },
  'values repeated': (p) => { p.models[0].features[0].args = ['mobile', 'mobile', 'tablet']; },
  'values none': (p) => { p.models[0].features[0].args = []; },
  'more than 254 values': (p) => {
    const f = p.models[0].features[0];
    f.args = Array.from({ length: 255 }, (_, i) => `v${i}`);
    f.levels = [...f.args, '(other)', '(absent)'];
    p.models[0].sets[0].weights[0] = f.levels.map(() => F(0));
  },
  'edges on a string signal': (p) => { p.models[0].features[1].signal = 0; },
  'edges not ascending': (p) => { p.models[0].features[1].args = [2, 8, 4]; },
  'edges repeated': (p) => { p.models[0].features[1].args = [2, 4, 4]; },
  'edges not finite': (p) => { p.models[0].features[1].args = [2, 4, F(Infinity)]; },
  'edges NaN': (p) => { p.models[0].features[1].args = [F(NaN), 4, 8]; },
  'edges not numbers': (p) => { p.models[0].features[1].args = [2, '4', 8]; },
  'contains on a scalar signal': (p) => { p.models[0].features[2].signal = 0; },
  'contains literal of another type': (p) => { p.models[0].features[2].args = [1]; },
  'contains two literals': (p) => { p.models[0].features[2].args = ['a', 'b']; },
  'level count wrong': (p) => { p.models[0].features[0].levels.pop(); },
  'level names repeated': (p) => { p.models[0].features[0].levels[1] = 'mobile'; },
  'level names not strings': (p) => { p.models[0].features[0].levels[1] = 1; },
  'two sets for a plain model': (p) => { p.models[0].sets.push(p.models[0].sets[0]); },
  'one set for an uplift model': (p) => { p.models[1].sets.pop(); },
  'bias over 50': (p) => { p.models[0].sets[0].bias = F(50.5); },
  'bias missing': (p) => { delete p.models[0].sets[0].bias; },
  'bias NaN': (p) => { p.models[0].sets[0].bias = F(NaN); },
  'weight under -50': (p) => { p.models[0].sets[0].weights[2][1] = F(-50.000001); },
  'weight infinite': (p) => { p.models[0].sets[0].weights[2][1] = F(-Infinity); },
  'weight not a number': (p) => { p.models[0].sets[0].weights[2][1] = 'x'; },
  'weight missing for a level': (p) => { p.models[0].sets[0].weights[2].pop(); },
  'weights missing for a feature': (p) => { p.models[0].sets[0].weights.pop(); },
  'uplift experiment out of range': (p) => { p.models[1].uplift.experiment = 1; },
  'uplift unknown variant': (p) => { p.models[1].uplift.treatment = 'c'; },
  'uplift treatment is control': (p) => { p.models[1].uplift.treatment = 'a'; },
  'uplift unknown rule': (p) => { p.models[1].uplift = { slot: 'hero', rule: 'nope' }; },
  'uplift rule is an experiment': (p) => { p.models[1].uplift = { slot: 'hero', rule: 'test' }; },
  'uplift unknown field': (p) => { p.models[1].uplift.extra = 1; },
  'SCORE index out of range': (p) => { p.segments[0].when[3] = [Op.SCORE, 2]; },
  'SCORE without models': (p) => { delete p.models; },
  'SCORE operand missing': (p) => { p.segments[0].when[3] = [Op.SCORE]; },
};

test('score_validation_refuses_every_broken_models_field', () => {
  prepare(payload()); // the base is valid
  const ok = payload();
  ok.models[1].uplift = { slot: 'hero', rule: 'high' };
  validatePayload(ok);
  const accepted = [];
  for (const [name, mutate] of Object.entries(REFUSED)) {
    const p = payload();
    mutate(p);
    try {
      validatePayload(p);
      accepted.push(name);
    } catch (e) {
      if (!(e instanceof InvalidIR)) throw e;
    }
  }
  assert.deepEqual(accepted, []);
});

test('score_validation_refuses_random_out_of_bound_coefficients_and_accepts_in_bound_ones', () => {
  const r = rng(23);
  for (let i = 0; i < 300; i++) {
    const p = payload();
    const m = p.models[r(2)];
    const s = m.sets[r(m.sets.length)];
    const f = r(s.weights.length);
    const l = r(s.weights[f].length);
    const x = (r(20001) - 10000) / 100; // [-100, 100]
    if (r(4) === 0) s.bias = F(x);
    else s.weights[f][l] = F(x);
    let refused = false;
    try {
      validatePayload(p);
    } catch (e) {
      if (!(e instanceof InvalidIR)) throw e;
      refused = true;
    }
    assert.equal(refused, Math.abs(x) > 50, `coefficient ${x}`);
  }
});

test('score_model_is_built_once_per_bundle_with_frozen_features', () => {
  const p = prepare(payload());
  assert.ok(p.models[0] instanceof Model);
  assert.ok(Object.isFrozen(p.models));
  assert.ok(Object.isFrozen(p.models[0].features));
  assert.deepEqual(p.models.map((m) => [m.id, m.goal, m.spec, m.fit]), [['intent', 'purchase', '0123abcd', '89abcdef'], ['lift', 'purchase', '0123abce', '89abcdee']]);
  assert.deepEqual(p.models[0].features.map((f) => f.id), ['device', 'depth', 'tents', 'spend', 'member']);
  assert.deepEqual(p.models[0].features[1].levels, ['<2', '[2,4)', '[4,8)', '>=8', '(absent)']);
  assert.deepEqual(p.periods, { exp: '10000/0' });
});

// ------------------------------------------------------------------ generated features
/** The contract's level rules, written as plainly as possible (no lookup tables). */
function referenceLevel(kind, args, v) {
  if (v === undefined) return kind === 'contains' ? 2 : args.length + 1;
  const typeOf = (x) => (x instanceof CelUint ? 'uint' : typeof x);
  const same = (a, b) => typeOf(a) === typeOf(b) && (a instanceof CelUint ? a.v === b.v : a === b);
  if (kind === 'values') {
    const i = args.findIndex((a) => same(a, v));
    return i < 0 ? args.length : i;
  }
  if (kind === 'edges') {
    const x = v instanceof CelUint ? v.v : v;
    if (typeof x !== 'bigint' && typeof x !== 'number') return 0;
    return args.filter((e) => e <= x).length;
  }
  if (Array.isArray(v)) return v.some((e) => same(e, args[0])) ? 1 : 0;
  if (v instanceof Map) return Array.from(v.keys()).some((k) => same(k, args[0])) ? 1 : 0;
  return 0;
}

test('score_levels_of_generated_features_follow_the_contract_rules', () => {
  const r = rng(29);
  const ints = [0n, 1n, -1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 62n), 7n];
  const scalar = () => {
    switch (r(6)) {
      case 0: return ['a', 'b', 'tents', '', '😀'][r(5)];
      case 1: return ints[r(ints.length)];
      case 2: return new CelUint(BigInt(r(8)));
      case 3: return r(2) === 1;
      case 4: return [0, 1, 1.5, -0, NaN, Infinity, 2 ** 53][r(7)];
      default: return undefined;
    }
  };
  const rawOf = (x) => (typeof x === 'number' ? F(x) : x instanceof CelUint ? Number(x.v) : x);
  for (let n = 0; n < 400; n++) {
    const kind = ['values', 'edges', 'contains'][r(3)];
    let type;
    let args;
    if (kind === 'values') {
      type = ['string', 'int', 'uint', 'bool'][r(4)];
      const pools = { string: ['a', 'b', 'tents', ''], int: ints, uint: [0n, 1n, 7n].map((x) => new CelUint(x)), bool: [false, true] };
      args = pools[type].filter(() => r(2) === 1);
      if (!args.length) args = [pools[type][0]];
    } else if (kind === 'edges') {
      type = ['int', 'uint', 'double'][r(3)];
      const pool = [-3n, 0n, 1n, 2n ** 53n].map((x) => (r(2) ? x : Number(x) + (r(2) ? 0.5 : 0)));
      args = [];
      for (const x of pool.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) if (!args.length || args.at(-1) < x) args.push(x);
    } else {
      type = ['list(dyn)', 'list(string)', 'map(string, int)', 'map(int, string)'][r(4)];
      let x = scalar();
      if (type.includes('string') && !type.startsWith('map(int')) x = 'tents';
      else if (type.startsWith('map(int')) x = 1n;
      else if (x === undefined || x instanceof CelUint || Number.isNaN(x)) x = 1n;
      args = [x];
    }
    const rawArgs = args.map((a) => (kind === 'edges' ? (typeof a === 'bigint' ? a : F(a)) : rawOf(a)));
    const nlevels = kind === 'contains' ? 3 : args.length + 2;
    const f = new Feature({ id: 'f', signal: 0, kind, args: rawArgs, levels: Array.from({ length: nlevels }, (_, i) => `l${i}`) }, [type]);
    const m = new Model({ id: 'm', goal: 'g', spec: '00000000', fit: '00000000', uplift: null, features: [{ id: 'f', signal: 0, kind, args: rawArgs, levels: f.levels }], sets: [{ bias: F(0), weights: [f.levels.map(() => F(0))] }] }, [type]);
    for (let k = 0; k < 20; k++) {
      let v;
      const c = r(4);
      if (c === 0) v = Array.from({ length: r(4) }, scalar).filter((x) => x !== undefined);
      else if (c === 1) v = new Map(Array.from({ length: r(3) }, () => [scalar(), 0n]).filter(([x]) => x !== undefined && typeof x !== 'number'));
      else v = scalar();
      const want = referenceLevel(kind, args, v);
      assert.equal(v === undefined ? m.levels([v])[0] : f.level(v), want, `${kind} ${type} ${String(args)} <- ${String(v)}`);
    }
  }
});
