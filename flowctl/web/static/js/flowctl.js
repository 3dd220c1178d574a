// flowctl's small page behaviours: theme toggle, time zone menu, confirmations, select-all boxes, pause toggles.
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

  // A <select data-autosubmit> submits its form when changed (the policy allows no inline onchange).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("select[data-autosubmit]") && target.form) target.form.submit();
  });

  // The pages' time zone (<meta name="ui-timezone">, chosen in the zone menu, kept in a cookie).
  function uiZone() {
    var meta = document.querySelector('meta[name="ui-timezone"]');
    return (meta && meta.getAttribute("content")) || "UTC";
  }
  var zoneFormat = null;
  // "2024-01-02 03:04:05" in the page's zone, as the server prints times; "" for none.
  function formatTime(value) {
    if (value === null || value === undefined || value === "") return "";
    var when = new Date(value);
    if (isNaN(when.getTime())) return String(value);
    if (!zoneFormat) {
      zoneFormat = new Intl.DateTimeFormat("en-GB", { timeZone: uiZone(), hourCycle: "h23", year: "numeric",
        month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }
    var part = {};
    zoneFormat.formatToParts(when).forEach(function (p) { part[p.type] = p.value; });
    return part.year + "-" + part.month + "-" + part.day + " " + part.hour + ":" + part.minute + ":" + part.second;
  }
  window.flowctl.uiZone = uiZone;
  window.flowctl.formatTime = formatTime;

  var zoneMenu = document.getElementById("tz-select");
  if (zoneMenu) {
    var browserZone = "";
    try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* none */ }
    var listed = Array.prototype.some.call(zoneMenu.options, function (o) { return o.value === browserZone; });
    if (browserZone && !listed) zoneMenu.add(new Option(browserZone + " (this browser)", browserZone));
    zoneMenu.addEventListener("change", function () {
      document.cookie = "flowctl_tz=" + encodeURIComponent(zoneMenu.value) + "; path=/; max-age=31536000; SameSite=Lax";
      window.location.reload();
    });
  }

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
