// runtime/regex_engine.js in the browser build (tools/build_browser.js puts it in its place): the
// same engine, re2js, imported from strata-re2.mjs (browser/parts.js) only when a verified bundle
// calls `matches`; a bundle without it never loads re2js.

import { loadPart, notLoaded } from './parts.js';

let engine = null;

export function regexEngine() {
  if (engine === null) throw notLoaded('re2', 'loadRegexEngine');
  return engine;
}

/** Load re2js (once). */
export async function loadRegexEngine() {
  engine ??= (await loadPart('re2')).RE2JS;
  return engine;
}

const MATCHES = new TextEncoder().encode('matches');

/** Whether the inflated payload `bytes` (msgpack) hold the UTF-8 bytes of 'matches' anywhere: every
 * `matches` call of the IR does (its CALL name is a msgpack string, whatever its header); a literal
 * or a name containing 'matches' only loads re2js in vain. A byte search, not a walk of the decoded
 * tree: some 4 ms less on a page's first load. */
export function mentionsMatches(bytes) {
  const first = MATCHES[0];
  const last = bytes.length - MATCHES.length;
  for (let i = bytes.indexOf(first); i >= 0 && i <= last; i = bytes.indexOf(first, i + 1)) {
    let j = 1;
    while (j < MATCHES.length && bytes[i + j] === MATCHES[j]) j++;
    if (j === MATCHES.length) return true;
  }
  return false;
}

/** verify.js's seam: once the payload is verified and inflated (before it is decoded and
 * validated, its patterns compiled), load re2js if it may need it. */
export async function loadRegexEngineFor(payloadBytes) {
  if (engine === null && mentionsMatches(payloadBytes)) await loadRegexEngine();
}
