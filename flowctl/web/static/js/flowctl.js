// flowctl's small page behaviours: theme toggle, confirmations, select-all boxes, pause toggles.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  window.flowctl = { csrfToken: csrfToken };

  function currentTheme() {
    var set = document.documentElement.getAttribute("data-theme");
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { localStorage.setItem("flowctl-theme", next); } catch (e) { /* not stored */ }
      document.dispatchEvent(new CustomEvent("flowctl:theme", { detail: next }));
    });
  }
  window.flowctl.theme = currentTheme;

  // <form data-confirm="Really?">: ask before submitting (the submitter's data-confirm wins).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var text = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) event.preventDefault();
  });

  // <input type=checkbox data-select-all="name">: ticks every box with that name.
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var name = box.getAttribute("data-select-all");
      document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (b) {
        b.checked = box.checked;
      });
      document.dispatchEvent(new Event("flowctl:selection"));
    });
  });

  // Bulk bars: enable their buttons only when something is selected.
  function refreshBulk() {
    document.querySelectorAll("[data-bulk-for]").forEach(function (bar) {
      var name = bar.getAttribute("data-bulk-for");
      var n = document.querySelectorAll('input[type=checkbox][name="' + name + '"]:checked').length;
      bar.querySelectorAll("button").forEach(function (b) { b.disabled = n === 0; });
      var label = bar.querySelector("[data-bulk-count]");
      if (label) label.textContent = n + " selected";
    });
  }
  document.addEventListener("change", refreshBulk);
  document.addEventListener("flowctl:selection", refreshBulk);
  refreshBulk();

  // Close an open menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
})();
