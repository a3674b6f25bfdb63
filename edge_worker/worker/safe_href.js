// A link as a browser will follow it (edge_server/safe_href.py, the same rules): `#` when it could
// leave the site other than by an explicit absolute URL, or run script. Used by the renderer
// (worker/render.js) for the standard layout's image and call to action, and by the template
// sanitiser (worker/sanitize.js) for href, src and cite.

/** The WHATWG URL parser strips leading and trailing C0 controls and spaces and removes every ASCII
 * tab and newline before parsing (https://url.spec.whatwg.org/#concept-basic-url-parser). */
const C0_OR_SPACE = /^[\x00-\x20]+|[\x00-\x20]+$/g;
const TAB_NEWLINE = /[\t\n\r]/g;
/** Absolute links content may carry; everything else (javascript:, data:, vbscript:, blob:...) is refused. */
export const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);
/** A stand-in for the page's own URL: a relative link that resolves to another host from it does
 * so from every http(s) page (`//evil.example`, `/\\evil.example`, `/<TAB>/evil.example`). */
const BASE_HOST = "strata.invalid";
const BASE = `https://${BASE_HOST}/page/here`;

/** `value` as the WHATWG URL parser reads it: C0 controls and spaces around it and every tab and
 * newline removed. */
export function urlInput(value) {
  return value.replace(C0_OR_SPACE, "").replace(TAB_NEWLINE, "");
}

function parseUrl(v, base) {
  try {
    return new URL(v, base);
  } catch {
    return null;
  }
}

/** safe_href.py's safe_href, with the platform's WHATWG `URL` (Ada in workerd and Node, as ada-url
 * in Python), of a string (render.js passes other values through Python's str() first): an
 * absolute URL must be http, https or mailto and is returned in its WHATWG serialisation; a
 * relative one must resolve to the page's own host and is returned with the characters the parser
 * ignores removed; anything else is `#`. */
export function safeHref(value) {
  const v = urlInput(value);
  if (!v) return "#";
  const absolute = parseUrl(v);
  if (absolute !== null) return LINK_SCHEMES.has(absolute.protocol) ? absolute.href : "#";
  const resolved = parseUrl(v, BASE);
  return resolved !== null && resolved.host === BASE_HOST ? v : "#";
}
