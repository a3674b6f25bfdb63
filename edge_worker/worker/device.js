// device.type, device.os and device.browser from the User-Agent and client hints, as
// edge_server/signals.py's device() derives them with ua-parser: the same uap-core regexes
// (uap_regexes.js, generated from the Python side's data), the same bot/tablet/mobile patterns
// (edge_server/edge_contract.json).

import { BOT, LENGTHS, MOBILE, TABLET } from "./contract.js";
import { BoundedCache } from "./bounded_cache.js";
import { DEVICE, OS, UA } from "./uap_regexes.js";


// Each regex compiled on its first use: the lists are searched in order up to the first match, so
// an isolate (or a browser page) compiles the few patterns before its visitors' matches, not 1,000.
const compiled = { ua: [], os: [], device: [] };
const uaRe = (i) => (compiled.ua[i] ??= new RegExp(UA[i][0]));
const osRe = (i) => (compiled.os[i] ??= new RegExp(OS[i][0]));
const deviceRe = (i) => (compiled.device[i] ??= new RegExp(DEVICE[i][0], DEVICE[i][1]));

// A text every match of a pattern contains: the longest run of literal characters that the pattern
// cannot match without (outside classes, alternations, optional parts and lookarounds). A pattern
// whose text is absent from the User-Agent cannot match it, so its regex is neither compiled nor
// run: a Chrome User-Agent is matched by the 281st of 433 browser patterns, and compiling the 280
// before it cost 10-30 ms of a browser page's first load (docs/client-side.md, "Where the time goes").
// test/device.test.js checks the texts against every User-Agent each pattern matches.

const LITERAL_ESCAPES = "/.-()[]{}+?*|^$ \\";

/** {q: characters of the quantifier at `i` (0: none), optional: whether it allows zero}. */
function quantifier(p, i) {
  let q = 0;
  let optional = false;
  if (p[i] === "*" || p[i] === "?") [q, optional] = [1, true];
  else if (p[i] === "+") q = 1;
  else if (p[i] === "{") {
    const m = /^\{(\d+)(?:,\d*)?\}/.exec(p.slice(i, i + 16));
    if (m) [q, optional] = [m[0].length, Number(m[1]) === 0];
  }
  if (q && p[i + q] === "?") q++; // lazy
  return { q, optional };
}

/** The literal runs a pattern's (or group's) every match contains, from `i` to the group's end. */
function runsOf(p, i, nested) {
  const runs = [];
  let run = "";
  let alt = false;
  const flush = () => {
    if (run) runs.push(run);
    run = "";
  };
  while (i < p.length) {
    const c = p[i];
    if (c === ")" && nested) {
      i++;
      break;
    }
    if (c === "|") {
      alt = true;
      flush();
      i++;
    } else if (c === "(") {
      flush();
      const kind = p.startsWith("(?:", i) ? 3 : p[i + 1] === "?" ? -1 : 1; // -1: lookaround or named group (not kept)
      const inner = runsOf(p, i + (kind === -1 ? 2 : kind), true);
      const { q, optional } = quantifier(p, inner.end);
      if (kind !== -1 && !optional && !inner.alt) runs.push(...inner.runs);
      i = inner.end + q;
    } else if (c === "[") {
      flush();
      let j = i + 1;
      while (j < p.length && p[j] !== "]") j += p[j] === "\\" ? 2 : 1;
      i = j + 1 + quantifier(p, j + 1).q;
    } else if (c === "." || c === "^" || c === "$" || (c === "\\" && !LITERAL_ESCAPES.includes(p[i + 1]))) {
      flush(); // \d, \s, \w, \b and the like: not a literal character
      const n = c === "\\" ? 2 : 1;
      i += n + quantifier(p, i + n).q;
    } else {
      const ch = c === "\\" ? p[i + 1] : c;
      const n = c === "\\" ? 2 : 1;
      const { q, optional } = quantifier(p, i + n);
      if (!optional) run += ch;
      if (q) flush();
      i += n + q;
    }
  }
  flush();
  return { runs: alt ? [] : runs, alt, end: i };
}

/** The longest text every match of the flag-less `pattern` contains ("" when none is certain). */
export function requiredText(pattern) {
  if (/\\[xuc0-9]/.test(pattern)) return ""; // escapes spelling other characters: not read here
  let best = "";
  for (const r of runsOf(pattern, 0, false).runs) if (r.length > best.length) best = r;
  return best;
}

/** Each pattern's text, found on first use; the browser build computes them when it is built
 * (tools/build_browser.js) and browser/uap_regexes.js fills them in with the regexes. */
export const REQUIRED_TEXTS = { ua: [], os: [] };
const required = REQUIRED_TEXTS;
const uaMay = (i, ua) => {
  const t = (required.ua[i] ??= requiredText(UA[i][0]));
  return t === "" || ua.includes(t);
};
const osMay = (i, ua) => {
  const t = (required.os[i] ??= requiredText(OS[i][0]));
  return t === "" || ua.includes(t);
};

/** ua-parser's replacer(): `$n` from the groups, stripped; null when empty. */
function replace(template, m) {
  const out = template.replace(/\$(\d)/g, (_, n) => m[Number(n)] ?? "").trim();
  return out || null;
}

function browserFamily(ua) {
  for (let i = 0; i < UA.length; i++) {
    if (!uaMay(i, ua)) continue;
    const m = uaRe(i).exec(ua);
    const family = UA[i][1];
    if (m) return family.includes("$1") ? family.replaceAll("$1", m[1] ?? "") : family;
  }
  return "";
}

function osFamily(ua) {
  for (let i = 0; i < OS.length; i++) {
    if (!osMay(i, ua)) continue;
    const m = osRe(i).exec(ua);
    if (m) return replace(OS[i][1], m) ?? "";
  }
  return "";
}

let spiders = null; // the indexes of the Spider parsers (7 of some 600)

/** Whether the first device parser that matches is a Spider one. Only a Spider match can make it
 * so: look for the first one, then run only the parsers before it (the same answer as running the
 * list in order, with 7 regexes instead of 600 for a visitor who is no spider). */
function isSpider(ua) {
  spiders ??= DEVICE.flatMap((d, i) => (d[2] ? [i] : []));
  for (const i of spiders) {
    if (!deviceRe(i).test(ua)) continue;
    for (let j = 0; j < i; j++) {
      const d = DEVICE[j];
      if (d === undefined) throw new Error("device: the device parsers before a Spider match are not loaded; in the browser, await loadDeviceRules(userAgent) for this User-Agent first");
      if (!d[2] && deviceRe(j).test(ua)) return false;
    }
    return true;
  }
  return false;
}

const cache = new BoundedCache(1024 * 1024);

/** [type, os, browser] of a request (cached: user agents repeat a lot). */
export function device(userAgent, chMobile, chPlatform) {
  const key = `${userAgent}\n${chMobile}\n${chPlatform}`;
  let out = cache.get(key);
  if (out === undefined) {
    out = derive(userAgent, chMobile, chPlatform);
    cache.set(key, out);
  }
  return out;
}

function derive(userAgent, chMobile, chPlatform) {
  const ua = userAgent.slice(0, LENGTHS.MAX_USER_AGENT); // latin-1 header text: one code unit per character, as in Python
  const browser = browserFamily(ua);
  const os = chPlatform ? chPlatform.replace(/^"+|"+$/g, "") : osFamily(ua); // the client hint wins (no OS regex run)
  let kind;
  if (BOT.test(ua) || isSpider(ua)) kind = "bot";
  else if (chMobile === "?1") kind = "mobile";
  else if (TABLET.test(ua)) kind = "tablet";
  else if (MOBILE.test(ua)) kind = "mobile";
  else kind = "desktop";
  return [kind, os !== "Other" ? os : "", browser !== "Other" ? browser : ""];
}
