// Strata's one msgpack codec: the bundle's reader (runtime/verify.js) and the session's reader and
// writer (worker/cookie_msgpack.js). It reads and writes exactly what @msgpack/msgpack 3 reads and
// writes for every value and every byte string (test/msgpack.test.js fuzzes it against the library,
// kept as a devDependency oracle), with three refusals of its own, each the Python runtime's too:
//   - extension types (a bundle and a session have none; Python unpacks with max_ext_len=0);
//   - more than 1024 nested containers (Python's msgpack raises StackError past 1024);
//   - a Date or any other value the library would write as an extension.
// The bundle's flavour keeps what CEL needs and JSON loses: a float stays a Float (1.0 is a double,
// 1 an int), 64-bit integers are BigInt, and map keys must be strings (Python's strict_map_key).

import { Float } from './signals.js';

/** Containers nested deeper than this are refused (msgpack-python's stack: StackError). */
export const STACK_LIMIT = 1024;
const UINT32_MAX = 4294967295;

// ------------------------------------------------------------------ reading

/** A reader's options: `bundle` (Float, BigInt, string keys) or not (numbers, string or number
 * keys, as the library's defaults), and the library's length limits. */
let opt = null;
let bytes = null;
let view = null;
let at = 0;

function truncated() {
  return new RangeError('Insufficient data');
}

function need(n) {
  if (at + n > bytes.length) throw truncated();
}

function u8() {
  need(1);
  return bytes[at++];
}
function u16() {
  need(2);
  at += 2;
  return (bytes[at - 2] << 8) | bytes[at - 1];
}
function u32() {
  need(4);
  at += 4;
  return ((bytes[at - 4] << 24) | (bytes[at - 3] << 16) | (bytes[at - 2] << 8) | bytes[at - 1]) >>> 0;
}
/** A DataView of the input, made when a value first needs one (floats, signed and 64-bit
 * integers): a session cookie's unsigned integers and lengths are read from the bytes. */
function dv() {
  return (view ??= new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function tooLong(what, n, max) {
  return new RangeError(`msgpack ${what} of ${n} over the limit of ${max}`);
}

const textDecoder = new TextDecoder();

/** UTF-8 as the library decodes it: its own lax decoder up to 200 bytes (reading past a string's
 * end for a cut sequence, as it does), a TextDecoder beyond. */
function text(n) {
  if (n > opt.maxStr) throw tooLong('string', n, opt.maxStr);
  need(n);
  const start = at;
  const end = at + n;
  at = end;
  if (n > 200) return textDecoder.decode(bytes.subarray(start, end));
  let s = '';
  let i = start;
  while (i < end) {
    if (i + 4 <= end && (bytes[i] | bytes[i + 1] | bytes[i + 2] | bytes[i + 3]) < 0x80) { // four ASCII bytes at a time
      s += String.fromCharCode(bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]);
      i += 4;
      continue;
    }
    const b = bytes[i++];
    if (b < 0x80) {
      s += String.fromCharCode(b);
      continue;
    }
    let unit;
    if ((b & 0xe0) === 0xc0) unit = ((b & 0x1f) << 6) | (bytes[i++] & 0x3f);
    else if ((b & 0xf0) === 0xe0) unit = ((b & 0x1f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    else if ((b & 0xf8) === 0xf0) {
      unit = ((b & 0x07) << 18) | ((bytes[i++] & 0x3f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
      if (unit > 0xffff) {
        unit -= 0x10000;
        s += String.fromCharCode(((unit >>> 10) & 0x3ff) | 0xd800);
        unit = 0xdc00 | (unit & 0x3ff);
      }
    } else unit = b;
    s += String.fromCharCode(unit);
  }
  return s;
}

function binary(n) {
  if (n > opt.maxBin) throw tooLong('byte string', n, opt.maxBin);
  need(n);
  at += n;
  return bytes.subarray(at - n, at); // a view, as the library's
}

function array(n, depth) {
  if (n > opt.maxArray) throw tooLong('array', n, opt.maxArray);
  if (n > 0 && depth >= STACK_LIMIT) throw new RangeError(`msgpack nested deeper than ${STACK_LIMIT} containers`);
  need(n); // at least a byte per element
  const a = new Array(n);
  for (let i = 0; i < n; i++) a[i] = read(depth + 1);
  return a;
}

function map(n, depth) {
  if (n > opt.maxMap) throw tooLong('map', n, opt.maxMap);
  if (n > 0 && depth >= STACK_LIMIT) throw new RangeError(`msgpack nested deeper than ${STACK_LIMIT} containers`);
  need(2 * n); // at least a byte per key and per value
  const o = {};
  for (let i = 0; i < n; i++) {
    const k = read(depth + 1);
    if (k === '__proto__') throw new TypeError('msgpack map key __proto__ is not allowed');
    if (typeof k !== 'string' && (opt.bundle || typeof k !== 'number')) throw new TypeError(`msgpack map key is a ${typeof k}, not a string`);
    o[k] = read(depth + 1);
  }
  return o;
}

function extension(n) {
  throw new TypeError(`msgpack extension type (${n} bytes) is not part of a Strata bundle or session`);
}

function float(x) {
  return opt.bundle ? new Float(x) : x;
}

function int64(signed) {
  need(8);
  at += 8;
  const view = dv();
  if (opt.bundle) return signed ? view.getBigInt64(at - 8) : view.getBigUint64(at - 8);
  return (signed ? view.getInt32(at - 8) : view.getUint32(at - 8)) * 4294967296 + view.getUint32(at - 4);
}

function read(depth) {
  const c = u8();
  if (c < 0x80) return c;
  if (c >= 0xe0) return c - 0x100;
  if (c >= 0xa0 && c <= 0xbf) return text(c - 0xa0);
  if (c >= 0x90 && c <= 0x9f) return array(c - 0x90, depth);
  if (c <= 0x8f) return map(c - 0x80, depth);
  switch (c) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return binary(u8());
    case 0xc5: return binary(u16());
    case 0xc6: return binary(u32());
    case 0xc7: return extension(u8());
    case 0xc8: return extension(u16());
    case 0xc9: return extension(u32());
    case 0xca: need(4); at += 4; return float(dv().getFloat32(at - 4));
    case 0xcb: need(8); at += 8; return float(dv().getFloat64(at - 8));
    case 0xcc: return u8();
    case 0xcd: return u16();
    case 0xce: return u32();
    case 0xcf: return int64(false);
    case 0xd0: need(1); at += 1; return dv().getInt8(at - 1);
    case 0xd1: need(2); at += 2; return dv().getInt16(at - 2);
    case 0xd2: need(4); at += 4; return dv().getInt32(at - 4);
    case 0xd3: return int64(true);
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return extension(1 << (c - 0xd4));
    case 0xd9: return text(u8());
    case 0xda: return text(u16());
    case 0xdb: return text(u32());
    case 0xdc: return array(u16(), depth);
    case 0xdd: return array(u32(), depth);
    case 0xde: return map(u16(), depth);
    case 0xdf: return map(u32(), depth);
    default: throw new TypeError(`msgpack type byte 0x${c.toString(16)} is never used`);
  }
}

/** A reader of one msgpack value: `bundle` for the bundle's flavour, and the library's limits
 * (maxStr, maxBin, maxArray, maxMap). It throws on invalid or truncated data and on bytes after
 * the value. Byte strings are views into the input. */
export function reader({ bundle = false, maxStr = UINT32_MAX, maxBin = UINT32_MAX, maxArray = UINT32_MAX, maxMap = UINT32_MAX } = {}) {
  const options = { bundle, maxStr, maxBin, maxArray, maxMap };
  return (raw) => {
    const saved = bytes === null ? null : [opt, bytes, view, at]; // re-entered (a getter, a test): each call has its own state
    opt = options;
    bytes = raw;
    view = null;
    at = 0;
    try {
      const v = read(0);
      if (at !== raw.length) throw new RangeError(`Extra ${raw.length - at} of ${raw.length} byte(s) found at buffer[${at}]`);
      return v;
    } finally {
      if (saved === null) bytes = view = opt = null;
      else [opt, bytes, view, at] = saved;
    }
  };
}

/** Decode one bundle payload value (throws on invalid, truncated or trailing data). */
export const unpack = reader({ bundle: true });

// The envelope is unauthenticated: decoded with limits that fit exactly its fields (no arrays,
// maps of a few entries, short strings), as runtime/verify.py _unpack_envelope.
export const unpackEnvelope = reader({ bundle: true, maxStr: 256, maxArray: 0, maxMap: 10 });

// ------------------------------------------------------------------ writing

let out = new Uint8Array(1024);
let outView = new DataView(out.buffer);
let pos = 0;
const MAX_WRITE_DEPTH = 100; // the library's encoder

function room(n) {
  if (pos + n <= out.length) return;
  const bigger = new Uint8Array(Math.max(out.length * 2, pos + n));
  bigger.set(out.subarray(0, pos));
  out = bigger;
  outView = new DataView(out.buffer);
}

/** A type byte and a length: fixed (below fixMax), then 8 (if c8), 16 and 32 bits. */
function header(n, fix, fixMax, c8, c16, c32, what) {
  room(5);
  if (n < fixMax) out[pos++] = fix + n;
  else if (c8 !== 0 && n < 0x100) {
    out[pos++] = c8;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = c16;
    outView.setUint16(pos, n);
    pos += 2;
  } else if (n <= UINT32_MAX) {
    out[pos++] = c32;
    outView.setUint32(pos, n);
    pos += 4;
  } else throw new RangeError(`msgpack ${what} of ${n} is too long`);
}

function number(x) {
  room(9);
  if (!Number.isSafeInteger(x)) {
    out[pos++] = 0xcb;
    outView.setFloat64(pos, x);
    pos += 8;
  } else if (x >= 0) {
    if (x < 0x80) out[pos++] = x;
    else if (x < 0x100) {
      out[pos++] = 0xcc;
      out[pos++] = x;
    } else if (x < 0x10000) {
      out[pos++] = 0xcd;
      outView.setUint16(pos, x);
      pos += 2;
    } else if (x < 0x100000000) {
      out[pos++] = 0xce;
      outView.setUint32(pos, x);
      pos += 4;
    } else {
      out[pos++] = 0xcf;
      outView.setUint32(pos, x / 4294967296);
      outView.setUint32(pos + 4, x % 4294967296);
      pos += 8;
    }
  } else if (x >= -0x20) out[pos++] = 0xe0 | (x + 0x20);
  else if (x >= -0x80) {
    out[pos++] = 0xd0;
    outView.setInt8(pos++, x);
  } else if (x >= -0x8000) {
    out[pos++] = 0xd1;
    outView.setInt16(pos, x);
    pos += 2;
  } else if (x >= -0x80000000) {
    out[pos++] = 0xd2;
    outView.setInt32(pos, x);
    pos += 4;
  } else {
    out[pos++] = 0xd3;
    const high = Math.floor(x / 4294967296);
    outView.setInt32(pos, high);
    outView.setUint32(pos + 4, x - high * 4294967296);
    pos += 8;
  }
}

const textEncoder = new TextEncoder();

/** UTF-8 as the library encodes it: a lone surrogate is 3 bytes of its own in a string of up to
 * 50 units, U+FFFD (also 3 bytes) beyond, where the library uses a TextEncoder. */
function string(s) {
  const n = s.length;
  if (n < 0x10000) { // ASCII in one pass: its header follows from its length; anything else is rewritten below
    const start = pos;
    room(n + 3);
    if (n < 32) out[pos++] = 0xa0 + n;
    else if (n < 0x100) {
      out[pos++] = 0xd9;
      out[pos++] = n;
    } else {
      out[pos++] = 0xda;
      out[pos++] = n >> 8;
      out[pos++] = n & 0xff;
    }
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      out[pos + i] = c;
    }
    if (i === n) {
      pos += n;
      return;
    }
    pos = start;
  }
  let bytesLength = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytesLength += 1;
    else if (c < 0x800) bytesLength += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytesLength += 4;
      i++;
    } else bytesLength += 3;
  }
  header(bytesLength, 0xa0, 32, 0xd9, 0xda, 0xdb, 'string');
  room(bytesLength);
  if (n > 50) {
    textEncoder.encodeInto(s, out.subarray(pos, pos + bytesLength));
    pos += bytesLength;
    return;
  }
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
      continue;
    }
    if (c < 0x800) out[pos++] = 0xc0 | (c >> 6);
    else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff) + 0x10000;
        out[pos++] = 0xf0 | (c >> 18);
        out[pos++] = 0x80 | ((c >> 12) & 0x3f);
      } else out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
    }
    out[pos++] = 0x80 | (c & 0x3f);
  }
}

function value(v, depth) {
  if (depth > MAX_WRITE_DEPTH) throw new RangeError(`msgpack: objects nested deeper than ${MAX_WRITE_DEPTH}`);
  if (v === null || v === undefined) {
    room(1);
    out[pos++] = 0xc0;
  } else if (typeof v === 'boolean') {
    room(1);
    out[pos++] = v ? 0xc3 : 0xc2;
  } else if (typeof v === 'number') number(v);
  else if (typeof v === 'string') string(v);
  else if (Array.isArray(v)) {
    arrayHeader(v.length);
    for (const x of v) value(x, depth + 1);
  } else if (ArrayBuffer.isView(v)) {
    const n = v.byteLength;
    header(n, 0, 0, 0xc4, 0xc5, 0xc6, 'byte string');
    room(n);
    out.set(new Uint8Array(v.buffer, v.byteOffset, n), pos);
    pos += n;
  } else if (typeof v === 'object' && !(v instanceof Date)) {
    const keys = Object.keys(v);
    mapHeader(keys.length);
    for (const k of keys) {
      string(k);
      value(v[k], depth + 1);
    }
  } else {
    throw new TypeError(`msgpack cannot write ${v instanceof Date ? 'a Date' : `a ${typeof v}`}: a session holds numbers, strings, bytes, arrays and maps`);
  }
}

/** The msgpack bytes of `v` (a copy, the caller's to keep), as the library's Encoder writes them. */
export function pack(v) {
  pos = 0;
  value(v, 1);
  return out.slice(0, pos);
}

// A writer that knows its value's shape (session.js's Session.pack) writes it part by part, without
// building the value and without a type test per part: begin(), the parts in order, then written().
// The bytes are pack()'s for the value the parts make (test/cookie_msgpack.test.js fuzzes sessions
// both ways); a part of another type than its name says is written as pack() writes it.

/** Start a value written part by part (one at a time: the buffer is the module's). */
export function begin() {
  pos = 0;
}
/** The bytes written since begin() (a copy, the caller's to keep). */
export const written = () => out.slice(0, pos);
/** The header of an array of `n` values (the values follow). */
export function arrayHeader(n) {
  header(n, 0x90, 16, 0, 0xdc, 0xdd, 'array');
}
/** The header of a map of `n` entries (each key and value follow). */
function mapHeader(n) {
  header(n, 0x80, 16, 0, 0xde, 0xdf, 'map');
}
/** A string; any other value as pack() writes it. */
export const str = (s) => (typeof s === 'string' ? string(s) : value(s, 2));
/** A number; any other value as pack() writes it. */
export const num = (x) => (typeof x === 'number' ? number(x) : value(x, 2));
/** Any value, as pack() writes it inside an array. */
export const any = (v) => value(v, 2);
/** An array of strings (any other value as pack() writes it). */
export function strings(a) {
  if (!Array.isArray(a)) return value(a, 2);
  arrayHeader(a.length);
  for (let i = 0; i < a.length; i++) {
    if (typeof a[i] === 'string') string(a[i]);
    else value(a[i], 3);
  }
}
/** A map of string keys to arrays of values (the session's caps, exposures and model entries; any
 * other value as pack() writes it), `depth` containers deep (2: a field of the session's list). */
export function tables(m, depth = 2) {
  if (m === null || typeof m !== 'object' || Array.isArray(m) || ArrayBuffer.isView(m) || m instanceof Date) return value(m, depth);
  const keys = Object.keys(m);
  mapHeader(keys.length);
  for (let k = 0; k < keys.length; k++) {
    string(keys[k]);
    const e = m[keys[k]];
    if (!Array.isArray(e)) {
      value(e, depth + 1);
      continue;
    }
    arrayHeader(e.length);
    for (let i = 0; i < e.length; i++) {
      const x = e[i];
      if (typeof x === 'string') string(x);
      else if (typeof x === 'number') number(x);
      else value(x, depth + 2);
    }
  }
}
