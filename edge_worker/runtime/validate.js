// Shape validation of a verified payload before anything is prepared from it: the port of
// runtime/validate.py (same checks, same paths in the messages). Works on the raw decoded tree
// (msgpack.js): integers are numbers or BigInt, doubles are Float.

import { InvalidIR } from './errors.js';
import { ARITY, CATEGORIES, COMPREHENSIONS, LAYERS, MAX_NESTING, Op } from './format.js';
import { FUNCTIONS } from './functions.js';
import { Float, INVALID, makeConverter } from './signals.js';
import { TYPE_NAMES } from './values.js';
import { celFromRaw } from './raw.js';

function fail(path, msg) {
  return new InvalidIR(`payload.${path}: ${msg}; the bundle was written by an incompatible or faulty compiler - recompile it with this version of strata`);
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

export function validatePayload(p) {
  if (!isMap(p)) throw fail('', 'payload is not a map');
  req(p, 'name', 'str', '');
  for (const k of ['version', 'created', 'not_before', 'expires']) req(p, k, 'int', '');
  const records = req(p, 'types', 'map', '');
  for (const [rname, fields] of Object.entries(records)) {
    if (!isMap(fields) || !Object.values(fields).every((v) => typeof v === 'string')) {
      throw fail(`types.${rname}`, 'record types map field names to type strings');
    }
  }
  const signals = req(p, 'signals', 'list', '');
  signals.forEach((s, i) => {
    const path = `signals[${i}]`;
    req(s, 'name', 'str', path);
    const t = req(s, 'type', 'str', path);
    const cat = req(s, 'category', 'str', path);
    if (!CATEGORIES.includes(cat)) throw fail(path, `unknown category '${cat}'`);
    for (const bound of ['max_items', 'max_length']) {
      const v = get(s, bound);
      if (v !== null && !(isInt(v) && v >= 0 && v <= 1000000)) throw fail(`${path}.${bound}`, 'must be a non-negative integer');
    }
    let conv;
    try {
      conv = makeConverter(t, records, get(s, 'max_items'), get(s, 'max_length'));
    } catch {
      throw fail(`${path}.type`, `unknown or malformed type '${t.slice(0, 40)}'`);
    }
    const d = get(s, 'default');
    if (d !== null && conv(celFromRaw(d, true)) === INVALID) throw fail(`${path}.default`, `default does not conform to ${t.slice(0, 40)}`);
  });
  const goals = has(p, 'goals') ? p.goals : [];
  if (!Array.isArray(goals) || !goals.every((g) => typeof g === 'string')) throw fail('goals', 'must be a list of strings');
  const content = req(p, 'content', 'list', '');
  const nsig = signals.length;
  const ncontent = content.length;
  const segments = req(p, 'segments', 'list', '');
  segments.forEach((seg, i) => {
    const path = `segments[${i}]`;
    req(seg, 'id', 'str', path);
    const layer = req(seg, 'layer', 'int', path);
    if (!(layer >= 0 && layer < LAYERS.length)) throw fail(path, `layer ${layer} out of range`);
    req(seg, 'consent', 'bool', path);
    checkIr(req(seg, 'when', 'list', path), `${path}.when`, nsig, i, 0, 0);
  });
  const nseg = segments.length;
  const experiments = req(p, 'experiments', 'list', '');
  experiments.forEach((e, i) => {
    const path = `experiments[${i}]`;
    req(e, 'id', 'str', path);
    req(e, 'salt', 'str', path);
    const start = req(e, 'start', 'int', path);
    const end = req(e, 'end', 'int', path);
    if (!(start >= 0 && start <= end && end <= 10000)) throw fail(path, 'traffic range outside 0..10000');
    if (get(e, 'group') !== null && typeof e.group !== 'string') throw fail(`${path}.group`, 'expected string or nil');
    const variants = req(e, 'variants', 'list', path);
    if (variants.length === 0) throw fail(path, 'no variants');
    let total = 0;
    variants.forEach((v, j) => {
      const vp = `${path}.variants[${j}]`;
      if (!(Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && isInt(v[1]) && isInt(v[2]))) throw fail(vp, 'expected [id, weight, content]');
      if (!(v[2] >= 0 && v[2] < ncontent)) throw fail(vp, 'content index out of range');
      total += Number(v[1]);
    });
    if (total !== 10000) throw fail(path, `variant weights sum to ${total}, not 10000`);
  });
  const slots = req(p, 'slots', 'list', '');
  slots.forEach((sl, i) => {
    const path = `slots[${i}]`;
    req(sl, 'id', 'str', path);
    const d = req(sl, 'default', 'int', path);
    if (!(d >= 0 && d < ncontent)) throw fail(path, 'default content index out of range');
    req(sl, 'candidates', 'list', path).forEach((c, j) => {
      const cp = `${path}.candidates[${j}]`;
      req(c, 'id', 'str', cp);
      const layer = req(c, 'layer', 'int', cp);
      if (!(layer >= 0 && layer < LAYERS.length)) throw fail(cp, `layer ${layer} out of range`);
      req(c, 'consent', 'bool', cp);
      checkIr(req(c, 'when', 'list', cp), `${cp}.when`, nsig, nseg, 0, 0);
      const hasContent = get(c, 'content') !== null;
      const hasExp = get(c, 'experiment') !== null;
      if (hasContent === hasExp) throw fail(cp, 'needs exactly one of content and experiment');
      if (hasContent && !(isInt(c.content) && c.content >= 0 && c.content < ncontent)) throw fail(cp, 'content index out of range');
      if (hasExp && !(isInt(c.experiment) && c.experiment >= 0 && c.experiment < experiments.length)) throw fail(cp, 'experiment index out of range');
      const cap = get(c, 'cap');
      if (cap !== null && !(Array.isArray(cap) && cap.length === 2 && cap.every((x) => isInt(x) && x >= 0))) throw fail(cp, 'cap must be [per_session, cooldown_seconds]');
      const seg = get(c, 'segment');
      if (seg !== null && !(isInt(seg) && seg >= 0 && seg < nseg)) throw fail(cp, 'segment index out of range');
    });
  });
  const h = get(p, 'holdout');
  if (h !== null) {
    const bp = req(h, 'bp', 'int', 'holdout');
    req(h, 'salt', 'str', 'holdout');
    if (!(bp >= 0 && bp <= 10000)) throw fail('holdout.bp', 'out of range 0..10000');
  }
  const consent = req(p, 'consent', 'map', '');
  const without = has(consent, 'without') ? consent.without : 'contextual';
  if (without !== 'contextual' && without !== 'defaults') throw fail('consent.without', "must be 'contextual' or 'defaults'");
  for (const c of req(consent, 'requires', 'list', 'consent')) {
    if (!CATEGORIES.includes(c)) throw fail('consent.requires', `unknown category '${c}'`);
  }
}

function isLit(v) {
  return v === null || typeof v === 'boolean' || isInt(v) || v instanceof Float || typeof v === 'string' || v instanceof Uint8Array;
}

function checkIr(node, path, nsig, nseg, nvars, depth) {
  if (depth > MAX_NESTING) throw fail(path, `IR nested deeper than ${MAX_NESTING}`);
  if (!Array.isArray(node) || node.length === 0 || !isInt(node[0])) throw fail(path, 'IR node must be a non-empty array starting with an opcode');
  const op = Number(node[0]);
  node[0] = op;
  if (!has(ARITY, op)) throw fail(path, `unknown opcode ${op}`);
  const arity = ARITY[op];
  const n = node.length - 1;
  if ((typeof arity === 'number' && n !== arity) || (Array.isArray(arity) && !arity.includes(n))) {
    throw fail(path, `opcode ${op} takes ${Array.isArray(arity) ? `(${arity.join(', ')})` : arity} operands, got ${n}`);
  }
  const sub = depth + 1;
  const idx = (v, limit) => isInt(v) && v >= 0 && v < limit;
  switch (op) {
    case Op.LIT:
      if (!isLit(node[1])) throw fail(path, `literal of type ${typeOfRaw(node[1])}`);
      break;
    case Op.ULIT:
      if (!(isInt(node[1]) && node[1] >= 0 && BigInt(node[1]) < 2n ** 64n)) throw fail(path, 'uint literal out of range');
      break;
    case Op.TYPE:
      if (typeof node[1] !== 'string' || !TYPE_NAMES.includes(node[1])) throw fail(path, `unknown type ${JSON.stringify(node[1])}`);
      break;
    case Op.SIG:
    case Op.SIGHAS:
      if (!idx(node[1], nsig)) throw fail(path, 'signal index out of range');
      break;
    case Op.SEG:
      if (!idx(node[1], nseg)) throw fail(path, 'segment index out of range (segments may only use earlier segments)');
      break;
    case Op.VAR:
      if (!idx(node[1], nvars)) throw fail(path, 'comprehension variable out of scope');
      break;
    case Op.SEL:
    case Op.HAS:
      if (typeof node[2] !== 'string') throw fail(path, 'field name must be a string');
      checkIr(node[1], path, nsig, nseg, nvars, sub);
      break;
    case Op.CALL:
      if (n < 2 || typeof node[1] !== 'string' || !has(FUNCTIONS, node[1])) {
        throw fail(path, n >= 2 ? `unknown function ${JSON.stringify(node[1])}` : 'CALL needs a name and overload');
      }
      if (node[2] !== null && typeof node[2] !== 'string') throw fail(path, 'overload must be a string or nil');
      for (let j = 3; j < node.length; j++) checkIr(node[j], path, nsig, nseg, nvars, sub);
      break;
    case Op.COMP:
    case Op.COMP2: {
      if (typeof node[1] !== 'string' || !COMPREHENSIONS.includes(node[1])) throw fail(path, `unknown comprehension ${JSON.stringify(node[1])}`);
      checkIr(node[2], path, nsig, nseg, nvars, sub);
      const inner = nvars + (op === Op.COMP2 ? 2 : 1);
      for (let j = 3; j < node.length; j++) checkIr(node[j], path, nsig, nseg, inner, sub);
      break;
    }
    case Op.MAP:
      if (n % 2) throw fail(path, 'map needs key/value pairs');
      for (let j = 1; j < node.length; j++) checkIr(node[j], path, nsig, nseg, nvars, sub);
      break;
    default: // AND OR NOT COND LIST
      for (let j = 1; j < node.length; j++) checkIr(node[j], path, nsig, nseg, nvars, sub);
  }
}

/** Validate one expression's IR (no segments, no enclosing comprehension). */
export function validateIr(ir, nsig) {
  checkIr(ir, 'expr', nsig, 0, 0, 0);
}
