// Page mode with the platform's streaming HTML parser (HTMLRewriter, as in Cloudflare Workers and
// workerd): find the elements marked data-strata-slot="NAME" and replace their inner HTML with the
// decided, escaped content, as edge_server/rewrite.py does with Lexbor. Two passes over the page
// (at most MAX_PAGE_BYTES, held in memory like the Python server): the first reads the slots,
// category and mode, the second writes the decisions. Unlike Lexbor, HTMLRewriter keeps the rest of
// the document byte for byte instead of re-serialising it.

import * as py from "../runtime/python.js";
import { MAX_NAME, MAX_PAGE_BYTES } from "./contract.js";
import { b64url } from "./base64url.js";
import { BoundedCache } from "./bounded_cache.js";

// Pages larger than MAX_PAGE_BYTES (edge_server/edge_contract.json) are served untouched.
export { MAX_PAGE_BYTES };

const strip = (s) => py.strip(s ?? "");
const UTF8_OUT = new TextEncoder();
const DOCTYPE = UTF8_OUT.encode("<!DOCTYPE html>\n");
const DOCTYPE_AT_START = /^\s*<!doctype/i;

// Pages repeat (an origin serves the same HTML to every visitor): the first pass is cached per
// page, keyed by the SHA-256 of its bytes (the key never pins a page), bounded by bytes.
const scans = new BoundedCache(4 * 1024 * 1024);

/** {slots, category, mode} of a page (rewrite.py's Page); treat the result as read-only. `bytes`:
 * the page as the origin sent it (`html` is their UTF-8 decoding), hashed as they are. */
export async function readPage(html, bytes = UTF8_OUT.encode(html)) {
  const key = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  let scan = scans.get(key);
  if (scan === undefined) {
    scan = await scanPage(html);
    scans.set(key, scan);
  }
  return scan;
}

async function scanPage(html) {
  const slots = [];
  let category = "";
  let mode = "server";
  let root = false;
  const rewriter = new HTMLRewriter()
    .on("[data-strata-slot]", {
      element(el) {
        const raw = el.getAttribute("data-strata-slot");
        if (!raw) return;
        const name = strip(raw);
        if (!slots.includes(name)) slots.push(name);
      },
    })
    .on("html", {
      element(el) {
        if (root) return;
        root = true;
        category = py.slice(strip(el.getAttribute("data-strata-category")), MAX_NAME);
        mode = strip(el.getAttribute("data-strata-mode") || "server");
      },
    });
  await rewriter.transform(new Response(html)).arrayBuffer();
  return { slots, category, mode };
}

/** The page with each decided slot filled, as UTF-8 bytes: `decisions` slot -> Decision, `html(d)`
 * its rendered content; `overlay` (debug) is appended at the end of <body>. (Bytes, not text: the
 * rewriter's output goes to the response without a decode and an encode of the whole page; text
 * only for a page starting with a byte order mark.) */
export async function fillPage(html, decisions, htmlOf, overlay = null) {
  let bodySeen = false;
  let rewriter = new HTMLRewriter().on("[data-strata-slot]", {
    element(el) {
      const d = decisions[strip(el.getAttribute("data-strata-slot"))];
      if (d === undefined) return;
      el.setInnerContent(htmlOf(d), { html: true });
      el.setAttribute("data-strata-reason", d.reason);
      if (d.rule) el.setAttribute("data-strata-rule", d.rule);
      if (d.variant) el.setAttribute("data-strata-variant", d.variant);
    },
  });
  if (overlay) {
    rewriter = rewriter
      .on("body", {
        element(el) {
          if (bodySeen) return;
          bodySeen = true;
          el.append(overlay, { html: true });
        },
      })
      .onDocument({
        end(end) {
          if (!bodySeen) end.append(overlay, { html: true });
        },
      });
  }
  const filled = rewriter.transform(new Response(html));
  if (html.charCodeAt(0) === 0xfeff) { // a second byte order mark: text() drops it, as this page has always been served
    const text = await filled.text();
    return DOCTYPE_AT_START.test(text) ? text : "<!DOCTYPE html>\n" + text;
  }
  const out = new Uint8Array(await filled.arrayBuffer());
  // the rewriter changes slots' content and attributes only, so the output starts as the page does
  if (DOCTYPE_AT_START.test(html)) return out;
  const withDoctype = new Uint8Array(DOCTYPE.length + out.length);
  withDoctype.set(DOCTYPE, 0);
  withDoctype.set(out, DOCTYPE.length);
  return withDoctype;
}
