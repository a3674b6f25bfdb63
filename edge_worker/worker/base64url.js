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
  return ascii(out, o);
}

/** The text of `n` character codes of the base64url alphabet: ASCII, so one native UTF-8 decode
 * gives it (~10× faster than String.fromCharCode.apply over a cookie's ~340 codes in node, and no
 * argument list built). */
const ASCII = new TextDecoder();
const ascii = (codes, n) => ASCII.decode(codes.subarray(0, n));

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
