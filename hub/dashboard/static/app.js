// pxsh dashboard: one server-sent event stream per page; the task table
// is fetched from the task database when tasks were submitted or finished
// (at most twice a second). Plain JS, no build step, no CDN.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || sessionStorage.getItem("pxsh-token") || "";
  sessionStorage.setItem("pxsh-token", token);
  if (params.has("token")) history.replaceState(null, "", location.pathname);
  const $ = (id) => document.getElementById(id);
  const KIND_COLORS = { execute: "#4263eb", apply: "#12b886", push: "#fab005", pull: "#7950f2", clear: "#adb5bd", modules: "#e64980", other: "#495057" };
  const state = {
    view: null, spans: [], streamIDs: new Set(), tasks: [], tasksKey: "",
    lastTaskFetch: 0, taskTimer: null, windowSec: 60,
  };
  window.pxshDash = state; // for tests and the curious

  function api(path, opts) {
    opts = opts || {};
    opts.headers = Object.assign({ "X-Pxsh-Token": token }, opts.headers || {});
    return fetch(path, opts).then((r) => {
      if (!r.ok) return r.text().then((t) => { throw new Error(t.trim() || r.status); });
      return r.json();
    });
  }
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const fmtBytes = (n) => !n ? "" : n > 1 << 30 ? (n / (1 << 30)).toFixed(1) + " GiB" : (n / (1 << 20)).toFixed(0) + " MiB";
  const fmtDur = (s) => s <= 0 ? "" : s < 1 ? (s * 1000).toFixed(1) + " ms" : s < 120 ? s.toFixed(2) + " s" : (s / 60).toFixed(1) + " min";
  const fmtTime = (s) => s ? new Date(s * 1000).toLocaleTimeString() : "";

  // A virtualized list: only the visible rows exist in the DOM.
  function VList(el, rowH, renderRow) {
    const inner = document.createElement("div");
    el.appendChild(inner);
    let items = [];
    function draw() {
      inner.style.height = items.length * rowH + "px";
      const first = Math.max(0, Math.floor(el.scrollTop / rowH) - 5);
      const last = Math.min(items.length, Math.ceil((el.scrollTop + el.clientHeight) / rowH) + 5);
      let html = "";
      for (let i = first; i < last; i++) html += renderRow(items[i], i * rowH);
      inner.innerHTML = html;
    }
    el.addEventListener("scroll", () => requestAnimationFrame(draw));
    return { set(list) { items = list; draw(); }, get items() { return items; } };
  }

  // Capabilities: whatever the engine reported at registration beyond
  // its id, host and pid.
  const caps = (e) => Object.entries(e.info || {}).filter(([k, v]) => !["ID", "Host", "PID"].includes(k) && v !== null && v !== "" && v !== 0)
    .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
  const engineList = VList($("engines"), 22, (e, top) => {
    const cur = e.current ? esc(e.current.kind + " " + e.current.id + (e.current.label ? " [" + e.current.label + "]" : "")) : "";
    const c = esc(caps(e));
    return `<div class="row engine-row" style="top:${top}px" data-engine="${e.id}"><span>${e.id}</span><span>${esc(e.host)}</span><span>${e.pid}</span>` +
      `<span class="st-${e.state}">${e.state}</span><span>${e.queue}</span><span>${e.completed}</span><span>${fmtBytes(e.memory)}</span><span>${cur}</span><span title="${c}">${c}</span></div>`;
  });

  const taskList = VList($("tasks"), 22, (t, top) => {
    const dur = t.completed && (t.started || t.submitted) ? fmtDur(t.completed - (t.started || t.submitted)) : "";
    const live = t.status === "pending" || t.status === "running";
    return `<div class="row task-row" style="top:${top}px" data-id="${esc(t.id)}" data-status="${t.status}"><span>${esc(t.id)}</span>` +
      `<span class="st-${t.status}">${t.status}</span><span>${esc(t.kind)}</span><span>${t.engine == null ? "" : t.engine}</span>` +
      `<span>${esc(t.label)}</span><span>${esc(t.client)}</span><span>${fmtTime(t.submitted)}</span><span>${dur}</span>` +
      `<span>${live ? `<button type="button" class="abort" data-abort="${esc(t.id)}">abort</button>` : ""}</span></div>`;
  });

  $("legend").innerHTML = Object.entries(KIND_COLORS).map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`).join("") +
    `<span><i style="background:${"#c92a2a"}"></i>error</span><span><i style="background:#ced4da"></i>aborted</span>`;
  $("window").addEventListener("change", (ev) => { state.windowSec = +ev.target.value; drawStream(); });

  function sizeCanvas(c, h) {
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); c.style.height = h + "px";
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return [ctx, w];
  }

  // The task stream: one row per engine, a bar per task.
  function drawStream() {
    const v = state.view;
    const engines = v ? v.engines : [];
    const rowOf = new Map(engines.map((e, i) => [e.id, i]));
    const rowH = Math.max(2, Math.min(16, Math.floor(600 / Math.max(1, engines.length))));
    const H = Math.max(60, engines.length * rowH + 20);
    const c = $("stream");
    const [ctx, W] = sizeCanvas(c, H);
    const left = 40, now = Date.now() * 1e6, span = state.windowSec * 1e9, t0 = now - span;
    const x = (ns) => left + (W - left) * (ns - t0) / span;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#777"; ctx.font = "10px sans-serif";
    for (let s = 0; s <= state.windowSec; s += state.windowSec / 6) ctx.fillText("-" + Math.round(state.windowSec - s) + "s", x(t0 + s * 1e9) - 10, H - 4);
    if (rowH >= 10) engines.forEach((e, i) => ctx.fillText(String(e.id), 2, i * rowH + rowH - 3));
    const bar = (eng, a, b, color) => {
      const r = rowOf.get(eng);
      if (r === undefined || b < t0) return;
      const xa = Math.max(left, x(a)), xb = Math.max(xa + 1.5, x(b));
      ctx.fillStyle = color; ctx.fillRect(xa, r * rowH + 1, xb - xa, rowH - 2);
    };
    for (const s of state.spans) {
      let color = KIND_COLORS[s.kind] || KIND_COLORS.other;
      if (s.status === "error") color = "#c92a2a"; else if (s.status === "aborted") color = "#ced4da";
      bar(s.engine, s.started || s.submitted, s.completed, color);
    }
    for (const e of engines) if (e.current) {
      ctx.globalAlpha = 0.6; bar(e.id, e.current.started, now, KIND_COLORS[e.current.kind] || KIND_COLORS.other); ctx.globalAlpha = 1;
    }
  }

  // Throughput (bars) and queue depth (lines) over the kept history.
  function drawRate() {
    const pts = (state.view && state.view.history) || [];
    const c = $("rate"), H = 120;
    const [ctx, W] = sizeCanvas(c, H);
    ctx.clearRect(0, 0, W, H);
    if (!pts.length) return;
    const n = 300, bw = W / n;
    const maxDone = Math.max(1, ...pts.map((p) => p.done)), maxQ = Math.max(1, ...pts.map((p) => p.flight));
    pts.forEach((p, i) => {
      const xi = (n - pts.length + i) * bw, h = (H - 14) * p.done / maxDone;
      ctx.fillStyle = "#74c0fc"; ctx.fillRect(xi, H - 12 - h, Math.max(1, bw - 0.5), h);
    });
    for (const [key, color] of [["flight", "#f08c00"], ["wait", "#c92a2a"]]) {
      ctx.strokeStyle = color; ctx.beginPath();
      pts.forEach((p, i) => { const xi = (n - pts.length + i + 0.5) * bw, y = H - 12 - (H - 14) * p[key] / maxQ; i ? ctx.lineTo(xi, y) : ctx.moveTo(xi, y); });
      ctx.stroke();
    }
    const last = pts[pts.length - 1];
    ctx.fillStyle = "#333"; ctx.font = "10px sans-serif";
    ctx.fillText(`${last.done}/s (max ${maxDone})  in flight ${last.flight}  waiting ${last.wait}  (max ${maxQ})`, 4, H - 2);
  }

  state.apply = (u) => applyUpdate(u); // tests feed synthetic updates
  function applyUpdate(u) {
    if (u.spans) {
      for (const s of u.spans) { state.spans.push(s); state.streamIDs.add(s.id); }
      const cut = (Date.now() - 310e3) * 1e6;
      if (state.spans.length > 50000 || (state.spans.length && state.spans[0].completed < cut)) {
        state.spans = state.spans.filter((s) => s.completed >= cut).slice(-50000);
      }
    }
    if (u.view) {
      const v = u.view;
      state.view = v;
      for (const e of v.engines) if (e.current) state.streamIDs.add(e.current.id);
      $("cluster").textContent = "cluster " + v.cluster;
      $("engine-count").textContent = "(" + v.engines.length + ")";
      $("summary").textContent = `${v.submitted} submitted · ${v.finished} finished · ${v.in_flight} in flight · ${v.unassigned} waiting · ${v.clients} clients`;
      engineList.set(v.engines);
      drawRate();
      scheduleTasks();
    }
    drawStream();
  }

  // The task table follows the database: refetched when counts change.
  function filterQuery() {
    const f = new FormData($("filters"));
    const q = new URLSearchParams();
    for (const [k, v] of f.entries()) if (v) q.set(k, v);
    return q.toString();
  }
  function scheduleTasks(force) {
    const v = state.view;
    const key = (v ? v.submitted + "/" + v.finished + "/" + v.in_flight : "") + "?" + filterQuery();
    const running = v && v.engines.some((e) => e.current);
    if (!force && key === state.tasksKey && !running) return;
    if (state.taskTimer) return;
    const wait = Math.max(0, 500 - (Date.now() - state.lastTaskFetch));
    state.taskTimer = setTimeout(() => {
      state.taskTimer = null; state.lastTaskFetch = Date.now(); state.tasksKey = key;
      api("/api/tasks?" + filterQuery()).then((rows) => {
        state.tasks = rows; taskList.set(rows);
        $("task-count").textContent = rows.length + " tasks" + (rows.length >= 1000 ? " (newest 1000)" : "");
      }).catch((e) => { $("task-count").textContent = String(e.message || e); });
    }, force ? 0 : wait);
  }
  $("filters").addEventListener("input", () => scheduleTasks(true));
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());

  function abort(id) {
    return api("/api/abort", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ids: [id] }) })
      .then(() => setTimeout(() => scheduleTasks(true), 200));
  }
  $("purge").addEventListener("click", () => {
    if (!confirm("Delete every finished task from the task database?")) return;
    api("/api/purge", { method: "POST" }).then(() => scheduleTasks(true));
  });
  $("tasks").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-abort]");
    if (b) { ev.stopPropagation(); abort(b.dataset.abort); return; }
    const row = ev.target.closest("[data-id]");
    if (row) openTask(row.dataset.id);
  });
  $("detail-close").addEventListener("click", () => { $("detail-panel").hidden = true; });

  function openTask(id) {
    api("/api/task?id=" + encodeURIComponent(id)).then((t) => {
      const live = t.status === "pending" || t.status === "running";
      const item = (k, v) => v ? `<dt>${k}</dt><dd>${esc(v)}</dd>` : "";
      const block = (k, v) => v ? `<h3>${k}</h3><pre>${esc(v)}</pre>` : "";
      $("detail-id").textContent = t.id;
      $("detail").innerHTML = `<dl>${item("status", t.status)}${item("kind", t.kind + " (" + t.view_kind + ")")}${item("engine", t.engine)}` +
        `${item("label", t.label)}${item("client", t.client)}${item("name", t.name)}${item("submitted", fmtTime(t.submitted))}` +
        `${item("queued", t.started ? fmtDur(t.started - t.submitted) : "")}${item("ran", t.completed && t.started ? fmtDur(t.completed - t.started) : "")}` +
        `${item("total", t.completed ? fmtDur(t.completed - t.submitted) : "")}${item("resubmitted as", t.resubmitted)}</dl>` +
        (live ? `<button type="button" data-abort="${esc(t.id)}" id="detail-abort">abort</button>` : "") +
        block("arguments", t.args) + block("result", t.result) + block("output", t.stdout) + block("stderr", t.stderr) +
        block("error", t.error ? t.error + (t.traceback ? "\n" + t.traceback : "") : "");
      $("detail-panel").hidden = false;
      const ab = $("detail-abort");
      if (ab) ab.addEventListener("click", () => abort(t.id).then(() => setTimeout(() => openTask(t.id), 500)));
    }).catch((e) => alert(e.message || e));
  }

  function connect() {
    const es = new EventSource("/events?token=" + encodeURIComponent(token));
    es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "ok"; };
    es.onerror = () => { $("conn").textContent = "disconnected, retrying…"; $("conn").className = "bad"; };
    let pending = [];
    es.addEventListener("update", (ev) => {
      pending.push(JSON.parse(ev.data));
      if (pending.length === 1) requestAnimationFrame(() => { const us = pending; pending = []; us.forEach(applyUpdate); });
    });
  }
  window.addEventListener("resize", () => { drawStream(); drawRate(); });
  setInterval(drawStream, 250); // running bars grow and old ones scroll away
  connect();
  scheduleTasks(true);
})();
