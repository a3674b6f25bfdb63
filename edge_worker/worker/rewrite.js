// Page mode with the platform's streaming HTML parser (HTMLRewriter, as in Cloudflare Workers and
// workerd): find the elements marked data-strata-slot="NAME" and replace their inner HTML with the
// decided, escaped content, as edge_server/rewrite.py does with Lexbor. Two passes over the page
// (at most MAX_PAGE_BYTES, held in memory like the Python server): the first reads the slots,
// category and mode, the second writes the decisions. Unlike Lexbor, HTMLRewriter keeps the rest of
// the document byte for byte instead of re-serialising it.

import * as py from "../runtime/python.js";
import { MAX_NAME, MAX_PAGE_BYTES } from "./contract.js";
import { BoundedCache } from "./bounded_cache.js";

// Pages larger than MAX_PAGE_BYTES (edge_server/edge_contract.json) are served untouched.
export { MAX_PAGE_BYTES };

const strip = (s) => py.strip(s ?? "");

// Pages repeat (an origin serves the same HTML to every visitor): the first pass is cached per
// page, keyed by the SHA-256 of its text (the key never pins a page), bounded by bytes.
const scans = new BoundedCache(4 * 1024 * 1024);

/** {slots, category, mode} of a page (rewrite.py's Page); treat the result as read-only. */
export async function readPage(html) {
  const key = await sha256Hex(html);
  let scan = scans.get(key);
  if (scan === undefined) {
    scan = await scanPage(html);
    scans.set(key, scan);
  }
  return scan;
}

async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
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

/** The page with each decided slot filled: `decisions` slot -> Decision, `html(d)` its rendered
 * content; `overlay` (debug) is appended at the end of <body>. */
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
  let out = await rewriter.transform(new Response(html)).text();
  if (!/^\s*<!doctype/i.test(out)) out = "<!DOCTYPE html>\n" + out;
  return out;
}
