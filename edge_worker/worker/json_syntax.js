// Where a request body stops being JSON, said as edge_server/json_syntax.py says it (the one
// definition: RFC 8259 text in UTF-8, no byte order mark, arrays and objects nested at most
// MAX_DEPTH deep, no lone surrogate escape, every number finite as a double). JSON.parse alone
// takes a lone surrogate escape, 1e400 as Infinity and any depth, where the server's orjson
// refuses them; its messages differ too. tests/vectors/bodies.json holds the cases both runtimes
// must answer alike.

/** Arrays and objects nested deeper than this are refused (orjson's own limit, on the server). */
export const MAX_DEPTH = 1024;

const isWs = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c) => c >= 0x30 && c <= 0x39;
const isHex = (c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const ASCII = new TextDecoder();
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]); // " \ / b f n r t

class Problem extends Error {
  constructor(what, at) {
    super(what);
    this.what = what;
    this.at = at;
  }
}

/** null for a JSON body (bytes), else "<what is wrong> at byte <n>" (n counted from 0). */
export function jsonProblem(b) {
  found.exactInts = false;
  const bad = invalidUtf8At(b);
  if (bad !== null) return `invalid UTF-8 at byte ${bad}`;
  try {
    check(b);
  } catch (e) {
    if (e instanceof Problem) return `${e.what} at byte ${e.at}`;
    throw e;
  }
  return null;
}

/** The start of the first ill-formed UTF-8 sequence (Unicode's table 3-7, Python's
 * UnicodeDecodeError.start), or null. */
function invalidUtf8At(b) {
  let i = 0;
  while (i < b.length) {
    const b0 = b[i];
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let len;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) len = 2;
    else if (b0 === 0xe0) [len, lo] = [3, 0xa0];
    else if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) len = 3;
    else if (b0 === 0xed) [len, hi] = [3, 0x9f];
    else if (b0 === 0xf0) [len, lo] = [4, 0x90];
    else if (b0 >= 0xf1 && b0 <= 0xf3) len = 4;
    else if (b0 === 0xf4) [len, hi] = [4, 0x8f];
    else return i;
    for (let k = 1; k < len; k++) {
      const c = b[i + k];
      if (c === undefined || (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf)) return i;
    }
    i += len;
  }
  return null;
}

function skip(b, i) {
  while (i < b.length && isWs(b[i])) i++;
  return i;
}

/** A problem at i: the end of the body if there is nothing left, else `what`. */
function expect(b, i, what) {
  throw new Problem(i >= b.length ? "unexpected end of the body" : what, i);
}

function hex4(b, j) {
  for (let k = j + 2; k < j + 6; k++) {
    if (k >= b.length) expect(b, k, "");
    if (!isHex(b[k])) throw new Problem("invalid \\u escape in a string", j);
  }
  return parseInt(String.fromCharCode(b[j + 2], b[j + 3], b[j + 4], b[j + 5]), 16);
}

/** The index after the string starting at b[i] === '"'. */
function string(b, i) {
  let j = i + 1;
  for (;;) {
    if (j >= b.length) expect(b, j, "");
    const c = b[j];
    if (c === 0x22) return j + 1;
    if (c < 0x20) throw new Problem("control character in a string (escape it)", j);
    if (c !== 0x5c) {
      j++;
      continue;
    }
    if (j + 1 >= b.length) expect(b, j + 1, "");
    const e = b[j + 1];
    if (ESCAPES.has(e)) {
      j += 2;
      continue;
    }
    if (e !== 0x75) throw new Problem("invalid escape in a string", j);
    const unit = hex4(b, j);
    if (unit >= 0xdc00 && unit <= 0xdfff) throw new Problem("lone surrogate escape in a string", j);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      if (b[j + 6] !== 0x5c || b[j + 7] !== 0x75) throw new Problem("lone surrogate escape in a string", j);
      const low = hex4(b, j + 6);
      if (!(low >= 0xdc00 && low <= 0xdfff)) throw new Problem("lone surrogate escape in a string", j);
      j += 12;
    } else {
      j += 6;
    }
  }
}

function digits(b, i) {
  while (i < b.length && isDigit(b[i])) i++;
  return i;
}

/** The index after the number starting at i; its value must be a finite double. */
function number(b, i) {
  const start = i;
  let j = i;
  if (b[j] === 0x2d) j++;
  if (j >= b.length || !isDigit(b[j])) expect(b, j, "invalid number");
  j = b[j] === 0x30 ? j + 1 : digits(b, j);
  if (j < b.length && b[j] === 0x2e) {
    if (j + 1 >= b.length || !isDigit(b[j + 1])) expect(b, j + 1, "invalid number");
    j = digits(b, j + 1);
  }
  if (j < b.length && (b[j] === 0x65 || b[j] === 0x45)) {
    j++;
    if (j < b.length && (b[j] === 0x2b || b[j] === 0x2d)) j++;
    if (j >= b.length || !isDigit(b[j])) expect(b, j, "invalid number");
    j = digits(b, j);
  }
  const text = ASCII.decode(b.subarray(start, j));
  if (!Number.isFinite(Number(text))) throw new Problem("number out of range", start);
  if (exactInt(text) !== null) found.exactInts = true;
  return j;
}

const TWO53 = 2n ** 53n;
/** An integer literal the server's parser keeps exact (orjson: an int in [-2^63, 2^64)) and a double
 * cannot hold (beyond ±2^53), as a BigInt; else null. */
function exactInt(text) {
  if (text.length < 16 || /[.eE]/.test(text)) return null;
  const v = BigInt(text);
  return (v > TWO53 || v < -TWO53) && v >= -(2n ** 63n) && v < 2n ** 64n ? v : null;
}

const found = { exactInts: false }; // what the last check() saw

const WORDS = ["true", "false", "null"].map((w) => Array.from(w, (c) => c.charCodeAt(0)));

function literal(b, i) {
  for (const word of WORDS) {
    if (b[i] !== word[0]) continue;
    for (let k = 0; k < word.length; k++) if (i + k >= b.length || b[i + k] !== word[k]) expect(b, i + k, "expected a JSON value");
    return i + word.length;
  }
  throw new Problem("expected a JSON value", i);
}

/** The index of the value after the key (and its ':') at i. */
function key(b, i) {
  if (i >= b.length || b[i] !== 0x22) expect(b, i, "expected a string key");
  i = skip(b, string(b, i));
  if (i >= b.length || b[i] !== 0x3a) expect(b, i, "expected ':'");
  return skip(b, i + 1);
}

/** Throw the first problem of b as JSON text; iterative, so any nesting is read. */
function check(b) {
  const stack = []; // the open arrays and objects: 0x5b [ or 0x7b {
  let i = skip(b, 0);
  for (;;) {
    // a value at i
    if (i >= b.length) expect(b, i, "");
    const c = b[i];
    if (c === 0x5b || c === 0x7b) {
      if (stack.length === MAX_DEPTH) throw new Problem(`arrays and objects nested deeper than ${MAX_DEPTH}`, i);
      stack.push(c);
      i = skip(b, i + 1);
      const close = c === 0x5b ? 0x5d : 0x7d;
      if (i < b.length && b[i] === close) {
        stack.pop();
        i++;
      } else {
        if (c === 0x7b) i = key(b, i);
        continue;
      }
    } else if (c === 0x22) {
      i = string(b, i);
    } else if (c === 0x2d || isDigit(c)) {
      i = number(b, i);
    } else {
      i = literal(b, i);
    }
    // after a value: a separator, a close, or the end
    for (;;) {
      i = skip(b, i);
      if (!stack.length) {
        if (i < b.length) throw new Problem("text after the JSON value", i);
        return;
      }
      const close = stack[stack.length - 1] === 0x5b ? 0x5d : 0x7d;
      if (i < b.length && b[i] === close) {
        stack.pop();
        i++;
        continue;
      }
      if (i < b.length && b[i] === 0x2c) {
        i = skip(b, i + 1);
        if (stack[stack.length - 1] === 0x7b) i = key(b, i);
        break;
      }
      expect(b, i, close === 0x5d ? "expected ',' or ']'" : "expected ',' or '}'");
    }
  }
}

const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** The value of a JSON body (`checked`: jsonProblem just found no problem with it), as the server's parser reads it: an
 * integer beyond ±2^53 that orjson keeps exact is a BigInt (JSON.parse would round it, so an int
 * signal of 2^53 + 1 or a double signal given as one would be judged differently). */
export function jsonValue(b, checked = false) {
  if (!checked && jsonProblem(b) !== null) throw new SyntaxError("not a JSON body (jsonProblem says why)");
  return found.exactInts ? build(b) : JSON.parse(UTF8.decode(b));
}

const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The value of `b` when JSON.parse alone reads it as orjson does, else undefined (the full check
 * then says what it is): valid UTF-8 (a BOM stays in and fails JSON.parse), no backslash (so no lone
 * surrogate escape), at most MAX_DEPTH brackets in all (so never nested deeper), and every number
 * finite and, if whole, within ±2^53 (so none that orjson reads exact or refuses). The common body
 * of a decide or an event costs one native decode and parse instead of two passes in JavaScript. */
export function plainJson(b) {
  if (b.indexOf(0x5c) !== -1) return undefined;
  if (b.length > MAX_DEPTH) {
    let open = 0;
    for (let i = 0; i < b.length; i++) if (b[i] === 0x5b || b[i] === 0x7b) open++;
    if (open > MAX_DEPTH) return undefined;
  }
  let v;
  try {
    v = JSON.parse(UTF8_STRICT.decode(b));
  } catch {
    return undefined;
  }
  return plainNumbers(v) ? v : undefined;
}

function plainNumbers(v) {
  const todo = [v];
  while (todo.length) {
    const x = todo.pop();
    if (typeof x === "number") {
      if (!Number.isFinite(x) || (Number.isInteger(x) && !Number.isSafeInteger(x))) return false;
    } else if (x !== null && typeof x === "object") {
      for (const k in x) todo.push(x[k]);
    }
  }
  return true;
}

/** JSON.parse with exact integers; iterative. `b` is valid JSON. */
function build(b) {
  const stack = []; // [container, key] of the open arrays and objects
  let i = skip(b, 0);
  let result;
  const put = (v) => {
    if (!stack.length) {
      result = v;
      return;
    }
    const top = stack[stack.length - 1];
    if (Array.isArray(top[0])) top[0].push(v);
    else Object.defineProperty(top[0], top[1], { value: v, writable: true, enumerable: true, configurable: true }); // "__proto__" too, as JSON.parse
  };
  const keyAt = () => {
    const end = string(b, i);
    stack[stack.length - 1][1] = JSON.parse(UTF8.decode(b.subarray(i, end)));
    i = skip(b, skip(b, end) + 1); // past the ':'
  };
  for (;;) {
    const c = b[i];
    if (c === 0x5b || c === 0x7b) {
      const container = c === 0x5b ? [] : {};
      put(container);
      stack.push([container, null]);
      i = skip(b, i + 1);
      if (b[i] === 0x5d || b[i] === 0x7d) {
        stack.pop();
        i++;
      } else {
        if (c === 0x7b) keyAt();
        continue;
      }
    } else if (c === 0x22) {
      const end = string(b, i);
      put(JSON.parse(UTF8.decode(b.subarray(i, end))));
      i = end;
    } else if (c === 0x2d || isDigit(c)) {
      const end = number(b, i);
      const text = ASCII.decode(b.subarray(i, end));
      put(exactInt(text) ?? Number(text));
      i = end;
    } else {
      const end = literal(b, i);
      put(c === 0x74 ? true : c === 0x66 ? false : null);
      i = end;
    }
    for (;;) {
      i = skip(b, i);
      if (!stack.length) return result;
      if (b[i] === 0x5d || b[i] === 0x7d) {
        stack.pop();
        i++;
        continue;
      }
      i = skip(b, i + 1); // a ','
      if (!Array.isArray(stack[stack.length - 1][0])) keyAt();
      break;
    }
  }
}
