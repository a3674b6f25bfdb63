// worker/cookie_msgpack.js against the library it stands in for (@msgpack/msgpack): for every class
// of value — the session cookie's own shapes, and values off its fast path (non-ASCII strings,
// 64-bit and negative integers, floats, long strings and containers, dates, other typed arrays) —
// the same bytes written, and for every class of input — those bytes, and the same bytes
// truncated, extended or with a byte changed — the same value read, or a refusal from both. (The
// Python server's agreement with both is tests/vectors/cookies.json, in worker_vectors.test.js.)
// One refusal is Strata's own: extension types (a Date written, an extension read) — a session has
// none, and the Python server refuses them too; there the library must have met an extension.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Decoder, Encoder, ExtData } from "@msgpack/msgpack";
import { pack, unpack } from "../worker/cookie_msgpack.js";
import { Session, packModels } from "../worker/session.js";
import { rng } from "./vectors.js";

const lib = { encode: (v) => new Encoder().encode(v), decode: (b) => new Decoder().decode(b) };
const rand = rng(2026);
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];
const ascii = (n) => Array.from({ length: n }, () => String.fromCharCode(0x20 + int(95))).join("");
const STRINGS = [() => ascii(int(8)), () => ascii(int(40)), () => ascii(200 + int(300)), () => ascii(40 + int(20)) + pick(["\ud800", "\udc00", "😀"]), () => ascii(int(6)) + pick(["é", "€", "😀", "\ud800", "\u0080"]) + ascii(int(4)), () => ""];
const NUMBERS = [() => int(128), () => int(1 << 16), () => int(2 ** 32), () => 2 ** 32 + int(1000), () => -int(40), () => -int(2 ** 31) - 1,
  () => -(2 ** 40), () => rand() * 1000 - 500, () => Number.MAX_SAFE_INTEGER + 2, () => pick([NaN, Infinity, -0, 0.5])];

/** A random value of any class, `depth` levels of containers at most. */
function anyValue(depth) {
  const kinds = ["str", "num", "bool", "nil", "bin"];
  if (depth > 0) kinds.push("arr", "map", "arr", "map");
  switch (pick(kinds)) {
    case "str": return pick(STRINGS)();
    case "num": return pick(NUMBERS)();
    case "bool": return rand() < 0.5;
    case "nil": return pick([null, undefined, new Date(1_800_000_000_000 + int(1000)), new Uint16Array([1, 2])]);
    case "bin": return Uint8Array.from({ length: pick([0, 3, 12, 300]) }, () => int(256));
    case "arr": return Array.from({ length: pick([0, 2, 5, 17]) }, () => anyValue(depth - 1));
    default: {
      const o = {};
      for (let i = pick([0, 1, 4, 18]); i > 0; i--) o[pick([ascii(1 + int(10)), ascii(40), "ké" + i, String(int(100))])] = anyValue(depth - 1);
      return o;
    }
  }
}

/** A random session as the worker keeps it: every field of the cookie's layout filled. */
function aSession() {
  const s = Session.fresh();
  s.touch(1_790_000_000 + int(1e7), 1800, pick(["", "newsletter", ascii(int(60))]), pick(["", "tents", "zelte-für-alle"]), rand() < 0.8);
  for (let i = int(4); i > 0; i--) s.caps[`slot${i}/rule${int(9)}`] = [1 + int(300), 1_790_000_000 + int(1e7)];
  for (let i = int(4); i > 0; i--) s.exposures[`exp-${i}`] = [pick(["a", "b", "control"]), int(70000), pick(["", "7300/2700", ascii(30)])];
  for (let i = int(6); i > 0; i--) s.firstExposure(`slot${i}|rule${int(9)}|${pick(["base", "exp"])}`);
  for (let i = int(3); i > 0; i--) s.firstConversion(pick(["purchase", "signup", "add_to_cart"]));
  for (let i = int(5); i > 0; i--) {
    s.models[`m${i}`] = [ascii(8), ascii(8), Uint8Array.from({ length: int(12) }, () => int(9)), 64 + int(128), rand() < 0.3, pick(["", "treatment", "control"]), pick([0, 0x2930 * 128 + 1 + int(99)])];
  }
  s.entered = int(16);
  s.lineage = Uint8Array.from({ length: 3 * int(5) }, () => int(256));
  return s;
}

/** `f(x)`, or the error's class when it throws. */
const outcome = (f, x) => {
  try {
    return { value: f(x) };
  } catch (e) {
    return { threw: e.constructor.name };
  }
};

/** Does `v` hold a value that msgpack writes as an extension (a Date), or one read from it? */
function hasExtension(v) {
  if (v instanceof Date || v instanceof ExtData) return true;
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return false;
  return Object.values(v).some(hasExtension);
}

function sameRead(bytes, what) {
  const mine = outcome(unpack, bytes);
  const theirs = outcome(lib.decode, bytes);
  if ("threw" in mine && "value" in theirs && hasExtension(theirs.value)) return; // Strata refuses extensions
  assert.equal("threw" in mine, "threw" in theirs, `${what}: one reads, the other refuses`);
  if ("value" in mine) assert.deepEqual(mine.value, theirs.value, what);
}

test("cookie_msgpack: sessions of every shape are written byte for byte as the library writes them, and read back as it reads them", () => {
  for (let i = 0; i < 400; i++) {
    const s = aSession();
    const fields = [s.sid, s.visitCount, s.pageViews, s.totalPageViews, s.firstSeen, s.lastSeen, s.recentCategories, s.utmSource, s.purchased,
      s.caps, s.exposures, s.shown, s.converted, s.visitNonce, s.models, s.entered, s.lineage];
    const bytes = pack(fields);
    assert.deepEqual(bytes, lib.encode(fields), `session ${i}`);
    assert.deepEqual(s.pack(), bytes);
    sameRead(bytes, `session ${i}`);
    assert.ok(Session.unpack(bytes) !== null, `session ${i} reads back`);
  }
});

// At the edges of every msgpack form a session's fields take: strings whose UTF-8 length is either
// side of fixstr/str8/str16 (ASCII, or with a non-ASCII character, an astral pair or a lone surrogate
// anywhere), integers either side of every integer form, floats, and fields of another type than the
// session writes (Session.pack's writer must write those as pack() does too).
const EDGE_LENGTHS = [0, 1, 30, 31, 32, 33, 50, 51, 254, 255, 256, 257, 65534, 65535, 65536, 65537];
const EDGE_INTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1];
/** A string at one of the edges; the str16/str32 edges (64 KiB) one time in 40, which still reaches
 * them in most sessions' dozens of strings without writing megabytes per session. */
const edgeString = () => {
  const n = rand() < 0.025 ? pick(EDGE_LENGTHS.slice(-4)) : pick(EDGE_LENGTHS.slice(0, -4));
  const s = ascii(n);
  if (n === 0 || rand() < 0.5) return s;
  const at = int(n);
  return s.slice(0, at) + pick(["é", "€", "😀", "\ud800", "\udc00", "\u0080", "\u07ff", "\u0800"]) + s.slice(at + 1);
};
const edgeNumber = () => (rand() < 0.8 ? pick(EDGE_INTS) + pick([0, 0, -1, 1]) : pick([0.5, -1.25, 1e300, NaN, Infinity, -0, 2 ** 53 + 2]));
/** Arrays nested about as deep as the writer's limit (pack() refuses more than 100 containers). */
const deep = () => {
  let v = [];
  for (let i = 94 + int(8); i > 0; i--) v = [v];
  return v;
};
const oddValue = () => pick([null, undefined, 1, "x", true, [], {}, Uint8Array.of(1), [1, "a"], { a: [1] }, new Uint16Array([7]), deep()]);

test("cookie_msgpack: Session.pack writes its 17 fields' bytes as pack() and the library write the list, at every form's edges and with fields of other types", () => {
  let long = 0; // sessions that wrote a string at the str16/str32 edges
  for (let i = 0; i < 1500; i++) {
    const s = aSession();
    const put = (f) => (rand() < 0.25 ? f() : undefined);
    s.sid = put(edgeString) ?? s.sid;
    s.utmSource = put(edgeString) ?? s.utmSource;
    s.visitNonce = put(edgeString) ?? s.visitNonce;
    for (const k of ["visitCount", "pageViews", "totalPageViews", "firstSeen", "lastSeen", "entered"]) s[k] = put(edgeNumber) ?? s[k];
    for (const k of ["recentCategories", "shown", "converted"]) if (rand() < 0.3) s[k] = Array.from({ length: pick([0, 1, 15, 16, 17]) }, edgeString);
    for (const k of ["caps", "exposures", "models"]) {
      if (rand() < 0.3) {
        const t = {};
        for (let j = pick([0, 1, 15, 16, 17]); j > 0; j--) t[edgeString() || "k"] = Array.from({ length: pick([0, 2, 3, 7, 16]) }, () => pick([edgeString, edgeNumber, oddValue])());
        s[k] = t;
      }
    }
    if (rand() < 0.05) s[pick(["sid", "visitCount", "recentCategories", "utmSource", "purchased", "caps", "exposures", "shown", "models", "entered", "lineage"])] = oddValue();
    if (rand() < 0.05) s.caps = { ...s.caps, odd: oddValue() };
    const fields = s.fields();
    const mine = outcome((x) => x.pack(), s);
    if ((mine.value?.length ?? 0) > 65534) long++;
    assert.deepEqual(mine, outcome(pack, fields), `session ${i}: Session.pack against pack() of its list (both refuse nesting past 100)`);
    assert.deepEqual(outcome(packModels, s.models), outcome(pack, s.models), `session ${i}'s models`);
    const theirs = outcome(lib.encode, fields);
    if ("threw" in theirs || "threw" in mine || hasExtension(fields)) continue; // refused (the values test compares refusals)
    assert.deepEqual(mine, theirs, `session ${i}`);
    if (!hasExtension(s.models)) assert.deepEqual(packModels(s.models), lib.encode(s.models), `session ${i}'s models, the library`);
  }
  assert.ok(long >= 100, `only ${long} of 1,500 sessions wrote a string at the str16/str32 edges`);
});

test("cookie_msgpack: values of every class, on the fast path or off it, are written as the library writes them", () => {
  for (let i = 0; i < 3000; i++) {
    const v = anyValue(3);
    const mine = outcome(pack, v);
    const theirs = outcome(lib.encode, v);
    if (hasExtension(v) && "value" in theirs) assert.deepEqual(mine, { threw: "TypeError" }, `value ${i}: a Date is refused`);
    else assert.deepEqual(mine, theirs, `value ${i}`);
  }
});

test("cookie_msgpack: any bytes — written, truncated, extended, or with a byte changed — read as the library reads them, or are refused by both", () => {
  for (let i = 0; i < 3000; i++) {
    const v = i % 2 ? anyValue(3) : [aSession().sid, int(1000), [ascii(5)], { [ascii(6)]: [int(9), int(2 ** 31)] }, Uint8Array.of(1, 2, 3)];
    const bytes = lib.encode(v);
    sameRead(bytes, `value ${i}`);
    if (bytes.length > 1) sameRead(bytes.subarray(0, int(bytes.length)), `value ${i} truncated`);
    sameRead(Uint8Array.of(...bytes, int(256)), `value ${i} extended`);
    const changed = bytes.slice();
    changed[int(changed.length)] = int(256);
    sameRead(changed, `value ${i} changed`);
  }
  for (const b of [[], [0xc1], [0xcf, 0, 0, 0, 1, 0, 0, 0, 0], [0xd3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], [0xd4, 0, 1], [0x81, 0x01, 0x02],
    [0x81, 0xa9, ...Buffer.from("__proto__"), 0x01], [0xdd, 0xff, 0xff, 0xff, 0xff], [0xc6, 0, 0, 1, 0, 1], [0xa2, 0xc3, 0xa9]]) {
    sameRead(Uint8Array.from(b), `bytes ${b}`);
  }
});
