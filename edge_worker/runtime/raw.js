// Conversions of the raw decoded payload (msgpack.js) into the values the runtime uses.

import { Float } from './signals.js';
import { CelUint } from './values.js';

/** A raw value as a CEL-ready input for a signal converter: Floats stay marked (`keepFloat`),
 * so a double default of 1.0 is a double; maps become Maps. */
export function celFromRaw(v, keepFloat) {
  if (v instanceof Float) return keepFloat ? v : v.v;
  if (Array.isArray(v)) return v.map((x) => celFromRaw(x, keepFloat));
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof CelUint)) {
    return new Map(Object.entries(v).map(([k, x]) => [k, celFromRaw(x, keepFloat)]));
  }
  return v;
}

function isPlain(v) {
  if (v instanceof Float || typeof v === 'bigint') return false;
  if (Array.isArray(v)) return v.every(isPlain);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    for (const k in v) if (!isPlain(v[k])) return false;
  }
  return true;
}

/** A raw value as plain JSON-like data (content blocks): numbers for every number. A value that
 * is already plain is returned as is (most content has no doubles). */
export function plainFromRaw(v) {
  return isPlain(v) ? v : toPlain(v);
}

function toPlain(v) {
  if (v instanceof Float) return v.v;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x);
    return out;
  }
  return v;
}

/** An IR literal as a CEL value: integers become BigInt, Floats numbers. */
export function litFromRaw(v) {
  if (typeof v === 'number') return BigInt(v);
  if (v instanceof Float) return v.v;
  return v;
}

export const uintFromRaw = (v) => new CelUint(BigInt(v));
