// The request plumbing's shortcuts against what they stand for: session.js's `stripped` against
// py.strip (Python's str.strip) over generated text with every kind of whitespace at its ends, and
// measure.js's row keys against the parts joined.

import assert from "node:assert/strict";
import { test } from "node:test";
import * as py from "../runtime/python.js";
import { parseCookies, stripped } from "../worker/session.js";
import { rng } from "./vectors.js"; // the tests' one seeded generator

// ASCII and Unicode whitespace (Python's str.isspace: \x1c-\x1f and \x85 too), printable ASCII, and
// characters that are neither (controls, non-ASCII letters, a zero-width space, an astral pair)
const WHITE = [" ", "\t", "\n", "\v", "\f", "\r", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2000", "\u2028", "\u3000"];
const PLAIN = ["a", "1", "=", "!", "~", ";", '"'];
const OTHER = ["\x00", "\x7f", "é", "\u200b", "\ufeff", "😀"];

test("stripped_equals_py_strip_over_generated_text", () => {
  const r = rng(26);
  const any = (xs) => xs[Math.floor(r() * xs.length)];
  const run = (n) => Array.from({ length: Math.floor(r() * n) }, () => any(r() < 0.5 ? WHITE : r() < 0.8 ? PLAIN : OTHER)).join("");
  for (let i = 0; i < 20000; i++) {
    const s = run(4) + run(8) + run(4);
    const from = Math.floor(r() * (s.length + 1));
    const to = from + Math.floor(r() * (s.length - from + 1));
    assert.equal(stripped(s, from, to), py.strip(s.slice(from, to)), JSON.stringify([s, from, to]));
    assert.equal(stripped(s), py.strip(s), JSON.stringify(s));
  }
});

test("parse_cookies_reads_names_and_values_as_py_strip_would", () => {
  const r = rng(7);
  const any = (xs) => xs[Math.floor(r() * xs.length)];
  for (let i = 0; i < 3000; i++) {
    const parts = Array.from({ length: 1 + Math.floor(r() * 4) }, () => {
      const pad = () => Array.from({ length: Math.floor(r() * 3) }, () => any(WHITE)).join("");
      return pad() + any(["a", "b", "strata_session", "x\xa0", "é"]) + pad() + "=" + pad() + any(["1", "v.w", "", "x=y", "\x85z"]) + pad();
    });
    const header = parts.join(";");
    const want = new Map();
    for (const part of header.split(";")) {
      const eq = part.indexOf("=");
      const name = py.strip(part.slice(0, eq));
      if (name && !want.has(name)) want.set(name, py.strip(part.slice(eq + 1)));
    }
    assert.deepEqual([...parseCookies(header)], [...want], JSON.stringify(header));
  }
});

test("measurement_rows_are_keyed_as_their_parts_joined", async () => {
  // measure.js finds a row's key through a tree of Maps over its parts: the rows must be those the
  // parts joined by "\0" give, for parts that repeat, share prefixes, are empty or hold the separator
  const { Measurement } = await import("../worker/measure.js");
  const m = new Measurement();
  const want = { exposures: new Map(), decisions: new Map(), models: new Map(), cohorts: new Map(), conversions: new Map() };
  const bump = (map, parts, i = 0, by = 1, n = 1) => {
    const k = parts.join("\u0000");
    const row = map.get(k) ?? (n === 1 ? 0 : new Array(n).fill(0));
    if (n === 1) map.set(k, row + by);
    else {
      row[i] += by;
      map.set(k, row);
    }
  };
  const r = rng(11);
  const part = () => ["", "a", "b", "a\u0000b", "hero", "x/y", "1"][Math.floor(r() * 7)];
  const events = ["entered", "left", "converted"];
  for (let i = 0; i < 5000; i++) {
    const p = Array.from({ length: 5 }, part);
    switch (i % 5) {
      case 0: m.exposure(p[0], p[1], p[2], p[3]); bump(want.exposures, p.slice(0, 4)); break;
      case 1: m.decision(p[0], p[1], p[2]); bump(want.decisions, p.slice(0, 3)); break;
      case 2: { const e = events[i % 3]; m.modelEvent(...p, e); bump(want.models, p, events.indexOf(e), 1, 3); break; }
      case 3: m.cohort(p[0], p[1], p[2], p[3], p[4], 2); bump(want.cohorts, p, 0, 1, 2); bump(want.cohorts, p, 1, 2, 2); break;
      default: m.conversion(p[0], [p[1], p[2], p[3]], p[4], 1, true); bump(want.conversions, p); break;
    }
  }
  for (const name of Object.keys(want)) assert.deepEqual(new Map([...m[name]].sort()), new Map([...want[name]].sort()), name);
});

test("py.longer and py.shorter equal comparing py.len, over ASCII, astral and lone-surrogate text", () => {
  const next = rng(2612);
  const units = ["a", "é", "\u{1F600}", "\uD800", "\uDC00", "\u4E2D"];
  for (let i = 0; i < 3000; i++) {
    let s = "";
    const n = Math.floor(next() * 40);
    for (let j = 0; j < n; j++) s += units[Math.floor(next() * units.length)];
    const limit = Math.floor(next() * 30);
    assert.equal(py.longer(s, limit), py.len(s) > limit, JSON.stringify([s, limit]));
    assert.equal(py.shorter(s, limit), py.len(s) < limit, JSON.stringify([s, limit]));
  }
});
