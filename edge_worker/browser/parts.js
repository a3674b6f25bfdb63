// The browser build's lazily loaded parts: the large dependencies a page may not need, built by
// tools/build_browser.js as ES modules beside strata.mjs and strata.js and loaded with import()
// from the same directory, only when needed (docs/client-side.md, "Size"):
//   strata-re2.mjs       re2js, for a bundle that calls `matches` (browser/regex_engine.js)
//   strata-device.mjs    the uap-core device regexes, for device.os and device.browser (browser/uap_regexes.js)
//   strata-sanitize.mjs  parse5 and the template sanitiser, for the few templates the browser's own parser
//                        does not take (browser/sanitize.js: <noscript>, a NUL, "&#x;", over 256 tags)
//   strata-ed25519.mjs   @noble/ed25519, for a browser without Ed25519 in WebCrypto (browser/ed25519.js)

let base = null;
const loading = new Map();

/** Where the parts are: the URL of strata.mjs or strata.js (module.js and script.js set it). */
export function setPartsBase(url) {
  base = url;
}

/** The part `name` (a module namespace), imported once. */
export function loadPart(name) {
  let p = loading.get(name);
  if (p === undefined) {
    if (base === null) throw new Error(`strata: the location of strata-${name}.mjs is unknown; load Strata from dist/strata.mjs or dist/strata.js with the strata-*.mjs files beside it`);
    const url = new URL(`strata-${name}.mjs`, base).href;
    p = import(url).catch((e) => {
      loading.delete(name);
      throw new Error(`strata: loading ${url} failed (${e && e.message}); host the strata-*.mjs files beside strata.js`);
    });
    loading.set(name, p);
  }
  return p;
}

/** A part that a synchronous caller needs but nobody loaded first: a programming error. */
export function notLoaded(name, load) {
  return new Error(`strata: strata-${name}.mjs is not loaded; await ${load}() first (start() and Strata.load() do)`);
}
