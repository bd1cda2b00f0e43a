// A small SVG line chart shared by the miner's and the work server's pages (no library, no CDN).
// NxChart.line(svg, points, options): points are [x, y] pairs with x in Unix seconds.
// options: {span: seconds shown up to now (else the data's range), now: Unix seconds, step: true for a
// step line (a best score holds until the next improvement), markers: [{x, y, label}], unit: "it/s"}.
"use strict";
const NxChart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 220, L = 52, R = 12, T = 12, B = 28;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(range, count) {
    const raw = range / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }

  function clock(t, span) {
    const d = new Date(t * 1000);
    const hh = String(d.getHours()).padStart(2, "0"), mm = String(d.getMinutes()).padStart(2, "0");
    const ss = String(d.getSeconds()).padStart(2, "0");
    return span > 172800 ? `${d.getMonth() + 1}/${d.getDate()}` : span < 600 ? `${hh}:${mm}:${ss}` : `${hh}:${mm}`;
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a < 1e-9) return "0";
    return a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e4 ? (v / 1e3).toFixed(0) + "k" : a >= 100 ? v.toFixed(0)
      : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  function line(svg, points, options) {
    const o = options || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("data-points", String(points.length));
    const now = o.now || (points.length ? points[points.length - 1][0] : Date.now() / 1000);
    let x0 = o.span ? now - o.span : (points.length ? points[0][0] : now - 60);
    let x1 = o.span ? now : Math.max(now, x0 + 1);
    if (x1 <= x0) x1 = x0 + 1;
    const ys = points.map(p => p[1]).concat((o.markers || []).map(m => m.y));
    let y0 = o.zero === false && ys.length ? Math.min(...ys) : Math.min(0, ...ys);
    let y1 = ys.length ? Math.max(...ys) : 1;
    if (y1 <= y0) y1 = y0 + 1;
    const pad = (y1 - y0) * 0.08;
    y1 += pad;
    if (o.zero === false) y0 -= pad;
    const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
    const axes = el("g", {class: "axes"}, svg);
    const ystep = niceStep(y1 - y0, 4);
    for (let v = Math.ceil(y0 / ystep) * ystep; v <= y1; v += ystep) {
      el("line", {x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid"}, axes);
      el("text", {x: L - 6, y: sy(v) + 4, "text-anchor": "end"}, axes).textContent = fmt(v);
    }
    const xstep = niceStep(x1 - x0, 5);
    for (let v = Math.ceil(x0 / xstep) * xstep; v <= x1; v += xstep) {
      el("text", {x: sx(v), y: H - 8, "text-anchor": "middle"}, axes).textContent = clock(v, x1 - x0);
    }
    if (o.unit) el("text", {x: L, y: T + 2, class: "unit"}, axes).textContent = o.unit;
    const shown = points.filter(p => p[0] >= x0 - 1);
    if (shown.length) {
      let d = "";
      shown.forEach((p, i) => {
        const x = sx(Math.max(p[0], x0)), y = sy(p[1]);
        if (i === 0) d += `M${x.toFixed(1)},${y.toFixed(1)}`;
        else d += (o.step ? `H${x.toFixed(1)}V${y.toFixed(1)}` : `L${x.toFixed(1)},${y.toFixed(1)}`);
      });
      if (o.step) d += `H${sx(x1).toFixed(1)}`;
      el("path", {d, class: "line", "data-points": String(shown.length)}, svg);
    } else {
      el("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty"}, svg).textContent =
        o.empty || "no data yet";
    }
    for (const m of o.markers || []) {
      const c = el("circle", {cx: sx(m.x), cy: sy(m.y), r: 4, class: "marker"}, svg);
      el("title", {}, c).textContent = m.label;
    }
  }

  return {line, fmt};
})();
