// The payload layout of the gzip codec (runtime/codec.py): candidates stored column-wise, content
// indexes as differences. fromColumns restores the payload the xz codec carries.

import { TABLE } from './format.js';
import { isInt, isMap } from './validate.js';

export const CANDIDATE_FIELDS = TABLE.fields.candidate;

/** The payload with per-slot candidate maps; throws Error(message) when the columns are inconsistent. */
export function fromColumns(payload) {
  if (!isMap(payload) || !isMap(payload.candidates) || !Array.isArray(payload.slots)) {
    throw new Error("gzip payload needs 'slots' and a 'candidates' map of columns");
  }
  const cols = payload.candidates;
  const names = Object.keys(cols);
  if (names.length !== CANDIDATE_FIELDS.length || !CANDIDATE_FIELDS.every((f) => Object.prototype.hasOwnProperty.call(cols, f))) {
    throw new Error(`candidate columns must be exactly ${CANDIDATE_FIELDS.join(', ')}`);
  }
  const counts = payload.slots.map((s) => (isMap(s) ? s.candidates : null));
  if (!counts.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0)) {
    throw new Error("a slot's 'candidates' must be its candidate count");
  }
  const total = counts.reduce((a, b) => a + b, 0);
  if (!CANDIDATE_FIELDS.every((f) => Array.isArray(cols[f]) && cols[f].length === total)) {
    throw new Error(`every candidate column must have ${total} entries`);
  }
  let prev = 0;
  const content = cols.content.map((d) => {
    if (d === null) return null;
    if (!isInt(d)) throw new Error('content deltas must be integers');
    prev += Number(d);
    return prev;
  });
  // One object shape for every candidate (null where absent: the loader treats nil as absent),
  // which keeps the loader's property reads monomorphic.
  const { id, layer, when, consent, experiment, cap, segment } = cols;
  const flat = new Array(total);
  for (let i = 0; i < total; i++) {
    flat[i] = {
      id: id[i], layer: layer[i], when: when[i], consent: consent[i], experiment: experiment[i],
      content: content[i], cap: cap[i], segment: segment[i],
    };
  }
  const out = { ...payload };
  delete out.candidates;
  let at = 0;
  out.slots = payload.slots.map((s, i) => {
    const slot = { ...s, candidates: flat.slice(at, at + counts[i]) };
    at += counts[i];
    return slot;
  });
  return out;
}

/** The gzip codec's layout of a payload (for tools and tests; the compiler writes it in Python). */
export function toColumns(payload) {
  const flat = payload.slots.flatMap((s) => s.candidates);
  const cols = {};
  for (const f of CANDIDATE_FIELDS) cols[f] = flat.map((c) => (c[f] === undefined ? null : c[f]));
  let prev = 0;
  cols.content = cols.content.map((v) => {
    if (v === null) return null;
    const d = v - prev;
    prev = v;
    return d;
  });
  return { ...payload, slots: payload.slots.map((s) => ({ ...s, candidates: s.candidates.length })), candidates: cols };
}
