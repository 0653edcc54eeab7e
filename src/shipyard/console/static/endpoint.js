// Shipyard console: the endpoint page's live charts. It draws the state embedded in the
// page, then fetches the page's live URL every few seconds and redraws: the metric charts
// as the server built them, the instance chart from the counts of every poll so far (they
// are not stored, so its history starts when the page was opened).
"use strict";

var MAX_POLLS_KEPT = 720; // an hour of instance counts at 5 s
var COLOURS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2", "#be123c", "#4d7c0f"];
var PLOT_CONFIG = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d"],
};

function readJson(id) {
  var element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

function drawMetricCharts(charts) {
  if (!charts) {
    return;
  }
  document.querySelectorAll("[data-live-chart]").forEach(function (element) {
    var figure = charts[element.dataset.liveChart];
    if (!figure) {
      return;
    }
    Plotly.react(element, figure.data, figure.layout, PLOT_CONFIG);
    document.querySelectorAll("[data-empty-of]").forEach(function (note) {
      if (note.dataset.emptyOf === element.dataset.liveChart) {
        note.hidden = !figure.empty;
      }
    });
  });
}

function InstanceHistory(layout) {
  this.layout = layout;
  this.labels = [];
  this.series = {};
}

InstanceHistory.prototype.add = function (at, instances) {
  var history = this;
  instances.forEach(function (row) {
    var series = history.series[row.label];
    if (!series) {
      series = history.series[row.label] = { x: [], current: [], desired: [] };
      history.labels.push(row.label);
    }
    series.x.push(at);
    series.current.push(row.current_instance_count);
    series.desired.push(row.desired_instance_count);
    if (series.x.length > MAX_POLLS_KEPT) {
      series.x.shift();
      series.current.shift();
      series.desired.shift();
    }
  });
};

// fresh arrays each time: Plotly.react redraws only data arrays it has not seen
InstanceHistory.prototype.traces = function () {
  var history = this;
  var traces = [];
  history.labels.forEach(function (label, index) {
    var series = history.series[label];
    var colour = COLOURS[index % COLOURS.length];
    traces.push({
      type: "scatter", mode: "lines+markers", name: label + " current",
      x: series.x.slice(), y: series.current.slice(), line: { color: colour, shape: "hv" }, marker: { size: 4 },
    });
    traces.push({
      type: "scatter", mode: "lines", name: label + " desired",
      x: series.x.slice(), y: series.desired.slice(), line: { color: colour, dash: "dash", shape: "hv" },
    });
  });
  return traces;
};

function showInstanceCounts(instances) {
  document.querySelectorAll("[data-instances-of]").forEach(function (cell) {
    var named = instances.filter(function (row) { return row.variant_name === cell.dataset.instancesOf; });
    var ofConfig = named.filter(function (row) { return row.endpoint_config_name === cell.dataset.config; });
    var row = ofConfig[0] || named[0];
    cell.textContent = row ? row.current_instance_count + " / " + row.desired_instance_count : "—";
  });
}

function apply(root, history, state) {
  drawMetricCharts(state.charts);
  history.add(state.at, state.instances);
  var instancesChart = document.getElementById("instances-chart");
  Plotly.react(instancesChart, history.traces(), history.layout, PLOT_CONFIG);
  showInstanceCounts(state.instances);
  var updated = document.getElementById("live-updated");
  if (updated) {
    updated.textContent = "Live: updated " + state.at.slice(11, 19) + " UTC, every " +
      root.dataset.refreshSeconds + " s.";
  }
}

function follow(root, history) {
  var seconds = Number(root.dataset.refreshSeconds) || 5;
  fetch(root.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok || type.indexOf("application/json") !== 0) {
        // a signed-out session is sent to the login page, which is no JSON
        throw new Error(response.ok ? "signed out" : "HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (state) {
      apply(root, history, state);
      window.setTimeout(function () { follow(root, history); }, seconds * 1000);
    })
    .catch(function (error) {
      var updated = document.getElementById("live-updated");
      if (updated) {
        updated.textContent = "Live updates paused (" + error.message + "); retrying.";
      }
      window.setTimeout(function () { follow(root, history); }, seconds * 3000);
    });
}

document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("endpoint-charts");
  if (!root || typeof Plotly === "undefined") {
    return;
  }
  var history = new InstanceHistory(readJson(root.dataset.instancesLayout));
  apply(root, history, readJson(root.dataset.liveSource));
  var seconds = Number(root.dataset.refreshSeconds) || 5;
  window.setTimeout(function () { follow(root, history); }, seconds * 1000);
});
