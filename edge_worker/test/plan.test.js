// Planning (runtime/plan.js, docs/runtime.md "Preparation"): a slot is prepared on its first use,
// once, with the segments its conditions read; a condition whose preparation throws decides as an
// evaluation error, reported once; and a decision's Outcome carries the signal values its
// conditions read, from which model levels and rule conditions answer as from the signals given.
// (Eager and lazy plans deciding alike over the shared vectors: vectors.test.js.)
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { importKeys, prepareBundle } from '../runtime/index.js';
import { Op } from '../runtime/format.js';
import { segmentsRead } from '../runtime/plan.js';
import { readJson, readVector } from './vectors.js';

const spec = readJson('decisions.json');
const keys = await importKeys([readVector(spec.key).toString('utf8')]);
const load = (name) => prepareBundle(new Uint8Array(readVector(spec.bundles[name])), { keys, now: spec.now });
const prepared = (p) => [...p.slotTable.values()].filter((sl) => sl.candidates !== null).map((sl) => sl.id);
const SIGNALS = { 'device.type': 'mobile', 'page.path': '/c/tents', 'session.page_views': 3, 'session.visit_count': 1, 'session.recent_categories': ['tents'] };

test('plan_prepares_a_slot_and_the_segments_it_reads_on_first_use_only', async () => {
  const p = await load('trailblazer');
  assert.deepEqual(prepared(p), []);
  assert.ok(p.segmentEvals.every((f) => f === null));
  p.decide(SIGNALS, ['hero'], { sessionId: 's-1', now: spec.now });
  assert.deepEqual(prepared(p), ['hero']);
  const read = new Set();
  for (const c of p.slotTable.get('hero').raw.candidates) segmentsRead(c.when, read);
  for (const i of [...read]) segmentsRead(p.rawSegments[i].when, read); // and what those read
  assert.ok(read.size > 0);
  assert.deepEqual(new Set(p.segmentEvals.flatMap((f, i) => (f === null ? [] : [i]))), read);
  const before = p.slotTable.get('hero').candidates;
  p.decide(SIGNALS, ['hero'], { sessionId: 's-2', now: spec.now });
  p.ruleMatches('hero', 'tent-hero', SIGNALS);
  assert.equal(p.slotTable.get('hero').candidates, before); // once
  p.ruleMatches('offer', 'welcome-offer', SIGNALS);
  assert.deepEqual(prepared(p), ['hero', 'offer'].sort((a, b) => p.slotIds.indexOf(a) - p.slotIds.indexOf(b)));
  assert.equal(p.warm(), p);
  assert.deepEqual(prepared(p), p.slotIds);
  assert.ok(p.segmentEvals.every((f) => f !== null));
});

test('plan_segments_read_skips_literal_values', () => {
  const ir = [Op.AND, [Op.SEG, 2], [Op.CALL, '@in', 'string,list(string)', [Op.SEG, 0], [Op.LIT, [Op.SEG, 7]]]];
  assert.deepEqual([...segmentsRead(ir, new Set())].sort(), [0, 2]);
});

test('plan_condition_failing_preparation_decides_as_an_error_once', async () => {
  // None is known once validation passes: this one is injected into the closure builder.
  const p = await load('trailblazer');
  const seg = Number(p.slotTable.get('hero').raw.candidates.find((c) => c.id === 'tent-hero').when[1]); // a rule on a segment
  const bad = p.rawSegments[seg].when;
  const build = p.builder.build.bind(p.builder);
  p.builder.build = (ir, cid) => {
    if (ir === bad) throw new RangeError('Maximum call stack size exceeded');
    return build(ir, cid);
  };
  const healthy = await load('trailblazer');
  for (let k = 0; k < 3; k++) {
    const out = p.decide(SIGNALS, ['hero', 'banner'], { sessionId: 'visitor-1', now: spec.now, explain: true });
    const step = out.decisions.hero.trace.find((t) => t.candidate === 'tent-hero');
    assert.equal(step.result, 'error');
    assert.ok(step.message.startsWith(`preparing segment ${p.segmentIds[seg]} of bundle trailblazer v`), step.message);
    assert.match(step.message, /failed \(RangeError: Maximum call stack size exceeded\); it decides as an evaluation error; recompile the bundle/);
    const want = healthy.decide(SIGNALS, ['hero', 'banner'], { sessionId: 'visitor-1', now: spec.now, explain: true });
    assert.deepEqual(JSON.parse(JSON.stringify(out.decisions.banner)), JSON.parse(JSON.stringify(want.decisions.banner)));
    assert.equal(want.decisions.hero.trace.find((t) => t.candidate === 'tent-hero').result === 'error', false);
  }
  assert.equal(p.prepareFailures.length, 1);
  assert.equal(p.prepareFailures[0].code, 'prepare_failed');
});

test('plan_outcome_carries_the_signal_values_its_conditions_read', async () => {
  const p = await load('models');
  const given = { 'device.type': 'mobile', 'session.page_views': 9, 'session.recent_categories': ['tents'], tier: 'gold', 'cart.value': 120.5 };
  for (const consent of [true, false]) {
    const out = p.decide(given, null, { sessionId: 's-1', consent, now: spec.now });
    assert.deepEqual(out.signals, p.prepareSignals(given, consent));
    assert.deepEqual(p.levels(out.signals), p.modelLevels(given, consent));
    for (const [slot, rule] of [['hero', 'likely-hero'], ['hero', 'maybe-hero'], ['recs', 'lift-recs'], ['offer', 'kit'], ['hero', 'nope'], ['nope', 'kit']]) {
      assert.equal(p.ruleHolds(slot, rule, out.signals, out.memo, { consent }), p.ruleMatches(slot, rule, given, { consent }), `${slot}/${rule} consent=${consent}`);
    }
  }
  assert.ok(p.ruleMatches('hero', 'likely-hero', given) || p.ruleMatches('recs', 'lift-recs', given)); // the rows above include a true one
  assert.equal(JSON.stringify(p.decide(given, null, { now: spec.now })).includes('"signals"'), false); // not part of the JSON
});
