/* Monitoring charts: Plotly (served from the plotly package), data from
   json_script blocks rendered by the server from rollups and reports. */
(function () {
  "use strict";
  var layout = function (extra) {
    return Object.assign({
      margin: {l: 48, r: 16, t: 8, b: 36}, height: 240,
      legend: {orientation: "h", y: -0.25}, font: {size: 11},
      paper_bgcolor: "#fff", plot_bgcolor: "#fff"
    }, extra || {});
  };
  var config = {displayModeBar: false, responsive: true};
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function draw(id, traces, extra) {
    var el = document.getElementById(id);
    if (!el) { return; }
    if (!traces.length || traces.every(function (t) { return !(t.x || t.y || []).length; })) {
      el.classList.add("empty");
      el.innerHTML = '<p class="muted">No data in this span yet.</p>';
      return;
    }
    Plotly.newPlot(el, traces, layout(extra), config);
  }
  function line(x, y, name, extra) {
    return Object.assign({x: x, y: y, name: name, type: "scatter", mode: "lines+markers",
                          connectgaps: false, marker: {size: 4}}, extra || {});
  }
  function overview() {
    var d = data("overview-data");
    if (!d) { return; }
    draw("chart-overview", [
      {x: d.names, y: d.requests, name: "predictions", type: "bar"},
      {x: d.names, y: d.errors, name: "errors", type: "bar"}
    ], {barmode: "group"});
  }
  function model() {
    var d = data("model-data");
    if (!d) { return; }
    var t = d.traffic, pct = {tickformat: ".0%", rangemode: "tozero"};
    draw("chart-traffic", [{x: t.time, y: t.requests, name: "predictions", type: "bar"},
                           {x: t.time, y: t.errors, name: "errors", type: "bar"}],
         {barmode: "stack"});
    draw("chart-latency", [line(t.time, t.p50, "p50"), line(t.time, t.p95, "p95"),
                           line(t.time, t.p99, "p99")], {yaxis: {rangemode: "tozero"}});
    draw("chart-errors", [
      line(t.time, t.error_rate, "refused or failed (4xx+5xx)"),
      line(t.time, t.server_error_rate, "server errors (5xx)"),
    ], {yaxis: pct});
    draw("chart-outliers", [line(t.time, t.outlier_rate, "outlier rate")], {yaxis: pct});
    draw("chart-predictions", Object.keys(t.labels).map(function (k) {
      return {x: t.time, y: t.labels[k], name: k, type: "bar"};
    }), {barmode: "stack"});
    var dr = d.drift;
    draw("chart-drift", [line(dr.time, dr.share, "drift share", {type: "scatter"})],
         {yaxis: Object.assign({range: [0, 1]}, pct)});
    draw("chart-columns", Object.keys(dr.columns).map(function (c) {
      return line(dr.time, dr.columns[c], c + " (" + (dr.methods[c] || "") + ")");
    }), {height: 300});
    var p = d.performance;
    var traces = Object.keys(p.metrics).map(function (m) { return line(p.time, p.metrics[m], m); });
    traces.push(line(p.time, p.coverage, "label coverage", {line: {dash: "dot"}}));
    draw("chart-performance", traces, {height: 300, yaxis: {range: [0, 1.05]}});
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Plotly === "undefined") { return; }
    overview();
    model();
  });
})();
