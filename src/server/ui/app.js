// The buildmaster web UI: a single page over the JSON API. Views (by URL hash): the live buildrun (#/), a
// past buildrun (#/buildrun/N), a build log with live tail (#/log/N/B), history (#/history) and package
// search (#/packages), the configured repositories (#/repositories) and the gate's pipelines (#/pipelines,
// #/pipelines/N; pipelines.js). Live updates come from /api/events (server-sent events; pipelines poll,
// see pipelines.js); every text from the server is inserted with textContent, never as HTML.
"use strict";

const BUILD_STATES = ["active", "scheduled", "blocked", "complete", "failed", "lost", "skipped"];
const BUILDER_STATES = ["active", "idle", "lost"];
// Rendering more rows than this makes the page sluggish; the count tiles filter to the interesting ones.
const MAX_BUILD_ROWS = 2000;

const $ = (selector) => document.querySelector(selector);

const ui = {
  view: null,          // "buildrun" | "log" | "history" | "packages" | "repositories" | "pipelines" | "pipeline"
  live: false,         // the buildrun view follows the current buildrun
  buildrun: null,      // number of the buildrun shown
  status: null,        // its status.json
  records: {},         // its build records by build number
  recordsKey: null,    // finished-build count the records were fetched at
  filter: null,        // build state the builds table is filtered to
  current: null,       // summary of the current buildrun, from the last event
  daemon: null,        // the daemon's status, from the last event
  refreshTimer: null,
  logStream: null,
  historyBefore: null,
};

// ---- helpers -------------------------------------------------------------------------------------------

async function fetchJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return { body, headers: response.headers };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

function formatTime(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "—";
  return new Date(epochSeconds * 1000).toLocaleString();
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return "—";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes / 1024, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function portName(port) {
  if (!port) return "?";
  return port.revisionedName || (port.version ? `${port.name}-${port.version}` : port.name) || "?";
}

function lastBuildNumber(build) {
  const numbers = build.buildNumbers || [];
  return numbers.length ? numbers[numbers.length - 1] : null;
}

function logLink(buildrun, number, label) {
  return el("a", { href: `#/log/${buildrun}/${number}`, "data-log": `${buildrun}/${number}`, text: label || `#${number}` });
}

// ---- routing -------------------------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("?")[0].split("/").filter(Boolean);
  stopLog();
  stopPipelines();
  showError(null);
  document.querySelectorAll("header nav a").forEach((a) => a.classList.remove("current"));
  if (parts[0] === "log" && /^\d+$/.test(parts[1]) && /^\d+$/.test(parts[2])) {
    show("log");
    openLog(Number(parts[1]), Number(parts[2]));
  } else if (parts[0] === "history") {
    show("history", "history");
    loadHistory(true);
  } else if (parts[0] === "packages") {
    show("packages", "packages");
    const query = new URLSearchParams(hash.split("?")[1] || "").get("q") || "";
    $("#package-query").value = query;
    searchPackages();
  } else if (parts[0] === "repositories") {
    show("repositories", "repositories");
    loadRepositories();
  } else if (parts[0] === "pipelines" && /^\d+$/.test(parts[1])) {
    show("pipeline", "pipelines");
    openPipeline(Number(parts[1]));
  } else if (parts[0] === "pipelines") {
    show("pipelines", "pipelines");
    openPipelineList();
  } else if (parts[0] === "buildrun" && /^\d+$/.test(parts[1])) {
    show("buildrun", "history");
    ui.live = false;
    loadBuildrun(Number(parts[1]), true);
  } else {
    show("buildrun", "live");
    ui.live = true;
    loadBuildrun(null, true);
  }
}

function show(view, nav) {
  ui.view = view;
  document.querySelectorAll(".view").forEach((section) => { section.hidden = section.id !== `view-${view}`; });
  if (nav) document.querySelector(`header nav a[data-nav=${nav}]`).classList.add("current");
}

// ---- live events ---------------------------------------------------------------------------------------

function connectEvents() {
  const indicator = $("#connection");
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { indicator.textContent = "live"; indicator.className = "connection live"; });
  events.addEventListener("error", () => {
    indicator.textContent = "reconnecting…"; indicator.className = "connection down";
  });
  events.addEventListener("status", (event) => {
    const data = JSON.parse(event.data);
    const previous = ui.current;
    ui.current = data.current;
    ui.daemon = data.daemon;
    renderDaemon();
    if (ui.view === "buildrun") {
      const followed = ui.live || (data.current && data.current.buildrun === ui.buildrun);
      if (followed && data.current) {
        if (!ui.live || ui.buildrun === data.current.buildrun) renderCounts(data.current.builds);
        scheduleRefresh();
      }
    } else if (ui.view === "history" && (!previous || !data.current || previous.buildrun !== data.current.buildrun
        || previous.buildStatus !== data.current.buildStatus)) {
      loadHistory(true);
    }
  });
}

function scheduleRefresh() {
  // Several events can arrive in a burst (one per status.json rewrite); one fetch covers them.
  if (ui.refreshTimer) return;
  ui.refreshTimer = setTimeout(() => {
    ui.refreshTimer = null;
    if (ui.view === "buildrun") loadBuildrun(ui.live ? null : ui.buildrun, false);
  }, 150);
}

// A daemon job (`daemon::control::Request` as JSON: "publish", {"buildrun": "update"},
// {"buildrun": {"ports": [...]}}) in words.
function describeJob(job) {
  if (typeof job === "string") return job;
  if (job && job.buildrun !== undefined) {
    const wanted = job.buildrun;
    if (typeof wanted === "string") return `buildrun (${wanted})`;
    if (wanted && wanted.ports) return `buildrun of ${wanted.ports.join(", ")}`;
  }
  return JSON.stringify(job);
}

function renderDaemon() {
  const pill = $("#daemon-status");
  const daemon = ui.daemon;
  const parts = [];
  if (daemon && daemon.activity) {
    const activity = daemon.activity;
    if (activity.state === "paused") parts.push(`daemon paused (${activity.by})`);
    else if (activity.state === "running") parts.push(`daemon: ${describeJob(activity.job)}`);
    else parts.push(`daemon ${activity.state}`);
    if ((daemon.queue || []).length) parts.push(`${daemon.queue.length} queued`);
    if (daemon.last_error) parts.push(`last error: ${daemon.last_error}`);
  }
  pill.textContent = parts.join(" · ");
  pill.hidden = !parts.length;
}

// ---- buildrun view -------------------------------------------------------------------------------------

async function loadBuildrun(number, fresh) {
  try {
    const url = number === null ? "/api/buildruns/current" : `/api/buildruns/${number}`;
    const { body, headers } = await fetchJson(url);
    const shown = Number(headers.get("x-buildrun"));
    if (fresh || shown !== ui.buildrun) { ui.records = {}; ui.recordsKey = null; ui.filter = fresh ? null : ui.filter; }
    ui.buildrun = shown;
    ui.status = body;
    $("#run-empty").hidden = true;
    await loadRecords();
    renderBuildrun();
  } catch (error) {
    if (number === null && /no buildrun yet/.test(error.message)) {
      $("#run-title").textContent = "No buildrun yet";
      $("#run-empty").hidden = false;
      return;
    }
    showError(`Loading the buildrun: ${error.message}`);
  }
}

async function loadRecords() {
  const builds = ui.status.builds || {};
  const key = (builds.complete || []).length + (builds.failed || []).length;
  if (key === ui.recordsKey) return;
  try {
    const { body } = await fetchJson(`/api/buildruns/${ui.buildrun}/records`);
    ui.records = body || {};
    ui.recordsKey = key;
  } catch (_) { /* durations are optional; keep what we have */ }
}

function renderBuildrun() {
  const status = ui.status;
  $("#run-title").textContent = `Buildrun ${ui.buildrun}`;
  $("#run-status").textContent = status.buildStatus || "unknown";
  const meta = $("#run-meta");
  meta.textContent = "";
  const item = (label, value) => meta.appendChild(el("div", {}, el("dt", { text: label }), el("dd", {}, value)));
  item("Started", formatTime(status.startTime));
  if (status.endTime) {
    item("Ended", formatTime(status.endTime));
    item("Took", formatDuration(status.endTime - status.startTime));
  } else if (status.startTime) {
    item("Running for", formatDuration(Date.now() / 1000 - status.startTime));
  }
  if (status.portsTreeHead) {
    const head = status.portsTreeHead.slice(0, 12);
    const origin = status.portsTreeOriginURL || "";
    const web = /^https?:\/\//.test(origin) ? origin.replace(/\.git$/, "") + "/commit/" + status.portsTreeHead : null;
    item("Ports tree", web ? el("a", { href: web, text: head, target: "_blank", rel: "noopener" }) : head);
  }
  renderCounts(Object.fromEntries(BUILD_STATES.map((s) => [s, ((status.builds || {})[s] || []).length])));
  renderBuilders(status.builders || {});
  renderBuilds(status.builds || {});
}

function renderCounts(counts) {
  const box = $("#counts");
  if (!box.children.length) {
    for (const state of BUILD_STATES) {
      const tile = el("button", { type: "button", class: "count", id: `count-${state}`, "data-state": state },
        el("span", { class: "n", text: "0" }), el("span", { class: "label", text: state }));
      tile.addEventListener("click", () => {
        ui.filter = ui.filter === state ? null : state;
        if (ui.status) renderBuilds(ui.status.builds || {});
      });
      box.appendChild(tile);
    }
  }
  for (const state of BUILD_STATES) {
    const tile = $(`#count-${state}`);
    tile.querySelector(".n").textContent = String(counts[state] || 0);
    tile.classList.toggle("selected", ui.filter === state);
  }
}

function renderBuilders(builders) {
  const body = $("#builders tbody");
  body.textContent = "";
  for (const state of BUILDER_STATES) {
    for (const builder of builders[state] || []) {
      const current = builder.currentBuild;
      const building = current ? portName(current.build && current.build.port) : "—";
      body.appendChild(el("tr", { "data-builder": builder.name },
        el("td", { text: builder.name }),
        el("td", {}, el("span", { class: "state", "data-state": state, text: state })),
        el("td", { text: building }),
        el("td", {}, current ? logLink(ui.buildrun, current.number) : null)));
    }
  }
  if (!body.children.length) body.appendChild(el("tr", {}, el("td", { colSpan: 4, class: "empty", text: "No builders reported." })));
}

function buildDuration(state, build, number) {
  const record = number !== null ? ui.records[String(number)] : null;
  if (record && typeof record.duration === "number") return formatDuration(record.duration);
  if (typeof build.duration === "number") return formatDuration(build.duration);
  if (state === "active") {
    return typeof build.startTime === "number" ? formatDuration(Date.now() / 1000 - build.startTime) + " so far" : "running";
  }
  return "—";
}

function buildDetails(state, build) {
  const details = el("div", { class: "details" });
  const reason = build.failureReason || build.reason;
  if (reason) details.appendChild(el("div", { class: "reason", text: reason }));
  if (state === "blocked" && (build.missingPackageIDs || []).length) {
    details.appendChild(el("div", { text: "waiting for " + build.missingPackageIDs.join(", ") }));
  }
  if (state === "lost" && !reason) details.appendChild(el("div", { class: "reason", text: "a dependency failed or was lost" }));
  if ((state === "complete") && (build.resultingPackages || []).length) {
    details.appendChild(el("div", { text: build.resultingPackages.join(", ") }));
  }
  return details;
}

function renderBuilds(builds) {
  const body = $("#builds tbody");
  body.textContent = "";
  let rows = 0, total = 0;
  for (const state of BUILD_STATES) {
    if (ui.filter && ui.filter !== state) continue;
    for (const build of builds[state] || []) {
      total++;
      if (rows >= MAX_BUILD_ROWS) continue;
      rows++;
      const number = lastBuildNumber(build);
      body.appendChild(el("tr", { "data-state": state },
        el("td", { text: portName(build.port) }),
        el("td", {}, el("span", { class: "state", "data-state": state, text: state })),
        el("td", {}, number !== null ? logLink(ui.buildrun, number) : null),
        el("td", { text: buildDuration(state, build, number) }),
        el("td", {}, buildDetails(state, build))));
    }
  }
  const note = [];
  if (ui.filter) note.push(`showing ${ui.filter} builds (click the tile again for all)`);
  if (total > rows) note.push(`first ${rows} of ${total}`);
  $("#builds-filter").textContent = note.join(" · ");
  if (!total) body.appendChild(el("tr", {}, el("td", { colSpan: 5, class: "empty", text: "No builds." })));
}

// ---- log view ------------------------------------------------------------------------------------------

function stopLog() {
  if (ui.logStream) { ui.logStream.close(); ui.logStream = null; }
}

function openLog(buildrun, number) {
  const target = $("#log");
  const renderer = new window.AnsiRenderer(target);
  renderer.clear();
  $("#log-title").textContent = `Build #${number}`;
  $("#log-back").href = `#/buildrun/${buildrun}`;
  $("#log-raw").href = `/api/buildruns/${buildrun}/builds/${number}/log`;
  const state = $("#log-state");
  state.textContent = "connecting";
  describeBuild(buildrun, number);
  // Start near the end (server/logs.rs UI_TAIL_BYTES): a huge log is not sent to the browser whole;
  // the raw log link serves all of it.
  const stream = new EventSource(`/api/buildruns/${buildrun}/builds/${number}/log/stream?tail=262144`);
  ui.logStream = stream;
  const append = (text) => {
    const follow = $("#log-follow").checked;
    renderer.push(text);
    if (follow) target.scrollTop = target.scrollHeight;
  };
  stream.addEventListener("open", () => { state.textContent = "live"; });
  stream.addEventListener("skipped", (event) => {
    const skipped = JSON.parse(event.data).skipped;
    append(`[${skipped} earlier bytes not shown here: see the raw log]\n`);
  });
  stream.addEventListener("log", (event) => append(JSON.parse(event.data).text));
  stream.addEventListener("end", (event) => {
    append(JSON.parse(event.data).text);
    state.textContent = "finished";
    stream.close();
  });
  stream.addEventListener("error", async () => {
    if (ui.logStream !== stream || stream.readyState !== EventSource.CLOSED) return;
    // The server refused the stream (no such log): say why.
    try { await fetchJson($("#log-raw").href); } catch (error) { showError(error.message); }
    state.textContent = "unavailable";
  });
}

async function describeBuild(buildrun, number) {
  try {
    const { body } = await fetchJson(`/api/buildruns/${buildrun}`);
    for (const state of BUILD_STATES) {
      for (const build of (body.builds || {})[state] || []) {
        if ((build.buildNumbers || []).includes(number)) {
          $("#log-title").textContent = `Build #${number} · ${portName(build.port)}`;
          return;
        }
      }
    }
  } catch (_) { /* the title stays generic */ }
}

// ---- history -------------------------------------------------------------------------------------------

async function loadHistory(fresh) {
  const body = $("#history tbody");
  try {
    const before = fresh ? "" : `&before=${ui.historyBefore}`;
    const { body: page } = await fetchJson(`/api/buildruns?limit=50${before}`);
    if (fresh) body.textContent = "";
    for (const run of page.buildruns) {
      const took = run.endTime && run.startTime ? run.endTime - run.startTime
        : run.startTime ? Date.now() / 1000 - run.startTime : null;
      body.appendChild(el("tr", { "data-buildrun": String(run.buildrun) },
        el("td", {}, el("a", { href: `#/buildrun/${run.buildrun}`, text: String(run.buildrun) })),
        el("td", { text: run.buildStatus }),
        el("td", { text: formatTime(run.startTime) }),
        el("td", { text: formatDuration(took) }),
        el("td", { text: String(run.builds.complete) }),
        el("td", { text: String(run.builds.failed) }),
        el("td", { text: String(run.builds.lost) }),
        el("td", { text: String(run.builds.skipped) })));
    }
    if (!body.children.length) body.appendChild(el("tr", {}, el("td", { colSpan: 8, class: "empty", text: "No buildruns yet." })));
    ui.historyBefore = page.nextBefore;
    $("#history-more").hidden = page.nextBefore === null || page.nextBefore === undefined;
  } catch (error) {
    showError(`Loading the history: ${error.message}`);
  }
}

// ---- packages ------------------------------------------------------------------------------------------

let searchTimer = null;
let searchSerial = 0;

async function searchPackages() {
  const query = $("#package-query").value;
  const serial = ++searchSerial;
  try {
    const { body } = await fetchJson(`/api/packages?limit=100&q=${encodeURIComponent(query)}`);
    if (serial !== searchSerial) return; // a newer search is on its way
    const rows = $("#packages tbody");
    rows.textContent = "";
    for (const pkg of body) {
      rows.appendChild(el("tr", { title: pkg.provides.join("\n") },
        el("td", { text: pkg.name }), el("td", { text: pkg.version }), el("td", { text: pkg.architecture }),
        el("td", { text: pkg.state }), el("td", { text: formatSize(pkg.size) }), el("td", { text: pkg.summary })));
    }
    $("#packages-empty").hidden = body.length > 0;
  } catch (error) {
    showError(`Searching packages: ${error.message}`);
  }
}

// ---- repositories --------------------------------------------------------------------------------------

async function loadRepositories() {
  try {
    const { body } = await fetchJson("/api/repositories");
    const rows = $("#repositories tbody");
    rows.textContent = "";
    for (const repo of body) {
      rows.appendChild(el("tr", {},
        el("td", { text: repo.id }), el("td", { text: repo.format }), el("td", { text: repo.root }),
        el("td", { text: repo.signed ? "yes" : "no" }),
        el("td", { text: repo.packages === null ? "?" : String(repo.packages) })));
    }
    $("#repositories-empty").hidden = body.length > 0;
  } catch (error) {
    showError(`Loading the repositories: ${error.message}`);
  }
}

// ---- start ---------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#package-query").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      history.replaceState(null, "", `#/packages?q=${encodeURIComponent($("#package-query").value)}`);
      searchPackages();
    }, 200);
  });
  $("#history-more").addEventListener("click", () => loadHistory(false));
  window.addEventListener("hashchange", route);
  connectEvents();
  route();
});
