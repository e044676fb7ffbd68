/* Monitoring charts: Plotly (the basic build, served locally), data from
   json_script blocks rendered by the server from rollups and reports.

   Time charts share the span's fixed axis (buckets from the server); buckets
   still filling are shaded and drawn apart, so a half-counted hour does not
   read as a fall. A chart without data keeps the message the server put in
   it (what will appear there, and how to produce it). */
(function () {
  "use strict";
  var COLORS = ["#3657d6", "#e8833a", "#1c7c46", "#b3261e", "#7b4fc9", "#8c564b",
                "#d6378f", "#6b7385", "#9a9a1f", "#17a2b8", "#2f4f8f", "#c9a227"];
  var config = {displayModeBar: false, responsive: true};

  function layout(extra) {
    return Object.assign({
      margin: {l: 56, r: 16, t: 8, b: 36}, height: 240,
      legend: {orientation: "h", y: -0.25}, font: {size: 11},
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", hovermode: "x unified"
    }, extra || {});
  }
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function hasData(trace) {
    return (trace.y || []).some(function (v) {
      return v !== null && v !== undefined && (trace.type !== "bar" || v !== 0);
    });
  }
  function draw(id, traces, extra) {
    var el = document.getElementById(id);
    if (!el) { return; }
    if (!traces.some(hasData)) {
      el.classList.add("empty");
      if (!el.querySelector(".empty-state")) {
        el.innerHTML = '<p class="muted empty-state">No data in this span yet.</p>';
      }
      return;
    }
    el.replaceChildren();
    Plotly.newPlot(el, traces, layout(extra), config);
  }
  function timeAxis(t) {
    return {type: "date", range: t.range, title: {text: "UTC", standoff: 4}};
  }
  // y axis of a share (0-1) shown in %, never a range so small that every
  // tick reads "0%"
  function shareAxis(series) {
    var top = 0;
    series.forEach(function (ys) {
      ys.forEach(function (v) { if (v !== null && v > top) { top = v; } });
    });
    return {tickformat: ",.1~%", range: [0, Math.max(0.05, Math.min(1, top * 1.15))]};
  }
  // the shaded band of the buckets still filling, with its label
  function filling(t) {
    if (t.partial_from === null || t.partial_from === undefined) { return {}; }
    var from = t.time[t.partial_from];
    return {
      margin: {l: 56, r: 16, t: 20, b: 36},
      shapes: [{type: "rect", xref: "x", yref: "paper", x0: from, x1: t.range[1],
                y0: 0, y1: 1, fillcolor: "#eef0f5", opacity: 0.6, line: {width: 0},
                layer: "below"}],
      annotations: [{xref: "x", yref: "paper", x: t.range[1], y: 1, xanchor: "right",
                     yanchor: "bottom", showarrow: false, text: "still filling",
                     font: {size: 10, color: "#6b7385"}}]
    };
  }
  // a line over the settled buckets, and the filling ones as open markers
  function lines(t, ys, name, i, extra) {
    var cut = t.partial_from === null ? t.time.length : t.partial_from;
    var color = COLORS[i % COLORS.length];
    return [
      Object.assign({x: t.time.slice(0, cut), y: ys.slice(0, cut), name: name,
                     type: "scatter", mode: "lines+markers", connectgaps: false,
                     line: {color: color}, marker: {size: 4, color: color}}, extra || {}),
      {x: t.time.slice(cut), y: ys.slice(cut), name: name + " (filling)",
       type: "scatter", mode: "markers", showlegend: false,
       marker: {size: 7, color: "#fff", line: {color: color, width: 1.5}}}
    ];
  }
  function bars(t, ys, name, i) {
    return {x: t.time, y: ys, name: name, type: "bar",
            marker: {color: COLORS[i % COLORS.length], opacity: t.time.map(function (_, j) {
              return t.partial_from !== null && j >= t.partial_from ? 0.4 : 1;
            })}};
  }
  function flat(list) { return [].concat.apply([], list); }
  function merge(a, b) { return Object.assign({}, a, b); }

  function overview() {
    var d = data("overview-data");
    if (!d) { return; }
    draw("chart-overview", [
      {x: d.names, y: d.requests, name: "predictions", type: "bar", marker: {color: COLORS[0]}},
      {x: d.names, y: d.errors, name: "errors", type: "bar", marker: {color: COLORS[3]}}
    ], {barmode: "group"});
  }

  function model() {
    var d = data("model-data");
    if (!d) { return; }
    var t = d.traffic, x = timeAxis(t), band = filling(t);
    draw("chart-traffic", [bars(t, t.requests, "predictions", 0), bars(t, t.errors, "errors", 3)],
         merge(band, {barmode: "stack", xaxis: x, yaxis: {rangemode: "tozero", title: {text: "requests"}}}));
    draw("chart-latency", flat([lines(t, t.p50, "p50", 0), lines(t, t.p95, "p95", 1),
                                lines(t, t.p99, "p99", 2)]),
         merge(band, {xaxis: x, yaxis: {rangemode: "tozero", title: {text: "ms"}}}));
    draw("chart-errors", flat([lines(t, t.error_rate, "refused or failed (4xx+5xx)", 3),
                               lines(t, t.server_error_rate, "server errors (5xx)", 1)]),
         merge(band, {xaxis: x, yaxis: shareAxis([t.error_rate, t.server_error_rate])}));
    draw("chart-outliers", lines(t, t.outlier_rate, "outlier rate", 4),
         merge(band, {xaxis: x, yaxis: shareAxis([t.outlier_rate])}));
    draw("chart-predictions", Object.keys(t.labels).map(function (k, i) {
      return bars(t, t.labels[k], k, i);
    }), merge(band, {barmode: "stack", xaxis: x, yaxis: {rangemode: "tozero"}}));

    var dr = d.drift;
    var limit = dr.limit === null ? [] : [{type: "line", xref: "paper", x0: 0, x1: 1,
      y0: dr.limit, y1: dr.limit, line: {dash: "dash", width: 1, color: "#b3261e"}}];
    draw("chart-drift", [{x: dr.time, y: dr.share, name: "drifted share of feature columns",
                          type: "scatter", mode: "lines+markers", marker: {size: 5},
                          line: {color: COLORS[0]}}],
         {xaxis: x, yaxis: {tickformat: ".0%", range: [0, 1.05]}, shapes: limit});
    var names = Object.keys(dr.columns);
    draw("chart-columns", names.map(function (c, i) {
      return {x: dr.time, y: dr.columns[c], name: c, type: "scatter", mode: "lines+markers",
              connectgaps: false, marker: {size: 4}, line: {color: COLORS[i % COLORS.length]},
              customdata: dr.scores[c],
              hovertemplate: c + ": %{y:.2f}× threshold<br>score %{customdata}<extra></extra>"};
    }), {height: 320, xaxis: x, hovermode: "closest",
         yaxis: {rangemode: "tozero", title: {text: "score / threshold"}},
         shapes: [{type: "line", xref: "paper", x0: 0, x1: 1, y0: 1, y1: 1,
                   line: {dash: "dash", width: 1, color: "#b3261e"}}],
         annotations: [{xref: "paper", x: 1, y: 1, xanchor: "right", yanchor: "bottom",
                        showarrow: false, text: "drift threshold",
                        font: {size: 10, color: "#b3261e"}}]});

    var p = d.performance;
    var traces = Object.keys(p.metrics).map(function (m, i) {
      return {x: p.time, y: p.metrics[m], name: m, type: "scatter", mode: "lines+markers",
              marker: {size: 4}, line: {color: COLORS[i % COLORS.length]}};
    });
    if (traces.some(hasData) || p.coverage.some(function (v) { return v > 0; })) {
      traces.push({x: p.time, y: p.coverage, name: "label coverage", type: "scatter",
                   mode: "lines+markers", marker: {size: 4},
                   line: {dash: "dot", color: COLORS[7]}});
    }
    draw("chart-performance", traces, {height: 300, xaxis: x, yaxis: {range: [0, 1.05]}});
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Plotly === "undefined") { return; }
    overview();
    model();
  });
})();
