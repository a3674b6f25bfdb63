// Shape validation of a verified payload before anything is prepared from it: the port of
// runtime/validate.py (same checks, same paths in the messages). Works on the raw decoded tree
// (msgpack.js): integers are numbers or BigInt, doubles are Float.

import { InvalidIR } from './errors.js';
import {
  ARITY, BUCKETS, CATEGORIES, COMPREHENSIONS, FEATURE_KINDS, FIELDS, LAYERS, MAX_CALIBRATION_KNOTS, MAX_COEFFICIENT, MAX_CROSS_PARTS,
  MAX_FEATURES, MAX_FEATURE_ARGS, MAX_LEVELS,
  MAX_MODELS, MAX_IR_NODES, MAX_LITERAL_BYTES, MAX_LITERAL_ITEMS, MAX_NESTING, MAX_OVERLOAD_LENGTH, MAX_SIGNAL_BOUND, MAX_VARIANTS, Op,
} from './format.js';
import { Float, INVALID, makeConverter, splitArgs } from './signals.js';
import { CATALOGUE, accepts, arity as catalogueArity, resultType } from './stdlib.js';
import { TYPE_NAMES } from './values.js';
import { compare, repr, reprFloat, slice as pySlice } from './python.js';
import { celFromRaw } from './raw.js';
import { regexError } from './functions.js';
import { cpLen } from './budget.js';

function fail(path, msg) {
  return new InvalidIR(`${path ? `payload.${path}` : 'payload'}: ${msg}; the bundle was written by an incompatible or faulty compiler - recompile it with this version of strata`);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;


/** Refuse fields the format does not define (a newer or faulty compiler's). */
function only(d, allowed, path) {
  if (!isMap(d)) throw fail(path, 'expected a map');
  const extra = Object.keys(d).filter((k) => !allowed.includes(k));
  if (extra.length) {
    const shown = extra.sort(compare).slice(0, 3).map((k) => repr(k).slice(0, 40)).join(', ');
    throw fail(path, `unknown field(s) ${shown}: this runtime reads format fields ${allowed.slice().sort().join(', ')} only; upgrade the runtime or recompile with a matching compiler`);
  }
}

export const isInt = (v) => typeof v === 'number' || typeof v === 'bigint';
export const isMap = (v) => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
const has = (d, k) => Object.prototype.hasOwnProperty.call(d, k);

const CHECKS = {
  str: [(v) => typeof v === 'string', 'str'],
  int: [isInt, 'int'],
  bool: [(v) => typeof v === 'boolean', 'bool'],
  map: [isMap, 'dict'],
  list: [Array.isArray, 'list'],
};

function typeOfRaw(v) {
  if (v === null) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (isInt(v)) return 'int';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof Float) return 'float';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

function req(d, key, typ, path) {
  if (!isMap(d) || !has(d, key)) throw fail(path, `missing field '${key}'`);
  const v = d[key];
  const [ok, name] = CHECKS[typ];
  if (!ok(v)) throw fail(`${path}.${key}`, `expected ${name}, got ${typeOfRaw(v)}`);
  return v;
}

const get = (d, k) => (has(d, k) ? d[k] : null);
/** Is `v` an integer index below `limit`? */
const idx = (v, limit) => isInt(v) && v >= 0 && v < limit;

/** A segment's or candidate's layer: an int indexing LAYERS. */
function layerOf(d, path) {
  const layer = req(d, 'layer', 'int', path);
  if (!idx(layer, LAYERS.length)) throw fail(path, `layer ${layer} out of range`);
}

export function validatePayload(p) {
  if (!isMap(p)) throw fail('', 'payload is not a map');
  only(p, FIELDS.payload, '');
  req(p, 'name', 'str', '');
  for (const k of ['version', 'created', 'not_before', 'expires']) req(p, k, 'int', '');
  if (get(p, 'compiler') !== null && typeof p.compiler !== 'string') throw fail('compiler', 'expected string');
  const records = req(p, 'types', 'map', '');
  for (const [rname, fields] of Object.entries(records)) {
    if (!isMap(fields) || !Object.values(fields).every((v) => typeof v === 'string')) {
      throw fail(`types.${rname}`, 'record types map field names to type strings');
    }
  }
  const rtypes = {};
  for (const [rname, fields] of Object.entries(records)) {
    rtypes[rname] = {};
    for (const [fname, ftype] of Object.entries(fields)) {
      try {
        makeConverter(ftype, records);
        rtypes[rname][fname] = parseType(ftype, records);
      } catch {
        throw fail(`types.${rname}.${fname}`, `unknown or malformed type '${ftype.slice(0, 40)}'`);
      }
    }
  }
  const signals = req(p, 'signals', 'list', '');
  const sigtypes = [];
  signals.forEach((s, i) => {
    const path = `signals[${i}]`;
    only(s, FIELDS.signal, path);
    req(s, 'name', 'str', path);
    if (get(s, 'source') !== null && typeof s.source !== 'string') throw fail(`${path}.source`, 'expected string');
    const t = req(s, 'type', 'str', path);
    const cat = req(s, 'category', 'str', path);
    if (!CATEGORIES.includes(cat)) throw fail(path, `unknown category '${cat}'`);
    for (const bound of ['max_items', 'max_length']) {
      const v = get(s, bound);
      if (v !== null && !(isInt(v) && v >= 0 && v <= MAX_SIGNAL_BOUND)) throw fail(`${path}.${bound}`, 'must be a non-negative integer');
    }
    let conv;
    try {
      conv = makeConverter(t, records, get(s, 'max_items'), get(s, 'max_length'));
      sigtypes.push(parseType(t, records));
    } catch {
      throw fail(`${path}.type`, `unknown or malformed type '${t.slice(0, 40)}'`);
    }
    const d = get(s, 'default');
    if (d !== null && conv(celFromRaw(d, true)) === INVALID) throw fail(`${path}.default`, `default does not conform to ${t.slice(0, 40)}`);
  });
  const goals = has(p, 'goals') ? p.goals : [];
  if (!Array.isArray(goals) || !goals.every((g) => typeof g === 'string')) throw fail('goals', 'must be a list of strings');
  const content = req(p, 'content', 'list', '');
  const ncontent = content.length;
  const ir = new IRContext(sigtypes, rtypes);
  const models = has(p, 'models') ? p.models : null; // absent: no models; nil is refused, as Python
  if (has(p, 'models') && !Array.isArray(models)) throw fail('models', `expected a list, got ${typeOfRaw(models)}`);
  if (models !== null && models.length > MAX_MODELS) throw fail('models', `${models.length} models, more than ${MAX_MODELS}`);
  ir.nmodels = models === null ? 0 : models.length;
  const segments = req(p, 'segments', 'list', '');
  segments.forEach((seg, i) => {
    const path = `segments[${i}]`;
    only(seg, FIELDS.segment, path);
    req(seg, 'id', 'str', path);
    layerOf(seg, path);
    req(seg, 'consent', 'bool', path);
    ir.nseg = i; // a segment may use only earlier segments
    checkIr(req(seg, 'when', 'list', path), `${path}.when`, ir, [], 0);
  });
  const nseg = segments.length;
  ir.nseg = nseg;
  const experiments = req(p, 'experiments', 'list', '');
  experiments.forEach((e, i) => {
    const path = `experiments[${i}]`;
    only(e, FIELDS.experiment, path);
    req(e, 'id', 'str', path);
    req(e, 'salt', 'str', path);
    const start = req(e, 'start', 'int', path);
    const end = req(e, 'end', 'int', path);
    if (!(start >= 0 && start <= end && end <= BUCKETS)) throw fail(path, `traffic range outside 0..${BUCKETS}`);
    if (get(e, 'group') !== null && typeof e.group !== 'string') throw fail(`${path}.group`, 'expected string or nil');
    const variants = req(e, 'variants', 'list', path);
    if (variants.length === 0) throw fail(path, 'no variants');
    if (variants.length > MAX_VARIANTS) throw fail(path, `${variants.length} variants, more than ${MAX_VARIANTS}`);
    let total = 0;
    variants.forEach((v, j) => {
      const vp = `${path}.variants[${j}]`;
      if (!(Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && isInt(v[1]) && isInt(v[2]))) throw fail(vp, 'expected [id, weight, content]');
      if (!(v[1] >= 0 && v[1] <= BUCKETS)) throw fail(vp, `weight outside 0..${BUCKETS}`);
      if (!idx(v[2], ncontent)) throw fail(vp, 'content index out of range');
      total += Number(v[1]);
    });
    if (total !== BUCKETS) throw fail(path, `variant weights sum to ${total}, not ${BUCKETS}`);
  });
  const slots = req(p, 'slots', 'list', '');
  slots.forEach((sl, i) => {
    const path = `slots[${i}]`;
    only(sl, FIELDS.slot, path);
    req(sl, 'id', 'str', path);
    const d = req(sl, 'default', 'int', path);
    if (!idx(d, ncontent)) throw fail(path, 'default content index out of range');
    req(sl, 'candidates', 'list', path).forEach((c, j) => {
      const cp = `${path}.candidates[${j}]`;
      only(c, FIELDS.candidate, cp);
      req(c, 'id', 'str', cp);
      layerOf(c, cp);
      req(c, 'consent', 'bool', cp);
      checkIr(req(c, 'when', 'list', cp), `${cp}.when`, ir, [], 0);
      const hasContent = get(c, 'content') !== null;
      const hasExp = get(c, 'experiment') !== null;
      if (hasContent === hasExp) throw fail(cp, 'needs exactly one of content and experiment');
      if (hasContent && !idx(c.content, ncontent)) throw fail(cp, 'content index out of range');
      if (hasExp && !idx(c.experiment, experiments.length)) throw fail(cp, 'experiment index out of range');
      const cap = get(c, 'cap');
      if (cap !== null && !(Array.isArray(cap) && cap.length === 2 && cap.every((x) => isInt(x) && x >= 0))) throw fail(cp, 'cap must be [per_session, cooldown_seconds]');
      const seg = get(c, 'segment');
      if (seg !== null && !idx(seg, nseg)) throw fail(cp, 'segment index out of range');
    });
  });
  const h = get(p, 'holdout');
  if (h !== null) {
    only(h, FIELDS.holdout, 'holdout');
    const bp = req(h, 'bp', 'int', 'holdout');
    req(h, 'salt', 'str', 'holdout');
    if (!(bp >= 0 && bp <= BUCKETS)) throw fail('holdout.bp', `out of range 0..${BUCKETS}`);
  }
  if (models !== null) validateModels(models, sigtypes, goals, experiments, slots);
  const consent = req(p, 'consent', 'map', '');
  only(consent, FIELDS.consent, 'consent');
  const without = has(consent, 'without') ? consent.without : 'contextual';
  if (without !== 'contextual' && without !== 'defaults') throw fail('consent.without', "must be 'contextual' or 'defaults'");
  for (const c of req(consent, 'requires', 'list', 'consent')) {
    if (!CATEGORIES.includes(c)) throw fail('consent.requires', `unknown category '${c}'`);
  }
}

// ---------------------------------------------------------------------- models (IR op 18)
const HEX8 = /^[0-9a-f]{8}$/;
const MODEL_ID = /^[a-z_][a-z0-9_]*$/;
const UINT64_MAX = 2n ** 64n - 1n;

/** The (exact) numeric value of a raw number, or null: ints as BigInt, doubles as numbers. */
const rawNumber = (v) => (isInt(v) ? BigInt(v) : v instanceof Float ? v.v : null);

/** A bias or weight: a double (or an int) that is finite with |x| <= MAX_COEFFICIENT; refused in
 * runtime/validate.py's words (its _number): the value as Python prints it, the bound a float. */
function coefficient(v, path) {
  const x = finiteNumber(v, path);
  if (Math.abs(x) > MAX_COEFFICIENT) throw fail(path, `|${v instanceof Float ? reprFloat(x) : String(v)}| is over ${reprFloat(MAX_COEFFICIENT)}`);
}

/** A finite number (a double, or an int below 2^64 in magnitude), as runtime/validate.py's _number. */
function finiteNumber(v, path) {
  const x = v instanceof Float ? v.v : isInt(v) && BigInt(v) < 2n ** 64n && BigInt(v) > -(2n ** 64n) ? Number(v) : null;
  if (x === null || !Number.isFinite(x)) throw fail(path, 'expected a finite number');
  return x;
}

/** A cross feature (runtime/validate.py's _check_cross): 2..MAX_CROSS_PARTS distinct indexes of
 * earlier features that are no crosses, no signal; its levels are the product of theirs. */
function validateCross(f, path, earlier) {
  if (has(f, 'signal')) throw fail(`${path}.signal`, 'a cross feature reads no signal (its parts do)');
  const args = req(f, 'args', 'list', path);
  if (args.length < 2 || args.length > MAX_CROSS_PARTS || !args.every((a) => isInt(a)) || new Set(args.map((a) => Number(a))).size !== args.length) {
    throw fail(`${path}.args`, `a cross combines 2..${MAX_CROSS_PARTS} distinct features, by index`);
  }
  let n = 1;
  for (const a of args) {
    const e = earlier[Number(a)];
    if (!(a >= 0 && a < earlier.length) || e[0] === 'cross') throw fail(`${path}.args`, 'a cross combines features declared before it, and no cross');
    n *= e[1];
  }
  if (n > MAX_LEVELS) throw fail(`${path}.args`, `a cross of ${n} levels, more than ${MAX_LEVELS}`);
  const levels = req(f, 'levels', 'list', path);
  if (levels.length !== n || !levels.every((l) => typeof l === 'string') || new Set(levels).size !== levels.length) {
    throw fail(`${path}.levels`, `a cross of ${n} levels needs ${n} distinct level names`);
  }
  return n;
}

/** A set's calibration (runtime/validate.py's _check_calibration): 1..MAX_CALIBRATION_KNOTS knots
 * [z, l], z finite and strictly ascending, l (a calibrated log-odds) with |l| <= MAX_COEFFICIENT and non-decreasing. */
function validateCalibration(c, path) {
  if (!Array.isArray(c) || c.length < 1 || c.length > MAX_CALIBRATION_KNOTS) throw fail(path, `expected 1..${MAX_CALIBRATION_KNOTS} knots [z, l]`);
  let prev = null;
  c.forEach((k, j) => {
    if (!Array.isArray(k) || k.length !== 2 || k.some((x) => typeof x === 'boolean')) throw fail(`${path}[${j}]`, 'expected a knot [z, l] of two numbers');
    const z = finiteNumber(k[0], `${path}[${j}][0]`);
    coefficient(k[1], `${path}[${j}][1]`);
    const l = finiteNumber(k[1], `${path}[${j}][1]`);
    if (prev !== null && !(prev[0] < z && prev[1] <= l)) throw fail(`${path}[${j}]`, 'knots must be strictly ascending in z and non-decreasing in l');
    prev = [z, l];
  });
}

/** Does raw literal `v` have the (scalar) CEL type `t` (a parsed type; null = dyn: any scalar)? */
function literalOf(v, t) {
  if (t === null) return typeof v === 'string' || typeof v === 'boolean' || v instanceof Float || v instanceof Uint8Array || (isInt(v) && BigInt(v) >= INT64_MIN && BigInt(v) <= UINT64_MAX);
  switch (t[0]) {
    case 'string': return typeof v === 'string';
    case 'bool': return typeof v === 'boolean';
    case 'int': return isInt(v) && BigInt(v) >= INT64_MIN && BigInt(v) <= INT64_MAX;
    case 'uint': return isInt(v) && BigInt(v) >= 0n && BigInt(v) <= UINT64_MAX;
    case 'double': return v instanceof Float;
    case 'bytes': return v instanceof Uint8Array;
  }
  return false;
}

/** The literal's identity for the distinctness check. */
const litKey = (v) => (typeof v === 'string' ? `s${v}` : typeof v === 'boolean' ? `b${v}` : isInt(v) ? `i${BigInt(v)}` : `d${v.v}`);

function validateFeature(f, path, sigtypes, earlier = []) {
  only(f, FIELDS.feature, path);
  req(f, 'id', 'str', path);
  if (get(f, 'kind') === 'cross') return validateCross(f, path, earlier);
  const si = req(f, 'signal', 'int', path);
  if (!idx(si, sigtypes.length)) throw fail(`${path}.signal`, 'signal index out of range');
  const t = sigtypes[Number(si)];
  const kind = req(f, 'kind', 'str', path);
  const args = req(f, 'args', 'list', path);
  const base = t === null ? 'dyn' : t[0];
  let want;
  if (kind === 'values') {
    if (!['string', 'int', 'uint', 'bool'].includes(base)) throw fail(path, `a values feature needs a string, int, uint or bool signal, not ${typeStr(t)}`);
    if (args.length < 1 || args.length > MAX_FEATURE_ARGS) throw fail(`${path}.args`, `1..${MAX_FEATURE_ARGS} values, got ${args.length}`);
    if (!args.every((a) => literalOf(a, t))) throw fail(`${path}.args`, `values must be literals of the signal's type ${typeStr(t)}`);
    if (new Set(args.map(litKey)).size !== args.length) throw fail(`${path}.args`, 'values are not distinct');
    want = args.length + 2;
  } else if (kind === 'edges') {
    if (!['int', 'uint', 'double'].includes(base)) throw fail(path, `an edges feature needs an int, uint or double signal, not ${typeStr(t)}`);
    if (args.length < 1 || args.length > MAX_FEATURE_ARGS) throw fail(`${path}.args`, `1..${MAX_FEATURE_ARGS} edges, got ${args.length}`);
    const xs = args.map((a, j) => {
      if (typeof a === 'boolean') throw fail(`${path}.args[${j}]`, 'expected a number');
      const x = rawNumber(a);
      if (x === null || (typeof x === 'number' && !Number.isFinite(x)) || (typeof x === 'bigint' && (x >= 2n ** 64n || x <= -(2n ** 64n)))) throw fail(`${path}.args[${j}]`, 'expected a finite number');
      return x;
    });
    if (xs.some((x, j) => j > 0 && !(xs[j - 1] < x))) throw fail(`${path}.args`, 'edges are not strictly ascending');
    want = args.length + 2;
  } else if (kind === 'contains') {
    if (base !== 'list' && base !== 'map') throw fail(path, `a contains feature needs a list or map signal, not ${typeStr(t)}`);
    if (args.length !== 1 || !literalOf(args[0], t[1])) throw fail(`${path}.args`, `contains takes one literal of the ${base === 'list' ? 'element' : 'key'} type ${typeStr(t[1])}`);
    want = 3;
  } else {
    throw fail(`${path}.kind`, `unknown feature kind ${repr(pySlice(kind, 20))} (one of ${FEATURE_KINDS.join(', ')})`);
  }
  const levels = req(f, 'levels', 'list', path);
  if (levels.length !== want || want > MAX_LEVELS) throw fail(`${path}.levels`, `${levels.length} level names, a ${kind} feature of ${args.length} has ${want}`);
  if (!levels.every((l) => typeof l === 'string') || new Set(levels).size !== levels.length) throw fail(`${path}.levels`, 'level names must be distinct strings');
  return levels.length;
}

/** payload.models: every limit of docs/bundle-format.md ("models"), references included. */
function validateModels(models, sigtypes, goals, experiments, slots) {
  const ids = new Set();
  models.forEach((m, i) => {
    const path = `models[${i}]`;
    only(m, FIELDS.model, path);
    const id = req(m, 'id', 'str', path);
    if (!MODEL_ID.test(id) || ids.has(id)) throw fail(`${path}.id`, `model id ${repr(id.slice(0, 40))} is not a distinct lower-case identifier`);
    ids.add(id);
    const goal = req(m, 'goal', 'str', path);
    if (!goals.includes(goal)) throw fail(`${path}.goal`, `goal ${repr(pySlice(goal, 40))} is not one of the bundle's goals`);
    for (const k of ['spec', 'fit']) if (!HEX8.test(req(m, k, 'str', path))) throw fail(`${path}.${k}`, 'expected 8 lower-case hex digits');
    const features = req(m, 'features', 'list', path);
    if (features.length > MAX_FEATURES) throw fail(`${path}.features`, `${features.length} features, more than ${MAX_FEATURES}`);
    const earlier = [];
    features.forEach((f, j) => earlier.push([get(f, 'kind'), validateFeature(f, `${path}.features[${j}]`, sigtypes, earlier)]));
    const nlevels = earlier.map((e) => e[1]);
    if (new Set(features.map((f) => f.id)).size !== features.length) throw fail(`${path}.features`, 'feature ids are not distinct');
    const up = has(m, 'uplift') ? m.uplift : null;
    if (up !== null) {
      if (!isMap(up)) throw fail(`${path}.uplift`, 'expected a map or nil');
      if (has(up, 'experiment')) {
        only(up, FIELDS.uplift_experiment, `${path}.uplift`);
        const e = req(up, 'experiment', 'int', `${path}.uplift`);
        if (!idx(e, experiments.length)) throw fail(`${path}.uplift.experiment`, 'experiment index out of range');
        const vids = experiments[Number(e)].variants.map((v) => v[0]);
        const tr = req(up, 'treatment', 'str', `${path}.uplift`);
        const co = req(up, 'control', 'str', `${path}.uplift`);
        if (!vids.includes(tr) || !vids.includes(co) || tr === co) throw fail(`${path}.uplift`, 'treatment and control must be two different variants of the experiment');
      } else {
        only(up, FIELDS.uplift_rule, `${path}.uplift`);
        const sid = req(up, 'slot', 'str', `${path}.uplift`);
        const rid = req(up, 'rule', 'str', `${path}.uplift`);
        const slot = slots.find((sl) => sl.id === sid);
        if (slot === undefined || !slot.candidates.some((c) => c.id === rid && get(c, 'content') !== null)) throw fail(`${path}.uplift`, `no rule ${repr(pySlice(rid, 40))} in slot ${repr(pySlice(sid, 40))}`);
      }
    }
    const sets = req(m, 'sets', 'list', path);
    if (sets.length !== (up === null ? 1 : 2)) throw fail(`${path}.sets`, `a${up === null ? ' plain' : 'n uplift'} model has ${up === null ? 1 : 2} coefficient set(s), got ${sets.length}`);
    sets.forEach((s, j) => {
      const sp = `${path}.sets[${j}]`;
      only(s, FIELDS.set, sp);
      if (!has(s, 'bias')) throw fail(sp, "missing field 'bias'");
      coefficient(s.bias, `${sp}.bias`);
      const ws = req(s, 'weights', 'list', sp);
      if (ws.length !== features.length) throw fail(`${sp}.weights`, `${ws.length} weight lists for ${features.length} features`);
      ws.forEach((w, f) => {
        if (!Array.isArray(w) || w.length !== nlevels[f]) throw fail(`${sp}.weights[${f}]`, `expected ${nlevels[f]} weights, one per level`);
        w.forEach((x, l) => coefficient(x, `${sp}.weights[${f}][${l}]`));
      });
      if (has(s, 'calibration') && s.calibration !== null) validateCalibration(s.calibration, `${sp}.calibration`);
    });
  });
}

// ---------------------------------------------------------------------- static types of IR nodes
// A type as the validator tracks it: an array [base, ...params] such as ['list', ['string']], or
// null when only known as dyn (then nothing is assumed about it). runtime/validate.py's tuples.
const IDENT = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const STRING = ['string'];

/** 'list(map(string, int))' -> ['list', ['map', ['string'], ['int']]]; 'dyn' or a type parameter -> null. */
function parseType(text, records, depth = 0) {
  const t = text.trim();
  if (depth > 16 || t.length > 512) throw new Error('type nested too deeply');
  if (t === 'dyn') return null;
  if (TYPE_NAMES.includes(t) || has(records, t)) {
    if (t === 'list') return ['list', null];
    if (t === 'map') return ['map', null, null];
    return [t];
  }
  if (t.startsWith('list(') && t.endsWith(')')) {
    const args = splitArgs(t.slice(5, -1));
    if (args.length !== 1) throw new Error(`list takes one type: ${t.slice(0, 40)}`);
    return ['list', parseType(args[0], records, depth + 1)];
  }
  if (t.startsWith('map(') && t.endsWith(')')) {
    const args = splitArgs(t.slice(4, -1));
    if (args.length !== 2) throw new Error(`map takes two types: ${t.slice(0, 40)}`);
    return ['map', parseType(args[0], records, depth + 1), parseType(args[1], records, depth + 1)];
  }
  if (IDENT.test(t)) return null;
  throw new Error(`malformed type '${t.slice(0, 40)}'`);
}

function compatible(declared, actual) {
  if (declared === null || actual === null) return true;
  if (declared[0] !== actual[0] || declared.length !== actual.length) return false;
  for (let i = 1; i < declared.length; i++) if (!compatible(declared[i], actual[i])) return false;
  return true;
}

function typeStr(t) {
  if (t === null) return 'dyn';
  if (t[0] === 'list') return `list(${typeStr(t[1])})`;
  if (t[0] === 'map') return `map(${typeStr(t[1])}, ${typeStr(t[2])})`;
  return String(t[0]);
}

function litType(v) {
  if (v === null) return ['null_type'];
  if (typeof v === 'boolean') return ['bool'];
  if (isInt(v)) return ['int'];
  if (v instanceof Float) return ['double'];
  if (typeof v === 'string') return STRING;
  return ['bytes'];
}

const sameType = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The one type of all `types` when they agree and are all known, else null. */
function join(types) {
  if (types.length === 0 || types.some((t) => t === null)) return null;
  return types.every((t) => sameType(t, types[0])) ? types[0] : null;
}

class IRContext {
  constructor(signalTypes, records) {
    this.signalTypes = signalTypes;
    this.records = records;
    this.nseg = 0;
    this.nmodels = 0;
    this.nodes = 0;
    this.overloads = new Map();
  }

  declared(overload) {
    let types = this.overloads.get(overload);
    if (types === undefined) {
      types = splitArgs(overload).map((t) => parseType(t, this.records));
      this.overloads.set(overload, types);
    }
    return types;
  }
}

function staticType(node, ir, vars) {
  const op = node[0];
  switch (op) {
    case Op.LIT: return litType(node[1]);
    case Op.ULIT: return ['uint'];
    case Op.SIG: return ir.signalTypes[Number(node[1])];
    case Op.SCORE: return ['double'];
    case Op.SEG: case Op.HAS: case Op.SIGHAS: case Op.AND: case Op.OR: case Op.NOT: return ['bool'];
    case Op.TYPE: return ['type'];
    case Op.VAR: return vars[vars.length - 1 - Number(node[1])];
    case Op.SEL: return member(staticType(node[1], ir, vars), node[2], ir);
    case Op.COND: return join([staticType(node[2], ir, vars), staticType(node[3], ir, vars)]);
    case Op.LIST: return ['list', join(node.slice(1).map((a) => staticType(a, ir, vars)))];
    case Op.MAP: {
      const ks = [];
      const vs = [];
      for (let i = 1; i < node.length; i += 2) {
        ks.push(staticType(node[i], ir, vars));
        vs.push(staticType(node[i + 1], ir, vars));
      }
      return ['map', join(ks), join(vs)];
    }
    case Op.COMP: case Op.COMP2:
      if (['all', 'exists', 'exists_one'].includes(node[1])) return ['bool'];
      return node[1] === 'transformMap' ? ['map', null, null] : ['list', null];
    case Op.CALL: {
      const res = resultType(node[1], node[2]);
      if (res !== null) return parseType(res, ir.records);
      if (node[1] === '_[_]' && node.length === 5) {
        const c = staticType(node[3], ir, vars);
        if (c !== null && (c[0] === 'list' || c[0] === 'map')) return c[0] === 'list' ? c[1] : c[2];
      }
      return null;
    }
  }
  return null;
}

function member(container, field, ir) {
  if (container === null) return null;
  if (container[0] === 'map') return container[2];
  const fields = has(ir.records, container[0]) ? ir.records[container[0]] : null;
  return fields !== null && has(fields, field) ? fields[field] : null;
}

function rangeVars(rng, two) {
  if (rng === null || (rng[0] !== 'list' && rng[0] !== 'map')) return two ? [null, null] : [null];
  if (rng[0] === 'list') return two ? [['int'], rng[1]] : [rng[1]];
  return two ? [rng[1], rng[2]] : [rng[1]];
}

function isLit(v) {
  return v === null || typeof v === 'boolean' || isInt(v) || v instanceof Float || typeof v === 'string' || v instanceof Uint8Array;
}

function checkIr(node, path, ir, vars, depth) {
  if (depth > MAX_NESTING) throw fail(path, `IR nested deeper than ${MAX_NESTING}`);
  if (!Array.isArray(node) || node.length === 0 || !isInt(node[0])) throw fail(path, 'IR node must be a non-empty array starting with an opcode');
  ir.nodes += 1;
  if (ir.nodes > MAX_IR_NODES) throw fail(path, `more than ${MAX_IR_NODES} IR nodes in the bundle`);
  const op = Number(node[0]);
  node[0] = op;
  if (!has(ARITY, op)) throw fail(path, `unknown opcode ${op}`);
  const arity = ARITY[op];
  const n = node.length - 1;
  if ((typeof arity === 'number' && n !== arity) || (Array.isArray(arity) && !arity.includes(n))) {
    throw fail(path, `opcode ${op} takes ${Array.isArray(arity) ? `(${arity.join(', ')})` : arity} operands, got ${n}`);
  }
  const sub = depth + 1;
  switch (op) {
    case Op.LIT: {
      const v = node[1];
      if (!isLit(v)) throw fail(path, `literal of type ${typeOfRaw(v)}`);
      if (isInt(v) && !(BigInt(v) >= INT64_MIN && BigInt(v) <= INT64_MAX)) throw fail(path, 'int literal outside the 64-bit range');
      const len = typeof v === 'string' ? cpLen(v) : v instanceof Uint8Array ? v.length : 0;
      if (len > MAX_LITERAL_BYTES) throw fail(path, `literal of ${len} characters, over ${MAX_LITERAL_BYTES}`);
      break;
    }
    case Op.ULIT:
      if (!(isInt(node[1]) && node[1] >= 0 && BigInt(node[1]) < 2n ** 64n)) throw fail(path, 'uint literal out of range');
      break;
    case Op.TYPE:
      if (typeof node[1] !== 'string' || !TYPE_NAMES.includes(node[1])) throw fail(path, `unknown type ${JSON.stringify(node[1])}`);
      break;
    case Op.SIG:
    case Op.SIGHAS:
      if (!idx(node[1], ir.signalTypes.length)) throw fail(path, 'signal index out of range');
      break;
    case Op.SEG:
      if (!idx(node[1], ir.nseg)) throw fail(path, 'segment index out of range (segments may only use earlier segments)');
      break;
    case Op.SCORE:
      if (!idx(node[1], ir.nmodels)) throw fail(path, 'model index out of range');
      break;
    case Op.VAR:
      if (!idx(node[1], vars.length)) throw fail(path, 'comprehension variable out of scope');
      break;
    case Op.SEL:
    case Op.HAS:
      if (typeof node[2] !== 'string') throw fail(path, 'field name must be a string');
      checkIr(node[1], path, ir, vars, sub);
      break;
    case Op.CALL:
      if (n < 2 || typeof node[1] !== 'string' || !CATALOGUE.has(node[1])) {
        throw fail(path, n >= 2 ? `unknown function ${repr(pySlice(String(node[1]), 40))}` : 'CALL needs a name and overload');
      }
      if (node[2] !== null && typeof node[2] !== 'string') throw fail(path, 'overload must be a string or nil');
      for (let j = 3; j < node.length; j++) checkIr(node[j], path, ir, vars, sub);
      checkCall(node, path, ir, vars);
      break;
    case Op.COMP:
    case Op.COMP2: {
      if (typeof node[1] !== 'string' || !COMPREHENSIONS.includes(node[1])) throw fail(path, `unknown comprehension ${JSON.stringify(node[1])}`);
      checkIr(node[2], path, ir, vars, sub);
      const inner = vars.concat(rangeVars(staticType(node[2], ir, vars), op === Op.COMP2));
      for (let j = 3; j < node.length; j++) checkIr(node[j], path, ir, inner, sub);
      break;
    }
    case Op.MAP:
      if (n % 2) throw fail(path, 'map needs key/value pairs');
      if (n > 2 * MAX_LITERAL_ITEMS) throw fail(path, `map literal of more than ${MAX_LITERAL_ITEMS} entries`);
      for (let j = 1; j < node.length; j++) checkIr(node[j], path, ir, vars, sub);
      break;
    default: // AND OR NOT COND LIST
      if (n > MAX_LITERAL_ITEMS) throw fail(path, `list literal of more than ${MAX_LITERAL_ITEMS} items`);
      for (let j = 1; j < node.length; j++) checkIr(node[j], path, ir, vars, sub);
  }
}

/** `matches` takes a target and a literal pattern that RE2 accepts (runtime/regex.py). */
function checkMatches(node, path) {
  if (node.length !== 5) throw fail(path, 'matches takes a string and a pattern');
  const pat = node[4];
  if (!(Array.isArray(pat) && pat.length === 2 && pat[0] === Op.LIT && typeof pat[1] === 'string')) throw fail(path, 'the pattern of matches must be a string literal');
  const err = regexError(pat[1]);
  if (err !== null) throw fail(path, `invalid regular expression ${repr(pySlice(pat[1], 80))}: ${err}`);
}

/** The argument count fits the function, and a declared overload has one well-formed type per
 * argument, each matching what the IR proves about it. */
function checkCall(node, path, ir, vars) {
  const name = node[1];
  const ov = node[2];
  const args = node.slice(3);
  if (name === 'matches') checkMatches(node, path);
  const [least, most] = catalogueArity(name);
  if (args.length < least || (most !== null && args.length > most)) {
    throw fail(path, `${name} takes ${least}${most === least ? '' : `..${most !== null ? most : ''}`} arguments, got ${args.length}`);
  }
  if (ov === null) return;
  if (ov.length > MAX_OVERLOAD_LENGTH) throw fail(path, 'overload string too long');
  if (!accepts(name, ov, args.length)) throw fail(path, `${name} has no overload (${ov.slice(0, 60)}) for ${args.length} argument(s) (docs/cel-functions.md)`);
  let declared;
  try {
    declared = ir.declared(ov);
  } catch (e) {
    throw fail(path, `overload '${ov.slice(0, 60)}' of ${name}: ${e.message}`);
  }
  if (declared.length !== args.length) throw fail(path, `overload '${ov.slice(0, 60)}' of ${name} declares ${declared.length} argument types for ${args.length} arguments`);
  declared.forEach((want, i) => {
    if (!conforms(want, args[i], ir, vars)) {
      throw fail(path, `overload '${ov.slice(0, 60)}' of ${name}: argument ${i + 1} is ${typeStr(staticType(args[i], ir, vars))}, not ${typeStr(want)}`);
    }
  });
}

/** Does `node` match the declared type `want`? List and map literals are checked item by item. */
function conforms(want, node, ir, vars) {
  if (want === null) return true;
  const op = node[0];
  if (op === Op.LIST && want[0] === 'list') return node.slice(1).every((a) => conforms(want[1], a, ir, vars));
  if (op === Op.MAP && want[0] === 'map') {
    for (let i = 1; i < node.length; i += 2) if (!(conforms(want[1], node[i], ir, vars) && conforms(want[2], node[i + 1], ir, vars))) return false;
    return true;
  }
  return compatible(want, staticType(node, ir, vars));
}

/** Validate one expression's IR against its signal types (no segments, no enclosing
 * comprehension); `signalTypes` are type strings, or a count (every signal dyn). */
export function validateIr(irNode, signalTypes, records = {}) {
  const types = typeof signalTypes === 'number' ? new Array(signalTypes).fill(null) : signalTypes.map((t) => parseType(t, records));
  checkIr(irNode, 'expr', new IRContext(types, {}), [], 0);
}
