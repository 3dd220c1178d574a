// Grid view: expand / collapse task groups (rows of a group hide with it), remembered per DAG; kept
// when auto-refresh swaps in new rows ("flowctl:refreshed").
(function () {
  "use strict";
  var table = document.getElementById("dag-grid");
  if (!table) return;
  var rows = [];
  function readRows() { rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr")); }
  readRows();
  var key = "flowctl-grid-collapsed:" + location.pathname;
  var collapsed = {};
  try { collapsed = JSON.parse(localStorage.getItem(key) || "{}"); } catch (e) { collapsed = {}; }

  function ancestorsCollapsed(row) {
    var parent = row.getAttribute("data-parent");
    while (parent) {
      if (collapsed[parent]) return true;
      var p = table.querySelector('tr[data-node="' + CSS.escape(parent) + '"]');
      parent = p ? p.getAttribute("data-parent") : "";
    }
    return false;
  }
  function refresh() {
    rows.forEach(function (row) {
      row.hidden = ancestorsCollapsed(row);
      var toggle = row.querySelector("button.toggle");
      if (toggle) {
        var closed = !!collapsed[row.getAttribute("data-node")];
        toggle.textContent = closed ? "▸" : "▾";
        toggle.setAttribute("aria-expanded", closed ? "false" : "true");
      }
    });
    try { localStorage.setItem(key, JSON.stringify(collapsed)); } catch (e) { /* not stored */ }
  }
  table.addEventListener("click", function (event) {
    var toggle = event.target.closest("button.toggle");
    if (!toggle) return;
    var group = toggle.getAttribute("data-group");
    collapsed[group] = !collapsed[group];
    refresh();
  });
  function setAll(value) {
    rows.forEach(function (row) { if (row.classList.contains("group-row")) collapsed[row.getAttribute("data-node")] = value; });
    refresh();
  }
  var expand = document.getElementById("grid-expand-all");
  var collapse = document.getElementById("grid-collapse-all");
  if (expand) expand.addEventListener("click", function () { setAll(false); });
  if (collapse) collapse.addEventListener("click", function () { setAll(true); });
  document.addEventListener("flowctl:refreshed", function () { readRows(); refresh(); });
  refresh();
})();
