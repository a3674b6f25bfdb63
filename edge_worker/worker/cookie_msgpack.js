// The session cookie's msgpack (session.js), byte for byte what @msgpack/msgpack writes and the
// values it reads, without the library's generality on the common path: a cookie is unpacked and
// packed again on every request with consent, and its values are few kinds — ASCII strings, safe
// integers, booleans, byte strings, arrays and string-keyed maps. Anything else (a non-ASCII
// string, a 64-bit integer, an extension, a key that is not a string...) goes to the library
// itself, so the bytes and values are always the library's (test/cookie_msgpack.test.js fuzzes
// both ways against it).

import { Decoder, Encoder } from "@msgpack/msgpack";

// One library encoder and decoder per isolate (its encode() and decode() build new ones, with a
// 2 KB buffer, per call); encode() returns a copy, decode() clones itself if re-entered.
const packer = new Encoder();
const unpacker = new Decoder();

/** Not on the fast path: the library decides. */
const OTHER = new Error("not on the cookie's fast path");
const MAX_DEPTH = 32;

let out = new Uint8Array(1024);
let view = new DataView(out.buffer);
let pos = 0;

function room(n) {
  if (pos + n <= out.length) return;
  const bigger = new Uint8Array(Math.max(out.length * 2, pos + n));
  bigger.set(out.subarray(0, pos));
  out = bigger;
  view = new DataView(out.buffer);
}

function header(n, fix, fixMax, c8, c16, c32) {
  room(5);
  if (n < fixMax) out[pos++] = fix + n;
  else if (c8 !== 0 && n < 0x100) {
    out[pos++] = c8;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = c16;
    view.setUint16(pos, n);
    pos += 2;
  } else {
    out[pos++] = c32;
    view.setUint32(pos, n);
    pos += 4;
  }
}

function number(x) {
  room(9);
  if (Number.isSafeInteger(x) && x >= -0x80000000 && x < 0x100000000) {
    if (x >= 0) {
      if (x < 0x80) out[pos++] = x;
      else if (x < 0x100) {
        out[pos++] = 0xcc;
        out[pos++] = x;
      } else if (x < 0x10000) {
        out[pos++] = 0xcd;
        view.setUint16(pos, x);
        pos += 2;
      } else {
        out[pos++] = 0xce;
        view.setUint32(pos, x);
        pos += 4;
      }
    } else if (x >= -0x20) out[pos++] = 0xe0 | (x + 0x20);
    else if (x >= -0x80) {
      out[pos++] = 0xd0;
      view.setInt8(pos++, x);
    } else if (x >= -0x8000) {
      out[pos++] = 0xd1;
      view.setInt16(pos, x);
      pos += 2;
    } else {
      out[pos++] = 0xd2;
      view.setInt32(pos, x);
      pos += 4;
    }
  } else if (Number.isSafeInteger(x)) {
    throw OTHER; // a 64-bit integer
  } else {
    out[pos++] = 0xcb;
    view.setFloat64(pos, x);
    pos += 8;
  }
}

function string(s) {
  const n = s.length;
  header(n, 0xa0, 32, 0xd9, 0xda, 0xdb);
  room(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw OTHER; // UTF-8 of more than one byte: the library's encoder
    out[pos++] = c;
  }
}

function value(v, depth) {
  if (depth > MAX_DEPTH) throw OTHER;
  if (v === null || v === undefined) {
    room(1);
    out[pos++] = 0xc0;
  } else if (typeof v === "string") string(v);
  else if (typeof v === "number") number(v);
  else if (typeof v === "boolean") {
    room(1);
    out[pos++] = v ? 0xc3 : 0xc2;
  } else if (Array.isArray(v)) {
    header(v.length, 0x90, 16, 0, 0xdc, 0xdd);
    for (let i = 0; i < v.length; i++) value(v[i], depth + 1);
  } else if (v instanceof Uint8Array && v.constructor === Uint8Array) {
    const n = v.length;
    room(5 + n);
    if (n < 0x100) {
      out[pos++] = 0xc4;
      out[pos++] = n;
    } else if (n < 0x10000) {
      out[pos++] = 0xc5;
      view.setUint16(pos, n);
      pos += 2;
    } else {
      out[pos++] = 0xc6;
      view.setUint32(pos, n);
      pos += 4;
    }
    out.set(v, pos);
    pos += n;
  } else if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    const keys = Object.keys(v);
    header(keys.length, 0x80, 16, 0, 0xde, 0xdf);
    for (const k of keys) {
      string(k);
      value(v[k], depth + 1);
    }
  } else {
    throw OTHER; // a Date, another typed array, a bigint...
  }
}

/** The msgpack bytes of `v` (a copy, the caller's to keep), as the library's Encoder writes them. */
export function pack(v) {
  pos = 0;
  try {
    value(v, 1);
  } catch {
    return packer.encode(v); // OTHER, or whatever the library has to say about `v`
  }
  return out.slice(0, pos);
}

// ------------------------------------------------------------------ reading

let bytes = null;
let at = 0;
let data = null;

function need(n) {
  if (at + n > bytes.length) throw OTHER; // truncated: the library says how
}

function text(n) {
  need(n);
  let s = "";
  for (let i = at, end = at + n; i < end; i++) {
    const c = bytes[i];
    if (c > 0x7f) throw OTHER; // UTF-8 of more than one byte: the library's decoder
    s += String.fromCharCode(c);
  }
  at += n;
  return s;
}

function array(n, depth) {
  need(n); // at least a byte per element
  const a = new Array(n);
  for (let i = 0; i < n; i++) a[i] = read(depth + 1);
  return a;
}

function map(n, depth) {
  need(2 * n); // at least a byte per key and per value
  const o = {};
  for (let i = 0; i < n; i++) {
    need(1);
    const c = bytes[at];
    let k;
    if (c >= 0xa0 && c <= 0xbf) {
      at++;
      k = text(c - 0xa0);
    } else if (c === 0xd9) {
      need(2);
      const len = bytes[at + 1];
      at += 2;
      k = text(len);
    } else {
      throw OTHER; // a longer or non-string key
    }
    if (k === "__proto__") throw OTHER; // the library refuses it
    o[k] = read(depth + 1);
  }
  return o;
}

function read(depth) {
  if (depth > MAX_DEPTH) throw OTHER;
  need(1);
  const c = bytes[at++];
  if (c < 0x80) return c;
  if (c >= 0xe0) return c - 0x100;
  if (c >= 0xa0 && c <= 0xbf) return text(c - 0xa0);
  if (c >= 0x90 && c <= 0x9f) return array(c - 0x90, depth);
  if (c >= 0x80 && c <= 0x8f) return map(c - 0x80, depth);
  let n;
  switch (c) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: case 0xc5: case 0xc6:
      n = c === 0xc4 ? u8() : c === 0xc5 ? u16() : u32();
      need(n);
      at += n;
      return bytes.subarray(at - n, at); // a view, as the library's
    case 0xca: need(4); at += 4; return data.getFloat32(at - 4);
    case 0xcb: need(8); at += 8; return data.getFloat64(at - 8);
    case 0xcc: return u8();
    case 0xcd: return u16();
    case 0xce: return u32();
    case 0xd0: need(1); at += 1; return data.getInt8(at - 1);
    case 0xd1: need(2); at += 2; return data.getInt16(at - 2);
    case 0xd2: need(4); at += 4; return data.getInt32(at - 4);
    case 0xd9: return text(u8());
    case 0xda: return text(u16());
    case 0xdb: return text(u32());
    case 0xdc: return array(u16(), depth);
    case 0xdd: return array(u32(), depth);
    case 0xde: return map(u16(), depth);
    case 0xdf: return map(u32(), depth);
    default: throw OTHER; // 64-bit integers, extensions, the never-used byte
  }
}

function u8() {
  need(1);
  return bytes[at++];
}
function u16() {
  need(2);
  at += 2;
  return data.getUint16(at - 2);
}
function u32() {
  need(4);
  at += 4;
  return data.getUint32(at - 4);
}

/** The value of the msgpack bytes `raw` (a Uint8Array), as the library's Decoder reads them; throws
 * where it throws (extra bytes after the value included). Byte strings are views into `raw`. */
export function unpack(raw) {
  bytes = raw;
  data = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  at = 0;
  try {
    const v = read(1);
    if (at === raw.length) return v;
  } catch {
    // OTHER, or bytes that are not msgpack: the library's decoder reads or refuses them
  } finally {
    bytes = data = null;
  }
  return unpacker.decode(raw);
}
