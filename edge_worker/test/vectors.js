// Shared helpers for the tests: the language-neutral vectors in tests/vectors and the
// corpus's tagged value form (tests/conformance/data/README.md).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CelType, CelUint, Err } from '../runtime/values.js';

export const VECTORS = fileURLToPath(new URL('../../tests/vectors/', import.meta.url));
export const readVector = (rel) => readFileSync(VECTORS + rel);
export const readJson = (rel) => JSON.parse(readVector(rel).toString('utf8'));

const b64 = (s) => Uint8Array.from(Buffer.from(s, 'base64'));

export function fromTagged(t) {
  const [k, v] = Object.entries(t)[0];
  switch (k) {
    case 'int': return BigInt(v);
    case 'uint': return new CelUint(BigInt(v));
    case 'double': return v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v;
    case 'string': return v;
    case 'bool': return v;
    case 'null': return null;
    case 'bytes_b64': return b64(v);
    case 'list': return v.map(fromTagged);
    case 'map': return new Map(v.map(([a, b]) => [fromTagged(a), fromTagged(b)]));
    case 'type': return new CelType(v);
  }
  throw new Error(`unknown tag ${k}`);
}

/** CEL type and value both equal (1, 1u and 1.0 differ), NaN equals NaN, maps order-free. */
export function taggedEqual(exp, v) {
  const [k, e] = Object.entries(exp)[0];
  switch (k) {
    case 'int': return typeof v === 'bigint' && v === BigInt(e);
    case 'uint': return v instanceof CelUint && v.v === BigInt(e);
    case 'double': {
      if (typeof v !== 'number') return false;
      const x = fromTagged(exp);
      return Number.isNaN(x) ? Number.isNaN(v) : x === v;
    }
    case 'string': return v === e;
    case 'bool': return v === e;
    case 'null': return v === null;
    case 'bytes_b64': return v instanceof Uint8Array && Buffer.from(v).toString('base64') === e;
    case 'list': return Array.isArray(v) && v.length === e.length && e.every((x, i) => taggedEqual(x, v[i]));
    case 'map': {
      if (!(v instanceof Map) || v.size !== e.length) return false;
      const entries = Array.from(v.entries());
      return e.every(([ek, ev]) => entries.some(([ak, av]) => taggedEqual(ek, ak) && taggedEqual(ev, av)));
    }
    case 'type': return v instanceof CelType && v.name === e;
  }
  return false;
}

export function show(v) {
  if (v instanceof Err) return `Err(${v.message})`;
  return String(v instanceof CelUint ? `${v.v}u` : typeof v === 'bigint' ? `${v}n` : v instanceof Map ? `Map(${v.size})` : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x)));
}

/** A seeded generator (mulberry32): the same generated inputs every run. */
export function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The worker tests' bundle: TrailBlazer from the vectors, served from this URL by a fetch that
 * reaches no network (installed by {@link serveBundleOffline}). */
export const BUNDLE_URL = 'https://bundles.example/trailblazer.strata';
export const TRAILBLAZER_BUNDLE = readVector('bundles/trailblazer.strata');
export const VECTORS_PUB = readVector('vectors.pub').toString('utf8');

export function serveBundleOffline() {
  globalThis.fetch = async (url) => {
    if (String(url) === BUNDLE_URL) return new Response(TRAILBLAZER_BUNDLE, { headers: { etag: '"v100"' } });
    throw new TypeError(`no network in tests: ${url}`);
  };
}
