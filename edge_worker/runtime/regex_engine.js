// The regular-expression engine behind `matches` (functions.js): re2js, imported statically here
// for Node and the worker. A seam, so the browser build (tools/build_browser.js) can put
// browser/regex_engine.js in this module's place, which loads re2js with import() only when a
// verified bundle calls `matches` (docs/client-side.md, "Size").

import { RE2JS } from 're2js';

/** The engine: an object with compile(pattern) -> a compiled regex with test(s) (re2js's RE2JS). */
export function regexEngine() {
  return RE2JS;
}

/** Called by verify.js with a verified bundle's inflated payload bytes, before they are decoded
 * and validated: here the engine is always loaded, so nothing to do. */
export async function loadRegexEngineFor(_payloadBytes) {}
