// worker/sanitize.js in the browser build (tools/build_browser.js puts it in its place): the same
// sanitiser and parse5, imported from strata-sanitize.mjs (browser/parts.js) only when a decided
// content block has a template (rewrite.js's fillSlots loads it before filling the slots).

import { loadPart, notLoaded } from './parts.js';

let impl = null;

export function sanitize(fragment) {
  if (impl === null) throw notLoaded('sanitize', 'loadSanitizer');
  return impl(fragment);
}

export const sanitizerLoaded = () => impl !== null;

/** Load the sanitiser (once). */
export async function loadSanitizer() {
  impl ??= (await loadPart('sanitize')).sanitize;
}
