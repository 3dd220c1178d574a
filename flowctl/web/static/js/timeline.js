// The timeline: one Gantt across every DAG (rows = dag_id.task_id, bars = tries), drawn with ECharts.
(function () {
  "use strict";
  var el = document.getElementById("timeline-chart");
  if (!el || !window.echarts) return;

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function draw(data) {
    var bars = data.bars;
    if (!bars.length) {
      el.classList.add("hidden");
      document.getElementById("timeline-empty").classList.remove("hidden");
      return;
    }
    var rows = [];
    var rowIndex = {};
    bars.forEach(function (b) {
      var name = b.dag_id + "." + b.task_id + (b.map_index >= 0 ? "[" + b.map_index + "]" : "");
      if (!(name in rowIndex)) { rowIndex[name] = rows.length; rows.push(name); }
    });
    var now = Date.parse(data.now);
    var items = bars.map(function (b) {
      var name = b.dag_id + "." + b.task_id + (b.map_index >= 0 ? "[" + b.map_index + "]" : "");
      var start = Date.parse(b.start_date);
      var end = b.end_date ? Date.parse(b.end_date) : now;
      var queued = b.queued_at ? Date.parse(b.queued_at) : start;
      return { value: [rowIndex[name], queued, start, end], bar: b,
               itemStyle: { color: cssVar("--state-" + b.state) } };
    });
    el.style.height = Math.max(320, Math.min(40 + rows.length * 22, 4000)) + "px";
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var text = cssVar("--text");
    chart.setOption({
      animation: false,
      grid: { left: 260, right: 24, top: 24, bottom: 48 },
      tooltip: {
        formatter: function (p) {
          var b = p.data.bar;
          var fmt = function (s) { return s ? window.flowctl.formatTime(s) : "still running"; };
          var esc = function (s) { return String(s).replace(/[&<>"']/g, function (c) {
            return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); };
          return "<b>" + esc(b.dag_id) + "." + esc(b.task_id) + "</b><br>" + esc(b.state) + " · try " + b.try_number +
            "<br>run " + esc(b.run_id) + "<br>queued " + fmt(b.queued_at) + "<br>start " + fmt(b.start_date) +
            "<br>end " + fmt(b.end_date) + (b.hostname ? "<br>host " + esc(b.hostname) : "");
        }
      },
      dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "weakFilter" }, { type: "slider", xAxisIndex: 0, height: 18, bottom: 8 }],
      xAxis: { type: "time", min: Date.parse(data.start), max: Date.parse(data.end),
               axisLabel: { color: text, formatter: function (t) { return window.flowctl.formatTime(t).slice(5, 16); } } },
      yAxis: { type: "category", data: rows, inverse: true, axisLabel: { color: text, width: 240, overflow: "truncate" } },
      series: [{
        type: "custom",
        encode: { x: [1, 2, 3], y: 0 },
        data: items,
        renderItem: function (params, api) {
          var row = api.value(0);
          var q = api.coord([api.value(1), row]);
          var s = api.coord([api.value(2), row]);
          var e = api.coord([api.value(3), row]);
          var h = api.size([0, 1])[1] * 0.6;
          var color = api.visual("color");
          var shapes = [];
          if (s[0] > q[0]) {
            shapes.push({ type: "rect", shape: { x: q[0], y: q[1] - h / 2, width: s[0] - q[0], height: h },
                          style: { fill: cssVar("--state-queued"), opacity: 0.35 } });
          }
          shapes.push({ type: "rect", shape: { x: s[0], y: s[1] - h / 2, width: Math.max(e[0] - s[0], 2), height: h },
                        style: { fill: color } });
          return { type: "group", children: shapes };
        }
      }]
    });
    chart.on("click", function (p) { if (p.data && p.data.bar) window.location.href = p.data.bar.url; });
    window.addEventListener("resize", function () { chart.resize(); });
    document.addEventListener("flowctl:theme", function () { chart.dispose(); draw(data); });
  }

  fetch(el.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { return r.json(); })
    .then(draw);
})();
