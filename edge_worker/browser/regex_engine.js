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

/** Whether `tree` (a decoded payload: arrays, Maps, objects) holds the string 'matches' anywhere:
 * every `matches` call of the IR does (its CALL name); a literal 'matches' only loads re2js in vain. */
export function mentionsMatches(tree) {
  const stack = [tree];
  while (stack.length) {
    const v = stack.pop();
    if (v === 'matches') return true;
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) continue;
    if (Array.isArray(v)) stack.push(...v);
    else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else for (const k of Object.keys(v)) stack.push(k, v[k]);
  }
  return false;
}

/** verify.js's seam: before a payload is validated (its patterns compiled), load re2js if it needs it. */
export async function loadRegexEngineFor(payload) {
  if (engine === null && mentionsMatches(payload)) await loadRegexEngine();
}
