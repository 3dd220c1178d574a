// Per-DAG charts drawn with Apache ECharts: the Gantt of a run (queued + running per try), task
// duration and landing times over runs, and a year's calendar of daily run states. Data comes from
// <script type="application/json"> blocks the server rendered; names are escaped in tooltips.
(function () {
  "use strict";
  if (!window.echarts) return;
  var css = getComputedStyle(document.documentElement);
  function v(name, fallback) { return (css.getPropertyValue(name) || "").trim() || fallback; }
  function stateColor(state) { return v("--state-" + (state || "none"), "#999"); }
  function esc(text) { return window.echarts.format.encodeHTML(String(text == null ? "" : text)); }
  function json(id) { var node = document.getElementById(id); return node ? JSON.parse(node.textContent) : null; }
  function enc(s) { return encodeURIComponent(s); }
  function fmtSeconds(s) {
    if (s == null || isNaN(s)) return "";
    var neg = s < 0; s = Math.abs(s);
    var out = s < 60 ? s.toFixed(1) + "s" : s < 3600 ? Math.floor(s / 60) + "m " + Math.round(s % 60) + "s"
      : Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return (neg ? "-" : "") + out;
  }
  function base() {
    return { textStyle: { color: v("--text", "#222") }, backgroundColor: "transparent", animation: false };
  }
  function axisStyle() {
    return { axisLine: { lineStyle: { color: v("--border", "#ccc") } }, axisLabel: { color: v("--muted", "#666") },
             splitLine: { lineStyle: { color: v("--border", "#eee"), opacity: 0.6 } } };
  }
  var charts = [];
  function mount(id, option, onClick) {
    var node = document.getElementById(id);
    if (!node) return;
    var chart = window.echarts.init(node, null, { renderer: "svg" });
    chart.setOption(option);
    if (onClick) chart.on("click", onClick);
    charts.push(chart);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function gantt() {
    var data = json("gantt-data");
    if (!data || !data.bars.length) return;
    var tasks = [];
    data.bars.forEach(function (b) { if (tasks.indexOf(b.task) < 0) tasks.push(b.task); });
    var items = data.bars.map(function (b) {
      var start = b.start ? Date.parse(b.start) : Date.parse(b.queued);
      var queued = b.queued ? Date.parse(b.queued) : start;
      var end = b.end ? Date.parse(b.end) : start;
      return { value: [tasks.indexOf(b.task), queued, start, Math.max(end, start + 1), b.try], bar: b };
    });
    function render(params, api) {
      var y = api.value(0), h = api.size([0, 1])[1] * 0.6;
      var q = api.coord([api.value(1), y]), s = api.coord([api.value(2), y]), e = api.coord([api.value(3), y]);
      var color = stateColor(items[params.dataIndex].bar.state);
      return { type: "group", children: [
        { type: "rect", shape: { x: q[0], y: q[1] - h / 2, width: Math.max(s[0] - q[0], 0), height: h },
          style: { fill: color, opacity: 0.3 } },
        { type: "rect", shape: { x: s[0], y: s[1] - h / 2, width: Math.max(e[0] - s[0], 2), height: h, r: 3 },
          style: { fill: color } }] };
    }
    var ax = axisStyle();
    // The axis labels carry the day too when the run's bars span more than one day (in the page's zone).
    var days = {};
    items.forEach(function (i) { [i.value[1], i.value[3]].forEach(function (t) {
      days[window.flowctl.formatTime(t).slice(0, 10)] = true; }); });
    var manyDays = Object.keys(days).length > 1;
    mount("gantt", Object.assign(base(), {
      grid: { left: 10, right: 24, top: 16, bottom: 30, containLabel: true },
      tooltip: { formatter: function (p) {
        var b = items[p.dataIndex].bar;
        var ran = b.start && b.end ? (Date.parse(b.end) - Date.parse(b.start)) / 1000 : null;
        var waited = b.queued && b.start ? (Date.parse(b.start) - Date.parse(b.queued)) / 1000 : null;
        return esc(b.task) + " · try " + b.try + "<br>" + esc(b.state) + "<br>queued " + fmtSeconds(waited) +
               " · ran " + fmtSeconds(ran);
      } },
      xAxis: Object.assign({ type: "time" }, ax, { axisLabel: Object.assign({}, ax.axisLabel, {
        formatter: function (t) { return window.flowctl.formatTime(t).slice(manyDays ? 5 : 11, 19); } }) }),
      yAxis: Object.assign({ type: "category", data: tasks, inverse: true }, ax),
      series: [{ type: "custom", renderItem: render, encode: { x: [1, 2, 3], y: 0 }, data: items }]
    }), function (p) {
      var b = items[p.dataIndex].bar;
      var url = "/dags/" + enc(data.dag_id) + "/runs/" + enc(data.run_id) + "/tasks/" + enc(b.task_id) + "?try=" + b.try;
      window.location.href = b.map_index >= 0 ? url + "&map_index=" + b.map_index : url;
    });
  }

  function series() {
    var data = json("series-data");
    var node = document.getElementById("series-chart");
    if (!data || !node || !data.runs.length) return;
    var ax = axisStyle();
    var names = Object.keys(data.series);
    mount("series-chart", Object.assign(base(), {
      grid: { left: 10, right: 24, top: 40, bottom: 40, containLabel: true },
      legend: { type: "scroll", top: 0, textStyle: { color: v("--text", "#222") } },
      tooltip: { trigger: "axis", formatter: function (ps) {
        var lines = [esc(data.runs[ps[0].dataIndex])];
        ps.forEach(function (p) { if (p.value != null) lines.push(esc(p.seriesName) + ": " + fmtSeconds(p.value)); });
        return lines.join("<br>");
      } },
      xAxis: Object.assign({ type: "category", data: data.dates.map(function (d) { return window.flowctl.formatTime(d).slice(0, 16); }) }, ax),
      yAxis: Object.assign({ type: "value", name: node.getAttribute("data-axis"),
                             axisLabel: { formatter: fmtSeconds, color: v("--muted", "#666") } }, ax),
      series: names.map(function (n) { return { name: n, type: "line", connectNulls: false, symbolSize: 6, data: data.series[n] }; })
    }), function (p) {
      window.location.href = "/dags/" + enc(data.dag_id) + "/runs/" + enc(data.runs[p.dataIndex]) + "/tasks/" + enc(p.seriesName);
    });
  }

  function calendar() {
    var data = json("calendar-data");
    if (!data) return;
    var points = data.days.map(function (d) {
      return { value: [d.date, 1], itemStyle: { color: stateColor(d.state) }, day: d };
    });
    mount("calendar", Object.assign(base(), {
      tooltip: { formatter: function (p) {
        var d = p.data.day;
        return esc(d.date) + "<br>" + Object.keys(d.counts).map(function (s) { return d.counts[s] + " " + esc(s); }).join(", ");
      } },
      calendar: { range: String(data.year), cellSize: [16, 16], top: 30, left: 40, right: 10,
                  itemStyle: { color: v("--surface-2", "#f4f4f4"), borderColor: v("--border", "#ddd") },
                  splitLine: { lineStyle: { color: v("--muted", "#999") } },
                  dayLabel: { color: v("--muted", "#666") }, monthLabel: { color: v("--muted", "#666") },
                  yearLabel: { show: false } },
      series: [{ type: "scatter", coordinateSystem: "calendar", symbol: "roundRect", symbolSize: 13, data: points }]
    }));
  }

  gantt();
  series();
  calendar();
  document.addEventListener("flowctl:theme", function () {
    css = getComputedStyle(document.documentElement);
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    gantt(); series(); calendar();
  });
})();
