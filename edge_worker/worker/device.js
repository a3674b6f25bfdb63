// device.type, device.os and device.browser from the User-Agent and client hints, as
// edge_server/signals.py's device() derives them with ua-parser: the same uap-core regexes
// (uap_regexes.js, generated from the Python side's data), the same bot/tablet/mobile patterns
// (edge_server/edge_contract.json).

import { BOT, LENGTHS, MOBILE, TABLET } from "./contract.js";
import { BoundedCache } from "./bounded_cache.js";
import { DEVICE, OS, UA } from "./uap_regexes.js";


// Compiled on first use: an isolate that never sees a new User-Agent never pays for 1,000 regexes.
let compiled = null;
function parsers() {
  if (compiled === null) {
    compiled = {
      ua: UA.map(([re, family]) => [new RegExp(re), family]),
      os: OS.map(([re, family]) => [new RegExp(re), family]),
      device: DEVICE.map(([re, flags, spider]) => [new RegExp(re, flags), spider]),
    };
  }
  return compiled;
}

/** ua-parser's replacer(): `$n` from the groups, stripped; null when empty. */
function replace(template, m) {
  const out = template.replace(/\$(\d)/g, (_, n) => m[Number(n)] ?? "").trim();
  return out || null;
}

function browserFamily(ua) {
  for (const [re, family] of parsers().ua) {
    const m = re.exec(ua);
    if (m) return family.includes("$1") ? family.replaceAll("$1", m[1] ?? "") : family;
  }
  return "";
}

function osFamily(ua) {
  for (const [re, family] of parsers().os) {
    const m = re.exec(ua);
    if (m) return replace(family, m) ?? "";
  }
  return "";
}

function isSpider(ua) {
  for (const [re, spider] of parsers().device) if (re.test(ua)) return spider;
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
  let os = osFamily(ua);
  if (chPlatform) os = chPlatform.replace(/^"+|"+$/g, "");
  let kind;
  if (isSpider(ua) || BOT.test(ua)) kind = "bot";
  else if (chMobile === "?1") kind = "mobile";
  else if (TABLET.test(ua)) kind = "tablet";
  else if (MOBILE.test(ua)) kind = "mobile";
  else kind = "desktop";
  return [kind, os !== "Other" ? os : "", browser !== "Other" ? browser : ""];
}
