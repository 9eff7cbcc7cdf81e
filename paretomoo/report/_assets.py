"""What the report's page carries inline besides its content: the Content-Security-Policy, the CSS, the script
(sortable tables, parallel-coordinates brushing) and the navigation."""

from __future__ import annotations

from paretomoo._drawing import DOMINATED, FRONT

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

# The front's red and the dominated grey are the figures' (paretomoo._drawing).
CSS = (
    f":root {{ --front: {FRONT}; --dominated: {DOMINATED}; }}"
    + """
:root { --fg: #1d2329; --muted: #5b6570; --line: #e2e6ea; --soft: #f5f6f8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--soft); color: var(--fg); line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 32px 64px; background: #fff; min-height: 100vh; }
header h1 { font-size: 1.6rem; margin: 8px 0 2px; }
header p { margin: 0; color: var(--muted); }
nav { margin: 14px 0 4px; padding: 8px 0; border-top: 1px solid var(--line); border-bottom: 1px solid var(--line); }
nav a { color: #1f5fa8; text-decoration: none; margin-right: 16px; font-size: .92rem; }
nav a:hover { text-decoration: underline; }
section { margin-top: 34px; }
h2 { font-size: 1.2rem; margin: 0 0 6px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.note { color: var(--muted); font-size: .9rem; margin: 4px 0 10px; }
.wide { overflow-x: auto; }
img.figure { display: block; max-width: 100%; height: auto; margin: 6px 0; }
table { border-collapse: collapse; font-size: .84rem; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 7px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--soft); font-weight: 600; white-space: normal; vertical-align: bottom; }
td .se { color: var(--muted); font-size: .85em; }
td.text, th.text, thead tr:first-child th:first-child { text-align: left; }
table.facts th { text-align: left; vertical-align: top; width: 9rem; background: none; color: var(--muted); font-weight: 500; }
table.facts td { text-align: left; white-space: normal; }
table.sortable th[data-col] { cursor: pointer; user-select: none; }
th.group { text-align: center; border-bottom: 1px solid #c8ced4; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; font-size: .7em; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; font-size: .7em; }
tr.pick td { background: #fff3df; font-weight: 600; }
td.text { white-space: normal; min-width: 12em; }
td.list { white-space: normal; text-align: left; min-width: 10em; }
section li { white-space: pre-line; margin: 2px 0; }  /* a line given with line breaks keeps them */
code { background: var(--soft); padding: 1px 5px; border-radius: 3px; }
.controls { font-size: .88rem; color: var(--muted); }
.controls label { margin-left: 10px; cursor: pointer; }
.controls button { margin-left: 10px; font: inherit; padding: 2px 10px; border: 1px solid #c8ced4; border-radius: 4px; background: #fff; cursor: pointer; }
svg.pc { display: block; margin: 0 auto; font-size: 11px; }
svg.pc polyline { fill: none; }
svg.pc polyline.dom { stroke: var(--dominated); stroke-opacity: var(--dom-opacity, .45); stroke-width: 1; }
svg.pc polyline.front { stroke: var(--front); stroke-opacity: var(--front-opacity, .85); stroke-width: 1.6; }
svg.pc.front-only polyline.dom { display: none; }
svg.pc polyline.pick { stroke: #111; stroke-opacity: 1; stroke-width: 2.6; }
svg.pc polyline.off { stroke-opacity: .05; }
svg.pc line.axis { stroke: #444; stroke-width: 1; }
svg.pc text.label { text-anchor: middle; font-weight: 600; fill: var(--fg); paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg.pc text.label.lambda { fill: #1f5fa8; }
svg.pc text.tick { text-anchor: end; fill: #3d454d; font-size: 10px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg.pc rect.pc-hit { fill: transparent; cursor: ns-resize; }
svg.pc rect.pc-brush { fill: #1f77b4; fill-opacity: .18; stroke: #1f77b4; stroke-width: 1; }
footer { margin-top: 48px; color: var(--muted); font-size: .8rem; }
@media print { body { background: #fff; } nav, .controls { display: none; } }
"""
)

# Sortable tables and parallel-coordinates brushing (and the box that draws the dominated lines); each marks its element
# when ready (data-sortable, data-brush).
JS = """
(function () {
  "use strict";
  function key(td) {
    var v = td.getAttribute("data-v");
    return v !== null && v !== "" && !isNaN(+v) ? +v : td.textContent.trim();
  }
  function sortBy(table, c, th) {
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.tHead.querySelectorAll("th[data-col]").forEach(function (o) { o.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[c]), y = key(b.cells[c]);
      var r = typeof x === "number" && typeof y === "number" ? (x === y ? 0 : x < y ? -1 : 1) : String(x).localeCompare(String(y));
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.tHead.querySelectorAll("th[data-col]").forEach(function (th) {
      var c = +th.getAttribute("data-col");
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, c, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, c, th); }
      });
    });
    table.setAttribute("data-sortable", "ready");
  });

  var svg = document.getElementById("pc");
  if (!svg) { return; }
  var pos = JSON.parse(document.getElementById("pc-data").textContent);
  var lines = svg.querySelectorAll("polyline[data-i]");
  var top = +svg.getAttribute("data-top"), bottom = +svg.getAttribute("data-bottom");
  var count = document.getElementById("pc-count"), all = document.getElementById("pc-all");
  var dominated = lines.length - (+svg.getAttribute("data-front"));
  function hidden(l) { return svg.classList.contains("front-only") && l.classList.contains("dom"); }
  var ranges = {}, drag = null;
  function svgY(ev) {
    var p = svg.createSVGPoint();
    p.x = ev.clientX; p.y = ev.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse()).y;
  }
  function level(y) { return Math.min(1, Math.max(0, (bottom - y) / (bottom - top))); }
  function draw(k) {
    var b = svg.querySelector('rect.pc-brush[data-k="' + k + '"]'), r = ranges[k];
    if (!r) { b.setAttribute("visibility", "hidden"); return; }
    var y1 = bottom - r[1] * (bottom - top), y0 = bottom - r[0] * (bottom - top);
    b.setAttribute("y", y1);
    b.setAttribute("height", Math.max(1, y0 - y1));
    b.setAttribute("visibility", "visible");
  }
  function apply() {
    var shown = 0;
    lines.forEach(function (l) {
      var row = pos[+l.getAttribute("data-i")], ok = true;
      for (var k in ranges) {
        if (row[k] < ranges[k][0] || row[k] > ranges[k][1]) { ok = false; break; }
      }
      l.classList.toggle("off", !ok);
      if (ok && !hidden(l)) { shown++; }
    });
    var rest = svg.classList.contains("front-only") ? "; the " + dominated + " dominated trials are hidden" : "";
    count.textContent = shown + " of " + lines.length + " trials shown" + rest;
    svg.setAttribute("data-shown", shown);
  }
  svg.querySelectorAll("rect.pc-hit").forEach(function (hit) {
    hit.addEventListener("mousedown", function (ev) {
      ev.preventDefault();
      drag = { k: hit.getAttribute("data-k"), y0: svgY(ev), moved: false };
    });
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) { return; }
    var y = svgY(ev);
    if (!drag.moved && Math.abs(y - drag.y0) < 3) { return; }
    drag.moved = true;
    var a = level(drag.y0), b = level(y);
    ranges[drag.k] = [Math.min(a, b), Math.max(a, b)];
    draw(drag.k);
    apply();
  });
  window.addEventListener("mouseup", function () {
    if (!drag) { return; }
    if (!drag.moved) { delete ranges[drag.k]; draw(drag.k); }
    drag = null;
    apply();
  });
  if (all) {
    all.addEventListener("change", function () { svg.classList.toggle("front-only", !all.checked); apply(); });
  }
  document.getElementById("pc-clear").addEventListener("click", function () {
    Object.keys(ranges).forEach(function (k) { delete ranges[k]; draw(k); });
    apply();
  });
  apply();
  svg.setAttribute("data-brush", "ready");
})();
"""

# The page's navigation: (section id, link text); the comparison's link only in a comparison, the checks' only where there are some.
NAV = [
    ("summary", "Summary"),
    ("history", "Hypervolume"),
    ("scatter", "Pairs"),
    ("parallel", "λ and metrics"),
    ("front", "Front"),
    ("pick", "Pick"),
    ("checks", "Checks"),
    ("baselines", "Baselines"),
    ("compare", "Comparison"),
]
