// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";

  // One tap sends once: a form's buttons are disabled while it is on its way (the service
  // would record it once anyway, by the form's idempotency key).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // The round list refreshes itself, but never while the nurse is typing in it or has a form
  // half filled: what they are doing is not lost.
  var list = document.getElementById("round-list");
  if (!list) { return; }
  var seconds = parseInt(list.dataset.refresh || "30", 10);
  function busy() {
    var current = document.getElementById("round-list");
    if (!current) { return true; }
    if (current.contains(document.activeElement) && document.activeElement !== document.body) { return true; }
    var typed = false;
    current.querySelectorAll("input:not([type=hidden]), select").forEach(function (field) {
      if (field.value && field.tagName !== "SELECT") { typed = true; }
      if (field.tagName === "SELECT" && field.selectedIndex > 0) { typed = true; }
    });
    var open = current.querySelector("details[open]");
    return typed || !!open;
  }
  function refresh() {
    if (busy()) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || busy()) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("round-list");
        var current = document.getElementById("round-list");
        if (fresh && current) { current.replaceWith(fresh); }
      })
      .catch(function () { /* the network dropped: try again at the next tick */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
