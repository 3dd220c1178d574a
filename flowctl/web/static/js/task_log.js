// Task instance page: load the rest of a long log chunk after chunk, and follow a running try's log by
// polling the JSON log endpoint from an offset.
(function () {
  "use strict";
  var pre = document.getElementById("log");
  if (!pre) return;
  var url = pre.getAttribute("data-url");
  var offset = parseInt(pre.getAttribute("data-offset") || "0", 10);
  var following = pre.getAttribute("data-follow") === "true";
  var more = pre.getAttribute("data-more") === "true";
  var status = document.getElementById("log-following");
  var notice = document.getElementById("log-truncated");
  var progress = document.getElementById("log-progress");
  var loadRest = document.getElementById("log-load-rest");
  var endButton = document.getElementById("log-end");
  // Past this much loaded without asking, stop and offer "Load the rest" (the download has it all):
  // a runaway log of gigabytes must not freeze the tab.
  var AUTO_LOAD = 32 * 1024 * 1024;
  var budget = AUTO_LOAD;
  var delay = 1000;

  function mb(bytes) { return (bytes / (1024 * 1024)).toFixed(1) + " MB"; }
  function atBottom() { return pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8; }
  function toEnd() { pre.scrollTop = pre.scrollHeight; }
  function showEndButton() { if (endButton) endButton.hidden = pre.scrollHeight <= pre.clientHeight; }

  function finished() {
    pre.setAttribute("data-complete", "true");
    if (notice) notice.hidden = true;
    showEndButton();
  }
  function paused(size) {
    if (progress) progress.textContent = "Showing the first " + mb(offset) + " of " + mb(size) + ".";
    if (loadRest) loadRest.hidden = false;
  }
  function step() {
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    fetch(url + sep + "offset=" + offset, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        var stick = following && atBottom();
        if (data.text) pre.appendChild(document.createTextNode(data.text));  // text, never HTML
        budget -= data.offset - offset;
        offset = data.offset;
        if (stick) toEnd();
        if (data.more) {
          if (progress) progress.textContent = "Loading the log: " + mb(offset) + " of " + mb(data.size) + "…";
          if (budget <= 0) { paused(data.size); return; }
          setTimeout(step, 0);
          return;
        }
        if (notice && !notice.hidden) notice.hidden = true;
        if (following && (data.running || data.text)) {
          setTimeout(step, data.text ? 300 : delay);
          return;
        }
        if (following && status) {
          status.textContent = "the try finished (" + data.state + "); reload for the final state";
        }
        finished();
      })
      .catch(function () { setTimeout(step, 5000); });
  }

  if (loadRest) {
    loadRest.addEventListener("click", function () {
      loadRest.hidden = true;
      budget = Infinity;
      step();
    });
  }
  if (endButton) endButton.addEventListener("click", toEnd);
  showEndButton();
  if (following) toEnd();  // a followed log opens at its newest line
  if (more) step();
  else if (following) setTimeout(step, delay);
  else finished();
})();
