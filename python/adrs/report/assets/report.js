// The adrs report page: decompresses its inlined Plotly and data, draws every view, and
// (when served live) fetches the data again every few seconds and redraws.
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("adrs-boot").textContent);
  const $ = (id) => document.getElementById(id);
  let DATA = null;
  let selected = null;

  async function gunzip(b64) {
    // the browser's own base64 (a data: URL) and gzip (DecompressionStream) decoders
    const packed = await fetch(`data:application/octet-stream;base64,${b64.trim()}`);
    const stream = packed.body.pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }

  // -- formatting ---------------------------------------------------------------------
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;",
    ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const fmt = (v, digits = 6) => (v === null || v === undefined) ? "n/a"
    : (typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString("en-US")
      : Number(v.toPrecision(digits)).toString()) : esc(v));
  const num = (v, digits) => `<td class="num">${fmt(v, digits)}</td>`;
  function duration(s) {
    if (s < 120) return `${s.toFixed(1)} s`;
    if (s < 7200) return `${(s / 60).toFixed(1)} min`;
    return `${(s / 3600).toFixed(2)} h`;
  }
  function table(head, rows, cls = "") {
    return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}` +
      `</tr></thead><tbody>${rows.join("")}</tbody></table>`;
  }
  const cand = (id) => id === null || id === undefined ? "" :
    `<a class="cand" data-cand="${id}">${id}</a>`;

  // A small Python highlighter: comments, strings, keywords, numbers, names after def/class.
  const KW = new Set(("False None True and as assert async await break class continue def del " +
    "elif else except finally for from global if import in is lambda nonlocal not or pass " +
    "raise return try while with yield").split(" "));
  const TOKEN = /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|\b(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\b|\b([A-Za-z_]\w*)\b/g;
  function highlight(line) {
    let out = "", last = 0, prev = "";
    line.replace(TOKEN, (m, com, str, number, word, at) => {
      out += esc(line.slice(last, at));
      last = at + m.length;
      if (com) out += `<span class="tok-com">${esc(m)}</span>`;
      else if (str) out += `<span class="tok-str">${esc(m)}</span>`;
      else if (number) out += `<span class="tok-num">${esc(m)}</span>`;
      else if (KW.has(word)) out += `<span class="tok-kw">${esc(m)}</span>`;
      else if (prev === "def" || prev === "class") out += `<span class="tok-def">${esc(m)}</span>`;
      else out += esc(m);
      if (word) prev = word;
      return m;
    });
    return out + esc(line.slice(last));
  }
  function diffHtml(text) {
    if (!text) return `<p class="muted">no diff (the initial program)</p>`;
    const lines = text.split("\n").map((l) => {
      const cls = l.startsWith("@@") ? "dl-hunk" : (l.startsWith("+") && !l.startsWith("+++"))
        ? "dl-add" : (l.startsWith("-") && !l.startsWith("---")) ? "dl-del" : "";
      return cls ? `<span class="${cls}">${esc(l)}</span>` : esc(l);
    });
    return `<pre>${lines.join("\n")}</pre>`;
  }

  // -- plots --------------------------------------------------------------------------
  const LAYOUT = {margin: {l: 60, r: 20, t: 36, b: 46}, font: {size: 12},
    legend: {orientation: "h", y: -0.25}, hovermode: "closest"};
  const CONFIG = {displaylogo: false, responsive: true};
  function plot(id, traces, layout) {
    const full = Object.assign({}, LAYOUT, layout);
    if (full.title) full.title = Object.assign({x: 0.01, xanchor: "left"}, full.title);
    Plotly.react($(id), traces, full, CONFIG);
  }
  function hline(name, y, x0, x1, dash, color) {
    return {x: [x0, x1], y: [y, y], mode: "lines", name, hoverinfo: "name+y",
      line: {dash, width: 1.5, color}};
  }
  function referenceLines(d, x0, x1) {
    const lines = [];
    if (d.initial && d.initial.score !== null)
      lines.push(hline(`initial program (${fmt(d.initial.score)})`, d.initial.score, x0, x1, "dot", "#6b7385"));
    if (d.best && d.best.test_score !== null)
      lines.push(hline(`best, held-out test (${fmt(d.best.test_score)})`, d.best.test_score, x0, x1, "dash", "#d6453d"));
    const colors = ["#e69f00", "#009e73", "#cc79a7", "#56b4e9"];
    d.baselines.forEach((b, i) => {
      if (b.train !== null) lines.push(hline(`${b.name}, train (${fmt(b.train)})`, b.train, x0, x1, "dashdot", colors[i % 4]));
      if (b.test !== null) lines.push(hline(`${b.name}, test (${fmt(b.test)})`, b.test, x0, x1, "longdash", colors[i % 4]));
    });
    return lines;
  }
  function progressPlots(d) {
    const c = d.curve, p = c.points;
    for (const [id, key, title, scale] of [["plot-progress-seq", "seq", "candidates evaluated", 1],
      ["plot-progress-time", "t", "minutes since the start", 1 / 60]]) {
      const x = c[key].map((v) => v * scale);
      const x0 = x.length ? x[0] : 0, x1 = x.length ? x[x.length - 1] : 1;
      plot(id, [
        {x: p[key].map((v) => v * scale), y: p.score, mode: "markers", text: p.id,
          name: c.points_sampled ? `scored candidates (a sample of ${p.id.length})` : "each scored candidate",
          hovertemplate: "candidate %{text}<br>%{y}<extra></extra>",
          marker: {size: 4, color: "rgba(26,95,180,0.25)"}},
        {x, y: c.best, mode: "lines", name: "best so far (train)", text: c.id,
          hovertemplate: "best so far: candidate %{text}<br>%{y}<extra></extra>",
          line: {shape: "hv", width: 2.5, color: "#1a5fb4"}},
        ...referenceLines(d, x0, x1)],
        {title: {text: `best score over ${key === "seq" ? "candidates" : "time"}`},
          xaxis: {title: {text: title}}, yaxis: {title: {text: "score"}}});
    }
  }
  function islandPlots(d) {
    plot("plot-islands", d.islands.map((isl) => ({x: isl.seq, y: isl.best, mode: "lines",
      name: `island ${isl.island}`, line: {shape: "hv"}})),
    {title: {text: "best score per island"}, xaxis: {title: {text: "candidates evaluated (whole run)"}},
      yaxis: {title: {text: "score"}}});
    const dims = d.grid.dims, holder = $("grids");
    if (!dims.length) { holder.innerHTML = `<p class="muted">no MAP-Elites axes recorded</p>`; return; }
    const [dx, dy] = [dims[0], dims[1] || {name: "", bins: 1, low: 0, high: 1}];
    const observed = dims.filter((x) => x.observed).map((x) => x.name);
    $("grid-note").textContent = `MAP-Elites grid of each island: best train score per cell; x: ${dx.name} ` +
      `[${fmt(dx.low, 4)}, ${fmt(dx.high, 4)}] in ${dx.bins} bins` + (dims[1] ? `, y: ${dy.name} ` +
      `[${fmt(dy.low, 4)}, ${fmt(dy.high, 4)}] in ${dy.bins} bins` : "") +
      (dims.length > 2 ? " (further axes folded: the best over them)" : "") +
      (observed.length ? ` (range of ${observed.join(", ")} as observed: the run did not record it)` : "");
    const wanted = d.grid.islands.map((g) => `grid-${g.island}`).join(",");
    if (holder.dataset.ids !== wanted) {
      holder.innerHTML = d.grid.islands.map((g) => `<div id="grid-${g.island}" class="grid-plot"></div>`).join("");
      holder.dataset.ids = wanted;
    }
    for (const g of d.grid.islands) {
      const z = Array.from({length: dy.bins}, () => Array(dx.bins).fill(null));
      const ids = Array.from({length: dy.bins}, () => Array(dx.bins).fill(null));
      for (const cell of g.cells) {
        const i = cell[0], j = dims.length > 1 ? cell[1] : 0;
        const score = cell[dims.length], id = cell[dims.length + 1];
        if (z[j][i] === null || score > z[j][i]) { z[j][i] = score; ids[j][i] = id; }
      }
      const centre = (dim, k) => dim.low + (k + 0.5) * (dim.high - dim.low) / dim.bins;
      plot(`grid-${g.island}`, [{type: "heatmap", z, customdata: ids, colorscale: "Viridis",
        x: Array.from({length: dx.bins}, (_, k) => centre(dx, k)),
        y: Array.from({length: dy.bins}, (_, k) => centre(dy, k)),
        hovertemplate: "candidate %{customdata}<br>score %{z}<extra></extra>", hoverongaps: false}],
      {title: {text: `island ${g.island}: ${g.cells.length} cells`}, margin: {l: 56, r: 10, t: 36, b: 46},
        xaxis: {title: {text: dx.name}}, yaxis: {title: {text: dy.name}}});
      $(`grid-${g.island}`).on("plotly_click", (ev) => {
        const id = ev.points[0].customdata; if (id !== null) showDetails(id);
      });
    }
  }
  function lineagePlot(d) {
    const pop = d.population, index = new Map(pop.id.map((id, k) => [id, k]));
    const ids = d.lineage;
    const score = ids.map((id) => index.has(id) ? pop.score[index.get(id)] : null);
    plot("plot-lineage", [{x: ids.map((_, k) => k), y: score, text: ids, mode: "lines+markers",
      name: "lineage", customdata: ids.map((id) => index.has(id) ? pop.generator[index.get(id)] : ""),
      hovertemplate: "candidate %{text} (%{customdata})<br>score %{y}<extra></extra>",
      line: {color: "#b8c0d0"}, marker: {size: 11, color: score, colorscale: "Viridis",
        showscale: true, colorbar: {title: {text: "score"}}}}],
    {title: {text: `${ids.length} programs from the initial one to the best`},
      xaxis: {title: {text: "step in the lineage"}}, yaxis: {title: {text: "train score"}}, showlegend: false});
    $("plot-lineage").on("plotly_click", (ev) => showDetails(ev.points[0].text));
  }
  function populationPlot(d) {
    const p = d.population, byId = new Map(p.id.map((id, k) => [id, k]));
    const scored = p.score.filter((s) => s !== null);
    const floor = scored.length ? Math.min(...scored) - 0.05 * ((Math.max(...scored) - Math.min(...scored)) || 1) : 0;
    const y = p.score.map((s) => s === null ? floor : s);
    const ex = [], ey = [];
    p.id.forEach((id, k) => {
      const parent = p.parent[k];
      if (parent !== null && byId.has(parent)) {
        const q = byId.get(parent);
        ex.push(p.generation[q], p.generation[k], null); ey.push(y[q], y[k], null);
      }
    });
    const ok = [], bad = [];
    p.id.forEach((id, k) => (p.score[k] === null ? bad : ok).push(k));
    const pick = (ks, arr) => ks.map((k) => arr[k]);
    const lineage = new Set(d.lineage);
    const lk = p.id.map((id, k) => k).filter((k) => lineage.has(p.id[k]));
    plot("plot-population", [
      {x: ex, y: ey, mode: "lines", name: "parent → child", hoverinfo: "skip",
        line: {color: "rgba(120,130,150,0.18)", width: 1}},
      {x: pick(ok, p.generation), y: pick(ok, y), text: pick(ok, p.id), mode: "markers", name: "scored",
        customdata: pick(ok, p.island), hovertemplate: "candidate %{text} (island %{customdata})<br>score %{y}<extra></extra>",
        marker: {size: 6, color: pick(ok, y), colorscale: "Viridis"}},
      {x: pick(bad, p.generation), y: pick(bad, y), text: pick(bad, p.id), mode: "markers",
        name: "failed, duplicate or unusable (drawn at the bottom)", customdata: pick(bad, p.status),
        hovertemplate: "candidate %{text}: %{customdata}<extra></extra>",
        marker: {size: 5, symbol: "x", color: "rgba(179,38,30,0.45)"}},
      {x: pick(lk, p.generation), y: pick(lk, y), text: pick(lk, p.id), mode: "lines+markers",
        name: "lineage of the best", hovertemplate: "candidate %{text}<br>score %{y}<extra></extra>",
        line: {color: "#d6453d", width: 2}, marker: {size: 8, color: "#d6453d"}}],
    {title: {text: "every candidate by generation (drag to zoom, double-click to reset)"},
      xaxis: {title: {text: "generation"}}, yaxis: {title: {text: "train score"}}});
    $("plot-population").on("plotly_click", (ev) => showDetails(ev.points[0].text));
    $("population-note").textContent = p.sampled ?
      `${p.id.length.toLocaleString("en-US")} of ${p.total.toLocaleString("en-US")} candidates drawn (a fixed-seed sample; the lineage of the best is drawn whole).`
      : `all ${p.total.toLocaleString("en-US")} candidates.`;
  }

  // -- tables -------------------------------------------------------------------------
  function headerTable(d) {
    const h = d.header, llm = h.llm;
    const layers = h.sandbox.length ? h.sandbox.map((l) => `<span class="badge ${l.active ? "on" : "off"}" ` +
      `title="${esc(l.detail)}">${esc(l.name)}${l.active ? "" : " (missing)"}</span>`).join("") : "n/a";
    const rows = [
      ["problem", `<span id="hdr-problem">${esc(h.problem)}</span>`],
      ["run folder", esc(h.run_dir)],
      ["status", `<span id="hdr-status">${esc(h.status)}</span>`],
      ["budget", `<span id="hdr-budget">${fmt(h.budget)}</span>`],
      ["best score (train)", d.best ? `<span id="hdr-best">${d.best.score}</span> (candidate ${cand(d.best.id)})` : `<span id="hdr-best">none</span>`],
      ["best, held-out test", `<span id="hdr-best-test">${d.best && d.best.test_score !== null ? d.best.test_score : "not computed"}</span>`],
      ["initial program", d.initial ? `<span id="hdr-initial">${d.initial.score === null ? "not scored" : d.initial.score}</span>` : "n/a"],
      ["candidates", Object.entries(h.counts).map(([k, v]) => `${esc(k)} <b id="count-${k}">${v}</b>`).join(", ")],
      ["wall time", `<span id="hdr-wall">${duration(h.wall_seconds)}</span> in ${h.sessions} session${h.sessions === 1 ? "" : "s"}`],
      ["candidates per hour", `<span id="hdr-rate">${fmt(Math.round(h.rate_per_hour))}</span>`],
      ["model calls", `<span id="hdr-calls">${llm.calls}</span> (${llm.errors} failed)`],
      ["tokens", `<span id="hdr-tokens">${llm.tokens}</span> (prompt ${llm.prompt_tokens}, completion ${llm.completion_tokens})`],
      ["cost", `$<span id="hdr-cost" data-value="${llm.cost_usd}">${llm.cost_usd.toFixed(4)}</span>`],
      ["generator", esc(h.generator)],
      ["executor", `<span id="hdr-executor">${esc(h.executor)}</span>`],
      ["sandbox layers", `<span id="hdr-sandbox">${layers}</span>`],
      ["workloads", esc(h.data || "n/a")],
    ];
    $("header-table").innerHTML = `<table class="kv">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("")}</table>`;
  }
  function metricsTable(d) {
    const m = d.metrics;
    if (!m) { $("metrics-table").innerHTML = `<p class="muted">no program was scored yet</p>`; return; }
    const head = ["metric"];
    m.columns.forEach((c) => head.push(`${c.label}${c.id !== null ? ` (${c.id})` : ""}: train`, "test"));
    const scoreRow = `<tr><th>score</th>${m.columns.map((c) => {
      const base = c.label === "best" ? d.best : c.label === "initial program" ? d.initial
        : d.baselines.find((b) => c.label.endsWith(b.name));
      return base ? num(base.score !== undefined ? base.score : base.train) + num(base.test_score !== undefined ? base.test_score : base.test)
        : "<td></td><td></td>";
    }).join("")}</tr>`;
    const rows = m.names.map((name) => `<tr><th>${esc(name)}</th>${m.columns.map((c) =>
      num(c.train[name]) + num(c.test[name])).join("")}</tr>`);
    $("metrics-table").innerHTML = table(head, [scoreRow, ...rows], "metrics");
  }
  function bestProgram(d) {
    const b = d.best_program;
    if (!b) { $("best-program").innerHTML = ""; return; }
    const cell = (n, text, side) => `<td class="ln">${n === null ? "" : n}</td><td class="${side}">${text === null ? "" : highlight(text)}</td>`;
    const rows = b.rows.map((r) => `<tr class="${r[0]}">${cell(r[1], r[2], "l")}${cell(r[3], r[4], "r")}</tr>`);
    $("best-program").innerHTML = `<p class="muted">initial program (${cand(b.initial_id)}, left) beside the best ` +
      `(${cand(b.best_id)}, right): <span id="best-changed">${b.changed}</span> lines differ</p>` +
      `<table class="diff"><colgroup><col style="width:3rem"><col><col style="width:3rem"><col></colgroup>` +
      `<tbody>${rows.join("")}</tbody></table>`;
  }
  function failuresTable(d) {
    if (!d.failures.length) { $("failures-table").innerHTML = `<p class="muted">no failed, duplicate or unusable candidate</p>`; return; }
    $("failures-table").innerHTML = table(["reason", "count", "example"], d.failures.map((f) =>
      `<tr data-reason="${esc(f.reason)}"><td>${esc(f.reason)}</td>${num(f.count)}<td>${f.example ? `${cand(f.example.id)} ` +
        `(${esc(f.example.status)}): <span class="error">${esc((f.example.error || "").split("\n").slice(0, 3).join(" ").slice(0, 300))}</span>` : ""}</td></tr>`));
  }
  function modelsTable(d) {
    if (!d.models.length) { $("models-table").innerHTML = `<p class="muted">no candidate generated yet</p>`; return; }
    const pct = (v) => v === null ? "n/a" : `${(100 * v).toFixed(1)}%`;
    $("models-table").innerHTML = table(["model or generator", "calls", "errors", "latency p50 (s)", "p90", "p99",
      "prompt tokens", "completion tokens", "cost ($)", "candidates", "scored", "improved on parent"],
    d.models.map((m) => `<tr><td>${esc(m.model)}</td>${num(m.calls)}${num(m.errors)}${num(m.latency_p50, 3)}` +
      `${num(m.latency_p90, 3)}${num(m.latency_p99, 3)}${num(m.prompt_tokens)}${num(m.completion_tokens)}` +
      `<td class="num">${m.cost_usd.toFixed(4)}</td>${num(m.candidates)}${num(m.scored)}` +
      `<td class="num">${m.improved} (${pct(m.improved_share)})</td></tr>`));
  }

  // -- one candidate ------------------------------------------------------------------
  async function showDetails(id) {
    selected = id;
    let c = DATA.details[String(id)];
    if ((!c || c.program === null) && boot.live) {
      try {
        const r = await fetch(`/api/candidate/${id}`);
        if (r.ok) c = await r.json();
      } catch (e) { /* the server may be gone; show what the page holds */ }
    }
    const box = $("details");
    if (!c) {
      box.innerHTML = `<h3>candidate ${id}</h3><p class="muted">its details are not embedded in this ` +
        `report (the size budget ran out); <code>adrs serve</code> opens any candidate.</p>`;
      return;
    }
    const metric = (m) => Object.keys(m).length ? table(["metric", "value"], Object.entries(m).sort().map(([k, v]) =>
      `<tr><td>${esc(k)}</td>${num(v)}</tr>`)) : `<p class="muted">none</p>`;
    box.innerHTML = `<h3 id="details-title">candidate ${c.id}</h3>` +
      `<table class="kv"><tr><th>status</th><td>${esc(c.status)}</td></tr>` +
      `<tr><th>parent</th><td>${c.parent === null ? "none (initial program)" : cand(c.parent)}</td></tr>` +
      `<tr><th>generator</th><td>${esc(c.generator)}</td></tr><tr><th>island, generation</th><td>${c.island}, ${c.generation}</td></tr>` +
      `<tr><th>train score</th><td>${fmt(c.score, 10)}</td></tr><tr><th>quick score</th><td>${fmt(c.quick_score, 10)}</td></tr>` +
      `<tr><th>held-out test</th><td>${fmt(c.test_score, 10)}</td></tr></table>` +
      (c.error ? `<h4>error</h4><pre class="error">${esc(c.error)}</pre>` : "") +
      `<h4>diff to its parent</h4>${diffHtml(c.diff)}` +
      `<h4>metrics (train)</h4>${metric(c.metrics)}` +
      (Object.keys(c.test_metrics).length ? `<h4>metrics (held-out test)</h4>${metric(c.test_metrics)}` : "") +
      `<h4>feedback</h4><pre>${esc(c.feedback || "")}</pre>` +
      `<h4>program</h4>` + (c.program === null ? `<p class="muted">not embedded in this file (only the ` +
        `lineage's programs are); see the diff, or open it with <code>adrs serve</code></p>`
        : `<pre>${c.program.split("\n").map(highlight).join("\n")}</pre>`);
  }
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.cand");
    if (a) { ev.preventDefault(); showDetails(Number(a.dataset.cand)); $("details").scrollIntoView(); }
  });

  // -- comparison ---------------------------------------------------------------------
  function renderComparison(d) {
    $("run-view").hidden = true;
    $("compare-view").hidden = false;
    plot("plot-compare", d.runs.map((r) => ({x: r.curve.seq, y: r.curve.best, mode: "lines",
      name: r.label, line: {shape: "hv", width: 2}})),
    {title: {text: "best score so far"}, xaxis: {title: {text: "candidates evaluated"}},
      yaxis: {title: {text: "train score"}}});
    $("compare-table").innerHTML = table(["run", "problem", "evaluated", "best train", "best test",
      "initial train", "cost ($)", "tokens", "candidates per hour", "wall time"], d.runs.map((r) =>
      `<tr><td>${esc(r.label)}</td><td>${esc(r.problem)}</td>${num(r.done)}${num(r.best_train, 10)}` +
      `${num(r.best_test, 10)}${num(r.initial_train, 10)}<td class="num">${r.cost_usd.toFixed(4)}</td>` +
      `${num(r.tokens)}${num(Math.round(r.rate_per_hour))}<td class="num">${duration(r.wall_seconds)}</td></tr>`));
  }

  function render(d) {
    DATA = d;
    if (d.kind === "comparison") { renderComparison(d); return; }
    $("run-view").hidden = d.kind === "waiting";
    if (d.kind === "waiting") return;
    for (const view of [headerTable, progressPlots, islandPlots, lineagePlot, populationPlot,
      metricsTable, bestProgram, failuresTable, modelsTable]) {
      view(d);
      performance.mark(`adrs-view-${view.name}`);  // what each view costs (bench/report.py)
    }
  }
  function stamp(d, live) {
    if (d.kind === "waiting") { $("status-line").textContent = `waiting for the run: ${d.message}`; return; }
    const when = new Date(d.generated_at * 1000).toISOString().replace("T", " ").slice(0, 19);
    $("status-line").textContent = (live ? "live: refreshed " : "generated ") + when + " UTC";
  }

  async function refresh() {
    try {
      const r = await fetch("/api/data", {cache: "no-store"});
      if (!r.ok) { $("status-line").textContent = `live: ${(await r.json()).error}`; return; }
      const d = await r.json();
      render(d);
      stamp(d, true);
      window.__adrsRefreshes = (window.__adrsRefreshes || 0) + 1;
    } catch (e) {
      $("status-line").textContent = `live: the server does not answer (${e})`;
    }
  }

  async function main() {
    const [code, text] = await Promise.all([gunzip($("adrs-plotly").textContent),
      gunzip($("adrs-data").textContent)]);
    performance.mark("adrs-inflated");
    const script = document.createElement("script");
    script.textContent = code;
    document.head.appendChild(script);
    performance.mark("adrs-plotly-loaded");
    const d = JSON.parse(text);
    render(d);
    performance.mark("adrs-drawn");
    stamp(d, false);
    window.__adrsReady = true;
    if (boot.live) setInterval(refresh, boot.refresh_ms);
  }
  main().catch((e) => {
    $("status-line").textContent = `the page could not be drawn: ${e}`;
    console.error(e);
  });
})();
