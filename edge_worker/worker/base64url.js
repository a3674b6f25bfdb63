// base64url without padding, the session cookie's encoding (session.js), as Python's
// urlsafe_b64encode(...).rstrip(b"=") writes it and urlsafe_b64decode(body + padding) reads it.
// Table-driven, straight between bytes and character codes: no binary string, no atob/btoa, no
// replaceAll passes (a cookie is encoded and decoded on every request with consent).

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** Character code -> 6-bit value; -1 outside the alphabet. `+` and `/` read as `-` and `_`, as
 * urlsafe_b64decode translates them. */
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) VALUES[CODES[i]] = i;
VALUES[0x2b] = 62; // +
VALUES[0x2f] = 63; // /

/** The base64url text of `bytes`, without padding. */
export function b64url(bytes) {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil((n * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = CODES[v >> 18];
    out[o++] = CODES[(v >> 12) & 63];
    out[o++] = CODES[(v >> 6) & 63];
    out[o++] = CODES[v & 63];
  }
  if (i < n) {
    const v = (bytes[i] << 16) | (i + 1 < n ? bytes[i + 1] << 8 : 0);
    out[o++] = CODES[v >> 18];
    out[o++] = CODES[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = CODES[(v >> 6) & 63];
  }
  return latin1(out, o);
}

/** `n` character codes of `codes` as a string (in chunks: apply() has an argument limit). */
function latin1(codes, n) {
  let s = "";
  for (let at = 0; at < n; at += 8192) s += String.fromCharCode.apply(null, codes.subarray(at, Math.min(n, at + 8192)));
  return s;
}

/** Python's urlsafe_b64decode(body + padding), which skips characters outside the alphabet (`=`
 * included); null where it would fail (one character too many: a length of 4k + 1). */
export function b64urlDecode(body) {
  const vals = new Uint8Array(body.length);
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const v = c < 128 ? VALUES[c] : -1;
    if (v >= 0) vals[n++] = v;
  }
  if (n % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const v = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6) | vals[i + 3];
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (n - i === 2) out[o++] = ((vals[i] << 18) | (vals[i + 1] << 12)) >> 16;
  else if (n - i === 3) {
    const v = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6);
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
  }
  return out;
}
