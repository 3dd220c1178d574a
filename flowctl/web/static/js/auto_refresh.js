// Auto-refresh (as Airflow's grid): while the page's runs are queued or running, fetch the page again
// every few seconds and swap in the parts it names (#auto-refresh[data-targets], element ids), then
// tell the page's own scripts ("flowctl:refreshed"). Off when unticked (remembered), when the tab is
// hidden, while boxes in a refreshed part are ticked (a selection in progress), and once no run is active.
(function () {
  "use strict";
  var holder = document.getElementById("auto-refresh");
  var toggle = document.getElementById("auto-refresh-toggle");
  if (!holder || !toggle) return;
  var KEY = "flowctl-auto-refresh";
  var targets = (holder.getAttribute("data-targets") || "").split(/\s+/).filter(Boolean);
  var interval = parseInt(holder.getAttribute("data-interval") || "3000", 10);
  var timer = null;

  try { toggle.checked = localStorage.getItem(KEY) !== "off"; } catch (e) { /* default: on */ }

  function active() { return holder.getAttribute("data-active") === "true"; }
  function busy() {
    return targets.some(function (id) {
      var el = document.getElementById(id);
      return el && el.querySelector("input[type=checkbox]:checked");
    });
  }
  function swap(doc) {
    targets.forEach(function (id) {
      var mine = document.getElementById(id);
      var theirs = doc.getElementById(id);
      if (!mine || !theirs) return;
      if (mine.tagName === "SCRIPT") mine.textContent = theirs.textContent;  // JSON data blocks
      else mine.innerHTML = theirs.innerHTML;  // same-origin HTML the server escaped; scripts do not run
    });
    var next = doc.getElementById("auto-refresh");
    holder.setAttribute("data-active", next && next.getAttribute("data-active") === "true" ? "true" : "false");
    document.dispatchEvent(new CustomEvent("flowctl:refreshed"));
  }
  function tick() {
    timer = null;
    if (!toggle.checked || !active()) return;
    if (document.hidden || busy()) { schedule(); return; }
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (text) { swap(new DOMParser().parseFromString(text, "text/html")); schedule(); })
      .catch(function () { timer = setTimeout(tick, interval * 5); });
  }
  function schedule() {
    if (timer === null && toggle.checked && active()) timer = setTimeout(tick, interval);
  }
  toggle.addEventListener("change", function () {
    try { localStorage.setItem(KEY, toggle.checked ? "on" : "off"); } catch (e) { /* not stored */ }
    if (toggle.checked) schedule();
  });
  schedule();
})();
