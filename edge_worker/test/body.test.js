// A request body as the worker reads it (worker/body.js, worker/json_syntax.js) where JSON.parse
// alone would read it otherwise than the server's orjson: integers beyond ±2^53 stay exact (BigInt;
// orjson keeps ints in [-2^63, 2^64) exact), "__proto__" is an own key, any nesting up to the limit
// is read without recursion. What is refused, and in which words, is in tests/vectors/bodies.json.
import assert from "node:assert/strict";
import { test } from "node:test";

import { readJson } from "../worker/body.js";
import { MAX_DEPTH } from "../worker/json_syntax.js";
import { rng } from "./vectors.js";

const read = (text) => readJson(new Request("https://shop.example/v1/events", { method: "POST", body: text }), 1 << 20);

test("body: integers beyond ±2^53 are exact, as the server's parser keeps them; others are doubles", async () => {
  const random = rng(53);
  for (let k = 0; k < 200; k++) {
    const digits = 16 + Math.floor(random() * 5);
    let t = String(1 + Math.floor(random() * 9));
    while (t.length < digits) t += Math.floor(random() * 10);
    const n = (random() < 0.5 ? "-" : "") + t;
    const big = BigInt(n);
    const exact = (big > 2n ** 53n || big < -(2n ** 53n)) && big >= -(2n ** 63n) && big < 2n ** 64n;
    const got = await read(`{"signals": {"x": [${n}, ${n}.0, ${n}e0]}}`);
    assert.deepEqual(got.signals.x, [exact ? big : Number(n), Number(n), Number(n)], n);
  }
});

test("body: '__proto__' is an own key, and nesting up to the limit is read, whichever reader is used", async () => {
  for (const extra of ["", ", 9007199254740993"]) {
    const got = await read(`{"__proto__": {"polluted": 1}, "a": [${extra.slice(2) || 0}]}`);
    assert.ok(Object.hasOwn(got, "__proto__") && got.polluted === undefined && {}.polluted === undefined);
    const deep = await read("[".repeat(MAX_DEPTH - 1) + `[1${extra}]` + "]".repeat(MAX_DEPTH - 1));
    let v = deep;
    for (let d = 1; d < MAX_DEPTH; d++) v = v[0];
    assert.deepEqual(v, extra ? [1, 9007199254740993n] : [1]);
  }
});

test("body: the plain path (one JSON.parse) reads only what the full check passes, and reads it alike", async () => {
  const { jsonProblem, jsonValue, plainJson } = await import("../worker/json_syntax.js");
  const { readFileSync } = await import("node:fs");
  const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/bodies.json", import.meta.url), "utf8"));
  const enc = new TextEncoder();
  const bodies = vectors.cases.map((c) => Uint8Array.from(Buffer.from(c.body, "base64")));
  assert.ok(bodies.length >= 400);
  const random = rng(8259);
  const atoms = ["0", "-0", "1.5", "1e400", "-1e400", "9007199254740993", "9007199254740992", "1e16", "12.0e1", "true", "null",
    '"a"', '"\\ud800"', '"\\u00e9"', '"é"', '"\\n"', "[]", "{}", '"__proto__"'];
  const value = (depth) => {
    const r = random();
    if (depth > 3 || r < 0.4) return atoms[Math.floor(random() * atoms.length)];
    if (r < 0.7) return `[${Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1)).join(",")}]`;
    return `{${Array.from({ length: Math.floor(random() * 3) }, (_, i) => `"k${i}": ${value(depth + 1)}`).join(",")}}`;
  };
  for (let k = 0; k < 2000; k++) bodies.push(enc.encode(value(0)));
  for (const n of [MAX_DEPTH, MAX_DEPTH + 1]) bodies.push(enc.encode("[".repeat(n) + "]".repeat(n)));
  bodies.push(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d), Uint8Array.of(0x22, 0xff, 0x22));
  let plain = 0;
  let vectorsPlain = 0;
  for (const [i, b] of bodies.entries()) {
    const v = plainJson(b);
    if (v === undefined) continue;
    plain++;
    if (i < vectors.cases.length) vectorsPlain++;
    assert.equal(jsonProblem(b), null, Buffer.from(b).toString());
    assert.deepEqual(v, jsonValue(b, true), Buffer.from(b).toString());
  }
  assert.ok(plain > 500 && vectorsPlain > 10, `the plain path read ${plain} bodies, ${vectorsPlain} of the vectors`); // the common body takes it
});
