// Polls /api/overview and renders the five panels. No framework, no
// external assets: the binary serves everything (works offline).
"use strict";
const nf = new Intl.NumberFormat("en-US");
const $ = (id) => document.getElementById(id);
const num = (n) => nf.format(n);
const sourceNames = { postgres: "PostgreSQL", jetstream: "JetStream" };
let refreshMs = 2000;

function clock(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function duration(s) {
  if (s == null) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

function bytes(b) {
  if (b < 1024) return `${b} B`;
  const u = ["KB", "MB", "GB", "TB"];
  let i = -1;
  do { b /= 1024; i++; } while (b >= 1024 && i < u.length - 1);
  return `${b.toFixed(b < 10 ? 1 : 0)} ${u[i]}`;
}

const limit = (v, max, f) => (max > 0 ? `${f(v)} / ${f(max)}` : `${f(v)} (no limit)`);
const ms = (v) => (v == null ? "–" : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const warnMark = (text, warn) => (warn ? `<span class="warn">${text} ⚠️</span>` : text);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function setText(id, v) { $(id).textContent = v; }

function showSources(sources) {
  for (const el of document.querySelectorAll(".down")) {
    const s = sources[el.dataset.source];
    const panel = el.closest(".panel");
    if (s && !s.up) {
      el.textContent = `${sourceNames[el.dataset.source]} unreachable since ${clock(s.downSince)}`;
      el.title = s.error || "";
      el.hidden = false;
      panel.classList.add("stale");
    } else {
      el.hidden = true;
      panel.classList.remove("stale");
    }
  }
}

function renderEvents(ev) {
  const tb = $("events").tBodies[0];
  if (!ev) { tb.innerHTML = ""; return; }
  tb.innerHTML = ev.types.map((t) => `<tr data-type="${esc(t.type)}">
      <td>${esc(t.type)}</td>
      <td data-col="count">${num(t.count)}</td>
      <td data-col="published">${num(t.published)}</td>
      <td data-col="failed">${warnMark(num(t.failed) + (t.dead ? ` (${num(t.dead)} dead)` : ""), t.failed > 0)}</td>
      <td data-col="pending">${num(t.pending)}${ev.pendingCapped ? "+" : ""}</td></tr>`).join("");
}

function renderLatency(lat) {
  const svg = $("sparkline");
  if (!lat) { setText("latency-current", "–"); svg.innerHTML = ""; setText("latency-max", ""); return; }
  setText("latency-current", ms(lat.p95Ms));
  setText("latency-window", `last ${lat.currentMinutes} min`);
  const vals = lat.minutes.map((m) => m.p95Ms);
  const max = Math.max(1, ...vals.filter((v) => v != null));
  const w = 300, h = 60, step = w / Math.max(1, vals.length - 1);
  let lines = "", pts = [];
  // A run of one minute is a dot; longer runs are lines.
  const flush = () => {
    if (pts.length === 1) { const [x, y] = pts[0].split(","); lines += `<circle cx="${x}" cy="${y}" r="2.5"/>`; }
    if (pts.length > 1) lines += `<polyline points="${pts.join(" ")}"/>`;
    pts = [];
  };
  vals.forEach((v, i) => {
    if (v == null) { flush(); return; }
    pts.push(`${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 4)).toFixed(1)}`);
  });
  flush();
  svg.innerHTML = `<line x1="0" y1="${h - 1}" x2="${w}" y2="${h - 1}"/>` + lines;
  setText("latency-max", `peak ${ms(max)};`);
}

function renderStream(st) {
  const ids = ["stream-messages", "stream-bytes", "stream-oldest", "stream-consumers", "stream-replicas", "stream-leader"];
  if (!st) { ids.forEach((id) => setText(id, "–")); return; }
  setText("stream-name", st.name);
  setText("stream-messages", limit(st.messages, st.maxMessages, num));
  setText("stream-bytes", limit(st.bytes, st.maxBytes, bytes));
  setText("stream-oldest", st.oldestAgeSeconds == null ? "empty" : `${duration(st.oldestAgeSeconds)} ago`);
  setText("stream-consumers", `${num(st.consumers)} (${num(st.activeConsumers)} active)`);
  setText("stream-replicas", String(st.replicas));
  setText("stream-leader", st.leader || "–");
}

function renderConsumers(cs) {
  const tb = $("consumers").tBodies[0];
  if (!cs) { tb.innerHTML = ""; setText("consumers-note", ""); return; }
  tb.innerHTML = (cs.items || []).map((c) => `<tr data-consumer="${esc(c.name)}"${c.warning ? ' class="warning"' : ""}>
      <td title="${esc(c.filter)}">${esc(c.name)}</td>
      <td data-col="pending">${num(c.pending + c.ackPending)}</td>
      <td data-col="acked">${num(c.acknowledged)}</td>
      <td data-col="lag">${warnMark(duration(c.lagSeconds), c.lagSeconds >= cs.lagWarningSeconds)}</td>
      <td data-col="redelivered">${num(c.redelivered)}</td>
      <td data-col="dlq">${warnMark(num(c.dlq), c.dlq > 0)}</td></tr>`).join("");
  setText("consumers-note", `Pending = not yet delivered + delivered, unacknowledged. ⚠️ lag ≥ ${duration(cs.lagWarningSeconds)} or dead letters in ${cs.dlq}${cs.dlqMissing ? " (not created yet)" : ""}.`);
}

function renderOutbox(ob) {
  const ids = ["outbox-backlog", "outbox-oldest", "outbox-dead", "outbox-parked", "outbox-tuples", "outbox-relays"];
  if (!ob) { ids.forEach((id) => setText(id, "–")); return; }
  setText("outbox-backlog", num(ob.backlog));
  setText("outbox-oldest", ob.backlog > 0 ? duration(ob.oldestUnsentAgeSeconds) : "–");
  $("outbox-dead").innerHTML = warnMark(num(ob.dead), ob.dead > 0);
  $("outbox-parked").innerHTML = warnMark(num(ob.parked), ob.parked > 0);
  // Deleted rows not yet vacuumed: every claim walks them (warned from 50,000).
  $("outbox-tuples").innerHTML = warnMark(num(ob.deadTuples), ob.deadTuples >= 50000);
  $("outbox-relays").innerHTML = warnMark(num(ob.relayReplicas), ob.relayReplicas === 0);
}

async function refresh() {
  try {
    const res = await fetch("api/overview", { cache: "no-store", credentials: "same-origin" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const ov = await res.json();
    refreshMs = Math.max(500, (ov.refreshSeconds || 2) * 1000);
    showSources(ov.sources);
    renderEvents(ov.events);
    renderLatency(ov.latency);
    renderStream(ov.stream);
    renderConsumers(ov.consumers);
    renderOutbox(ov.outbox);
    setText("status", `updated ${clock(ov.generatedAt)} · every ${refreshMs / 1000} s`);
    $("status").className = "muted";
  } catch (e) {
    setText("status", `dashboard unreachable (${e.message}); retrying`);
    $("status").className = "down";
  }
  setTimeout(refresh, refreshMs);
}
refresh();
