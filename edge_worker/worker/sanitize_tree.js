// The allow-list reduction and serialisation of the template sanitiser (worker/sanitize.js: what
// ammonia does as edge_server/render.py configures it), over a parsed fragment in parse5's tree
// shape: nodes with nodeName ("#text", "#comment", "#documentType" or the tag), tagName,
// namespaceURI, attrs [{name, value, namespace}], childNodes and a text node's value. The worker
// parses with parse5 (worker/sanitize.js); the browser with its own parser where the two agree
// (browser/sanitize.js). One set of rules for both.

import { TEMPLATE_ATTRIBUTES, TEMPLATE_TAGS } from "../runtime/format.js";
import { LINK_SCHEMES, safeHref, urlInput } from "./safe_href.js";

export const HTML_NS = "http://www.w3.org/1999/xhtml";
export const SVG_NS = "http://www.w3.org/2000/svg";
export const MATHML_NS = "http://www.w3.org/1998/Math/MathML";
const CLEAN_CONTENT = new Set(["script", "style"]);
/** Elements html5ever serialises without content or end tag. */
const VOID = new Set(["area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input", "keygen", "link", "meta",
  "param", "source", "track", "wbr"]);
const CHECKED_URL = new Set(["href", "src"]); // ammonia's URL attributes among the allowed ones
const FILTERED = new Set(["href", "src", "cite"]); // render.py's _URL_ATTRIBUTES
/** A value the WHATWG parser reads as having a scheme (after the characters it ignores). */
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.\-]*:/;
/** ammonia's is_svg_tag and is_mathml_tag (SVG 2's and MathML's element names): an element of the
 * HTML namespace with one of these names is removed with its content (ammonia's namespace check,
 * against mutation XSS), except the six names HTML shares with them (ammonia's is_html_tag). */
const FOREIGN_NAMES = new Set(`a animate animateMotion animateTransform circle clipPath defs desc discard ellipse feBlend feColorMatrix
  feComponentTransfer feComposite feConvolveMatrix feDiffuseLighting feDisplacementMap feDistantLight feDropShadow feFlood feFuncA feFuncB
  feFuncG feFuncR feGaussianBlur feImage feMerge feMergeNode feMorphology feOffset fePointLight feSpecularLighting feSpotLight feTile
  feTurbulence filter foreignObject g image line linearGradient marker mask metadata mpath path pattern polygon polyline radialGradient
  rect script set stop style svg switch symbol text textPath title tspan use view
  abs and annotation annotation-xml apply approx arccos arccosh arccot arccoth arccsc arccsch arcsec arcsech arcsin arcsinh arctan arctanh
  arg bind bvar card cartesianproduct cbytes ceiling cerror ci cn codomain complexes compose condition conjugate cos cosh cot coth cs csc
  csch csymbol curl declare degree determinant diff divergence divide domain domainofapplication emptyset eq equivalent eulergamma exists
  exp exponentiale factorial factorof false floor fn forall gcd geq grad gt ident image imaginary imaginaryi implies in infinity int
  integers intersect interval inverse lambda laplacian lcm leq limit list ln log logbase lowlimit lt maction maligngroup malignmark math
  matrix matrixrow max mean median menclose merror mfenced mfrac mglyph mi min minus mlabeledtr mlongdiv mmultiscripts mn mo mode moment
  momentabout mover mpadded mphantom mprescripts mroot mrow ms mscarries mscarry msgroup msline mspace msqrt msrow mstack mstyle msub
  msubsup msup mtable mtd mtext mtr munder munderover naturalnumbers neq none not notanumber notin notprsubset notsubset or otherwise
  outerproduct partialdiff pi piece piecewise plus power primes product prsubset quotient rationals real reals reln rem root
  scalarproduct sdev sec sech selector semantics sep set setdiff share sin sinh span subset sum tan tanh tendsto times transpose true
  union uplimit variance vector vectorproduct xor`.split(/\s+/));
const HTML_TOO = new Set(["title", "style", "font", "a", "script", "span"]);
/** Markup the two HTML parsers build different trees from: html5ever (nh3, on the server) parses a
 * select element's content by the customizable-select rules of the HTML standard (2025), still
 * counts isindex among the special elements, and after a DOCTYPE token inside a table moves the
 * table's whitespace out of it; parse5 does none of these. A fragment with a select or isindex
 * start tag or a DOCTYPE renders as nothing on both runtimes (edge_server/render.py's
 * DIVERGENT_START_TAG, the same pattern), instead of two different safe fragments. */
export const DIVERGENT_START_TAG = /<(?:select|isindex)[\t\n\f\r />]|<!doctype/i;

const TEXT_ESC = { "&": "&amp;", "\u00a0": "&nbsp;", "<": "&lt;", ">": "&gt;" };
const ATTR_ESC = { "&": "&amp;", "\u00a0": "&nbsp;", '"': "&quot;", "<": "&lt;", ">": "&gt;" };
const escapeText = (s) => s.replace(/[&\u00a0<>]/g, (c) => TEXT_ESC[c]);
const escapeAttr = (s) => s.replace(/[&\u00a0"<>]/g, (c) => ATTR_ESC[c]);

/** ammonia's URL check of href and src: false when the attribute is removed. */
function urlAllowed(value) {
  const v = urlInput(value);
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

/** Whether ammonia keeps an element where it stands (check_expected_namespace): the parent of
 * every element it sees is an HTML one (what it keeps is), so an SVG element must be <svg>, a
 * MathML one <math>, and an HTML one must not carry an SVG or MathML name. */
function expectedNamespace(el) {
  if (el.namespaceURI === SVG_NS) return el.tagName === "svg";
  if (el.namespaceURI === MATHML_NS) return el.tagName === "math";
  return !FOREIGN_NAMES.has(el.tagName) || HTML_TOO.has(el.tagName);
}

/** The cleaned content of `node`, serialised as html5ever serialises; iterative (as ammonia's
 * clean_dom), so that no nesting depth exhausts the stack. */
export function children(node) {
  let out = "";
  const todo = [...node.childNodes].reverse(); // nodes, and the end tags (strings) still to write
  while (todo.length) {
    const child = todo.pop();
    if (typeof child === "string") {
      out += child;
    } else if (child.nodeName === "#text") {
      out += escapeText(child.value);
    } else if (child.nodeName === "#comment" || child.nodeName === "#documentType") {
      continue;
    } else if (CLEAN_CONTENT.has(child.tagName) || !expectedNamespace(child)) {
      continue; // removed with its content
    } else if (child.namespaceURI !== HTML_NS || !TEMPLATE_TAGS.has(child.tagName)) {
      for (let i = child.childNodes.length - 1; i >= 0; i--) todo.push(child.childNodes[i]); // replaced by its content (a <template>'s is not among its children)
    } else {
      const tag = child.tagName;
      out += `<${tag}${attributes(tag, child.attrs)}>`;
      if (VOID.has(tag)) continue;
      todo.push(`</${tag}>`);
      for (let i = child.childNodes.length - 1; i >= 0; i--) todo.push(child.childNodes[i]);
    }
  }
  return out;
}

