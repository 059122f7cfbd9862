// The braintune dashboard: the pool page (/) and a job's page (/jobs/ID), rendered from the
// coordinator's JSON API (src/coordinator/http_server.h) and refreshed every few seconds. No
// framework: text goes in with textContent, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (res.status === 401) { location.reload(); throw new Error("signed out"); }
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}

const num = (v) => (v === undefined || v === null || v === "" ? 0 : Number(v));

function duration(seconds) {
  if (!isFinite(seconds) || seconds < 0) return "";
  seconds = Math.round(seconds);
  if (seconds < 60) return seconds + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m" + String(seconds % 60).padStart(2, "0") + "s";
  return Math.floor(seconds / 3600) + "h" + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
}

function ago(ms) {
  if (!num(ms)) return "never";
  return duration((Date.now() - num(ms)) / 1000) + " ago";
}

function progressCell(job) {
  const p = job.progress || {};
  const total = num(p.total_steps), step = num(p.step);
  if (!total) return el("td", { class: "progress" }, p.phase || "");
  const share = Math.min(1, step / total);
  const bar = el("span", { class: "bar", title: Math.round(share * 100) + "%" }, el("span"));
  bar.firstChild.style.width = (share * 100).toFixed(1) + "%";
  return el("td", { class: "progress" }, bar, " " + step + "/" + total + (p.phase && p.phase !== "training" ? " " + p.phase : ""));
}

function eta(job) {
  const p = job.progress || {};
  const rate = num(p.steps_per_sec), left = num(p.total_steps) - num(p.step);
  if (job.state !== "RUNNING" || rate <= 0 || left <= 0) return "";
  return duration(left / rate);
}

function why(job) {
  if (job.state === "QUEUED") return (num(job.queue_position) ? "#" + job.queue_position + " in queue: " : "") + (job.message || "");
  return TERMINAL.has(job.state) || job.state === "RESTARTING" ? job.message || "" : "";
}

// The pool: jobs (newest first) and nodes.
async function renderPool(main) {
  const [jobs, nodes] = await Promise.all([api("/api/jobs").then((r) => r.json()), api("/api/nodes").then((r) => r.json())]);
  const jobRows = (jobs.jobs || []).slice().reverse().map((j) =>
    el("tr", { "data-job": j.id, "data-state": j.state },
      el("td", {}, el("a", { href: "/jobs/" + encodeURIComponent(j.id) }, j.id)),
      el("td", {}, j.spec.name), el("td", {}, j.user), el("td", {}, j.spec.kind),
      el("td", { class: "state " + j.state }, j.state),
      progressCell(j),
      el("td", { class: "num steps-per-sec" }, j.state === "RUNNING" && num((j.progress || {}).steps_per_sec) ? num(j.progress.steps_per_sec).toFixed(2) : ""),
      el("td", { class: "num" }, eta(j)),
      el("td", { class: "why" }, why(j))));
  const nodeRows = (nodes.nodes || []).map((n) =>
    el("tr", { "data-node": n.name, "data-state": n.state },
      el("td", {}, n.name), el("td", { class: "state" }, n.state.toLowerCase()),
      el("td", { class: "num slots" }, num(n.slots_in_use) + "/" + num(n.cpu_slots)),
      el("td", { class: "num gpus" }, num(n.gpus_in_use) + "/" + num(n.gpus)),
      el("td", {}, ...(n.job_ids || []).flatMap((id, i) => [i ? ", " : "", el("a", { href: "/jobs/" + encodeURIComponent(id) }, id)]),
        num(n.other_jobs) ? (n.job_ids && n.job_ids.length ? ", " : "") + n.other_jobs + " of other users" : ""),
      el("td", { class: "muted" }, ago(n.last_heartbeat_ms))));
  main.replaceChildren(
    el("h1", {}, "Jobs"),
    jobRows.length ? el("table", { id: "jobs" },
      el("thead", {}, el("tr", {}, ...["Job", "Name", "User", "Kind", "State", "Progress", "Steps/s", "ETA", "Why"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...jobRows)) : el("p", { id: "jobs", class: "muted" }, "No jobs."),
    el("h2", {}, "Nodes"),
    nodeRows.length ? el("table", { id: "nodes" },
      el("thead", {}, el("tr", {}, ...["Node", "State", "Slots", "GPUs", "Jobs", "Last heartbeat"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...nodeRows)) : el("p", { id: "nodes", class: "muted" }, "No nodes registered."));
}

// Loss and validation loss against step, as an inline SVG.
function chart(history) {
  const W = 640, H = 220, L = 56, R = 12, T = 12, B = 28;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("id", "chart");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  const points = history.map((p) => ({ step: num(p.step), loss: Number(p.loss), val: p.validation_loss === undefined ? NaN : Number(p.validation_loss) }));
  const values = points.flatMap((p) => [p.loss, p.val]).filter(isFinite);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  if (!points.length || !values.length) {
    add("text", { x: L, y: H / 2 }, "No progress reported yet.");
    return svg;
  }
  const x0 = Math.min(...points.map((p) => p.step)), x1 = Math.max(...points.map((p) => p.step));
  let y0 = Math.min(...values), y1 = Math.max(...values);
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = (s) => L + (x1 === x0 ? 0.5 : (s - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#9ca3af" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#9ca3af" });
  add("text", { x: 4, y: T + 10 }, y1.toPrecision(3));
  add("text", { x: 4, y: H - B }, y0.toPrecision(3));
  add("text", { x: L, y: H - 8 }, "step " + x0);
  add("text", { x: W - R, y: H - 8, "text-anchor": "end" }, "step " + x1);
  const line = (key, color, cls) => {
    const pts = points.filter((p) => isFinite(p[key])).map((p) => X(p.step).toFixed(1) + "," + Y(p[key]).toFixed(1));
    if (pts.length) add("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 1.5, class: cls });
  };
  line("loss", "#2563eb", "loss-line");
  line("val", "#dc2626", "validation-line");
  return svg;
}

let logOffset = null;  // where the job page's log tail continues

async function renderJob(main, id) {
  let job;
  try {
    job = await api("/api/jobs/" + encodeURIComponent(id)).then((r) => r.json());
  } catch (e) {
    if (e.status === 404) { main.replaceChildren(el("h1", { id: "job-missing" }, "No job " + id), el("p", {}, e.message)); return; }
    throw e;
  }
  const p = job.progress || {};
  const first = !document.getElementById("log");
  const facts = el("dl", { id: "facts" },
    el("dt", {}, "State"), el("dd", { id: "job-state", class: "state " + job.state }, job.state + (job.message ? ": " + job.message : "")),
    el("dt", {}, "User"), el("dd", {}, job.user + (job.account ? " (runs as " + job.account + ")" : "")),
    el("dt", {}, "Kind"), el("dd", {}, job.spec.kind + ", " + job.spec.ranks + " ranks" + (num(job.spec.gpus_per_rank) ? " x " + job.spec.gpus_per_rank + " GPUs" : "")),
    el("dt", {}, "Progress"), el("dd", { id: "job-progress" }, num(p.total_steps) ? num(p.step) + "/" + num(p.total_steps) + " steps" : p.phase || "",
      num(p.steps_per_sec) ? ", " + num(p.steps_per_sec).toFixed(2) + " steps/s, " + num(p.samples_per_sec).toFixed(1) + " samples/s" : "",
      eta(job) ? ", ETA " + eta(job) : "", num(p.data_wait_share) ? ", data wait " + (100 * num(p.data_wait_share)).toFixed(0) + "%" : "",
      num(p.gpu_memory_bytes) ? ", GPU memory " + (num(p.gpu_memory_bytes) / 2 ** 30).toFixed(1) + " GiB" : ""),
    el("dt", {}, "Placement"), el("dd", { id: "placement" }, (job.placements || []).map((pl) =>
      pl.node + " (" + pl.slots + " slots" + ((pl.gpus || []).length ? ", GPUs " + pl.gpus.join(",") : "") + ")").join("; ") || "none"),
    el("dt", {}, "Attempt"), el("dd", {}, job.attempt + (num(job.restarts) ? ", " + job.restarts + " restarts" : "")));
  const result = job.result || {};
  const links = el("p", { id: "results" });
  if (TERMINAL.has(job.state) && job.state === "SUCCEEDED") {
    links.append(el("a", { id: "result-link", href: "/api/jobs/" + encodeURIComponent(job.id) + "/result.json" }, "result.json"));
    const report = result.evaluation && result.evaluation.html_path;
    if (report) links.append(" · evaluation report on the worker: ", el("code", { id: "report-path" }, report));
    if (result.output_dir) links.append(" · output: ", el("code", {}, result.output_dir));
  }
  const cancel = el("button", { id: "cancel", type: "button", hidden: TERMINAL.has(job.state) || job.cancel_requested }, "Cancel job");
  cancel.addEventListener("click", async () => {
    if (!confirm("Cancel " + job.id + "?")) return;
    cancel.disabled = true;
    try {
      await api("/api/jobs/" + encodeURIComponent(job.id) + "/cancel", { method: "POST", headers: { "X-Braintune-Action": "cancel" } });
    } catch (e) { alert(e.message); }
  });
  const events = el("table", { id: "events" }, el("tbody", {}, ...(job.events || []).map((e) =>
    el("tr", {}, el("td", { class: "muted" }, new Date(num(e.time_ms)).toLocaleString()), el("td", { class: "state " + e.state }, e.state), el("td", {}, e.message)))));
  const log = first ? el("pre", { id: "log" }) : document.getElementById("log");
  main.replaceChildren(
    el("h1", {}, job.id + ": " + job.spec.name), facts, cancel, links,
    el("h2", {}, "Loss"), el("p", { class: "legend" }, el("span", { class: "loss" }, "— training loss"), el("span", { class: "validation" }, "— validation loss")),
    chart(job.history || []),
    el("h2", {}, "Events"), events,
    el("h2", {}, "Output"), log,
    el("h2", {}, "Spec"), el("pre", { id: "spec" }, job.spec.spec_yaml || ""));
  await tailLog(job.id, log);
}

async function tailLog(id, pre) {
  const base = "/api/jobs/" + encodeURIComponent(id) + "/log";
  for (let i = 0; i < 8; ++i) {  // at most 8 pieces per refresh
    const res = await api(logOffset === null ? base + "?tail=16384" : base + "?offset=" + logOffset);
    const text = await res.text();
    const next = Number(res.headers.get("X-Log-Next-Offset"));
    if (logOffset === null && Number(res.headers.get("X-Log-Offset")) > 0) pre.append("[…]\n");
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    const done = logOffset !== null && next === logOffset;
    logOffset = next;
    if (done || !text.length) break;
  }
}

async function refresh() {
  const main = document.getElementById("main");
  const match = location.pathname.match(/^\/jobs\/(.+)$/);
  try {
    if (match) await renderJob(main, decodeURIComponent(match[1]));
    else await renderPool(main);
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "1";
  } catch (e) {
    document.getElementById("updated").textContent = "Update failed: " + e.message;
  }
}

async function start() {
  try {
    const me = await api("/api/whoami").then((r) => r.json());
    document.getElementById("whoami").textContent = me.auth ? me.user + (me.admin ? " (admin)" : "") : "no access control";
    document.getElementById("signout").hidden = !me.auth;
  } catch (e) { /* the next refresh reports it */ }
  // The next refresh starts once this one is done (two at once would append a log piece twice).
  const loop = async () => {
    await refresh();
    setTimeout(loop, REFRESH_MS);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", start);
