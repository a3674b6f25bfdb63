/* Strata client script: personalises the elements marked data-strata-slot="NAME" by asking the
   edge server's /v1/decide, for pages the server does not rewrite itself. No dependencies.
   Usage: <script src="/v1/client.js" async></script>; optional client signals in
   window.strataSignals = {"cart.items": [...]}; goals with strata.track("purchase", 49.9).
   Marked elements are hidden at most 300 ms while the decision is on its way (no flicker, and
   never a blank page if the server is slow). */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = (script && script.getAttribute("data-base")) || "";
  /* The marked elements are hidden by a constructed style sheet (CSSOM, which a page's
     Content-Security-Policy does not govern), so a strict style-src needs no 'unsafe-inline';
     browsers without one get a <style> element carrying this script's CSP nonce. */
  var HIDE = "[data-strata-slot]{visibility:hidden}";
  var sheet = null, hide = null;
  try { sheet = new CSSStyleSheet(); sheet.replaceSync(HIDE); } catch (e) { sheet = null; }
  var conceal = function () {
    if (sheet && "adoptedStyleSheets" in document) {
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      return;
    }
    hide = document.createElement("style");
    if (script && script.nonce) { hide.nonce = script.nonce; }
    hide.textContent = HIDE;
    (document.head || document.documentElement).appendChild(hide);
  };
  var reveal = function () {
    if (sheet && "adoptedStyleSheets" in document) {
      document.adoptedStyleSheets = document.adoptedStyleSheets.filter(function (s) { return s !== sheet; });
    }
    if (hide && hide.parentNode) { hide.parentNode.removeChild(hide); }
  };

  function post(path, body) {
    return fetch(base + path, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    });
  }

  /* a refused request (e.g. 422 unknown_slot: the page names a slot its bundle lacks) leaves the
     page's own markup and says why in the console */
  function warn(res) {
    if (res && res.error && window.console) { console.warn("strata: " + res.error.code + ": " + res.error.message); }
    return null;
  }

  function decide(extraSignals) {
    var els = document.querySelectorAll("[data-strata-slot]");
    if (!els.length) { return Promise.resolve(null); }
    var slots = [];
    for (var i = 0; i < els.length; i++) {
      var name = els[i].getAttribute("data-strata-slot");
      if (slots.indexOf(name) < 0) { slots.push(name); }
    }
    var signals = Object.assign({}, window.strataSignals || {}, extraSignals || {});
    var page = { url: location.pathname + location.search, referrer: document.referrer || "" };
    var category = document.documentElement.getAttribute("data-strata-category");
    if (category) { page.category = category; }
    return post("/v1/decide", { page: page, slots: slots, signals: signals, html: true })
      .then(function (r) { return r.ok ? r.json() : r.json().then(warn, function () { return null; }); })
      .then(function (res) {
        if (!res || !res.slots) { return res; }
        for (var j = 0; j < els.length; j++) {
          var d = res.slots[els[j].getAttribute("data-strata-slot")];
          if (!d) { continue; }
          els[j].innerHTML = d.html;  /* rendered and HTML-escaped by the server */
          els[j].setAttribute("data-strata-reason", d.reason);
          if (d.rule) { els[j].setAttribute("data-strata-rule", d.rule); } else { els[j].removeAttribute("data-strata-rule"); }
          if (d.variant) { els[j].setAttribute("data-strata-variant", d.variant); } else { els[j].removeAttribute("data-strata-variant"); }
        }
        return res;
      });
  }

  function track(goal, value) {
    var body = { goal: goal };
    if (typeof value === "number") { body.value = value; }
    return post("/v1/events", body);
  }

  window.strata = { decide: decide, track: track };
  if (document.querySelector("[data-strata-slot]") || document.readyState === "loading") {
    conceal();
    var timer = setTimeout(reveal, 300);
    var run = function () {
      decide().catch(function () {}).then(function () { clearTimeout(timer); reveal(); });
    };
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", run); } else { run(); }
  }
})();
