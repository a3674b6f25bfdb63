// runtime/python.js against Python itself: tests/vectors/python.json is what real Python answers
// (tests/vectors/generate_python.py). A deviation is a failing test, never a skip.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as py from "../runtime/python.js";
import { UNIDATA_VERSION } from "../runtime/python_unicode.js";
import { readJson } from "./vectors.js";

const V = readJson("python.json");

function fromBits(hex) {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

test("python.js knows the Unicode version of the Python that wrote the vectors", () => {
  assert.equal(UNIDATA_VERSION, V.unidata_version, "regenerate edge_worker/runtime/python_unicode.js with the vectors' Python");
});

test("repr of a str is Python's: quotes, escapes, non-printables by Python's Unicode version", () => {
  for (const [s, expected] of V.repr_str) assert.equal(py.reprStr(s), expected, JSON.stringify(s));
  for (const [s, expected, ascii] of V.repr_str) {
    assert.equal(py.repr(s), expected);
    assert.equal(py.ascii(s), ascii, `ascii(${JSON.stringify(s)})`);
  }
});

test("repr of bytes is Python's", () => {
  for (const [b64, expected] of V.repr_bytes) assert.equal(py.repr(Uint8Array.from(Buffer.from(b64, "base64"))), expected, b64);
});

test("repr and format(x, 'g') of a float are Python's, bit for bit", () => {
  for (const [bits, repr, g, f3] of V.floats) {
    const x = fromBits(bits);
    assert.equal(py.reprFloat(x), repr, `repr of ${bits}`);
    assert.equal(py.formatG(x), g, `format(${repr}, 'g')`);
    assert.equal(py.formatFixed(x, 3), f3, `format(${repr}, '.3f')`);
  }
});

test("format(n, ',') of an int is Python's", () => {
  for (const [n, expected] of V.ints) {
    assert.equal(py.formatComma(BigInt(n)), expected);
    if (Number.isSafeInteger(Number(n))) assert.equal(py.formatComma(Number(n)), expected);
  }
});

test("repr and str of a JSON value are Python's for what json.loads gives", () => {
  for (const [v, repr, str] of V.repr_json) {
    assert.equal(py.repr(v, "json"), repr, JSON.stringify(v));
    assert.equal(py.str(v, "json"), str, JSON.stringify(v));
  }
});

test("len, s[:n] and strip are Python's on code points", () => {
  for (const [s, n, slices, stripped] of V.strings) {
    assert.equal(py.len(s), n, JSON.stringify(s));
    for (const [k, expected] of Object.entries(slices)) assert.equal(py.slice(s, Number(k)), expected, `${JSON.stringify(s)}[:${k}]`);
    assert.equal(py.strip(s), stripped, JSON.stringify(s));
  }
});

test("strings order by code point, as Python's", () => {
  for (const [a, b, expected] of V.compare) assert.equal(py.compare(a, b), expected, JSON.stringify([a, b]));
  assert.ok(V.compare.some(([a, b, e]) => e !== 0 && (a < b ? -1 : 1) !== e), "the vectors hold pairs UTF-16 orders the other way");
});

test("urlsplit, hostname and port are Python's, errors included", () => {
  for (const [url, expected] of V.urls) {
    let got;
    try {
      const p = py.urlsplit(url);
      let port;
      try {
        port = py.port(p.netloc);
      } catch (e) {
        if (!(e instanceof URIError)) throw e;
        port = { error: e.message };
      }
      got = { scheme: p.scheme, netloc: p.netloc, path: p.path, query: p.query, hostname: py.hostname(p.netloc), port, userinfo: py.hasUserinfo(p.netloc) };
    } catch (e) {
      if (!(e instanceof URIError)) throw e;
      got = { error: e.message };
    }
    assert.deepEqual(got, expected, JSON.stringify(url));
  }
});

test("unquote and parse_qsl are Python's", () => {
  for (const [q, expected] of V.unquote) assert.equal(py.unquote(q), expected, JSON.stringify(q));
  for (const [q, expected] of V.parse_qsl) assert.deepEqual(py.parseQsl(q), expected, JSON.stringify(q));
});
