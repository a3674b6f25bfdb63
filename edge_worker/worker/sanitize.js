// The template sanitiser of edge_server/render.py (nh3: the Rust ammonia sanitiser over html5ever),
// for byte-identical output: a filled template is parsed as an HTML fragment in a <div> context by
// parse5 (the WHATWG tree-construction algorithm html5ever implements too), reduced to the template
// allow-list and serialised as html5ever serialises. Why a filled template is not already what the
// sanitiser returns, and why this is done at request time: docs/edge-worker.md ("Templates").
//
// What ammonia does, as nh3.clean(tags=TEMPLATE_TAGS, attributes=TEMPLATE_ATTRIBUTES,
// attribute_filter=safe_href on href/src/cite, url_schemes={http, https, mailto}, link_rel=None,
// strip_comments=True) configures it:
// - script and style are removed with their content; other elements outside the allow-list are
//   replaced by their children, <svg> and <math> too, but the SVG and MathML elements inside them
//   are removed with their content, and so are template contents; comments are removed;
// - attributes outside the allow-list are removed; href and src holding an absolute URL whose scheme
//   is not http, https or mailto (or an unparsable absolute URL) are removed, then href, src and
//   cite go through safe_href.

import { parseFragment } from "parse5";

import { TEMPLATE_ATTRIBUTES, TEMPLATE_TAGS } from "../runtime/format.js";
import { safeHref } from "./render.js";

const HTML_NS = "http://www.w3.org/1999/xhtml";
const CLEAN_CONTENT = new Set(["script", "style"]);
/** Elements html5ever serialises without content or end tag. */
const VOID = new Set(["area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input", "keygen", "link", "meta",
  "param", "source", "track", "wbr"]);
const CHECKED_URL = new Set(["href", "src"]); // ammonia's URL attributes among the allowed ones
const FILTERED = new Set(["href", "src", "cite"]); // render.py's _URL_ATTRIBUTES
const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);
/** A value the WHATWG parser reads as having a scheme (after the characters it ignores). */
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.\-]*:/;

let context = null; // the <div> a fragment is parsed in, as ammonia's parse_fragment

const TEXT_ESC = { "&": "&amp;", "\u00a0": "&nbsp;", "<": "&lt;", ">": "&gt;" };
const ATTR_ESC = { "&": "&amp;", "\u00a0": "&nbsp;", '"': "&quot;", "<": "&lt;", ">": "&gt;" };
const escapeText = (s) => s.replace(/[&\u00a0<>]/g, (c) => TEXT_ESC[c]);
const escapeAttr = (s) => s.replace(/[&\u00a0"<>]/g, (c) => ATTR_ESC[c]);

/** ammonia's URL check of href and src: false when the attribute is removed. */
function urlAllowed(value) {
  const v = value.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, "").replace(/[\t\n\r]/g, "");
  if (!HAS_SCHEME.test(v)) return true; // relative: passed through
  try {
    return LINK_SCHEMES.has(new URL(v).protocol);
  } catch {
    return false;
  }
}

function attributes(tag, attrs) {
  const own = TEMPLATE_ATTRIBUTES[tag] ?? [];
  let out = "";
  for (const { name, value, namespace } of attrs) {
    if (namespace || !(TEMPLATE_ATTRIBUTES["*"].includes(name) || own.includes(name))) continue;
    if (CHECKED_URL.has(name) && !urlAllowed(value)) continue;
    out += ` ${name}="${escapeAttr(FILTERED.has(name) ? safeHref(value) : value)}"`;
  }
  return out;
}

function children(node) {
  let out = "";
  for (const child of node.childNodes) {
    if (child.nodeName === "#text") {
      out += escapeText(child.value);
    } else if (child.nodeName === "#comment" || child.nodeName === "#documentType") {
      continue;
    } else if (child.namespaceURI !== HTML_NS) {
      if (child.tagName === "svg" || child.tagName === "math") out += children(child); // stripped like any tag outside the list
      // any other SVG or MathML element is removed with its content
    } else if (CLEAN_CONTENT.has(child.tagName) || child.tagName === "template") {
      continue;
    } else if (!TEMPLATE_TAGS.has(child.tagName)) {
      out += children(child);
    } else {
      const tag = child.tagName;
      out += `<${tag}${attributes(tag, child.attrs)}>`;
      if (!VOID.has(tag)) out += `${children(child)}</${tag}>`;
    }
  }
  return out;
}

/** render.py's sanitize: author HTML reduced to the template allow-list. */
export function sanitize(fragment) {
  if (context === null) context = parseFragment("<div></div>").childNodes[0];
  return children(parseFragment(context, fragment));
}
