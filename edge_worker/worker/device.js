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

/** ua-parser's replacer(): `$n` from the groups, stripped; null when empty. */
function replace(template, m) {
  const out = template.replace(/\$(\d)/g, (_, n) => m[Number(n)] ?? "").trim();
  return out || null;
}

function browserFamily(ua) {
  for (let i = 0; i < UA.length; i++) {
    const m = uaRe(i).exec(ua);
    const family = UA[i][1];
    if (m) return family.includes("$1") ? family.replaceAll("$1", m[1] ?? "") : family;
  }
  return "";
}

function osFamily(ua) {
  for (let i = 0; i < OS.length; i++) {
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
    for (let j = 0; j < i; j++) if (!DEVICE[j][2] && deviceRe(j).test(ua)) return false;
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
