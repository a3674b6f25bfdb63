/* TrailBlazer demo shop: a cart kept in localStorage, mirrored into the first-party
   `strata_signals` cookie so that the edge server can use cart.items / cart.value when it
   personalises the next page. Checkout records the "purchase" goal. */
(function () {
  "use strict";
  function load() { try { return JSON.parse(localStorage.getItem("tb_cart") || "[]"); } catch (e) { return []; } }
  function save(items) {
    localStorage.setItem("tb_cart", JSON.stringify(items));
    var value = items.reduce(function (s, i) { return s + i.price * i.quantity; }, 0);
    var signals = { "cart.items": items, "cart.value": Math.round(value * 100) / 100 };
    document.cookie = "strata_signals=" + encodeURIComponent(JSON.stringify(signals)) + "; Path=/; SameSite=Lax; Max-Age=86400";
    render();
  }
  function render() {
    var items = load();
    var n = items.reduce(function (s, i) { return s + i.quantity; }, 0);
    var link = document.querySelector(".cart-link");
    if (link) { link.textContent = "Cart (" + n + ")"; }
    var table = document.getElementById("cart-rows");
    if (table) {
      table.innerHTML = "";
      items.forEach(function (i) {
        var tr = document.createElement("tr");
        [i.name, i.quantity, "$" + (i.price * i.quantity).toFixed(2)].forEach(function (v) {
          var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        });
        table.appendChild(tr);
      });
      var empty = document.getElementById("cart-empty");
      if (empty) { empty.hidden = items.length > 0; }
    }
  }
  document.addEventListener("click", function (ev) {
    var add = ev.target.closest("[data-add-to-cart]");
    if (add) {
      var items = load();
      var sku = add.getAttribute("data-sku");
      var found = items.filter(function (i) { return i.sku === sku; })[0];
      if (found) { found.quantity += 1; } else {
        items.push({ sku: sku, name: add.getAttribute("data-name"), category: add.getAttribute("data-category"),
                     price: parseFloat(add.getAttribute("data-price")), quantity: 1 });
      }
      save(items);
      if (window.strata) { window.strata.track("add_to_cart"); } else { fetch("/v1/events", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"goal":"add_to_cart"}' }); }
      add.textContent = "Added ✓";
    }
    var checkout = ev.target.closest("[data-checkout]");
    if (checkout) {
      var total = load().reduce(function (s, i) { return s + i.price * i.quantity; }, 0);
      fetch("/v1/events", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ goal: "purchase", value: total }) })
        .then(function () { save([]); document.getElementById("thanks").hidden = false; });
    }
  });
  // For pages that personalise themselves with /v1/client.js: the same cart, as client signals.
  var items = load();
  if (items.length) {
    window.strataSignals = { "cart.items": items, "cart.value": items.reduce(function (s, i) { return s + i.price * i.quantity; }, 0) };
  }
  render();
})();
