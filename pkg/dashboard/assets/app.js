// Siskin dashboard. Plain JavaScript, no build step: one Server-Sent Events stream per page
// feeds the fleet table or the Canary page; nothing polls.
"use strict";

const csrf = document.querySelector('meta[name="siskin-csrf"]').content;
const app = document.getElementById("app");
const conn = document.getElementById("conn");
const crumbs = document.getElementById("crumbs");
const SVGNS = "http://www.w3.org/2000/svg";

// el builds an element: el("td", {class: "x"}, "text", child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the CSP, unlike the attribute
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  return d.toLocaleTimeString([], {hour12: false}) + (d.toDateString() === new Date().toDateString() ? "" : " " + d.toLocaleDateString());
}

function badge(text, cls) {
  return el("span", {class: "badge " + (cls || String(text).toLowerCase())}, text);
}

function weightBar(w) {
  return el("span", {class: "weightbar", title: w + "% to the canary"},
    el("span", {class: "fill", style: "width:" + Math.max(0, Math.min(100, w)) + "%"}), el("span", {class: "label"}, w + "%"));
}

// ---- stream

function connect(query, handlers) {
  const es = new EventSource("/api/stream" + query);
  es.onopen = () => { conn.textContent = "live"; conn.className = "conn live"; };
  es.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn down"; };
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
  }
  return es;
}

function showProblem(p) {
  let box = document.getElementById("problem");
  if (!box) {
    box = el("p", {id: "problem", class: "problem"});
    app.prepend(box);
  }
  box.textContent = p.error;
}

// ---- fleet page

function fleetPage() {
  crumbs.replaceChildren(el("span", {}, "Fleet"));
  const filter = el("input", {id: "filter", type: "search", placeholder: "filter: namespace, name, phase, health…", autofocus: true});
  const health = el("select", {id: "health-filter"},
    ["all", "Healthy", "Progressing", "Failed", "Stalled", "Unknown"].map((h) => el("option", {value: h}, h === "all" ? "any health" : h)));
  const count = el("span", {id: "count", class: "muted"});
  const tbody = el("tbody");
  const table = el("table", {id: "fleet"},
    el("thead", {}, el("tr", {}, ["Namespace", "Canary", "Phase", "Weight", "Health", "Failed checks", "Revision", "Since", "Message"].map((h) => el("th", {}, h)))),
    tbody);
  app.replaceChildren(el("section", {class: "toolbar"}, filter, health, count), table);
  let rows = [];
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const h = health.value;
    const shown = rows.filter((r) => (h === "all" || r.health === h) &&
      (!q || [r.namespace, r.name, r.phase, r.health, r.target].some((f) => f.toLowerCase().includes(q))));
    count.textContent = shown.length + " of " + rows.length + " canaries";
    tbody.replaceChildren(...shown.map((r) => el("tr", {"data-key": r.namespace + "/" + r.name, class: "h-" + r.health.toLowerCase()},
      el("td", {}, r.namespace),
      el("td", {}, el("a", {href: "/canary/" + encodeURIComponent(r.namespace) + "/" + encodeURIComponent(r.name)}, r.name)),
      el("td", {class: "phase"}, badge(r.phase), r.paused && !r.advice ? badge("paused", "paused") : null,
        r.advice ? el("span", {class: "badge asks", title: r.advice.reason + ": " + r.advice.message + " (" + r.advice.onTimeout + " at " + fmtTime(r.advice.deadline) + ")"}, "asks a person") : null),
      el("td", {}, weightBar(r.weight)),
      el("td", {class: "health"}, badge(r.health)),
      el("td", {class: "num"}, r.failedChecks),
      el("td", {class: "mono"}, r.revision),
      el("td", {}, fmtTime(r.since)),
      el("td", {class: "message"}, r.message))));
    if (rows.length === 0) tbody.replaceChildren(el("tr", {}, el("td", {colspan: 9, class: "muted"}, "No Canary yet.")));
  };
  filter.addEventListener("input", render);
  health.addEventListener("change", render);
  connect("", {fleet: (r) => { rows = r; render(); }, problem: showProblem});
}

// ---- canary page

const actionInfo = {
  step: ["Next step", "Move the rollout to its next step now, without this step's checks (at the last step this promotes)?", "siskin.dev/promote (step:…)"],
  promote: ["Promote", "Promote the current revision now, skipping the remaining analysis?", "siskin.dev/promote"],
  abort: ["Abort", "Abort the rollout and route all traffic back to the primary?", "siskin.dev/abort"],
  retry: ["Retry", "Start a new analysis of the failed revision?", "siskin.dev/retry"],
  pause: ["Pause", "Freeze the analysis where it is (weights kept, no deadlines)?", "siskin.dev/pause"],
  resume: ["Resume", "Resume the paused analysis?", "siskin.dev/resume"],
};

// pending is the last action requested from this page, until the controller acknowledges it.
let pending = null;

// adviceInfo are the answers to a rollout that asks a person (status.advice): the same actions,
// in the words of the question.
const adviceInfo = {
  resume: ["Go on", "Go on with the rollout despite the evidence? The regression is acknowledged and not asked about again in this rollout.", "siskin.dev/resume"],
  abort: ["Roll back", "Roll the rollout back and route all traffic to the primary?", "siskin.dev/abort"],
  promote: ["Promote", "Promote the current revision now, despite the evidence?", "siskin.dev/promote"],
};

function confirmAction(key, action, info) {
  const [title, text, ann] = (info || actionInfo)[action];
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title + " " + key + "?";
  document.getElementById("confirm-text").textContent = text + " This sets the annotation " + ann + " on the Canary; the controller acts on it and records it in status.";
  dlg.returnValue = "";
  dlg.onclose = () => { if (dlg.returnValue === "ok") doAction(key, action); };
  dlg.showModal();
}

async function doAction(key, action) {
  const status = document.getElementById("action-status");
  status.className = "action-status";
  status.textContent = action + ": sending…";
  try {
    const res = await fetch("/api/canaries/" + key + "/" + action, {method: "POST", headers: {"X-Siskin-Csrf": csrf}, credentials: "same-origin"});
    const body = await res.json();
    if (!res.ok) {
      status.className = "action-status failed";
      status.textContent = action + " refused: " + body.error;
      return;
    }
    pending = {action, annotation: body.annotation, value: body.value};
    status.textContent = action + " requested (" + body.annotation + "=" + body.value + "): waiting for the controller…";
    status.dataset.state = "requested";
  } catch (e) {
    status.className = "action-status failed";
    status.textContent = action + " failed: " + e;
  }
}

function checkAck(d) {
  const status = document.getElementById("action-status");
  if (!pending || !status) return;
  if (d.manualRequests[pending.annotation] === pending.value) {
    status.textContent = pending.action + " acknowledged by the controller: phase " + d.phase + (d.paused ? " (paused)" : "");
    status.dataset.state = "acknowledged";
    status.className = "action-status ok";
    pending = null;
  }
}

function stepsView(d) {
  if (!d.steps || d.steps.length === 0) {
    const failed = (d.hidden || []).find((h) => h.startsWith("schedule: "));
    return el("p", {class: "muted"}, failed ? "The steps could not be planned (" + failed + ")." : "No analysis steps (analysis skipped).");
  }
  return el("ol", {id: "steps", class: "steps"}, d.steps.map((s, i) => {
    const n = i + 1;
    const cls = n < d.currentStep || (n === d.currentStep && d.phase === "Succeeded") ? "done" : n === d.currentStep ? "current" : "todo";
    const title = `step ${n} at ${s.at}: ` + (s.checks && s.checks.length ? "checks " + s.checks.join(", ") : "no checks") +
      ` at ${s.weight}%` + (s.gates && s.gates.length ? ", gates " + s.gates.join(", ") : "") +
      (s.label === "promote" ? ", then promotion" : `, then ${s.next}%`);
    return el("li", {class: "step " + cls, "data-step": n, title},
      el("span", {class: "n"}, n), el("span", {class: "label"}, s.label), el("span", {class: "at"}, s.at));
  }));
}

// lineChart draws series of {x, y} points; bands are dashed lines (bounds).
function lineChart({id, width = 560, height = 200, xs, lines, yMin, yMax, xLabel, yLabel, xFmt, evenTicks}) {
  const pad = {l: 46, r: 40, t: 12, b: 30};
  const W = width - pad.l - pad.r, H = height - pad.t - pad.b;
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const sx = (x) => pad.l + (x1 === x0 ? W / 2 : ((x - x0) / (x1 - x0)) * W);
  const sy = (y) => pad.t + H - (yMax === yMin ? H / 2 : ((y - yMin) / (yMax - yMin)) * H);
  const g = svg("svg", {id, viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img"});
  g.append(svg("rect", {x: pad.l, y: pad.t, width: W, height: H, class: "plot"}));
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    g.append(svg("line", {x1: pad.l, x2: pad.l + W, y1: sy(v), y2: sy(v), class: "grid"}));
    g.append(svg("text", {x: pad.l - 4, y: sy(v) + 4, class: "tick", "text-anchor": "end"}, +v.toPrecision(4)));
  }
  // Time axes get evenly spaced ticks; step axes one tick per step.
  const xt = evenTicks && x1 > x0 ? [0, 1, 2, 3, 4].map((i) => x0 + ((x1 - x0) * i) / 4) : [...new Set(xs)];
  const every = Math.max(1, Math.ceil(xt.length / 6));
  xt.forEach((x, i) => { if (i % every === 0) g.append(svg("text", {x: sx(x), y: pad.t + H + 16, class: "tick", "text-anchor": "middle"}, xFmt ? xFmt(x) : x)); });
  g.append(svg("text", {x: pad.l + W / 2, y: height - 2, class: "axis", "text-anchor": "middle"}, xLabel));
  g.append(svg("text", {x: 10, y: pad.t + H / 2, class: "axis", transform: `rotate(-90 10 ${pad.t + H / 2})`, "text-anchor": "middle"}, yLabel));
  for (const line of lines) {
    const pts = line.points.filter((p) => p.y !== null && p.y !== undefined);
    if (pts.length === 0) continue;
    let path = "";
    pts.forEach((p, i) => {
      if (line.step && i > 0) path += ` H${sx(p.x)} V${sy(p.y)}`;
      else path += (i === 0 ? "M" : " L") + sx(p.x) + " " + sy(p.y);
    });
    if (line.step && line.until !== undefined) path += ` H${sx(line.until)}`;
    g.append(svg("path", {d: path, class: "line " + line.cls}));
    if (line.dots) {
      for (const p of pts) {
        g.append(svg("circle", {cx: sx(p.x), cy: sy(p.y), r: 4, class: "dot " + (p.cls || ""), "data-step": p.step ?? ""},
          svg("title", {}, p.title || "")));
      }
    }
  }
  return g;
}

function trafficChart(d) {
  const pts = d.traffic || [];
  if (pts.length === 0) return el("p", {class: "muted"}, "No traffic recorded yet.");
  const now = Date.now();
  const xs = pts.map((p) => new Date(p.time).getTime()).concat([now]);
  const pointsC = pts.map((p) => ({x: new Date(p.time).getTime(), y: p.weight}));
  const pointsP = pts.map((p) => ({x: new Date(p.time).getTime(), y: 100 - p.weight}));
  return lineChart({
    id: "traffic-chart", xs, yMin: 0, yMax: 100, evenTicks: true, xLabel: "time (since this dashboard started)", yLabel: "% of traffic",
    xFmt: (x) => new Date(x).toLocaleTimeString([], {hour12: false}),
    lines: [{points: pointsP, cls: "primary", step: true, until: now}, {points: pointsC, cls: "canary", step: true, until: now}],
  });
}

function metricCharts(d) {
  if (!d.metrics || d.metrics.length === 0) return [el("p", {class: "muted", id: "no-metrics"}, "No metric checked yet.")];
  return d.metrics.map((m) => {
    const vals = m.points.flatMap((p) => [p.value, p.min, p.max]).filter((v) => v !== null && v !== undefined);
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (lo === hi) { lo -= 1; hi += 1; }
    const span = hi - lo;
    lo -= span * 0.1; hi += span * 0.1;
    const xs = m.points.map((p) => p.step);
    const chart = lineChart({
      id: "metric-" + m.name, xs, yMin: lo, yMax: hi, xLabel: "analysis step (weight)", yLabel: m.name,
      xFmt: (x) => { const p = m.points.find((q) => q.step === x); return x + (p ? " (" + p.weight + "%)" : ""); },
      lines: [
        {points: m.points.map((p) => ({x: p.step, y: p.min})), cls: "bound"},
        {points: m.points.map((p) => ({x: p.step, y: p.max})), cls: "bound"},
        {points: m.points.map((p) => ({x: p.step, y: p.value, step: p.step, cls: p.verdict.toLowerCase(),
          title: `step ${p.step} at ${p.weight}%: ${p.value} (${p.verdict})` + (p.min !== undefined && p.min !== null ? ` min ${p.min}` : "") + (p.max !== undefined && p.max !== null ? ` max ${p.max}` : "")})),
          cls: "value", dots: true},
      ],
    });
    return el("figure", {class: "metric-chart", "data-metric": m.name}, el("figcaption", {}, m.name, el("span", {class: "legend"}, " — value per step; dashed: bounds")), chart);
  });
}

function checksTable(checks) {
  if (!checks || checks.length === 0) return el("p", {class: "muted"}, "No checks in status.");
  return el("table", {class: "checks"},
    el("thead", {}, el("tr", {}, ["Check", "Kind", "Value", "Min", "Max", "Verdict", "Message", "Time"].map((h) => el("th", {}, h)))),
    el("tbody", {}, checks.map((c) => el("tr", {},
      el("td", {}, c.name), el("td", {}, c.kind), el("td", {class: "num"}, c.value || ""),
      el("td", {class: "num"}, c.min || ""), el("td", {class: "num"}, c.max || ""),
      el("td", {}, badge(c.verdict)), el("td", {class: "message"}, c.message || ""), el("td", {}, fmtTime(c.time))))));
}

function adviceBanner(d, key) {
  const a = d.advice;
  if (!a) return null;
  return el("section", {id: "advice", class: "advice-banner", role: "alert"},
    el("h2", {}, "This rollout asks a person"),
    el("p", {class: "advice-what"}, el("span", {class: "badge fail", id: "advice-reason"}, a.reason), " ",
      el("span", {id: "advice-message"}, a.message)),
    el("p", {class: "advice-when"}, "Paused since ", el("time", {id: "advice-since", datetime: a.since}, fmtTime(a.since)),
      "; if nobody answers by ", el("time", {id: "advice-deadline", datetime: a.deadline}, fmtTime(a.deadline)), ", the rollout will ",
      el("strong", {}, a.onTimeout === "continue" ? "go on" : "roll back"), "."),
    el("div", {class: "advice-actions"}, Object.keys(adviceInfo).map((act) => el("button", {
      type: "button", "data-advice": act, class: act === "abort" ? "danger" : act === "resume" ? "go" : "",
      onclick: () => confirmAction(key, act, adviceInfo),
    }, adviceInfo[act][0]))));
}

// ratioText is "2.12× (1.60–2.80)": the ratio of the canary's event rate to the control's and
// its 95% confidence sequence.
function ratioText(m) {
  if (!m.ratio) return "";
  return m.ratio + "×" + (m.ratioLow && m.ratioHigh ? " (" + m.ratioLow + "–" + m.ratioHigh + ")" : "");
}

function comparisonView(d) {
  const c = d.comparison;
  if (!c) return [];
  const num = (n) => (n || 0).toLocaleString("en-US");
  return [
    el("h2", {}, "Comparison with ", el("span", {id: "comparison-control"}, c.control)),
    el("p", {class: "muted", id: "comparison-looks"}, c.looks + (c.looks === 1 ? " look" : " looks") + " with data" +
      (c.lastLookTime ? ", the last at " + fmtTime(c.lastLookTime) : "") + (c.revision ? " (revision " + c.revision + ")" : "")),
    el("table", {id: "comparison", class: "comparison"},
      el("thead", {}, el("tr", {}, ["Metric", "Verdict", "Ratio (95% CS)", "Canary events / requests", "Control events / requests", "Evidence of a regression", "Evidence not worse", "Message"].map((h) => el("th", {}, h)))),
      el("tbody", {}, c.metrics.map((m) => el("tr", {"data-metric": m.name},
        el("td", {}, m.name, el("div", {class: "muted"}, m.kind + (m.threshold ? ", slower than " + m.threshold : ""))),
        el("td", {class: "verdict"}, badge(m.verdict)),
        el("td", {class: "num ratio"}, ratioText(m)),
        el("td", {class: "num canary-counts"}, num(m.canaryEvents) + " / " + num(m.canaryRequests)),
        el("td", {class: "num control-counts"}, num(m.controlEvents) + " / " + num(m.controlRequests)),
        el("td", {class: "num evidence"}, m.evidence || ""),
        el("td", {class: "num pass-evidence"}, m.passEvidence || ""),
        el("td", {class: "message"}, m.message || ""))))),
  ];
}

function treeView(d) {
  const node = (n) => el("li", {class: n.problem ? "problem-node" : ""},
    el("span", {class: "kind"}, n.kind), " ", el("strong", {}, n.name), " ", el("span", {class: "status"}, n.status),
    n.detail ? el("div", {class: "detail"}, n.detail) : null,
    n.children && n.children.length ? el("ul", {}, n.children.map(node)) : null);
  return el("ul", {id: "tree", class: "tree"}, el("li", {},
    el("span", {class: "kind"}, "Canary"), " ", el("strong", {}, d.name), " ", el("span", {class: "status"}, d.phase + " · " + d.weight + "%"),
    el("ul", {}, (d.tree || []).map(node))));
}

function timelineView(d) {
  const items = (d.timeline || []).slice().reverse();
  if (items.length === 0) return el("p", {class: "muted"}, "Nothing recorded yet.");
  return el("ol", {id: "timeline", class: "timeline"}, items.map((e) => el("li", {class: "entry k-" + e.kind + " " + (e.type || "").toLowerCase(), "data-kind": e.kind},
    el("time", {}, fmtTime(e.time)), " ",
    e.reason ? el("span", {class: "reason"}, e.reason) : el("span", {class: "reason"}, e.kind === "step" ? "Step" : "Traffic"), " ",
    el("span", {}, e.message), e.count > 1 ? el("span", {class: "muted"}, " ×" + e.count) : null,
    e.checks ? el("ul", {class: "step-checks"}, e.checks.map((c) => el("li", {},
      badge(c.verdict), " ", c.name, c.value ? " = " + c.value : "", c.min ? " (min " + c.min + ")" : "", c.max ? " (max " + c.max + ")" : "",
      c.message ? el("span", {class: "muted"}, " — " + c.message) : null))) : null)));
}

function canaryPage(ns, name) {
  const key = encodeURIComponent(ns) + "/" + encodeURIComponent(name);
  crumbs.replaceChildren(el("a", {href: "/"}, "Fleet"), " / ", el("span", {}, ns + "/" + name));
  const head = el("section", {id: "summary", class: "summary"});
  const buttons = el("section", {class: "actions"},
    Object.keys(actionInfo).map((a) => el("button", {type: "button", "data-action": a, class: a === "abort" ? "danger" : "", onclick: () => confirmAction(key, a)}, actionInfo[a][0])),
    el("span", {id: "action-status", class: "action-status"}));
  const advice = el("div", {id: "advice-box"});
  const comparison = el("section", {id: "comparison-box"});
  const steps = el("section", {id: "steps-box"});
  const charts = el("section", {id: "charts", class: "charts"});
  const checks = el("section", {id: "checks-box"});
  const tree = el("section", {id: "tree-box"});
  const tl = el("section", {id: "timeline-box"});
  app.replaceChildren(head, advice, buttons, comparison,
    el("h2", {}, "Steps"), steps,
    el("h2", {}, "Traffic and metrics"), charts,
    el("h2", {}, "Checks of the last step"), checks,
    el("div", {class: "columns"}, el("div", {}, el("h2", {}, "Objects"), tree), el("div", {}, el("h2", {}, "Timeline"), tl)));
  connect("?canary=" + encodeURIComponent(ns + "/" + name), {
    canary: (d) => {
      const p = document.getElementById("problem");
      if (p) p.remove();
      document.title = d.name + " · Siskin";
      head.replaceChildren(...[
        el("h1", {}, d.namespace + "/" + d.name),
        el("div", {class: "facts"},
          el("span", {id: "phase"}, badge(d.phase)), d.advice ? badge("asks a person", "asks") : d.paused ? badge("paused", "paused") : null, badge(d.health),
          weightBar(d.weight),
          el("span", {}, "target " + d.target), el("span", {class: "mono"}, "revision " + (d.revision || "—")),
          el("span", {}, "step " + d.currentStep + " of " + (d.steps ? d.steps.length : 0)),
          d.failedChecks ? el("span", {class: "warn"}, d.failedChecks + " failed checks") : null),
        d.message ? el("p", {class: "message"}, d.message) : null,
        d.hidden && d.hidden.length ? el("p", {class: "muted"}, "Not shown: " + d.hidden.join("; ")) : null,
      ].filter(Boolean));
      advice.replaceChildren(...[adviceBanner(d, key)].filter(Boolean));
      comparison.replaceChildren(...comparisonView(d));
      steps.replaceChildren(stepsView(d));
      charts.replaceChildren(el("figure", {class: "traffic"}, el("figcaption", {}, "Traffic split", el("span", {class: "legend"}, " — ", el("span", {class: "key primary"}, "primary"), " ", el("span", {class: "key canary"}, "canary"))), trafficChart(d)), ...metricCharts(d));
      checks.replaceChildren(checksTable(d.lastChecks));
      tree.replaceChildren(treeView(d));
      tl.replaceChildren(timelineView(d));
      checkAck(d);
    },
    problem: showProblem,
  });
}

// ---- routing

const m = location.pathname.match(/^\/canary\/([^/]+)\/([^/]+)$/);
if (m) canaryPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
else fleetPage();
