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
// The rules themselves (the walk over the parsed tree) are in sanitize_tree.js.

import { Parser } from "parse5";

import { DIVERGENT_START_TAG, children } from "./sanitize_tree.js";

export { DIVERGENT_START_TAG };

let context = null; // the <div> a fragment is parsed in, as ammonia's parse_fragment

/** parse5's tree construction, with one fix: in SVG or MathML content each NUL becomes U+FFFD (the
 * standard, and html5ever), where parse5 7 and 8 make one U+FFFD of a run of NULs. */
class FragmentParser extends Parser {
  onNullCharacter(token) {
    if (!this.tokenizer.inForeignNode) return super.onNullCharacter(token);
    this.skipNextNewLine = false;
    this._insertCharacters({ ...token, chars: "\ufffd".repeat(token.chars.length) });
  }
}

function parseFragment(contextElement, html) {
  const parser = FragmentParser.getFragmentParser(contextElement);
  parser.tokenizer.write(html, true);
  return parser.getFragment();
}

/** render.py's sanitize: author HTML reduced to the template allow-list. */
export function sanitize(fragment) {
  if (DIVERGENT_START_TAG.test(fragment)) return "";
  if (context === null) context = parseFragment(null, "<div></div>").childNodes[0];
  // html5ever drops a byte order mark that starts its input; parse5 keeps it
  return children(parseFragment(context, fragment.startsWith("\ufeff") ? fragment.slice(1) : fragment));
}
