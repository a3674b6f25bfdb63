// worker/device.js's shortcuts give the answers of ua-parser's plain in-order scan (the reference
// below: every device parser in order, the first match deciding Spider; the OS parsers run even
// when a platform hint replaces their answer): for the User-Agents of the shared request vectors
// and for a seeded class of generated ones mixing browser, phone, tablet and crawler tokens, each
// with and without client hints.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { BOT, LENGTHS, MOBILE, TABLET } from "../worker/contract.js";
import { device, requiredText } from "../worker/device.js";
import { DEVICE, OS, UA } from "../worker/uap_regexes.js";

function first(list, ua, flags) {
  for (const entry of list) {
    const m = new RegExp(entry[0], flags ? entry[1] : undefined).exec(ua);
    if (m) return [entry, m];
  }
  return [null, null];
}

function reference(userAgent, chMobile, chPlatform) {
  const ua = userAgent.slice(0, LENGTHS.MAX_USER_AGENT);
  const [b, bm] = first(UA, ua, false);
  const browser = b ? (b[1].includes("$1") ? b[1].replaceAll("$1", bm[1] ?? "") : b[1]) : "";
  const [o, om] = first(OS, ua, false);
  let os = o ? o[1].replace(/\$(\d)/g, (_, n) => om[Number(n)] ?? "").trim() : "";
  if (chPlatform) os = chPlatform.replace(/^"+|"+$/g, "");
  const [d] = first(DEVICE, ua, true);
  let kind;
  if ((d !== null && d[2]) || BOT.test(ua)) kind = "bot";
  else if (chMobile === "?1") kind = "mobile";
  else if (TABLET.test(ua)) kind = "tablet";
  else if (MOBILE.test(ua)) kind = "mobile";
  else kind = "desktop";
  return [kind, os !== "Other" ? os : "", browser !== "Other" ? browser : ""];
}

const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/request_signals.json", import.meta.url)));
const KNOWN = [...new Set(vectors.cases.map((c) => c.headers["user-agent"] ?? ""))];
const TOKENS = ["Mozilla/5.0", "(X11; Linux x86_64)", "(iPhone; CPU iPhone OS 17_4 like Mac OS X)", "(Linux; Android 14; SM-X710)",
  "(iPad; CPU OS 16_0 like Mac OS X)", "AppleWebKit/537.36 (KHTML, like Gecko)", "Chrome/131.0.0.0", "HeadlessChrome/131.0.0.0",
  "Mobile Safari/537.36", "Safari/604.1", "Firefox/133.0", "Kindle/3.0", "Googlebot/2.1", "(compatible; bingbot/2.0)", "Spider",
  "crawler", "facebookexternalhit/1.1", "Slackbot", "Silk/1.0", "Nexus 7", "PlayStation 5", "SmartTV", "curl/8.5.0", "python-requests/2.32",
  "Edg/131.0", "OPR/114.0", "SamsungBrowser/26.0", "yandex.com/bots", "Bytespider", "AdsBot-Google-Mobile", "Windows NT 10.0; Win64; x64"];

function* generated(n, seed = 25) {
  let s = seed;
  const rnd = (k) => ((s = (s * 1103515245 + 12345) % 2147483648), s % k);
  for (let i = 0; i < n; i++) yield Array.from({ length: 1 + rnd(6) }, () => TOKENS[rnd(TOKENS.length)]).join(" ");
}

test("device(): the Spider and client-hint shortcuts answer as the in-order scan, for known and generated User-Agents", () => {
  let bots = 0;
  for (const ua of [...KNOWN, ...generated(400)]) {
    for (const [mobile, platform] of [[null, null], ["?0", '"Linux"'], ["?1", '"Android"']]) {
      const got = device(ua, mobile, platform);
      assert.deepEqual(got, reference(ua, mobile, platform), `User-Agent ${JSON.stringify(ua)} with hints ${mobile} ${platform}`);
      if (got[0] === "bot") bots++;
    }
  }
  assert.ok(bots > 30, `the class holds crawlers (${bots} bot answers)`);
});

test("requiredText(): the literal text a pattern cannot match without, for each kind of syntax", () => {
  const cases = {
    "ArcGIS Client Using WinInet": "ArcGIS Client Using WinInet",
    "(GeoEvent Server) (\\d+)(?:\\.(\\d+)|)": "GeoEvent Server",
    "a?bc+d{0,2}ef": "bc", // optional characters dropped, a repeated one ends its run
    "x(a|b)yzw": "yzw", // an alternation inside a group: the group gives nothing
    "(?:Edge|Edg)/(\\d+)": "/",
    "Firefox|Chrome": "", // alternation at the top: nothing is certain
    "(?!Chrome)Safari": "Safari", // a lookaround gives nothing
    "(?=Chromium)Chrome": "Chrome",
    "[Cc]hrome\\/ab": "hrome/ab", // a class ends a run, an escaped '/' is literal
    "Moz.*Firefox": "Firefox", // the longest run
    "(Opera Mini)?Opera": "Opera", // an optional group gives nothing
    "Mobi\\b(le)+x": "Mobi",
    "\\x41BCD": "", // escapes naming other characters: not read
    "ab{2}c": "ab",
    "ab{0}cde": "cde",
  };
  for (const [p, want] of Object.entries(cases)) assert.equal(requiredText(p), want, p);
});

test("requiredText(): every User-Agent of the class that a browser or OS pattern matches contains that pattern's text", () => {
  const extra = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Roku/DVP-9.10 (519.10E04111A)",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)", "Dalvik/2.1.0 (Linux; U; Android 9; SM-G960F Build/PPR1.180610.011)"];
  const agents = [...KNOWN, ...generated(400), ...generated(400, 7), ...extra];
  let checked = 0;
  let withText = 0;
  for (const list of [UA, OS]) {
    for (const [pattern] of list) {
      const text = requiredText(pattern);
      if (text) withText++;
      const re = new RegExp(pattern);
      for (const ua of agents) {
        if (!re.test(ua)) continue;
        checked++;
        assert.ok(ua.includes(text), `${JSON.stringify(pattern)} matches ${JSON.stringify(ua)}, which lacks ${JSON.stringify(text)}`);
      }
    }
  }
  assert.ok(checked > 1000, `${checked} matches checked`);
  assert.ok(withText > (UA.length + OS.length) * 0.8, `${withText} of ${UA.length + OS.length} patterns have a text`);
});
