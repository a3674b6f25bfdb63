// The page's slots filled in the browser, as page mode fills them on the servers
// (edge_server/rewrite.py, worker/rewrite.js): every element marked data-strata-slot="NAME" gets
// the decided content rendered by the servers' renderer (worker/render.js: values escaped, links by
// safe_href, templates sanitised to the shared allow-list with the same parser), and the
// data-strata-reason, -rule and -variant attributes. Anti-flicker: the marked elements are hidden
// by a constructed style sheet (not governed by the page's CSP) until each is filled (its
// data-strata-reason set), at most `timeout` ms, after which the page's own markup (the defaults)
// shows. While the page still parses, fillAsParsed() fills each slot as soon as the parser has
// closed it. The debug overlay is page mode's.

import { MAX_NAME, OVERLAY_CSS } from '../worker/contract.js';
import { overlay } from '../worker/pages.js';
import { render } from '../worker/render.js';
import * as py from '../runtime/python.js';
import { canSanitize, loadSanitizer } from './sanitize.js';

/** Slots not yet filled are hidden; a filled slot (data-strata-reason written) shows at once. */
const HIDE = '[data-strata-slot]:not([data-strata-reason]){visibility:hidden}';
const SLOT = '[data-strata-slot]';

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
  for (const el of elements) fillElement(el, decisions);
}

/** The slot name an element marks (stripped as rewrite.py strips it). */
export const slotName = (el) => py.strip(el.getAttribute('data-strata-slot') ?? '');
const decisionOf = (decisions, el) => {
  const name = slotName(el);
  return Object.hasOwn(decisions, name) ? decisions[name] : undefined;
};

const written = new WeakMap(); // slot element -> the decision's HTML and attributes last written into it
let writes = 0;
/** How many times a slot's content was written so far (the benchmark's "filled" time is the last). */
export const slotWrites = () => writes;

/** Write a slot's decision into it (nothing when the bundle does not decide it, or when the
 * element already shows exactly this); whether it shows a decision now. */
function fillElement(el, decisions) {
  const d = decisionOf(decisions, el);
  if (d === undefined) return false;
  const html = htmlOf(d.content); // rendered, escaped and sanitised as on the servers
  const key = `${d.reason}\u0000${d.rule ?? ''}\u0000${d.variant ?? ''}\u0000${html}`;
  if (written.get(el) === key && el.hasAttribute('data-strata-reason')) return true;
  el.innerHTML = html;
  el.setAttribute('data-strata-reason', d.reason);
  for (const [attr, v] of [['data-strata-rule', d.rule], ['data-strata-variant', d.variant]]) {
    if (v) el.setAttribute(attr, v);
    else el.removeAttribute(attr);
  }
  written.set(el, key);
  writes++;
  return true;
}

/** Whether the parser is done with `el`: something follows it in the document (the parser only
 * appends, so a node after it means its end tag was read). */
function closed(el) {
  for (let n = el; n !== null; n = n.parentNode) if (n.nextSibling !== null) return true;
  return false;
}

/** Fill the slots of a page that is still being parsed with `decisions` (every slot of the
 * bundle): those parsed already at once, each later one as soon as the parser has closed it (a
 * MutationObserver; a slot filled while its default markup is still arriving would get the rest
 * of it appended), while `wanted()` says so (not past the anti-flicker timeout). A template that
 * needs parse5 waits for it (the slot stays hidden). `onFill(el)` runs after each slot is filled.
 * Returns finish(): call it once the document is parsed (DOMContentLoaded) — it fills what is
 * left, stops watching and returns the slot elements filled. */
export function fillAsParsed(doc, decisions, wanted = () => true, onFill = () => {}) {
  const filled = new Set();
  const pending = new Set(); // slots seen, not yet closed by the parser
  const waiting = new Set(); // slots whose template waits for parse5
  let done = false;
  const one = (el) => {
    if (filled.has(el) || done || !wanted()) return;
    const d = decisionOf(decisions, el);
    if (d === undefined) return;
    if (waitsForParse5(d.content)) {
      if (waiting.size === 0) loadSanitizer().then(() => { for (const w of waiting) one(w); waiting.clear(); }, () => {});
      waiting.add(el);
      return;
    }
    waiting.delete(el);
    fillElement(el, decisions);
    filled.add(el);
    onFill(el);
  };
  const seen = (el) => {
    if (closed(el)) one(el);
    else pending.add(el);
  };
  for (const el of doc.querySelectorAll(SLOT)) seen(el);
  const observer = typeof MutationObserver === 'function' ? new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches(SLOT)) seen(n);
        if (n.firstElementChild !== null) for (const el of n.querySelectorAll(SLOT)) seen(el);
      }
    }
    for (const el of pending) {
      if (closed(el)) {
        pending.delete(el);
        one(el);
      }
    }
  }) : null;
  observer?.observe(doc, { childList: true, subtree: true });
  return function finish() {
    observer?.disconnect();
    for (const el of doc.querySelectorAll(SLOT)) one(el);
    done = true;
    return Array.from(filled).filter((el) => el.isConnected);
  };
}

/** Show the debug panel (page mode's, styled by OVERLAY_CSS) for an outcome decided with explain. */
export function showOverlay(outcome, doc = document) {
  doc.getElementById('strata-debug')?.remove();
  adopt(doc, sheetOf(OVERLAY_CSS), true);
  doc.body.insertAdjacentHTML('beforeend', overlay(outcome)); // every value escaped by overlay()
}
