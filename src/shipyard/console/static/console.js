// Shipyard console: draws the Plotly charts of a page, and swaps the test-request example
// when the content type changes. Pages work without it; it only adds to them.
"use strict";

function drawCharts() {
  if (typeof Plotly === "undefined") {
    return;
  }
  document.querySelectorAll("[data-source]").forEach(function (element) {
    var source = document.getElementById(element.dataset.source);
    if (!source) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: ["select2d", "lasso2d"],
    });
  });
}

function wireTestRequest() {
  var select = document.getElementById("content-type");
  var body = document.getElementById("request-body");
  if (!select || !body) {
    return;
  }
  select.addEventListener("change", function () {
    var untouched = body.value.trim() === "" ||
      body.value === body.dataset.jsonExample || body.value === body.dataset.csvExample;
    if (untouched) {
      body.value = select.value === "text/csv" ? body.dataset.csvExample : body.dataset.jsonExample;
    }
  });
}

document.addEventListener("DOMContentLoaded", function () {
  drawCharts();
  wireTestRequest();
});
