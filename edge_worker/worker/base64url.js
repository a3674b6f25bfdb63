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

/** Two characters' codes per 12 bits, as one 16-bit unit in the platform's byte order, so that a
 * Uint16Array's bytes are the text's ASCII codes in order. */
const LITTLE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const PAIRS = new Uint16Array(4096);
for (let i = 0; i < 4096; i++) PAIRS[i] = LITTLE ? CODES[i >> 6] | (CODES[i & 63] << 8) : (CODES[i >> 6] << 8) | CODES[i & 63];
const ASCII = new TextDecoder(); // the codes' text
/** The text's codes, reused (grown as needed): a cookie is encoded on every request with consent. */
let pairs = new Uint16Array(256);

/** The base64url text of `bytes`, without padding: three bytes at a time as two pairs of codes, the
 * codes decoded once into the text (ASCII: one native decode), the last one or two bytes appended. */
export function b64url(bytes) {
  const n = bytes.length;
  const whole = n - (n % 3);
  if (2 * (whole / 3) > pairs.length) pairs = new Uint16Array(2 * (whole / 3) + 64);
  let o = 0;
  for (let i = 0; i < whole; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    pairs[o++] = PAIRS[v >> 12];
    pairs[o++] = PAIRS[v & 4095];
  }
  const text = o === 0 ? "" : ASCII.decode(new Uint8Array(pairs.buffer, 0, 2 * o));
  if (whole === n) return text;
  const v = (bytes[whole] << 16) | (whole + 1 < n ? bytes[whole + 1] << 8 : 0);
  return text + ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + (whole + 1 < n ? ALPHABET[(v >> 6) & 63] : "");
}

/** Python's urlsafe_b64decode(body + padding), which skips characters outside the alphabet (`=`
 * included); null where it would fail (one character too many: a length of 4k + 1). A body whose
 * every character is in the alphabet (every cookie the worker and the server write) is read in one
 * pass; any other goes through `lenient`. */
export function b64urlDecode(body) {
  const len = body.length;
  if (len % 4 === 1) return lenient(body);
  const out = new Uint8Array((len * 3) >> 2);
  let o = 0;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    const a = body.charCodeAt(i), b = body.charCodeAt(i + 1), c = body.charCodeAt(i + 2), d = body.charCodeAt(i + 3);
    const v = (VALUES[a] << 18) | (VALUES[b] << 12) | (VALUES[c] << 6) | VALUES[d];
    if (v < 0 || (a | b | c | d) > 127) return lenient(body); // -1 (outside the alphabet) makes v negative
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  if (i < len) {
    const a = body.charCodeAt(i), b = body.charCodeAt(i + 1), c = len - i === 3 ? body.charCodeAt(i + 2) : 0x41; // "A": 0 bits
    const v = (VALUES[a] << 18) | (VALUES[b] << 12) | (VALUES[c] << 6);
    if (v < 0 || (a | b | c) > 127) return lenient(body);
    out[o++] = v >> 16;
    if (len - i === 3) out[o++] = (v >> 8) & 255;
  }
  return out;
}

/** b64urlDecode for any text: the characters outside the alphabet skipped first. */
function lenient(body) {
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
