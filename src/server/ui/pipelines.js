// The gate's pipelines in the web UI: the list (#/pipelines) and one pipeline with its packages, each
// check and its log (#/pipelines/N). Uses app.js's helpers ($, el, fetchJson, showError, formatTime).
//
// Live by polling, not by events: a pipeline is one SQLite read (the server reads it without waiting for
// the push, which holds the publish lock, not the database), it lasts seconds to minutes, and only an open
// page asks. The view asks again every second while something it shows is `checking`, and every few
// seconds otherwise so that new pushes appear. Every text from the server goes in with textContent.
"use strict";

// How often an open view asks again while a pipeline it shows is checking, and otherwise (ms).
const PIPELINE_POLL_CHECKING_MS = 1000;
const PIPELINE_POLL_IDLE_MS = 2000;

const pipelines = {
  timer: null,     // the next poll
  shown: null,     // "list" or the number of the pipeline shown
  rendered: null,  // the JSON last rendered, so that an unchanged answer does not redraw
};

function stopPipelines() {
  clearTimeout(pipelines.timer);
  pipelines.timer = null;
  pipelines.shown = null;
  pipelines.rendered = null;
}

function schedulePipelines(poll, checking) {
  clearTimeout(pipelines.timer);
  pipelines.timer = setTimeout(poll, checking ? PIPELINE_POLL_CHECKING_MS : PIPELINE_POLL_IDLE_MS);
}

function statePill(state) {
  return el("span", { class: "pill gate", "data-gate": state, text: state });
}

function packageNames(pipeline) {
  return (pipeline.packages || []).map((p) => p.package.file_name).join(", ");
}

// ---- the list ------------------------------------------------------------------------------------------

function openPipelineList() {
  stopPipelines();
  pipelines.shown = "list";
  pollPipelineList();
}

async function pollPipelineList() {
  if (pipelines.shown !== "list") return;
  let checking = false;
  try {
    const { body } = await fetchJson("/api/pipelines?limit=50");
    if (pipelines.shown !== "list") return;
    checking = body.some((p) => p.state === "checking");
    const text = JSON.stringify(body);
    if (text !== pipelines.rendered) {
      pipelines.rendered = text;
      renderPipelineList(body);
    }
    showError(null);
  } catch (error) {
    showError(`Loading the pipelines: ${error.message}`);
  }
  if (pipelines.shown === "list") schedulePipelines(pollPipelineList, checking);
}

function renderPipelineList(list) {
  const rows = $("#pipelines tbody");
  rows.textContent = "";
  for (const pipeline of list) {
    const failed = (pipeline.checks || []).filter((c) => c.status === "failed").length;
    rows.appendChild(el("tr", { "data-pipeline": String(pipeline.id), "data-gate": pipeline.state },
      el("td", {}, el("a", { href: `#/pipelines/${pipeline.id}`, text: String(pipeline.id) })),
      el("td", {}, statePill(pipeline.state)),
      el("td", { text: packageNames(pipeline) }),
      el("td", { text: pipeline.who }),
      el("td", { text: formatTime(pipeline.created_at) }),
      el("td", { class: "details", text: pipeline.summary || (failed ? `${failed} failed` : "") })));
  }
  $("#pipelines-empty").hidden = list.length > 0;
}

// ---- one pipeline --------------------------------------------------------------------------------------

function openPipeline(id) {
  stopPipelines();
  pipelines.shown = id;
  $("#pipeline-title").textContent = `Pipeline ${id}`;
  $("#pipeline-state").textContent = "";
  pollPipeline();
}

async function pollPipeline() {
  const id = pipelines.shown;
  if (typeof id !== "number") return;
  let checking = false;
  try {
    const { body } = await fetchJson(`/api/pipelines/${id}`);
    if (pipelines.shown !== id) return;
    checking = body.state === "checking";
    const text = JSON.stringify(body);
    if (text !== pipelines.rendered) {
      pipelines.rendered = text;
      renderPipeline(body);
    }
    showError(null);
  } catch (error) {
    showError(`Loading pipeline ${id}: ${error.message}`);
  }
  // A finished pipeline can still change (a waiver, a later push promoting it): it is asked again, less
  // often.
  if (pipelines.shown === id) schedulePipelines(pollPipeline, checking);
}

function renderPipeline(pipeline) {
  const state = $("#pipeline-state");
  state.textContent = pipeline.state;
  state.setAttribute("data-gate", pipeline.state);
  const meta = $("#pipeline-meta");
  meta.textContent = "";
  const item = (label, value) => meta.appendChild(el("div", {}, el("dt", { text: label }), el("dd", { text: value })));
  item("Pushed by", pipeline.who);
  item("Started", formatTime(pipeline.created_at));
  item("Updated", formatTime(pipeline.updated_at));
  $("#pipeline-summary").textContent = pipeline.summary || "";

  const packages = $("#pipeline-packages tbody");
  packages.textContent = "";
  for (const staged of pipeline.packages || []) {
    const p = staged.package;
    packages.appendChild(el("tr", {},
      el("td", { text: p.file_name }), el("td", { text: p.version }), el("td", { text: p.architecture }),
      el("td", { text: (staged.targets || []).join(", ") }),
      el("td", { class: "hash", text: p.sha256.slice(0, 16), title: p.sha256 })));
  }

  const checks = $("#pipeline-checks tbody");
  const logs = $("#pipeline-logs");
  checks.textContent = "";
  logs.textContent = "";
  for (const check of pipeline.checks || []) {
    // A check recorded as pending is running while the pipeline is checking.
    const status = check.status === "pending" && pipeline.state === "checking" ? "running" : check.status;
    const key = `${check.file_name}/${check.kind}`;
    checks.appendChild(el("tr", { "data-check": key, "data-status": status },
      el("td", { text: check.file_name }),
      el("td", { text: check.kind }),
      el("td", {}, el("span", { class: "check-status", "data-status": status, text: status })),
      el("td", { text: check.blocking ? "blocking" : "advisory" }),
      el("td", { class: "details", text: check.summary })));
    if (check.log) {
      logs.appendChild(el("h2", { text: `${check.kind} · ${check.file_name}` }));
      logs.appendChild(el("pre", { class: "log", "data-log-of": key, text: check.log }));
    }
  }
  if (!checks.children.length) {
    checks.appendChild(el("tr", {}, el("td", { colSpan: 5, class: "empty", text: "No check has reported yet." })));
  }
}
