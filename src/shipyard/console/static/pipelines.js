// Shipyard console: recolours a running pipeline execution's DAG and step table as its
// steps move on, by polling the page's status URL. Without it the page is still right
// when loaded; it only keeps it up to date.
"use strict";

var POLL_MILLISECONDS = 1000;
var TONES = {
  Succeeded: "ok", Cached: "ok", Executing: "busy", Stopping: "wait",
  Failed: "bad", Stopped: "idle", Skipped: "idle", NotStarted: "wait",
};

function recolour(node, status) {
  node.classList.forEach(function (name) {
    if (name.indexOf("status-") === 0) {
      node.classList.remove(name);
    }
  });
  node.classList.add("status-" + status);
  var sublabel = node.querySelector(".dag-sublabel");
  if (sublabel) {
    var type = sublabel.textContent.split(" · ")[0];
    sublabel.textContent = type + " · " + status;
  }
}

function showBadge(cell, status) {
  var badge = document.createElement("span");
  badge.className = "badge badge-" + (TONES[status] || "idle");
  badge.textContent = status;
  cell.replaceChildren(badge);
}

function apply(state) {
  Object.keys(state.steps).forEach(function (name) {
    var step = state.steps[name];
    document.querySelectorAll("#execution-dag [data-node-id]").forEach(function (node) {
      if (node.dataset.nodeId === name) {
        recolour(node, step.status);
      }
    });
    document.querySelectorAll("#steps tr[data-step]").forEach(function (row) {
      if (row.dataset.step === name) {
        showBadge(row.querySelector(".step-status"), step.status);
        row.querySelector(".step-attempts").textContent = step.attempts;
      }
    });
  });
  showBadge(document.getElementById("status"), state.status);
  var reason = document.getElementById("failure-reason");
  if (state.failure_reason) {
    reason.textContent = state.failure_reason;
    reason.hidden = false;
  }
}

function follow(element) {
  fetch(element.dataset.statusUrl, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (state) {
      if (!state) {
        return;
      }
      apply(state);
      if (state.status === "Executing" || state.status === "Stopping") {
        window.setTimeout(function () { follow(element); }, POLL_MILLISECONDS);
      } else {
        // ended: reload once, for the links, timings and buttons of the final state
        window.location.reload();
      }
    })
    .catch(function () {
      window.setTimeout(function () { follow(element); }, POLL_MILLISECONDS * 5);
    });
}

document.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("execution");
  if (element && element.dataset.live === "true") {
    window.setTimeout(function () { follow(element); }, POLL_MILLISECONDS);
  }
});
