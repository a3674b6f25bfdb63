// CEL functions and operators on run-time values: the one function table of the JS runtime,
// keyed by the CALL names (and, for specialised fast paths, the overload ids) the IR uses.
// A port of runtime/functions.py; every message equals the Python one, because error messages
// appear in the explain trace and the two runtimes must agree bit for bit.
//
// Each function takes CEL values (values.js) and returns a value or throws CelError. They
// dispatch on run-time types, so they are correct for dyn operands; SPECIALISED holds exact
// shortcuts for argument types the checker proved.

import { regexEngine } from './regex_engine.js';
import {
  CelError, CelType, CelUint, INT64_MAX, UINT64_MAX, checkInt, checkUint, compareStrings, cpLength,
  cpToUnit, isBmp, kind, typeName, unitToCp,
} from './values.js';
import { repr, shortestDigits } from './python.js';

function isNum(v) {
  const t = typeof v;
  return t === 'bigint' || t === 'number' || v instanceof CelUint;
}

export function noOverload(name, ...args) {
  return new CelError(`no such overload: ${name}(${args.map(kind).join(', ')})`);
}

/** A numeric value as something JS compares exactly across kinds (BigInt vs number is exact). */
function numOf(v) {
  return v instanceof CelUint ? v.v : v;
}

/** Operands for a cross-type numeric comparison, as CEL defines it: an int or uint compared with a
 * double is converted to double first; int and uint compare exactly. */
function numPair(a, b) {
  const x = numOf(a);
  const y = numOf(b);
  if (typeof x === 'number' && typeof y !== 'number') return [x, Number(y)];
  if (typeof y === 'number' && typeof x !== 'number') return [Number(x), y];
  return [x, y];
}

function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function bytesCompare(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

// ------------------------------------------------------------------ equality and ordering
/** CEL heterogeneous equality; never throws. */
export function eq(a, b) {
  if (a === b) return true; // NaN !== NaN, as in CEL
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'boolean' || tb === 'boolean') return false;
  if (isNum(a) && isNum(b)) {
    const [x, y] = numPair(a, b);
    return x === y || (typeof x === 'bigint' && x == y); // eslint-disable-line eqeqeq
  }
  if (ta !== 'object' || tb !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!eq(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      const r = mapLookup(b, k);
      if (r === NOT_FOUND || !eq(v, r)) return false;
    }
    return true;
  }
  if (a instanceof Uint8Array) return b instanceof Uint8Array && bytesEqual(a, b);
  if (a instanceof CelType) return b instanceof CelType && a.name === b.name;
  return false;
}

export function ne(a, b) {
  return !eq(a, b);
}

function cmp(name, a, b) {
  // -1, 0, 1, or NaN when unordered (a NaN operand)
  if (isNum(a) && isNum(b)) {
    const [x, y] = numPair(a, b);
    return x < y ? -1 : x > y ? 1 : x == y ? 0 : NaN; // eslint-disable-line eqeqeq
  }
  const ta = typeof a;
  if (ta === typeof b) {
    if (ta === 'string') return compareStrings(a, b);
    if (ta === 'boolean') return a === b ? 0 : a ? 1 : -1;
    if (a instanceof Uint8Array && b instanceof Uint8Array) return bytesCompare(a, b);
  }
  throw noOverload(name, a, b);
}

export const lt = (a, b) => cmp('_<_', a, b) < 0;
export const le = (a, b) => cmp('_<=_', a, b) <= 0;
export const gt = (a, b) => cmp('_>_', a, b) > 0;
export const ge = (a, b) => cmp('_>=_', a, b) >= 0;

// ------------------------------------------------------------------ arithmetic
function concatBytes(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function add(a, b) {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt(a + b);
  if (ta === 'number' && tb === 'number') return a + b;
  if (ta === 'string' && tb === 'string') return a + b;
  if (a instanceof CelUint && b instanceof CelUint) return checkUint(a.v + b.v);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return concatBytes(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return a.concat(b);
  throw noOverload('_+_', a, b);
}

export function sub(a, b) {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt(a - b);
  if (ta === 'number' && tb === 'number') return a - b;
  if (a instanceof CelUint && b instanceof CelUint) return checkUint(a.v - b.v);
  throw noOverload('_-_', a, b);
}

export function mul(a, b) {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt(a * b);
  if (ta === 'number' && tb === 'number') return a * b;
  if (a instanceof CelUint && b instanceof CelUint) return checkUint(a.v * b.v);
  throw noOverload('_*_', a, b);
}

export function div(a, b) {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') {
    if (b === 0n) throw new CelError('division by zero');
    return checkInt(a / b); // BigInt division truncates towards zero, as CEL
  }
  if (a instanceof CelUint && b instanceof CelUint) {
    if (b.v === 0n) throw new CelError('division by zero');
    return new CelUint(a.v / b.v);
  }
  if (ta === 'number' && tb === 'number') return a / b; // IEEE: x/0 is +-Inf or NaN
  throw noOverload('_/_', a, b);
}

export function mod(a, b) {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') {
    if (b === 0n) throw new CelError('modulus by zero');
    return checkInt(a % b); // sign of the dividend, as CEL
  }
  if (a instanceof CelUint && b instanceof CelUint) {
    if (b.v === 0n) throw new CelError('modulus by zero');
    return new CelUint(a.v % b.v);
  }
  throw noOverload('_%_', a, b);
}

export function neg(a) {
  if (typeof a === 'bigint') return checkInt(-a);
  if (typeof a === 'number') return -a;
  throw noOverload('-_', a);
}

export function logicalNot(a) {
  if (typeof a === 'boolean') return !a;
  throw noOverload('!_', a);
}

// ------------------------------------------------------------------ containers
/** Returned by mapLookup when the key is absent. */
export const NOT_FOUND = Symbol('not found');

/** Find `key` in a CEL map with CEL key equality (1, 1u and 1.0 are the same key; true is not 1). */
export function mapLookup(m, key) {
  const tk = typeof key;
  if (tk === 'string' || tk === 'boolean') {
    const v = m.get(key);
    return v !== undefined || m.has(key) ? v : NOT_FOUND;
  }
  let n; // the key as an exact BigInt
  if (tk === 'bigint') n = key;
  else if (key instanceof CelUint) n = key.v;
  else if (tk === 'number') {
    if (!Number.isInteger(key)) return NOT_FOUND;
    n = BigInt(key);
  } else {
    throw new CelError(`unsupported map key type: ${kind(key)}`);
  }
  for (const [k, v] of m) {
    if (typeof k === 'bigint' ? k === n : k instanceof CelUint && k.v === n) return v;
  }
  return NOT_FOUND;
}

export function index(c, k) {
  if (Array.isArray(c)) {
    let i;
    if (typeof k === 'bigint') i = k;
    else if (k instanceof CelUint) i = k.v;
    else if (typeof k === 'number' && Number.isInteger(k)) i = BigInt(k);
    else throw noOverload('_[_]', c, k);
    if (i < 0n || i >= BigInt(c.length)) throw new CelError(`index out of range: ${i}`);
    return c[Number(i)];
  }
  if (c instanceof Map) {
    const v = mapLookup(c, k);
    if (v === NOT_FOUND) throw new CelError(`no such key: ${repr(k)}`);
    return v;
  }
  throw noOverload('_[_]', c, k);
}

export function select(c, field) {
  if (c instanceof Map) {
    const v = c.get(field);
    if (v === undefined && !c.has(field)) throw new CelError(`no such key: ${field}`);
    return v;
  }
  throw new CelError(`type '${kind(c)}' does not support field selection`);
}

export function hasField(c, field) {
  if (c instanceof Map) return c.has(field);
  throw new CelError(`invalid type for has(): ${kind(c)}`);
}

export function in_(a, c) {
  if (Array.isArray(c)) {
    for (let i = 0; i < c.length; i++) if (eq(a, c[i])) return true;
    return false;
  }
  if (c instanceof Map) {
    try {
      return mapLookup(c, a) !== NOT_FOUND;
    } catch (e) {
      if (e instanceof CelError) return false;
      throw e;
    }
  }
  throw noOverload('@in', a, c);
}

export function size(v) {
  if (typeof v === 'string') return BigInt(cpLength(v));
  if (Array.isArray(v) || v instanceof Uint8Array) return BigInt(v.length);
  if (v instanceof Map) return BigInt(v.size);
  throw noOverload('size', v);
}

export function makeMap(pairs) {
  const out = new Map();
  for (const [k, v] of pairs) {
    const tk = typeof k;
    if (!(tk === 'bigint' || tk === 'string' || tk === 'boolean' || k instanceof CelUint)) {
      throw new CelError(`unsupported map key type: ${kind(k)}`);
    }
    if (mapLookup(out, k) !== NOT_FOUND) throw new CelError(`Failed with repeated key: ${repr(k)}`);
    out.set(k, v);
  }
  return out;
}

// ------------------------------------------------------------------ strings
function strArgs(name, args) {
  for (const a of args) if (typeof a !== 'string') throw noOverload(name, ...args);
}

function intArg(name, v) {
  if (typeof v !== 'bigint') throw noOverload(name, v);
  return v;
}

export function contains(s, t) {
  strArgs('contains', [s, t]);
  return s.includes(t);
}

export function startsWith(s, p) {
  strArgs('startsWith', [s, p]);
  return s.startsWith(p);
}

export function endsWith(s, p) {
  strArgs('endsWith', [s, p]);
  return s.endsWith(p);
}

// Regular expressions (docs/runtime.md "Regular expressions", runtime/regex.py): RE2 syntax with
// RE2's default options, which are re2js's defaults (Perl classes and flags, case-sensitive, `.`
// not matching newline, ^/$ at the ends of the whole string, leftmost-first); the result is a
// bool, so submatches are never read; an unanchored search over code points. `\C` is refused,
// and so is a lone surrogate (in the pattern: invalid; in the string: an evaluation error).
// re2js builds rune programs, RE2 UTF-8 byte programs, so RE2's 8 MiB program limit cannot be
// reproduced exactly: MAX_INSTRUCTIONS is RE2's instruction budget for 8 MiB, applied to re2js's
// (never larger) program (docs/edge-worker.md, "Runtime parity").
const REGEX_CACHE = new Map();
const REGEX_CACHE_MAX = 1024;
/** RE2 compiles with max_mem * 2/3 and allows (that - sizeof(Prog)) / 4 / sizeof(Inst) instructions. */
export const MAX_INSTRUCTIONS = Math.floor(((8 << 20) * 2) / 3 / 4 / 8);
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

// re2js (Go's regexp/syntax) error texts -> RE2's (regexp.cc), so both runtimes name the same reason.
const RE2_TEXTS = [
  ['missing closing ]', 'missing ]'],
  ['missing closing )', 'missing )'],
  ['invalid repeat count', 'invalid repetition size'],
  ['invalid nested repetition operator', 'bad repetition operator'],
  ['missing argument to repetition operator', 'no argument for repetition operator'],
  ['trailing backslash at end of expression', 'trailing \\'],
  ['invalid or unsupported Perl syntax', 'invalid perl operator'],
  ['invalid named capture', 'invalid named capture group'],
];

function re2Text(message) {
  let m = String(message).replace(/^error parsing regexp: /, '');
  const tick = m.match(/^([^`]*): `([\s\S]*)`$/);
  let code = tick ? tick[1] : m;
  const arg = tick ? tick[2] : null;
  for (const [js, re2] of RE2_TEXTS) if (code === js) code = re2;
  // re2js reads `(?<` as a named group (it has an opt-in lookbehind); RE2 stops at the operator.
  if (code === 'invalid named capture group' && arg !== null && /^\(\?<[=!]/.test(arg)) return `invalid perl operator: ${arg.slice(0, 4)}`;
  m = arg === null ? code : `${code}: ${arg}`;
  return m;
}

/** True when the pattern uses `\C` outside `\Q...\E` literal text (runtime/regex.py). */
function hasAnyByteEscape(p) {
  let i = 0;
  const n = p.length;
  while (i < n - 1) {
    if (p[i] !== '\\') {
      i++;
      continue;
    }
    const nxt = p[i + 1];
    if (nxt === 'C') return true;
    if (nxt === 'Q') {
      const end = p.indexOf('\\E', i + 2);
      if (end < 0) return false;
      i = end + 2;
      continue;
    }
    i += 2;
  }
  return false;
}

function compileChecked(pattern) {
  if (LONE_SURROGATE.test(pattern)) return [null, 'the pattern is not valid Unicode (it holds a lone surrogate)'];
  if (hasAnyByteEscape(pattern)) return [null, '\\C (any byte) is not supported: it can split a character'];
  let rx;
  try {
    rx = regexEngine().compile(pattern);
  } catch (e) {
    return [null, re2Text(e && e.message)];
  }
  const prog = rx.re2Input && rx.re2Input.prog;
  if (prog && prog.inst && prog.inst.length > MAX_INSTRUCTIONS) return [null, 'pattern too large - compile failed'];
  return [rx, null];
}

/** The reason RE2 refuses `pattern`, or null when it is valid (runtime/regex.py regex_error). */
export function regexError(pattern) {
  return compileRegexOr(pattern)[1];
}

function compileRegexOr(pattern) {
  let r = REGEX_CACHE.get(pattern);
  if (r === undefined) {
    r = compileChecked(pattern);
    if (REGEX_CACHE.size < REGEX_CACHE_MAX) REGEX_CACHE.set(pattern, r);
  }
  return r;
}

export function compileRegex(pattern) {
  const [rx, err] = compileRegexOr(pattern);
  if (err !== null) throw new CelError(`invalid regular expression ${repr(pattern)}: ${err}`);
  return rx;
}

export function matches(s, pattern) {
  strArgs('matches', [s, pattern]);
  const rx = compileRegex(pattern);
  if (LONE_SURROGATE.test(s)) throw new CelError('matches: the string is not valid Unicode (it holds a lone surrogate)');
  return rx.test(s);
}

export function lowerAscii(s) {
  strArgs('lowerAscii', [s]);
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export function upperAscii(s) {
  strArgs('upperAscii', [s]);
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

// Unicode White_Space, as the CEL strings extension trims (all in the BMP).
const WS = new Set(
  '\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005' +
    '\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000',
);

export function trim(s) {
  strArgs('trim', [s]);
  let b = 0;
  let e = s.length;
  while (b < e && WS.has(s[b])) b++;
  while (e > b && WS.has(s[e - 1])) e--;
  return s.slice(b, e);
}

export function split(s, sep, n) {
  strArgs('split', [s, sep]);
  const limit = n === undefined ? -1n : intArg('split', n);
  if (limit === 0n) return [];
  if (limit === 1n) return [s];
  if (sep === '') {
    const chars = Array.from(s);
    if (limit > 0n && BigInt(chars.length) > limit) {
      const k = Number(limit) - 1;
      return chars.slice(0, k).concat([chars.slice(k).join('')]);
    }
    return chars;
  }
  if (limit < 0n) return s.split(sep);
  const out = [];
  let from = 0;
  let left = limit - 1n;
  while (left > 0n) {
    const i = s.indexOf(sep, from);
    if (i < 0) break;
    out.push(s.slice(from, i));
    from = i + sep.length;
    left--;
  }
  out.push(s.slice(from));
  return out;
}

export function replace(s, old, rep, n) {
  strArgs('replace', [s, old, rep]);
  let count = n === undefined ? -1n : intArg('replace', n);
  if (count === 0n) return s;
  if (old === '') {
    // Python inserts `rep` before every code point and at the end, `count` times at most.
    let out = '';
    for (const ch of s) {
      if (count !== 0n) {
        out += rep;
        count--;
      }
      out += ch;
    }
    if (count !== 0n) out += rep;
    return out;
  }
  if (count < 0n) return s.split(old).join(rep);
  let out = '';
  let from = 0;
  while (count > 0n) {
    const i = s.indexOf(old, from);
    if (i < 0) break;
    out += s.slice(from, i) + rep;
    from = i + old.length;
    count--;
  }
  return out + s.slice(from);
}

export function indexOf(s, t, start) {
  strArgs('indexOf', [s, t]);
  const i = start === undefined ? 0n : intArg('indexOf', start);
  const len = cpLength(s);
  if (i < 0n || i > BigInt(len)) throw new CelError(`index out of range: ${i}`);
  if (isBmp(s)) return BigInt(s.indexOf(t, Number(i)));
  const u = s.indexOf(t, cpToUnit(s, Number(i)));
  return BigInt(u < 0 ? -1 : unitToCp(s, u));
}

export function lastIndexOf(s, t, start) {
  strArgs('lastIndexOf', [s, t]);
  const bmp = isBmp(s);
  if (start === undefined) {
    const u = s.lastIndexOf(t);
    return BigInt(u < 0 || bmp ? u : unitToCp(s, u));
  }
  const i = intArg('lastIndexOf', start);
  if (i < 0n || i > BigInt(cpLength(s))) throw new CelError(`index out of range: ${i}`);
  const u = s.lastIndexOf(t, bmp ? Number(i) : cpToUnit(s, Number(i)));
  return BigInt(u < 0 || bmp ? u : unitToCp(s, u));
}

export function substring(s, start, end) {
  strArgs('substring', [s]);
  const b = intArg('substring', start);
  const len = BigInt(cpLength(s));
  const e = end === undefined ? len : intArg('substring', end);
  if (b < 0n || b > len) throw new CelError(`index out of range: ${b}`);
  if (e < 0n || e > len) throw new CelError(`index out of range: ${e}`);
  if (e < b) throw new CelError(`invalid substring range. start: ${b}, end: ${e}`);
  if (isBmp(s)) return s.slice(Number(b), Number(e));
  return s.slice(cpToUnit(s, Number(b)), cpToUnit(s, Number(e)));
}

export function charAt(s, i) {
  strArgs('charAt', [s]);
  const k = intArg('charAt', i);
  if (k < 0n || k > BigInt(cpLength(s))) throw new CelError(`index out of range: ${k}`);
  if (isBmp(s)) return s.slice(Number(k), Number(k) + 1);
  const u = cpToUnit(s, Number(k));
  return s.slice(u, cpToUnit(s, Number(k) + 1));
}

export function join(items, sep = '') {
  if (!Array.isArray(items) || typeof sep !== 'string') throw noOverload('join', items, sep);
  for (const x of items) if (typeof x !== 'string') throw noOverload('join', items, sep);
  return items.join(sep);
}

export function reverse(s) {
  strArgs('reverse', [s]);
  return Array.from(s).reverse().join('');
}

// ------------------------------------------------------------------ conversions
/** Format a double as CEL (Go's strconv 'g' with shortest precision) does. */
export function formatDouble(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const { digits, exp10 } = shortestDigits(v);
  const d = digits.replace(/0+$/, '') || '0';
  let out;
  if (exp10 < -4 || exp10 >= 21) {
    const m = d[0] + (d.length > 1 ? '.' + d.slice(1) : '');
    out = `${m}e${exp10 < 0 ? '-' : '+'}${String(Math.abs(exp10)).padStart(2, '0')}`;
  } else if (exp10 >= d.length - 1) {
    out = d + '0'.repeat(exp10 - d.length + 1);
  } else if (exp10 >= 0) {
    out = d.slice(0, exp10 + 1) + '.' + d.slice(exp10 + 1);
  } else {
    out = '0.' + '0'.repeat(-exp10 - 1) + d;
  }
  return (v < 0 ? '-' : '') + out;
}

const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function toString(v) {
  switch (typeof v) {
    case 'string': return v;
    case 'boolean': return v ? 'true' : 'false';
    case 'bigint': return String(v);
    case 'number': return formatDouble(v);
  }
  if (v instanceof CelUint) return String(v.v);
  if (v instanceof Uint8Array) {
    try {
      return UTF8_STRICT.decode(v);
    } catch {
      throw new CelError('invalid UTF-8 in bytes');
    }
  }
  throw noOverload('string', v);
}

const TWO63 = 2 ** 63;
const TWO64 = 2 ** 64;

export function toInt(v) {
  switch (typeof v) {
    case 'bigint': return v;
    case 'number':
      if (Number.isNaN(v) || !(-TWO63 < v && v < TWO63)) throw new CelError('range error converting double to int');
      return BigInt(Math.trunc(v));
    case 'string':
      if (!/^[+-]?[0-9]+$/.test(v)) throw new CelError(`cannot convert ${repr(v)} to int`);
      return checkInt(BigInt(v));
  }
  if (v instanceof CelUint) return checkInt(v.v);
  throw noOverload('int', v);
}

export function toUint(v) {
  switch (typeof v) {
    case 'bigint': return checkUint(v);
    case 'number':
      if (Number.isNaN(v) || !(-1 < v && v < TWO64)) throw new CelError('range error converting double to uint');
      return new CelUint(BigInt(Math.trunc(v)));
    case 'string':
      if (!/^\+?[0-9]+$/.test(v)) throw new CelError(`cannot convert ${repr(v)} to uint`);
      return checkUint(BigInt(v.replace('+', '')));
  }
  if (v instanceof CelUint) return v;
  throw noOverload('uint', v);
}

const FLOAT_RX = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$/i;

export function toDouble(v) {
  switch (typeof v) {
    case 'number': return v;
    case 'bigint': return Number(v);
    case 'string': {
      if (!FLOAT_RX.test(v)) throw new CelError(`cannot convert ${repr(v)} to double`);
      const low = v.toLowerCase().replace(/^\+/, '');
      if (low === 'nan' || low === '-nan') return NaN;
      if (low === 'inf' || low === 'infinity') return Infinity;
      if (low === '-inf' || low === '-infinity') return -Infinity;
      return Number(v);
    }
  }
  if (v instanceof CelUint) return Number(v.v);
  throw noOverload('double', v);
}

export function toBytes(v) {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return UTF8.encode(v);
  throw noOverload('bytes', v);
}

const BOOL_STRINGS = new Map([
  ['1', true], ['t', true], ['T', true], ['true', true], ['TRUE', true], ['True', true],
  ['0', false], ['f', false], ['F', false], ['false', false], ['FALSE', false], ['False', false],
]);

export function toBool(v) {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const b = BOOL_STRINGS.get(v);
    if (b === undefined) throw new CelError(`cannot convert ${repr(v)} to bool`);
    return b;
  }
  throw noOverload('bool', v);
}

export const dyn = (v) => v;

export const typeOf = (v) => new CelType(typeName(v));

// ------------------------------------------------------------------ math extension
function numericList(name, args) {
  const items = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  if (items.length === 0) throw new CelError(`${name}(): list must not be empty`);
  for (const x of items) if (!isNum(x)) throw noOverload(name, ...args);
  return items;
}

// Python compares int, uint and double exactly here (not CEL's double conversion); so does JS
// for BigInt against number.
export function greatest(...args) {
  const items = numericList('math.greatest', args);
  let best = items[0];
  for (let i = 1; i < items.length; i++) if (numOf(items[i]) > numOf(best)) best = items[i];
  return best;
}

export function least(...args) {
  const items = numericList('math.least', args);
  let best = items[0];
  for (let i = 1; i < items.length; i++) if (numOf(items[i]) < numOf(best)) best = items[i];
  return best;
}

export function mAbs(v) {
  if (typeof v === 'bigint') return checkInt(v < 0n ? -v : v);
  if (v instanceof CelUint) return v;
  if (typeof v === 'number') return Math.abs(v);
  throw noOverload('math.abs', v);
}

export function mSign(v) {
  if (typeof v === 'bigint') return v > 0n ? 1n : v < 0n ? -1n : 0n;
  if (v instanceof CelUint) return new CelUint(v.v > 0n ? 1n : 0n);
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return v;
    return v > 0 ? 1 : v < 0 ? -1 : 0;
  }
  throw noOverload('math.sign', v);
}

function doubleOnly(name, v) {
  if (typeof v !== 'number') throw noOverload(name, v);
  return v;
}

// Python's float(math.ceil(x)) goes through an int, so a zero result is +0.0, never -0.0.
const plusZero = (r) => (r === 0 ? 0 : r);
const finiteOr = (x, f) => (Number.isFinite(x) ? plusZero(f(x)) : x);

export const mCeil = (v) => finiteOr(doubleOnly('math.ceil', v), Math.ceil);
export const mFloor = (v) => finiteOr(doubleOnly('math.floor', v), Math.floor);
export const mTrunc = (v) => finiteOr(doubleOnly('math.trunc', v), Math.trunc);

export function mRound(v) {
  const x = doubleOnly('math.round', v);
  if (!Number.isFinite(x)) return x;
  const r = Math.floor(Math.abs(x) + 0.5);
  return x < 0 || Object.is(x, -0) ? -r : r;
}

export const mIsNaN = (v) => Number.isNaN(doubleOnly('math.isNaN', v));
export const mIsInf = (v) => {
  const x = doubleOnly('math.isInf', v);
  return !Number.isFinite(x) && !Number.isNaN(x);
};
export const mIsFinite = (v) => Number.isFinite(doubleOnly('math.isFinite', v));

function bits(name, a, b, f) {
  if (typeof a === 'bigint' && typeof b === 'bigint') return f(a, b);
  if (a instanceof CelUint && b instanceof CelUint) return new CelUint(f(a.v, b.v));
  throw noOverload(name, a, b);
}

export const bitAnd = (a, b) => bits('math.bitAnd', a, b, (x, y) => x & y);
export const bitOr = (a, b) => bits('math.bitOr', a, b, (x, y) => x | y);
export const bitXor = (a, b) => bits('math.bitXor', a, b, (x, y) => x ^ y);

export function bitNot(a) {
  if (typeof a === 'bigint') return ~a;
  if (a instanceof CelUint) return new CelUint(UINT64_MAX ^ a.v);
  throw noOverload('math.bitNot', a);
}

export function shiftLeft(a, n) {
  if (typeof n !== 'bigint' || !(typeof a === 'bigint' || a instanceof CelUint)) throw noOverload('math.bitShiftLeft', a, n);
  if (n < 0n) throw new CelError('math.bitShiftLeft() negative offset');
  const u = a instanceof CelUint;
  if (n >= 64n) return u ? new CelUint(0n) : 0n;
  if (u) return new CelUint((a.v << n) & UINT64_MAX);
  const r = (a << n) & UINT64_MAX;
  return r > INT64_MAX ? r - 2n ** 64n : r;
}

export function shiftRight(a, n) {
  if (typeof n !== 'bigint' || !(typeof a === 'bigint' || a instanceof CelUint)) throw noOverload('math.bitShiftRight', a, n);
  if (n < 0n) throw new CelError('math.bitShiftRight() negative offset');
  const u = a instanceof CelUint;
  if (n >= 64n) return u ? new CelUint(0n) : 0n;
  if (u) return new CelUint(a.v >> n);
  return a >= 0n ? (a & UINT64_MAX) >> n : (a + 2n ** 64n) >> n;
}

export function unknownFunction(name) {
  throw new CelError(`no such function: ${name}`);
}

/** Function name -> implementation, for dispatch from the IR (receiver calls pass the receiver
 * first). Same keys as runtime/functions.py FUNCTIONS; the CEL catalogue (issue #13) checks both. */
export const FUNCTIONS = {
  '_==_': eq,
  '_!=_': ne,
  '_<_': lt,
  '_<=_': le,
  '_>_': gt,
  '_>=_': ge,
  '_+_': add,
  '_-_': sub,
  '_*_': mul,
  '_/_': div,
  '_%_': mod,
  '-_': neg,
  '!_': logicalNot,
  '_[_]': index,
  '@in': in_,
  size,
  contains,
  startsWith,
  endsWith,
  matches,
  lowerAscii,
  upperAscii,
  trim,
  split,
  replace,
  indexOf,
  lastIndexOf,
  substring,
  charAt,
  join,
  reverse,
  int: toInt,
  uint: toUint,
  double: toDouble,
  string: toString,
  bytes: toBytes,
  bool: toBool,
  dyn,
  type: typeOf,
  'math.greatest': greatest,
  'math.least': least,
  'math.abs': mAbs,
  'math.sign': mSign,
  'math.ceil': mCeil,
  'math.floor': mFloor,
  'math.trunc': mTrunc,
  'math.round': mRound,
  'math.isNaN': mIsNaN,
  'math.isInf': mIsInf,
  'math.isFinite': mIsFinite,
  'math.bitAnd': bitAnd,
  'math.bitOr': bitOr,
  'math.bitXor': bitXor,
  'math.bitNot': bitNot,
  'math.bitShiftLeft': shiftLeft,
  'math.bitShiftRight': shiftRight,
  '@unknown': unknownFunction,
};

/** Argument counts each function takes, as [the Python implementation's name, its required
 * parameters, its maximum], so that a call with the wrong number of arguments (possible only in
 * unchecked expressions) fails with the Python runtime's message. Functions taking any number
 * (math.greatest, math.least, @unknown) are absent. */
export const ARITY = {
  '_==_': ['eq', ['a', 'b'], 2],
  '_!=_': ['ne', ['a', 'b'], 2],
  '_<_': ['lt', ['a', 'b'], 2],
  '_<=_': ['le', ['a', 'b'], 2],
  '_>_': ['gt', ['a', 'b'], 2],
  '_>=_': ['ge', ['a', 'b'], 2],
  '_+_': ['add', ['a', 'b'], 2],
  '_-_': ['sub', ['a', 'b'], 2],
  '_*_': ['mul', ['a', 'b'], 2],
  '_/_': ['div', ['a', 'b'], 2],
  '_%_': ['mod', ['a', 'b'], 2],
  '-_': ['neg', ['a'], 1],
  '!_': ['logical_not', ['a'], 1],
  '_[_]': ['index', ['c', 'k'], 2],
  '@in': ['in_', ['a', 'c'], 2],
  'size': ['size', ['v'], 1],
  'contains': ['contains', ['s', 'sub'], 2],
  'startsWith': ['starts_with', ['s', 'p'], 2],
  'endsWith': ['ends_with', ['s', 'p'], 2],
  'matches': ['matches', ['s', 'pattern'], 2],
  'lowerAscii': ['lower_ascii', ['s'], 1],
  'upperAscii': ['upper_ascii', ['s'], 1],
  'trim': ['trim', ['s'], 1],
  'split': ['split', ['s', 'sep'], 3],
  'replace': ['replace', ['s', 'old', 'new'], 4],
  'indexOf': ['index_of', ['s', 'sub'], 3],
  'lastIndexOf': ['last_index_of', ['s', 'sub'], 3],
  'substring': ['substring', ['s', 'start'], 3],
  'charAt': ['char_at', ['s', 'i'], 2],
  'join': ['join', ['items'], 2],
  'reverse': ['reverse', ['s'], 1],
  'int': ['to_int', ['v'], 1],
  'uint': ['to_uint', ['v'], 1],
  'double': ['to_double', ['v'], 1],
  'string': ['to_string', ['v'], 1],
  'bytes': ['to_bytes', ['v'], 1],
  'bool': ['to_bool', ['v'], 1],
  'dyn': ['dyn', ['v'], 1],
  'type': ['type_of', ['v'], 1],
  'math.abs': ['m_abs', ['v'], 1],
  'math.sign': ['m_sign', ['v'], 1],
  'math.ceil': ['m_ceil', ['v'], 1],
  'math.floor': ['m_floor', ['v'], 1],
  'math.trunc': ['m_trunc', ['v'], 1],
  'math.round': ['m_round', ['v'], 1],
  'math.isNaN': ['m_is_nan', ['v'], 1],
  'math.isInf': ['m_is_inf', ['v'], 1],
  'math.isFinite': ['m_is_finite', ['v'], 1],
  'math.bitAnd': ['bit_and', ['a', 'b'], 2],
  'math.bitOr': ['bit_or', ['a', 'b'], 2],
  'math.bitXor': ['bit_xor', ['a', 'b'], 2],
  'math.bitNot': ['bit_not', ['a'], 1],
  'math.bitShiftLeft': ['shift_left', ['a', 'n'], 2],
  'math.bitShiftRight': ['shift_right', ['a', 'n'], 2],
};

/** The error for a call of `name` with `n` arguments, or null when `n` is right. */
export function arityError(name, n) {
  const a = ARITY[name];
  if (a === undefined) return null;
  const [py, required, max] = a;
  if (n > max) {
    const takes = required.length === max ? `${max}` : `from ${required.length} to ${max}`;
    const s = max === 1 && required.length === 1 ? '' : 's';
    return `TypeError: ${py}() takes ${takes} positional argument${s} but ${n} ${n === 1 ? 'was' : 'were'} given`;
  }
  if (n < required.length) {
    const missing = required.slice(n).map((x) => `'${x}'`);
    const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing[missing.length - 1]}`;
    return `TypeError: ${py}() missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${list}`;
  }
  return null;
}

/** Exact shortcuts for `name|overload` when the checker proved the argument types: they cannot
 * throw and give the generic function's result for every value of those types. Operands are never
 * errors here (the caller checks). */
const same = (a, b) => a === b;
const differ = (a, b) => a !== b;
export const SPECIALISED = {
  '_==_|string,string': same,
  '_==_|int,int': same,
  '_==_|bool,bool': same,
  '_!=_|string,string': differ,
  '_!=_|int,int': differ,
  '_!=_|bool,bool': differ,
  '_<_|int,int': (a, b) => a < b,
  '_<=_|int,int': (a, b) => a <= b,
  '_>_|int,int': (a, b) => a > b,
  '_>=_|int,int': (a, b) => a >= b,
  '_<_|double,double': (a, b) => a < b,
  '_<=_|double,double': (a, b) => a <= b,
  '_>_|double,double': (a, b) => a > b,
  '_>=_|double,double': (a, b) => a >= b,
  '@in|string,list(string)': (a, c) => c.includes(a),
  '@in|int,list(int)': (a, c) => c.includes(a),
  'contains|string,string': (s, t) => s.includes(t),
  'startsWith|string,string': (s, t) => s.startsWith(t),
  'endsWith|string,string': (s, t) => s.endsWith(t),
};
