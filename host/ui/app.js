// The Switchyard operator page: reads the admin API (with the admin key from
// session storage), listens to GET /admin/events for changes, and draws what
// the server computed. Nothing here aggregates raw logs.
"use strict";

const KEY = "switchyard-admin-key";
const state = {
  view: "traffic",
  scope: "all",
  generation: null,
  finished: null,
  stats: null,
  selected: null,
  live: false,
  recheck: 0,
};

// ---- helpers -------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function headers() {
  const k = sessionStorage.getItem(KEY);
  return k ? { authorization: `Bearer ${k}` } : {};
}

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...headers(), ...(opts.headers || {}) } });
  if (r.status === 401 || r.status === 403) {
    let msg = `${r.status}`;
    try { msg = (await r.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Unauthorized(msg);
  }
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch (_) { body = text; }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : `${r.status}`;
    const e = new Error(msg);
    e.status = r.status;
    throw e;
  }
  return body;
}

function num(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
function usd(v) {
  if (v === null || v === undefined) return "–";
  const x = Number(v);
  if (x === 0) return "$0";
  if (Math.abs(x) < 0.01) return `$${x.toPrecision(3)}`;
  return `$${x.toFixed(2)}`;
}
function pct(v) { return v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`; }
function when(ms) { return ms ? new Date(ms).toLocaleTimeString() : "–"; }
function badge(text, cls) { return `<span class="badge ${esc(cls || text)}">${esc(text)}</span>`; }
function table(el, head, rows, empty) {
  const h = `<thead><tr>${head.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead>`;
  const b = rows.length ? rows.join("") : `<tr><td colspan="${head.length}" class="note">${esc(empty || "nothing yet")}</td></tr>`;
  el.innerHTML = `${h}<tbody>${b}</tbody>`;
}

// ---- login ---------------------------------------------------------------

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("key").focus();
}

async function start() {
  try {
    state.stats = await api(`/admin/stats?scope=${encodeURIComponent(state.scope)}`);
  } catch (e) {
    if (e instanceof Unauthorized) { showLogin(sessionStorage.getItem(KEY) ? e.message : ""); return; }
    throw e;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  show(state.view);
  listen();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("key").value.trim());
  start().catch(report);
});

function report(e) {
  if (e instanceof Unauthorized) { showLogin(e.message); return; }
  const s = $("status");
  s.title = String(e && e.message ? e.message : e);
}

// ---- live updates: GET /admin/events (fetch keeps the key in a header) ----

async function listen() {
  for (;;) {
    try {
      const r = await fetch("/admin/events", { headers: headers() });
      if (r.status === 401 || r.status === 403) { showLogin("the admin key was refused"); return; }
      if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
      setLive(true);
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) await onTick(JSON.parse(data));
        }
      }
    } catch (e) {
      report(e);
    }
    setLive(false);
    await new Promise((res) => setTimeout(res, 2000));
  }
}

function setLive(on) {
  state.live = on;
  $("live").classList.toggle("on", on);
  $("live").title = on ? "live" : "reconnecting";
}

async function onTick(t) {
  const genChanged = t.generation !== state.generation;
  const newRequests = t.finished !== state.finished;
  state.generation = t.generation;
  state.finished = t.finished;
  // A finished request reaches the request log a moment after it is
  // counted (the log writes in batches): look again on the next tick too.
  if (newRequests) state.recheck = 2;
  $("generation").textContent = `generation ${t.generation}`;
  $("generation").dataset.generation = t.generation;
  try {
    if (state.view === "traffic" || state.view === "models") await refresh();
    else if (state.view === "routes" && genChanged) await renderRoutes();
    else if (state.view === "requests" && state.recheck > 0) { state.recheck -= 1; await renderRequests(); }
  } catch (e) { report(e); }
}

// ---- views -----------------------------------------------------------------

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => show(b.dataset.view));
}

function show(view) {
  state.view = view;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === view);
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== `view-${view}`;
  const render = { traffic: refresh, models: refresh, routes: renderRoutes, requests: renderRequests, spend: renderSpend, reports: renderReports }[view];
  render().catch(report);
}

async function refresh() {
  state.stats = await api(`/admin/stats?scope=${encodeURIComponent(state.scope)}`);
  if (state.view === "traffic") renderTraffic();
  if (state.view === "models") renderModels();
}

// Traffic: tiles of the last minute and charts of the last hour.
function renderTraffic() {
  const s = state.stats;
  const sel = $("scope");
  const scopes = s.scopes.includes(state.scope) ? s.scopes : [state.scope, ...s.scopes];
  if (sel.dataset.scopes !== scopes.join("|")) {
    sel.innerHTML = scopes.map((x) => `<option${x === state.scope ? " selected" : ""}>${esc(x)}</option>`).join("");
    sel.dataset.scopes = scopes.join("|");
  }
  const r = s.recent;
  const tiles = [
    ["requests/s", num(r.rps, 2)], ["error rate", pct(r.error_rate)], ["p50 latency", `${num(r.p50_ms, 0)} ms`],
    ["p95 latency", `${num(r.p95_ms, 0)} ms`], ["p50 time to first token", `${num(r.ttft_p50_ms, 0)} ms`],
    ["spend / minute", usd(r.spend_per_min_usd)], ["requests (last minute)", num(r.requests, 0)],
  ];
  $("tiles").innerHTML = tiles.map(([l, v]) => `<div class="tile"><div class="label">${esc(l)}</div><div class="value">${esc(v)}</div></div>`).join("");
  // From the first bucket with traffic (at least the last five minutes),
  // up to the whole hour the server keeps.
  const first = s.series.findIndex((p) => p.requests > 0);
  const span = Math.max(0, s.series.length - 30);
  const pts = s.series.slice(first < 0 ? span : Math.min(first, span));
  const b = s.bucket_s;
  const charts = [
    ["Requests per second", [["req/s", "#2f6fde", pts.map((p) => p.requests / b)]]],
    ["Error rate", [["errors", "#c62828", pts.map((p) => (p.requests ? p.errors / p.requests : null))]], pct],
    ["Latency (ms)", [["p50", "#2f6fde", pts.map((p) => p.p50_ms)], ["p95", "#b26a00", pts.map((p) => p.p95_ms)]]],
    ["Time to first token, p50 (ms)", [["ttft", "#7c3aed", pts.map((p) => p.ttft_p50_ms)]]],
    ["Spend per minute (USD)", [["spend", "#1a7f37", pts.map((p) => (p.spend_usd * 60) / b)]], usd],
  ];
  $("charts").innerHTML = charts.map(([title, lines, fmt]) => chart(title, pts.map((p) => p.t), lines, fmt)).join("");
}

$("scope").addEventListener("change", (e) => { state.scope = e.target.value; refresh().catch(report); });

// A line chart as inline SVG.
function chart(title, ts, lines, fmt) {
  const W = 520, H = 150, L = 44, R = 8, T = 8, B = 18;
  const vals = lines.flatMap(([, , v]) => v.filter((x) => x !== null && x !== undefined && Number.isFinite(x)));
  const top = Math.max(0, ...vals);
  const max = top > 0 ? top * 1.1 : 1;
  const n = Math.max(ts.length - 1, 1);
  const x = (i) => L + ((W - L - R) * i) / n;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const f = fmt || ((v) => num(v, v < 10 ? 2 : 0));
  let paths = "";
  for (const [name, color, v] of lines) {
    let d = "";
    let pen = false;
    v.forEach((val, i) => {
      if (val === null || val === undefined || !Number.isFinite(val)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(val).toFixed(1)}`;
      pen = true;
    });
    paths += `<path class="line" data-series="${esc(name)}" stroke="${color}" d="${d}"/>`;
    // A bucket between two empty ones has no line to draw: mark it.
    v.forEach((val, i) => {
      const lone = Number.isFinite(val) && !Number.isFinite(v[i - 1] ?? NaN) && !Number.isFinite(v[i + 1] ?? NaN);
      if (lone) paths += `<circle class="pt" fill="${color}" cx="${x(i).toFixed(1)}" cy="${y(val).toFixed(1)}" r="2.2"/>`;
    });
  }
  const ticks = [0, 0.5, 1].map((k) => `<text x="${L - 4}" y="${(y(max * k) + 3).toFixed(1)}" text-anchor="end">${esc(f(max * k))}</text>`).join("");
  const first = ts.length ? new Date(ts[0] * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  const last = ts.length ? new Date(ts[ts.length - 1] * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  const legend = lines.map(([name, color]) => `<span style="color:${color}">■ ${esc(name)}</span>`).join("");
  return `<div class="chart"><h3>${esc(title)}</h3><div class="legend">${legend}</div>
<svg class="series-chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/><line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/>
${ticks}<text x="${L}" y="${H - 4}">${esc(first)}</text><text x="${W - R}" y="${H - 4}" text-anchor="end">${esc(last)}</text>${paths}</svg></div>`;
}

// Models: one row per model.
function renderModels() {
  const rows = state.stats.models.map((m) => {
    const q = (m.quality || []).find((s) => s.rolling && s.rolling.count > 0);
    const quality = q ? `${num(q.rolling.mean, 3)} <span class="note">${esc(q.score)} · ${q.rolling.count}</span>` : "–";
    const alert = m.open_alerts ? badge(`${m.open_alerts} alert${m.open_alerts > 1 ? "s" : ""}`, "alert") : "";
    return `<tr data-model="${esc(m.name)}"><td>${esc(m.name)}</td><td>${esc(m.provider)}</td>
<td class="breaker">${badge(m.breaker)}</td><td class="num">${num(m.rps, 2)}</td>
<td class="num">${num(m.latency_p50_ms, 0)}</td><td class="num">${num(m.latency_p95_ms, 0)}</td>
<td class="num">${pct(m.error_rate)}</td><td class="num">${m.in_flight}</td>
<td class="num" title="${esc(m.spend_source)}">${usd(m.spend_today_usd)}</td><td>${quality} ${alert}</td></tr>`;
  });
  table($("models-table"), ["model", "provider", "breaker", "req/s (1 min)", "p50 ms", "p95 ms", "error rate", "in flight", "spend today", "quality"], rows, "no models");
}

// Routes and plugins, the reload button, the last refused reload.
async function renderRoutes() {
  const [p, s] = await Promise.all([api("/admin/plugins"), api("/admin/stats?window=60")]);
  state.generation = p.generation;
  $("generation").textContent = `generation ${p.generation}`;
  $("generation").dataset.generation = p.generation;
  const byName = Object.fromEntries(p.plugins.map((x) => [x.name, x]));
  const errs = (x) => (x && x.errors ? Object.entries(x.errors).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(", ") : "") || "none";
  const plugRow = (x) => `<td>${esc(x.language || "–")}</td><td>${esc(x.wit_version || "–")}</td><td class="num gen">${esc(x.generation ?? "–")}</td>
<td><code title="${esc(x.sha256)}">${esc((x.sha256 || "").slice(0, 12))}</code></td><td>${x.loaded_at ? new Date(x.loaded_at * 1000).toLocaleString() : "–"}</td>
<td class="error">${esc(x.last_error || "")}</td><td>${esc(errs(x))}</td>`;
  table($("routes-table"), ["route", "policy", "models", "language", "WIT", "generation", "sha256", "loaded at", "last error", "errors"],
    s.routes.map((r) => `<tr data-route="${esc(r.name)}"><td>${esc(r.name)}</td><td>${esc(r.policy)}</td><td>${esc(r.models.join(", "))}</td>${plugRow(byName[r.policy] || {})}</tr>`), "no routes");
  table($("plugins-table"), ["plugin", "kind", "source", "language", "WIT", "generation", "sha256", "loaded at", "last error", "errors"],
    p.plugins.map((x) => `<tr data-plugin="${esc(x.name)}"><td>${esc(x.name)}</td><td>${esc(x.kind || "refused")}</td><td class="wrap">${esc(x.source || "–")}</td>${plugRow(x)}</tr>`));
  const plugins = p.plugins.filter((x) => x.last_error).map((x) => `${x.name}: ${x.last_error}`);
  const lines = [];
  if (p.reloads.last_error) lines.push(`Last refused reload (${p.reloads.failed} refused, ${p.reloads.succeeded} succeeded): ${p.reloads.last_error}`);
  if (plugins.length) lines.push(`Refused plugin version${plugins.length > 1 ? "s" : ""} (the previous version keeps serving):`, ...plugins);
  const box = $("reload-refused");
  box.hidden = !lines.length;
  box.textContent = lines.join("\n");
}

$("reload").addEventListener("click", async () => {
  const out = $("reload-result");
  out.textContent = "reloading…";
  try {
    const r = await api("/admin/reload", { method: "POST" });
    out.textContent = `generation ${r.generation} serving`;
    out.className = "";
  } catch (e) {
    out.textContent = e.message;
    out.className = "error";
  }
  renderRoutes().catch(report);
});

// Requests: the newest records of the request log, filterable; a detail view.
async function renderRequests() {
  const f = new FormData($("filters"));
  const q = new URLSearchParams({ limit: "50" });
  for (const [k, v] of f.entries()) if (v) q.set(k, v);
  let body;
  try {
    body = await api(`/admin/requests?${q}`);
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    $("requests-note").textContent = e.message;
    table($("requests-table"), ["time"], []);
    return;
  }
  $("requests-note").textContent = `${body.requests.length} newest`;
  const rows = body.requests.map((r) => `<tr data-id="${esc(r.id)}"${r.id === state.selected ? ' class="selected"' : ""}>
<td>${when(r.started_at_ms)}</td><td><code>${esc(r.id.slice(0, 13))}</code></td><td>${esc(r.route || "–")}</td><td>${esc(r.model || "–")}</td>
<td>${badge(r.status, r.outcome === "ok" ? "ok" : "bad")}</td><td class="num">${num(r.duration_ms, 1)}</td>
<td class="num">${r.prompt_tokens + r.completion_tokens}</td><td class="num">${usd(r.cost_usd)}</td><td class="num">${(r.attempts || []).length}</td></tr>`);
  table($("requests-table"), ["time", "id", "route", "model", "status", "ms", "tokens", "cost", "attempts"], rows, "no requests logged yet");
}

$("filters").addEventListener("submit", (e) => { e.preventDefault(); renderRequests().catch(report); });
$("requests-table").addEventListener("click", (e) => {
  const tr = e.target.closest("tr[data-id]");
  if (tr) detail(tr.dataset.id).catch(report);
});

async function detail(id) {
  state.selected = id;
  for (const tr of document.querySelectorAll("#requests-table tr")) tr.classList.toggle("selected", tr.dataset.id === id);
  const r = await api(`/admin/requests/${encodeURIComponent(id)}`);
  const kv = (k, v) => `<dt>${esc(k)}</dt><dd>${v}</dd>`;
  const attempts = (r.attempts || []).map((a, i) => `<tr class="attempt"><td>${i + 1}</td><td>${esc(a.model)}</td><td>${esc(a.provider)}</td>
<td>${badge(a.outcome, a.outcome === "ok" ? "ok" : "bad")}</td><td class="num">${a.status ?? "–"}</td><td class="num">${num(a.latency_ms, 1)}</td><td>${esc(a.error || "")}</td></tr>`).join("");
  const scores = (r.scores || []).map((s) => `<tr><td>${esc(s.source)}</td><td>${esc(s.name)}</td><td class="num">${num(s.value, 3)}</td><td>${esc(s.label || "")}</td><td>${esc(s.explanation || "")}</td></tr>`).join("");
  const labels = Object.entries(r.labels || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ");
  const d = $("request-detail");
  d.hidden = false;
  d.parentElement.classList.add("detail");
  d.innerHTML = `<h2>Request <code>${esc(r.id)}</code></h2><dl>
${kv("started", esc(new Date(r.started_at_ms).toLocaleString()))}${kv("requested", esc(r.requested))}${kv("route", esc(r.route || "–"))}
${kv("policy", esc(r.policy || "–"))}${kv("plan", esc((r.plan || []).join(" → ") || "–"))}${kv("labels", labels || "–")}
${kv("model", esc(r.model || "–"))}${kv("status", `${esc(r.status)} ${esc(r.outcome)}`)}${kv("error", esc(r.error || "–"))}
${kv("duration", `${num(r.duration_ms, 1)} ms (upstream ${num(r.upstream_ms, 1)}, gateway ${num(r.overhead_ms, 2)})`)}
${kv("tokens", `${r.prompt_tokens} in, ${r.completion_tokens} out${r.tokens_estimated ? " (estimated)" : ""}`)}${kv("cost", usd(r.cost_usd))}
${kv("key", esc(r.key || "–"))}</dl>
<h3>Attempts</h3><table class="grid attempts"><thead><tr><th>#</th><th>model</th><th>provider</th><th>outcome</th><th>status</th><th>ms</th><th>error</th></tr></thead><tbody>${attempts}</tbody></table>
<h3>Scores</h3>${scores ? `<table class="grid"><tbody>${scores}</tbody></table>` : '<p class="note">none</p>'}`;
}

// Spend: by key, model and route, today and this month; keys against budgets.
async function renderSpend() {
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const month = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const parts = [];
  let note = "UTC days and months, from the request log.";
  for (const by of ["key", "model", "route"]) {
    for (const [label, since] of [["today", today], ["this month", month]]) {
      try {
        const r = await api(`/admin/spend?by=${by}&since=${since}`);
        const rows = (r.spend || []).map((g) => `<tr><td>${esc(g.group)}</td><td class="num">${g.requests}</td><td class="num">${usd(g.cost_usd)}</td><td class="num">${pct(g.error_rate)}</td></tr>`);
        const t = document.createElement("table");
        t.className = "grid";
        table(t, [`${by} · ${label}`, "requests", "cost", "errors"], rows, "none");
        parts.push(t.outerHTML);
      } catch (e) {
        if (e instanceof Unauthorized) throw e;
        note = e.message;
      }
    }
  }
  $("spend-note").textContent = note;
  $("spend-tables").innerHTML = parts.join("");
  try {
    const k = await api("/admin/keys");
    const rows = (k.keys || []).map((x) => `<tr><td>${esc(x.name)}</td><td class="num">${usd(x.spend_today_usd)}</td><td class="num">${usd(x.limits.daily_budget_usd)}</td>
<td class="num">${usd(x.spend_this_month_usd)}</td><td class="num">${usd(x.limits.monthly_budget_usd)}</td><td class="num">${x.requests_last_minute}</td></tr>`);
    table($("keys-table"), ["key", "spend today", "daily budget", "spend this month", "monthly budget", "requests last minute"], rows, "no client keys configured");
  } catch (e) {
    if (e instanceof Unauthorized) throw e;
    table($("keys-table"), ["key"], [], e.message);
  }
}

// Bench reports from [server] reports_dir.
async function renderReports() {
  const r = await api("/admin/reports");
  $("reports-note").textContent = r.configured ? `${r.reports.length} report(s)` : "No reports directory: set [server] reports_dir to the parent of `switchyard bench --out` directories.";
  const rows = r.reports.map((x) => `<tr data-report="${esc(x.name)}"><td>${esc(x.name)}</td><td>${esc(x.started_at)}</td><td>${esc(x.dataset)}</td><td class="num">${esc(x.tasks)}</td>
<td class="num">${usd(x.spend_usd)}</td><td>${x.decisions.map((d) => `${esc(d.task)} → ${esc(d.model)}`).join(", ")}</td></tr>`);
  table($("reports-table"), ["run", "started", "dataset", "tasks", "spend", "decisions"], rows, "no reports");
}

$("reports-table").addEventListener("click", async (e) => {
  const tr = e.target.closest("tr[data-report]");
  if (!tr) return;
  try {
    const r = await fetch(`/admin/reports/${encodeURIComponent(tr.dataset.report)}/report.html`, { headers: headers() });
    if (!r.ok) throw new Error(`report: ${r.status}`);
    const blob = new Blob([await r.text()], { type: "text/html" });
    const f = $("report-frame");
    f.src = URL.createObjectURL(blob);
    f.hidden = false;
  } catch (err) { report(err); }
});

start().catch(report);
