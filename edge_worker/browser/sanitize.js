// worker/sanitize.js in the browser build (tools/build_browser.js puts it in its place): the same
// rules (worker/sanitize_tree.js) over a fragment parsed by the browser's own HTML parser instead
// of parse5, so that a template costs no 50 KB part. The browser's parser builds the tree parse5 and
// html5ever build (the WHATWG algorithm; a <div> context, no-quirks), in an inert document: one
// made by document.implementation.createHTMLDocument, which has no browsing context, so nothing in
// it loads or runs. Three kinds of fragment are parsed otherwise by it, and go to parse5 (imported
// from strata-sanitize.mjs, browser/parts.js, when a decided content block needs it: rewrite.js's
// fillSlots loads it first): one with <noscript> (such a document parses without scripting, the
// servers with it), one with a NUL character, one with a numeric character reference without
// digits ("&#x;": Chromium's parser makes U+FFFD of both where html5ever and parse5 drop the NUL
// or keep the text), and one that may nest deeper than Chromium's parser does (MAX_NATIVE_TAGS). tests/browser/test_browser_render.py: every render vector and 1,500 fresh
// hostile templates give the servers' HTML byte for byte, and are inert in a live slot.

import { DIVERGENT_START_TAG, children } from '../worker/sanitize_tree.js';
import { loadPart, notLoaded } from './parts.js';

/** Fragments the browser's scripting-less inert parser reads otherwise than the servers do. */
export const NEEDS_PARSE5 = /<noscript|\0|&#(?![0-9]|[xX][0-9a-fA-F])/i;
/** Chromium's parser nests elements at most 512 deep (deeper ones become siblings), html5ever and
 * parse5 without a limit: a fragment with more '<' than this (each start tag has one) could be
 * nested that deep, and goes to parse5 too. */
export const MAX_NATIVE_TAGS = 256;

/** Whether this runtime has an HTML parser (Node and Deno, running the built module, have none:
 * there every template goes to parse5). */
const hasParser = () => typeof document !== 'undefined' && Boolean(document.implementation);

const needsParse5 = (html) => !hasParser() || NEEDS_PARSE5.test(html) || html.split('<', MAX_NATIVE_TAGS + 2).length > MAX_NATIVE_TAGS + 1;

let parse5 = null; // worker/sanitize.js's sanitize, once loaded
let inert = null; // the inert document fragments are parsed in

/** A DOM node in parse5's tree shape, as sanitize_tree.js reads it. */
function shaped(node) {
  switch (node.nodeType) {
    case 1:
      return {
        nodeName: node.localName,
        tagName: node.localName,
        namespaceURI: node.namespaceURI,
        attrs: Array.from(node.attributes, (a) => ({ name: a.namespaceURI ? a.localName : a.name, value: a.value, namespace: a.namespaceURI || undefined })),
        childNodes: Array.from(node.childNodes, shaped), // a <template>'s content is not among them, as in parse5
      };
    case 3:
      return { nodeName: '#text', value: node.data };
    case 10:
      return { nodeName: '#documentType' };
    default:
      return { nodeName: '#comment' }; // comments (the HTML parser makes no other kind of node here)
  }
}

/** The fragment `html` parsed as the servers parse it: in a <div> of an inert document. */
function parseFragment(html) {
  inert ??= document.implementation.createHTMLDocument('');
  const div = inert.createElement('div');
  div.innerHTML = html;
  return shaped(div);
}

/** render.py's sanitize: author HTML reduced to the template allow-list. */
export function sanitize(fragment) {
  if (DIVERGENT_START_TAG.test(fragment)) return '';
  if (needsParse5(fragment)) {
    if (parse5 === null) throw notLoaded('sanitize', 'loadSanitizer');
    return parse5(fragment);
  }
  // html5ever drops a byte order mark that starts its input (parse5 keeps it, as does innerHTML)
  return children(parseFragment(fragment.startsWith('\ufeff') ? fragment.slice(1) : fragment));
}

/** Whether a content block with a template can be rendered now (no part is missing): its
 * template needs no parse5, nor does any value filled into it — an escaped value ('&' and '<'
 * become entities) adds no tag, <noscript or character reference, only a NUL it holds would. */
export function canSanitize(content) {
  if (parse5 !== null || typeof content.template !== 'string') return true;
  if (needsParse5(content.template)) return false;
  const stack = [content];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string' && v.includes('\0')) return false;
    if (v !== null && typeof v === 'object') stack.push(...Object.values(v));
  }
  return true;
}

/** Whether parse5 is loaded (for a template with <noscript>). */
export const sanitizerLoaded = () => parse5 !== null;

/** Load parse5's sanitiser (once): what a template with <noscript> needs. */
export async function loadSanitizer() {
  parse5 ??= (await loadPart('sanitize')).sanitize;
}
