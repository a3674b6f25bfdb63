// The bundle format's tables (runtime/format.json) are defined once: runtime/format.js exports
// exactly them, and no worker source keeps a copy by hand (tests/runtime/test_format.py checks the
// Python module and the sources of both languages the same way).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as budget from "../runtime/budget.js";
import * as format from "../runtime/format.js";
import * as signals from "../runtime/signals.js";
import { ROOT, copies } from "./contract_scan.js";

const TABLE = JSON.parse(readFileSync(ROOT + "runtime/format.json", "utf8"));
/** The modules that check the table's limits and buckets: a limit written there as a number is a copy. */
const CHECKERS = ["edge_worker/runtime/validate.js", "edge_worker/runtime/bounds.js", "edge_worker/runtime/verify.js",
  "edge_worker/runtime/bucketing.js", "edge_worker/runtime/score.js", "edge_worker/runtime/budget.js", "edge_worker/runtime/signals.js",
  "edge_worker/runtime/interp.js"];

test("format.js exports every limit of the table but the xz decoder's, and no other", () => {
  const limits = Object.fromEntries(Object.entries(TABLE.limits).map(([k, v]) => [k, v.value]).filter(([k]) => k !== "MAX_DECODER_MEMORY"));
  const exported = Object.fromEntries(Object.entries(format).filter(([k]) => k.startsWith("MAX_")));
  // the one derived bound: the longest allocation period of MAX_VARIANTS variants (format.py's too)
  assert.equal(exported.MAX_PERIOD, 6 * format.MAX_VARIANTS - 1);
  delete exported.MAX_PERIOD;
  assert.deepEqual(exported, limits);
});

test("format.js opcodes and arities are the table's", () => {
  assert.deepEqual({ ...format.Op }, Object.fromEntries(TABLE.ops.map((op) => [op.name, op.code])));
  assert.deepEqual(Object.values(format.Op).sort((a, b) => a - b), [...TABLE.ops.keys()]); // dense
  for (const op of TABLE.ops) assert.deepEqual(format.ARITY[op.code], op.arity, op.name);
});

test("format.js lists are the table's", () => {
  assert.deepEqual(format.LAYERS, TABLE.layers.values);
  assert.deepEqual(format.CATEGORIES, TABLE.categories.values);
  assert.deepEqual(format.COMPREHENSIONS, TABLE.comprehensions);
  assert.deepEqual(format.FEATURE_KINDS, TABLE.feature_kinds);
  assert.deepEqual(format.CODECS, ["gzip"]); // the table's, less xz: no xz in a worker
  assert.equal(format.BUCKETS, TABLE.BUCKETS.value);
  const { doc: _doc, ...buckets } = TABLE.SCORE_BUCKETS;
  assert.deepEqual({ ...format.SCORE_BUCKETS }, buckets);
  const { doc: _udoc, ...uplift } = TABLE.UPLIFT_BUCKETS;
  assert.deepEqual({ ...format.UPLIFT_BUCKETS }, uplift);
  assert.equal(new TextDecoder().decode(format.SIGNATURE_DOMAIN), "strata-bundle-v1\0");
  assert.equal(new TextDecoder().decode(format.SIGNATURE_DOMAIN_V2), "strata-bundle-v2\0");
  assert.deepEqual([...format.TEMPLATE_TAGS].sort(), [...TABLE.template.tags].sort());
  assert.deepEqual({ ...format.TEMPLATE_ATTRIBUTES }, TABLE.template.attributes);
  assert.equal(format.TEMPLATE_ATTRIBUTES.constructor, undefined); // an element named so has no attributes
  for (const [k, v] of Object.entries(TABLE.runtime)) if (/^[A-Z_]+$/.test(k)) assert.equal(format[k], v.value, k);
});

test("the runtime's modules apply the table's runtime constants", () => {
  assert.deepEqual([budget.EVAL_BUDGET, budget.ALLOC_CHUNK], [TABLE.runtime.EVAL_BUDGET.value, TABLE.runtime.ALLOC_CHUNK.value]);
  assert.deepEqual([...budget.GROWTH].sort(), ["_+_", "join", "replace", "split"]); // the catalogue's functions of the growth cost classes
  assert.deepEqual([signals.DEFAULT_MAX_ITEMS, signals.DEFAULT_MAX_LENGTH], [100, 1024]);
});

test("no worker source keeps a copy of the format table", () => {
  const found = copies(TABLE, ["edge_worker/runtime/format.js"], CHECKERS);
  assert.deepEqual(found, [], `read these from runtime/format.js:\n${found.join("\n")}`);
});

test("the contract scan reports each kind of copy", () => {
  const files = {
    "a.py": '"""Into 10000 buckets."""\nLAYERS = ("mid", "broad", "specific")\nif end <= 10_000:  # 10000\n    pass\n',
    "b.js": "const MAX_NESTING = 64;\n// 10000 buckets\nconst kinds = ['edges', 'values', 'cross', 'contains'];\n",
    "c.py": "RETRIES = 10_000\nx = ('all', 'exists', 'exists_one')\n",
  };
  assert.deepEqual(copies(TABLE, [], ["a.py", "b.js"], files), [
    "a.py:2: the list 'broad', 'mid', 'specific'... written out",
    "a.py:2: LAYERS assigned a literal",
    "a.py:3: 10_000 (EVAL_BUDGET/BUCKETS) written as a literal",
    "b.js:3: the list 'values', 'edges', 'contains'... written out",
    "b.js:1: MAX_NESTING assigned a literal",
  ]);
});
