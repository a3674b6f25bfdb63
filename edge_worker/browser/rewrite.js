// The page's slots filled in the browser, as page mode fills them on the servers
// (edge_server/rewrite.py, worker/rewrite.js): every element marked data-strata-slot="NAME" gets
// the decided content rendered by the servers' renderer (worker/render.js: values escaped, links by
// safe_href, templates sanitised to the shared allow-list with the same parser), and the
// data-strata-reason, -rule and -variant attributes. Anti-flicker: the marked elements are hidden
// by a constructed style sheet (not governed by the page's CSP) until decided, at most `timeout` ms,
// after which the page's own markup (the defaults) shows. The debug overlay is page mode's.

import { MAX_NAME, OVERLAY_CSS } from '../worker/contract.js';
import { overlay } from '../worker/pages.js';
import { render } from '../worker/render.js';
import * as py from '../runtime/python.js';
import { canSanitize, loadSanitizer } from './sanitize.js';

const HIDE = '[data-strata-slot]{visibility:hidden}';

function sheetOf(css) {
  try {
    const s = new CSSStyleSheet();
    s.replaceSync(css);
    return s;
  } catch {
    return null; // no constructable style sheets: nothing is hidden, the overlay unstyled
  }
}

function adopt(doc, sheet, on) {
  if (sheet === null || !('adoptedStyleSheets' in doc)) return;
  const rest = doc.adoptedStyleSheets.filter((s) => s !== sheet);
  doc.adoptedStyleSheets = on ? rest.concat([sheet]) : rest;
}

/** Hide the slots until reveal() is called or `timeout` ms pass (then `onTimeout()` runs and the
 * page's own markup shows); returns reveal. */
export function conceal(doc = document, timeout = 300, onTimeout = () => {}) {
  const sheet = sheetOf(HIDE);
  adopt(doc, sheet, true);
  let timer = null;
  const reveal = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    adopt(doc, sheet, false);
  };
  timer = setTimeout(() => {
    timer = null;
    onTimeout();
    reveal();
  }, timeout);
  return reveal;
}

/** The slot elements of the page and the slot names they mark, in document order (names stripped,
 * each once, as rewrite.py reads them). */
export function pageSlots(root = document) {
  const elements = Array.from(root.querySelectorAll('[data-strata-slot]'));
  const names = [];
  for (const el of elements) {
    const name = py.strip(el.getAttribute('data-strata-slot') ?? '');
    if (name && !names.includes(name)) names.push(name);
  }
  return { elements, names };
}

/** The page's category (<html data-strata-category>), as page mode reads it. */
export function pageCategory(doc = document) {
  return py.slice(py.strip(doc.documentElement.getAttribute('data-strata-category') ?? ''), MAX_NAME);
}

const rendered = new WeakMap(); // content block -> HTML (blocks are the bundle's immutable objects)

/** The HTML of a decision's content (render.js, once per content block). */
export function htmlOf(content) {
  if (content === null || typeof content !== 'object') return render(content);
  let html = rendered.get(content);
  if (html === undefined) {
    html = render(content);
    rendered.set(content, html);
  }
  return html;
}

/** Whether a content block has a template the sanitiser cannot take yet (sanitize.js: a few need
 * parse5, a lazily loaded part). */
const waitsForParse5 = (c) => c !== null && typeof c === 'object' && !canSanitize(c);

/** Fill each slot element with its decision (`decisions`: slot -> Decision); a promise of the
 * filled slots: at once, or once parse5 (a lazily loaded part) is there when a decided content
 * block's template needs it — then only if `wanted()` still says so (not past the anti-flicker
 * timeout, no newer decision). */
export function fillSlots(elements, decisions, wanted = () => true) {
  if (Object.values(decisions).some((d) => waitsForParse5(d.content))) {
    return loadSanitizer().then(() => {
      if (!wanted()) return false; // too late (the anti-flicker timeout) or decided again since
      fillNow(elements, decisions);
      return true;
    });
  }
  fillNow(elements, decisions);
  return Promise.resolve(true);
}

function fillNow(elements, decisions) {
  for (const el of elements) {
    const name = py.strip(el.getAttribute('data-strata-slot') ?? '');
    const d = Object.hasOwn(decisions, name) ? decisions[name] : undefined;
    if (d === undefined) continue;
    el.innerHTML = htmlOf(d.content); // rendered, escaped and sanitised as on the servers
    el.setAttribute('data-strata-reason', d.reason);
    for (const [attr, v] of [['data-strata-rule', d.rule], ['data-strata-variant', d.variant]]) {
      if (v) el.setAttribute(attr, v);
      else el.removeAttribute(attr);
    }
  }
}

/** Show the debug panel (page mode's, styled by OVERLAY_CSS) for an outcome decided with explain. */
export function showOverlay(outcome, doc = document) {
  doc.getElementById('strata-debug')?.remove();
  adopt(doc, sheetOf(OVERLAY_CSS), true);
  doc.body.insertAdjacentHTML('beforeend', overlay(outcome)); // every value escaped by overlay()
}
