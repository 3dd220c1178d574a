// Task instance page: follow a running try's log by polling the JSON log endpoint from an offset.
(function () {
  "use strict";
  var pre = document.getElementById("log");
  if (!pre || pre.getAttribute("data-follow") !== "true") return;
  var offset = parseInt(pre.getAttribute("data-offset") || "0", 10);
  var url = pre.getAttribute("data-url");
  var status = document.getElementById("log-following");
  var delay = 1000;

  function atBottom() { return pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8; }
  function poll() {
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    fetch(url + sep + "offset=" + offset, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        var stick = atBottom();
        if (data.text) pre.appendChild(document.createTextNode(data.text));  // text, never HTML
        offset = data.offset;
        if (stick) pre.scrollTop = pre.scrollHeight;
        if (data.running || data.text) {
          setTimeout(poll, data.text ? 300 : delay);
        } else if (status) {
          status.textContent = "the try finished (" + data.state + "); reload for the final state";
        }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, delay);
})();
