// Graph view: lays the DAG out with dagre (layered, left to right, task groups as clusters that
// expand and collapse) and draws it as SVG; nodes take the chosen run's state colours and open
// that run's task instance when clicked. Auto-refresh replaces the JSON block ("flowctl:refreshed"):
// drawn again with the new states, groups kept as they were.
(function () {
  "use strict";
  var holder = document.getElementById("graph");
  var source = document.getElementById("graph-data");
  if (!holder || !source || !window.dagre) return;
  var data = JSON.parse(source.textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var groups = {};
  data.groups.forEach(function (g) { groups[g.id] = g; });
  var key = "flowctl-graph-collapsed:" + data.dag_id;
  var collapsed = {};
  try { collapsed = JSON.parse(localStorage.getItem(key) || "{}"); } catch (e) { collapsed = {}; }

  function enc(s) { return encodeURIComponent(s); }
  function tiUrl(taskId) {
    return "/dags/" + enc(data.dag_id) + "/runs/" + enc(data.run_id) + "/tasks/" + enc(taskId);
  }
  function chain(groupId) {  // outermost first
    var out = [];
    while (groupId) { out.unshift(groupId); groupId = groups[groupId] ? groups[groupId].parent : null; }
    return out;
  }
  function representative(groupId, fallback) {
    var c = chain(groupId);
    for (var i = 0; i < c.length; i++) if (collapsed[c[i]]) return c[i];
    return fallback;
  }
  function visibleGroup(groupId) {
    var c = chain(groupId);
    for (var i = 0; i < c.length - 1; i++) if (collapsed[c[i]]) return false;
    return true;
  }
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  // Wide enough for the name (12.5px bold) and the operator line under it (11px), within 96..280 px.
  function nodeWidth(label, extra, sub) {
    var need = Math.max(7.2 * label.length + 28 + (extra || 0), 6.4 * (sub || "").length + 24);
    return Math.max(96, Math.min(280, need));
  }
  function taskSub(task) {
    return (task.operator || "") + (task.mapped ? " [" + task.instances + "]" : "") + (task.role ? " · " + task.role : "");
  }
  function summary(states) {
    var order = ["failed", "upstream_failed", "up_for_retry", "up_for_reschedule", "running", "deferred", "queued",
                 "scheduled", "pending", "removed", "skipped", "success"];
    for (var i = 0; i < order.length; i++) if (states.indexOf(order[i]) >= 0) return order[i];
    return null;
  }

  function build() {
    var g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 46, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(function () { return {}; });
    data.groups.forEach(function (grp) {
      if (!visibleGroup(grp.id)) return;
      if (collapsed[grp.id]) {
        var states = data.nodes.filter(function (n) { return chain(n.group).indexOf(grp.id) >= 0; })
          .map(function (n) { return n.state; });
        g.setNode(grp.id, { kind: "collapsed", label: grp.label, width: nodeWidth(grp.label, 20, states.length + " tasks"), height: 40,
                            state: summary(states), count: states.length });
      } else {
        g.setNode(grp.id, { kind: "cluster", label: grp.label, width: nodeWidth(grp.label), height: 40 });
      }
      if (grp.parent) g.setParent(grp.id, grp.parent);
    });
    data.nodes.forEach(function (n) {
      if (representative(n.group, null)) return;
      g.setNode(n.id, { kind: "task", label: n.label, task: n, width: nodeWidth(n.label, 0, taskSub(n)), height: 40 });
      if (n.group) g.setParent(n.id, n.group);
    });
    var groupOf = {};
    data.nodes.forEach(function (n) { groupOf[n.id] = representative(n.group, n.id); });
    var dotted = {}, labels = {};
    (data.setup_edges || []).forEach(function (e) { dotted[e[0] + "\n" + e[1]] = true; });
    (data.edge_labels || []).forEach(function (e) { labels[e[0] + "\n" + e[1]] = e[2]; });
    data.edges.forEach(function (e) {
      var a = groupOf[e[0]], b = groupOf[e[1]];
      if (!a || !b || a === b || g.hasEdge(a, b)) return;
      var edge = { setup: !!dotted[e[0] + "\n" + e[1]] };
      var text = a === e[0] && b === e[1] ? labels[e[0] + "\n" + e[1]] : null;  // a Label, between two tasks shown
      if (text) { edge.text = text; edge.width = 6.2 * text.length + 8; edge.height = 14; edge.labelpos = "c"; }
      g.setEdge(a, b, edge);
    });
    dagre.layout(g);
    return g;
  }

  function draw() {
    var g = build();
    var size = g.graph();
    holder.textContent = "";
    var svg = el("svg", { width: Math.max(size.width, 200), height: Math.max(size.height, 80),
                          viewBox: "0 0 " + Math.max(size.width, 200) + " " + Math.max(size.height, 80),
                          class: "dag-graph" }, holder);
    el("path", { d: "M0,0 L8,4 L0,8 z", fill: "currentColor" }, el("marker", { id: "arrow", viewBox: "0 0 8 8",
       refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, orient: "auto" }, el("defs", {}, svg)));
    var clusters = el("g", { class: "clusters" }, svg);
    var edges = el("g", { class: "edges" }, svg);
    var nodes = el("g", { class: "nodes" }, svg);
    g.nodes().forEach(function (id) {
      var n = g.node(id);
      if (!n || n.kind !== "cluster") return;
      var box = el("g", { class: "cluster", "data-group": id }, clusters);
      el("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 8 }, box);
      var title = el("text", { x: n.x - n.width / 2 + 10, y: n.y - n.height / 2 + 16, class: "cluster-label" }, box);
      title.textContent = "▾ " + n.label;
      title.addEventListener("click", function () { collapsed[id] = true; save(); draw(); });
    });
    g.edges().forEach(function (e) {
      var pts = g.edge(e).points;
      var d = "M" + pts.map(function (p) { return p.x + "," + p.y; }).join(" L");
      el("path", { d: d, class: g.edge(e).setup ? "edge setup-teardown" : "edge", "marker-end": "url(#arrow)",
                   "data-from": e.v, "data-to": e.w }, edges);
      if (g.edge(e).text) {  // its Label, where dagre left room for it
        var text = el("text", { x: g.edge(e).x, y: g.edge(e).y + 4, class: "edge-label", "text-anchor": "middle",
                                "data-from": e.v, "data-to": e.w }, edges);
        text.textContent = g.edge(e).text;
      }
    });
    g.nodes().forEach(function (id) {
      var n = g.node(id);
      if (!n || n.kind === "cluster") return;
      var state = n.kind === "task" ? n.task.state : n.state;
      var node = el("g", { class: "node " + (n.kind === "task" ? "task" : "group") + " state-" + (state || "none"),
                           "data-id": id, "data-state": state || "", tabindex: 0, role: "link",
                           transform: "translate(" + (n.x - n.width / 2) + "," + (n.y - n.height / 2) + ")" }, nodes);
      el("rect", { width: n.width, height: n.height, rx: 6, class: "node-box" }, node);
      el("rect", { width: 6, height: n.height, rx: 3, class: "node-state" }, node);
      var label = el("text", { x: 14, y: 17, class: "node-label" }, node);
      label.textContent = (n.kind === "collapsed" ? "▸ " : "") + n.label;
      var sub = el("text", { x: 14, y: 32, class: "node-sub" }, node);
      sub.textContent = n.kind === "task" ? taskSub(n.task) : n.count + " tasks";
      var tip = el("title", {}, node);
      tip.textContent = id + (state ? " (" + state + ")" : "");
      function open() {
        if (n.kind === "collapsed") { collapsed[id] = false; save(); draw(); return; }
        if (data.run_id) window.location.href = tiUrl(id);
      }
      node.addEventListener("click", open);
      node.addEventListener("keydown", function (ev) { if (ev.key === "Enter") open(); });
    });
  }
  function save() { try { localStorage.setItem(key, JSON.stringify(collapsed)); } catch (e) { /* not stored */ } }
  function setAll(value) { data.groups.forEach(function (grp) { collapsed[grp.id] = value; }); save(); draw(); }
  var expand = document.getElementById("graph-expand-all");
  var collapse = document.getElementById("graph-collapse-all");
  if (expand) expand.addEventListener("click", function () { setAll(false); });
  if (collapse) collapse.addEventListener("click", function () { setAll(true); });
  document.addEventListener("flowctl:refreshed", function () {
    data = JSON.parse(source.textContent);
    groups = {};
    data.groups.forEach(function (g) { groups[g.id] = g; });
    draw();
  });
  draw();
})();
