// Find hand-kept copies of a contract table (runtime/format.json, edge_server/edge_contract.json) in
// the worker's sources: the port of tests/contract_scan.py (same rules), so that a copy fails in
// `node --test` as in pytest. A copy is a literal collection of quoted strings holding exactly the
// items of one of the table's lists (any order), an assignment of a literal to one of the table's
// UPPER_CASE names (or its top-level keys upper-cased), or, in `numberFiles`, a limit of 1000 or
// more written as a number outside a comment.

import { readFileSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SOURCES = ["edge_worker/runtime", "edge_worker/worker", "edge_worker/worker.js", "edge_worker/browser"];
const GENERATED = new Set(["edge_worker/worker/uap_regexes.js", "edge_worker/worker/client_js.js"]);

/** path (from the repository root) -> text of every worker source. */
export function sourceFiles() {
  const out = {};
  const walk = (rel) => {
    if (statSync(ROOT + rel).isDirectory()) {
      for (const name of readdirSync(ROOT + rel).sort()) walk(`${rel}/${name}`);
    } else if (rel.endsWith(".js") && !GENERATED.has(rel)) {
      out[rel] = readFileSync(ROOT + rel, "utf8");
    }
  };
  SOURCES.forEach(walk);
  return out;
}

function* stringLists(node) {
  if (Array.isArray(node)) {
    if (node.length >= 3 && node.every((x) => typeof x === "string")) yield node;
    for (const x of node) yield* stringLists(x);
  } else if (node !== null && typeof node === "object") {
    for (const x of Object.values(node)) yield* stringLists(x);
  }
}

function constants(node, out = null) {
  if (out === null) {
    out = {};
    for (const [k, v] of Object.entries(node)) if (/^[a-z][a-z0-9_]+$/.test(k)) out[k.toUpperCase()] = v;
  }
  if (Array.isArray(node)) {
    for (const x of node) constants(x, out);
  } else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (/^[A-Z][A-Z0-9_]+$/.test(k)) out[k] = v !== null && typeof v === "object" && "value" in v ? v.value : v;
      constants(v, out);
    }
  }
  return out;
}

/** The longest literal piece (between placeholders) of every `message` template, when it has 20 characters or more. */
function* messages(node) {
  if (node === null || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    if (k === "message" && typeof v === "string") {
      const piece = v.split(/\{\w+\}/).reduce((a, b) => (b.length > a.length ? b : a));
      if (piece.length >= 20) yield piece;
    } else {
      yield* messages(v);
    }
  }
}
const OWN_CONSTANT = /^\s*(?:export\s+)?(?:const\s+|static\s+)?[A-Z_][A-Z0-9_]*\s*(?::[^=]*)?=\s*$/;

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const STRINGS = /[([{]\s*((?:"[^"\n]*"|'[^'\n]*')(?:\s*,\s*(?:"[^"\n]*"|'[^'\n]*'))+)\s*,?\s*[)\]}]/g;
const ITEM = /"([^"\n]*)"|'([^'\n]*)'/g;

function inComment(text, pos) {
  const before = text.slice(text.lastIndexOf("\n", pos - 1) + 1, pos);
  return before.includes("#") || before.includes("//") || before.trimStart().startsWith("*") || text.slice(0, pos).split('"""').length % 2 === 0;
}

/** Hand-kept copies of `table` as `path:line: what`; `files` (path -> text) defaults to the worker's sources. */
export function copies(table, loaders, numberFiles = [], files = sourceFiles(), under = [""]) {
  const key = (items) => [...new Set(items)].sort().join("\u0000");
  const lists = new Map();
  for (const lst of stringLists(table)) lists.set(key(lst), lst);
  const consts = constants(table);
  const assign = new RegExp(`^[ \\t]*(?:export\\s+)?(?:const\\s+|let\\s+|var\\s+)?(${Object.keys(consts).map(escape).join("|")})\\b\\s*(?::[^=\\n]*)?=\\s*(?:[-0-9"'\\[{(]|frozenset\\(\\s*[\\[{(]|new Set\\(\\s*\\[|b")`, "gm");
  const numbers = {};
  for (const [name, v] of Object.entries(consts)) {
    if (Number.isInteger(v) && v >= 1000) {
      for (const form of [String(v), String(v).replace(/\B(?=(\d{3})+(?!\d))/g, "_")]) {
        numbers[form] = Object.hasOwn(numbers, form) ? `${numbers[form]}/${name}` : name;
      }
    }
  }
  const forms = Object.keys(numbers).sort((a, b) => b.length - a.length).map(escape);
  const number = forms.length ? new RegExp(`(?<![\\w.])(${forms.join("|")})(?![\\w.])`, "g") : null;
  const texts = [...new Set(messages(table))].sort();
  const textRx = texts.length ? new RegExp(`(${texts.map(escape).join("|")})`, "g") : null;
  const found = [];
  for (const [rel, text] of Object.entries(files)) {
    if (loaders.includes(rel) || !under.some((u) => rel.startsWith(u))) continue;
    const line = (pos) => text.slice(0, pos).split("\n").length;
    for (const m of text.matchAll(STRINGS)) {
      const items = [...m[1].matchAll(ITEM)].map((x) => x[1] ?? x[2]);
      const lst = lists.get(key(items));
      if (lst !== undefined && !inComment(text, m.index)) {
        found.push(`${rel}:${line(m.index)}: the list ${lst.slice(0, 3).map((x) => `'${x}'`).join(", ")}... written out`);
      }
    }
    if (textRx !== null) for (const m of text.matchAll(textRx)) found.push(`${rel}:${line(m.index)}: the message '${m[1]}'... written out`);
    for (const m of text.matchAll(assign)) found.push(`${rel}:${line(m.index)}: ${m[1]} assigned a literal`);
    if (number !== null && numberFiles.includes(rel)) {
      for (const m of text.matchAll(number)) {
        const before = text.slice(text.lastIndexOf("\n", m.index - 1) + 1, m.index);
        const after = text.slice(m.index + m[0].length, m.index + m[0].length + 3);
        const factor = before.trimEnd().endsWith("*") || after.trimStart().startsWith("*");
        if (!inComment(text, m.index) && !before.endsWith("maxsize=") && !OWN_CONSTANT.test(before) && !factor) found.push(`${rel}:${line(m.index)}: ${m[1]} (${numbers[m[1]]}) written as a literal`);
      }
    }
  }
  return found;
}
