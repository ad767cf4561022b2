// shendu studio: the small progressive layer over server-rendered pages. No library, no network beyond the
// studio itself: charts are drawn as SVG here, live updates come as server-sent events.
"use strict";

const W = JSON.parse(document.getElementById("words")?.textContent || "{}");
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function el(tag, attrs = {}, text = "") {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function fmt(v) {
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 10000) ? v.toExponential(1) : +v.toFixed(3) + "";
}

// A line chart of several series {name: {epoch: [...], value: [...]}} into `box` (an element).
function drawChart(box, series, title) {
  const names = Object.keys(series).filter((n) => series[n].epoch.length);
  const rows = Math.ceil(names.length / 3);  // legend rows above the plot
  const width = 460, height = 260 + 13 * rows, left = 52, right = 12, top = 22 + 13 * rows, bottom = 34;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title });
  svg.appendChild(el("text", { x: left, y: 16, class: "chart-title" }, title));
  const points = names.reduce((n, k) => n + series[k].epoch.length, 0);
  box.dataset.points = points;
  if (!points) {
    svg.appendChild(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" }, "…"));
    box.replaceChildren(svg);
    return;
  }
  const xs = names.flatMap((n) => series[n].epoch), ys = names.flatMap((n) => series[n].value);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const sx = (x) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const sy = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4, y = sy(v);
    svg.appendChild(el("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid-line" }));
    svg.appendChild(el("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 8));
  for (let x = Math.ceil(x0); x <= x1; x += step) {
    svg.appendChild(el("text", { x: sx(x), y: height - bottom + 16, "text-anchor": "middle", class: "tick" }, x));
  }
  svg.appendChild(el("text", { x: width - right, y: height - 4, "text-anchor": "end", class: "tick" }, W.epoch || "epoch"));
  names.forEach((name, i) => {
    const s = series[name], color = COLORS[i % COLORS.length];
    const d = s.epoch.map((x, j) => `${j ? "L" : "M"}${sx(x).toFixed(1)},${sy(s.value[j]).toFixed(1)}`).join(" ");
    svg.appendChild(el("path", { d, fill: "none", stroke: color, "stroke-width": 2, class: "series", "data-name": name }));
    s.epoch.forEach((x, j) => svg.appendChild(el("circle", { cx: sx(x), cy: sy(s.value[j]), r: 2.5, fill: color })));
    const lx = left + (i % 3) * 136, ly = 32 + Math.floor(i / 3) * 13;
    svg.appendChild(el("rect", { x: lx, y: ly - 8, width: 10, height: 3, fill: color }));
    svg.appendChild(el("text", { x: lx + 14, y: ly - 3, class: "legend" }, name.length > 24 ? name.slice(0, 23) + "…" : name));
  });
  box.replaceChildren(svg);
}

function pick(curves, metrics) {
  const out = {};
  for (const m of metrics) if (curves[m]) out[m] = curves[m];
  return out;
}

function drawCharts(container, curves) {
  for (const box of $$(".chart", container)) drawChart(box, pick(curves, box.dataset.metrics.split(",")), box.dataset.title);
}

// -- job page: live charts over server-sent events ------------------------------------------------------
function liveJob(live) {
  const curves = {};
  drawCharts(live, curves);
  const source = new EventSource(`/api/jobs/${live.dataset.job}/events`);
  source.addEventListener("metrics", (e) => {
    for (const [name, s] of Object.entries(JSON.parse(e.data))) {
      const c = (curves[name] ||= { epoch: [], value: [] });
      c.epoch.push(...s.epoch); c.value.push(...s.value);
    }
    drawCharts(live, curves);
    refreshLog(live.dataset.job);
  });
  source.addEventListener("status", (e) => {
    const job = JSON.parse(e.data), badge = $("#job-status");
    badge.textContent = W[`st.${job.status}`] || job.status; badge.className = `badge ${job.status}`;
    badge.dataset.status = job.status;
    live.dataset.status = job.status;
    if (job.run_id) $("#job-run").innerHTML = `<a href="/runs/${job.run_id}">${job.run_id}</a>`;
    $("#stop-form").hidden = !["queued", "running"].includes(job.status);
    $("#resume-form").hidden = !["stopped", "failed"].includes(job.status);
    const err = $("#job-error"); err.hidden = !job.error; err.textContent = job.error || "";
  });
  source.addEventListener("end", () => { source.close(); refreshLog(live.dataset.job); });
}

function refreshLog(job) {
  fetch(`/api/jobs/${job}/log`).then((r) => r.text()).then((t) => { $("#job-log").textContent = t; });
}

// -- run page: curves and confusion matrix --------------------------------------------------------------
function runPage() {
  drawCharts($("#run-curves"), JSON.parse($("#curves-data").textContent));
  const box = $("#confusion");
  if (!box) return;
  fetch(`/api/runs/${box.dataset.run}/confusion`).then(async (r) => {
    const data = await r.json();
    if (!r.ok) { box.textContent = JSON.stringify(data.detail); return; }
    const max = Math.max(...data.matrix.flat());
    const head = data.classes.map((c) => `<th>${esc(c)}</th>`).join("");
    const rows = data.matrix.map((row, i) => `<tr><th>${esc(data.classes[i])}</th>` + row.map((v, j) => {
      const a = max ? v / max : 0, bg = i === j ? `rgba(37,99,235,${a})` : `rgba(220,38,38,${a})`;
      return `<td style="background:${bg};color:${a > 0.55 ? "#fff" : "#111"}">${v}</td>`;
    }).join("") + "</tr>").join("");
    box.innerHTML = `<p class="meta">${W.true} ↓ · ${W.predicted} → · ${W.accuracy}: ${(100 * data.accuracy).toFixed(2)}% (n=${data.count})</p>` +
      `<table class="cm"><thead><tr><th></th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  });
}

function comparePage() {
  const curves = JSON.parse($("#compare-data").textContent);
  for (const box of $$("#compare-curves .chart")) {
    const metric = box.dataset.metrics, series = {};
    for (const [run, c] of Object.entries(curves)) if (c[metric]) series[run] = c[metric];
    drawChart(box, series, box.dataset.title);
  }
}

// -- forms: inline validation while typing --------------------------------------------------------------
function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

function postJSON(url, body) {
  return fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then(async (r) => ({ ok: r.ok, status: r.status, data: await r.json().catch(() => ({})) }));
}

function jobForm(form) {
  const check = debounce(async () => {
    const values = {};
    for (const [k, v] of new FormData(form)) values[k] = v;
    for (const box of $$("input[type=checkbox]", form)) values[box.name] = box.checked ? "on" : "";
    const { data } = await postJSON("/api/config/check", values);
    for (const field of $$(".field", form)) {
      const key = field.dataset.key, msg = (data.errors || {})[key] || "";
      if (!key) continue;
      field.classList.toggle("has-error", !!msg);
      $(".err", field).textContent = msg;
    }
    $("#form-status").textContent = data.ok ? "✓" : "";
  }, 300);
  form.addEventListener("input", check);
  form.addEventListener("change", check);
}

function specEditor() {
  const text = $("#spec-text"), shape = $("#spec-shape"), status = $("#spec-status"), graph = $("#spec-graph");
  const check = debounce(async () => {
    const { data } = await postJSON("/api/specs/check", { text: text.value, input_shape: shape.value });
    status.className = `status ${data.ok ? "ok" : "bad"}`;
    status.textContent = data.ok ? `${W["spec.valid"]} · ${data.params.toLocaleString()} ${W.params}`
      : `${W["spec.invalid"]}: ${data.error || data.detail}`;
    if (data.ok) graph.innerHTML = data.graph_svg || "";
  }, 350);
  text.addEventListener("input", check);
  shape.addEventListener("input", check);
  $("#spec-save").addEventListener("click", async () => {
    const r = await postJSON("/api/specs", { name: $("#spec-name").value, text: text.value, input_shape: shape.value });
    $("#spec-save-msg").textContent = r.ok ? "✓" : JSON.stringify(r.data.detail);
    if (r.ok) setTimeout(() => location.assign(`/spec?name=${encodeURIComponent(r.data.name)}`), 300);
  });
}

// -- playground ------------------------------------------------------------------------------------------
function showResult(r) {
  const box = $("#result");
  if (!r.ok) { box.innerHTML = `<pre class="error"></pre>`; $("pre", box).textContent = JSON.stringify(r.data.detail); return; }
  const d = r.data;
  const rows = d.probabilities.map((p) => `<tr><td>${esc(p.label)}</td><td class="barcell"><div class="bar" style="width:${(100 * p.probability).toFixed(1)}%"></div></td><td class="num">${(100 * p.probability).toFixed(1)}%</td></tr>`).join("");
  const cam = d.gradcam && d.gradcam.image ? `<figure><img class="pixel" src="${d.gradcam.image}" alt="Grad-CAM"><figcaption>Grad-CAM · ${esc(d.gradcam.layer)}</figcaption></figure>` : "";
  const input = d.input ? `<figure><img class="pixel" src="${d.input}" alt="input"><figcaption>input</figcaption></figure>` : "";
  box.innerHTML = `<p class="prediction">${W.label}: <strong id="predicted-label">${esc(d.label)}</strong> (${(100 * d.probability).toFixed(1)}%)</p>` +
    `<table class="grid compact topk">${rows}</table><div class="row">${input}${cam}</div>`;
}

// The drawing cropped to its ink and centred in a square with a margin, as handwritten-digit datasets are
// prepared (a digit drawn small in a corner would otherwise shrink to a dot at 8×8 or 28×28 pixels).
function centred(canvas) {
  const { width, height } = canvas, data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (data[(y * width + x) * 4] > 32) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return canvas;  // nothing drawn
  const side = Math.max(x1 - x0, y1 - y0) + 1, margin = Math.round(side * 0.15), size = side + 2 * margin;
  const out = document.createElement("canvas");
  out.width = out.height = size;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, size, size);
  ctx.drawImage(canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, margin + (side - (x1 - x0 + 1)) / 2,
                margin + (side - (y1 - y0 + 1)) / 2, x1 - x0 + 1, y1 - y0 + 1);
  return out;
}

function playground(root) {
  const run = root.dataset.run, busy = () => { $("#result").innerHTML = `<p class="meta">${W.loading}</p>`; };
  $("#upload-form").addEventListener("submit", async (e) => {
    e.preventDefault(); busy();
    const r = await fetch("/api/predict", { method: "POST", body: new FormData(e.target) });
    showResult({ ok: r.ok, data: await r.json() });
  });
  $("#text-form").addEventListener("submit", async (e) => {
    e.preventDefault(); busy();
    showResult(await postJSON("/api/predict", { run, text: $("#sentence").value }));
  });
  const canvas = $("#canvas"), ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false;
  const at = (e) => { const b = canvas.getBoundingClientRect(); return [(e.clientX - b.left) * canvas.width / b.width, (e.clientY - b.top) * canvas.height / b.height]; };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...at(e)); canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...at(e)); ctx.strokeStyle = "#fff"; ctx.lineWidth = 26; ctx.lineCap = ctx.lineJoin = "round"; ctx.stroke();
  });
  canvas.addEventListener("pointerup", () => { drawing = false; });
  $("#canvas-clear").addEventListener("click", clear);
  $("#canvas-go").addEventListener("click", async () => {
    busy();
    showResult(await postJSON("/api/predict", { run, image: centred(canvas).toDataURL("image/png") }));
  });
  const modality = root.dataset.modality;
  for (const box of $$(".inputs .box")) {
    const isText = !!$("#text-form", box);
    box.classList.toggle("muted", modality === "text" ? !isText : isText);
  }
}

function downloads() {
  for (const button of $$("[data-download]")) {
    button.addEventListener("click", async () => {
      const name = button.dataset.download, msg = $(`#dl-${name}`);
      button.disabled = true; msg.textContent = W.loading;
      const r = await fetch(`/api/datasets/${name}/download`, { method: "POST" });
      const data = await r.json();
      msg.textContent = r.ok ? `${data.files.length} ${W.downloaded}` : data.detail;
      if (r.ok) setTimeout(() => location.reload(), 500);
      button.disabled = false;
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const live = $("#live");
  if (live) liveJob(live);
  if ($("#run-curves")) runPage();
  if ($("#compare-data")) comparePage();
  if ($("#job-form")) jobForm($("#job-form"));
  if ($("#spec-text")) specEditor();
  if ($("#playground")) playground($("#playground"));
  downloads();
  const jobs = $("#jobs[data-live]");
  if (jobs && $$(".badge.queued, .badge.running", jobs).length) setTimeout(() => location.reload(), 3000);
});
