// Trigger form: keep the JSON conf editor in step with the param fields; fill it from a recent conf.
// An empty field is "no value": its key leaves the conf, and the server reads the empty field as the
// param's default (or null, or a refusal naming a required param), never as "".
(function () {
  "use strict";
  var form = document.getElementById("trigger-form");
  var conf = document.getElementById("conf");
  if (!form || !conf) return;

  function fieldValue(el) {  // undefined: no value
    var kind = el.getAttribute("data-kind");
    var text = el.value;
    if (kind === "bool") return text === "true";
    if (text === "") return undefined;
    if ((kind === "integer" || kind === "number") && text !== "") return Number(text);
    if (kind === "json") { try { return JSON.parse(text); } catch (e) { return text; } }
    return text;
  }
  function current() {
    try { var v = JSON.parse(conf.value || "{}"); return (v && typeof v === "object" && !Array.isArray(v)) ? v : null; }
    catch (e) { return null; }
  }
  function syncFromFields() {
    var value = current();
    if (value === null) return;  // leave a hand-edited, invalid conf alone
    form.querySelectorAll("[data-param]").forEach(function (el) {
      var v = fieldValue(el);
      if (v === undefined) delete value[el.getAttribute("data-param")];
      else value[el.getAttribute("data-param")] = v;
    });
    conf.value = JSON.stringify(value, null, 2);
  }
  function syncToFields() {
    var value = current();
    if (value === null) return;
    form.querySelectorAll("[data-param]").forEach(function (el) {
      var name = el.getAttribute("data-param");
      if (!(name in value)) return;
      var v = value[name];
      if (v === null) { el.value = ""; return; }
      el.value = typeof v === "object" ? JSON.stringify(v, null, 2) : String(v);
    });
  }
  form.querySelectorAll("[data-param]").forEach(function (el) {
    el.addEventListener("change", syncFromFields);
  });
  conf.addEventListener("change", syncToFields);
  var recent = document.getElementById("recent-confs");
  if (recent) {
    recent.addEventListener("change", function () {
      if (!recent.value) return;
      conf.value = recent.value;
      syncToFields();
    });
  }
  if (!conf.value.trim()) syncFromFields();
})();
