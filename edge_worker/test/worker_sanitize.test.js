// The template sanitiser (worker/sanitize.js) beyond the shared render vectors
// (tests/vectors/render.json): nesting of any depth is cleaned without exhausting the stack, as
// ammonia's iterative clean_dom does on the server (tests/edge_server/test_render.py has the same
// class), and a fragment with a start tag the two HTML parsers disagree on renders as nothing.
import assert from "node:assert/strict";
import { test } from "node:test";

import { DIVERGENT_START_TAG, sanitize } from "../worker/sanitize.js";
import { rng } from "./vectors.js";

/** [what the template opens, what the sanitiser writes for it, its end tag] */
const NESTING = [["<div>", "<div>", "</div>"], ["<span title=x onclick=y>", '<span title="x">', "</span>"], ["<x-y>", "", ""],
  ["<blockquote cite=javascript:x>", '<blockquote cite="#">', "</blockquote>"], ["<svg><g>", "", ""]];

test("sanitize: nesting thousands deep (beyond the call stack) is cleaned, kept tags closed in order, dropped ones unwrapped", () => {
  const random = rng(20);
  for (let i = 0; i < 6; i++) {
    const depth = 6_000 + Math.floor(random() * 6_000);
    const [open, kept, close] = NESTING[i % NESTING.length];
    const want = open.startsWith("<svg") ? "" : kept.repeat(depth) + "z" + close.repeat(depth);
    assert.equal(sanitize(open.repeat(depth) + "z"), want, `depth ${depth} of ${open}`);
  }
});

test("sanitize: a select or isindex start tag or a DOCTYPE anywhere in the fragment renders it as nothing; look-alikes do not", () => {
  for (const t of ["<select>x", "<SELECT/>x", "a<select\n>b", "<isindex>x", "<IsIndex\ttitle=1>x", "<b title=\"<select>\">x</b>", "<!-- <select> -->x", "<table>{<!DOCTYPE>\n", "<!doctype html>x"]) {
    assert.ok(DIVERGENT_START_TAG.test(t), t);
    assert.equal(sanitize(t), "", t);
  }
  for (const t of ["<selectx>y", "x<select", "select>y", "&lt;select>y", "<sel ect>y", "<ſelect>y", "<!doc type>y"]) {
    assert.ok(!DIVERGENT_START_TAG.test(t), t);
    assert.notEqual(sanitize(t), "", t);
  }
});
