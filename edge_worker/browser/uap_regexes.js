// worker/uap_regexes.js in the browser build (tools/build_browser.js puts it in its place): the
// same uap-core regexes, imported by loadDeviceRules() (which Strata.load() awaits beside the
// bundle) from strata-device.mjs — the browser and OS patterns, and the Spider device parsers at
// their places in DEVICE — and from strata-crawler.mjs, every device parser, only when a Spider
// parser matches the User-Agent (worker/device.js runs the others only then). worker/device.js
// compiles each regex on first use, skipping those whose required text (computed by the build)
// the User-Agent lacks.

import { LENGTHS } from '../worker/contract.js';
import { REQUIRED_TEXTS } from '../worker/device.js';
import { loadPart, notLoaded } from './parts.js';

export const UA = [];
export const OS = [];
/** The device parsers: the Spider ones only (the others are holes) unless strata-crawler.mjs is loaded. */
export const DEVICE = [];
let loaded = false;
let loading = null;
let crawlers = null;

/** Whether a Spider device parser matches `userAgent` (as worker/device.js reads it: cut to its length). */
function spiderMatches(spiders, userAgent) {
  const ua = userAgent.slice(0, LENGTHS.MAX_USER_AGENT);
  return spiders.some(([, pattern, flags]) => new RegExp(pattern, flags).test(ua));
}

/** Every device parser, in DEVICE (once). */
function loadCrawlerRules() {
  crawlers ??= loadPart('crawler').then((m) => {
    m.DEVICE.forEach((d, i) => { DEVICE[i] = d; });
  }, (e) => {
    crawlers = null;
    throw e;
  });
  return crawlers;
}

async function load(userAgent) {
  const m = await loadPart('device');
  if (!loaded) {
    UA.push(...m.UA);
    OS.push(...m.OS);
    for (const [i, pattern, flags] of m.SPIDERS) DEVICE[i] = [pattern, flags, true];
    DEVICE.length = m.DEVICE_COUNT;
    // the patterns' required texts, computed when the part was built (worker/device.js)
    REQUIRED_TEXTS.ua.push(...m.UA_TEXTS);
    REQUIRED_TEXTS.os.push(...m.OS_TEXTS);
    loaded = true;
  }
  if (spiderMatches(m.SPIDERS, userAgent)) await loadCrawlerRules();
}

/** Load the regexes (once) into UA, OS and DEVICE: for `userAgent` (the browser's own by default),
 * every device parser when a Spider one matches it. */
export function loadDeviceRules(userAgent = globalThis.navigator?.userAgent ?? '') {
  const p = (loading ??= load(userAgent).catch((e) => {
    loading = null;
    throw e;
  }));
  return userAgent === (globalThis.navigator?.userAgent ?? '') ? p : p.then(() => load(userAgent));
}

/** Throws unless loadDeviceRules() has finished (device() would otherwise find nothing). */
export function requireDeviceRules() {
  if (!loaded) throw notLoaded('device', 'loadDeviceRules');
}
