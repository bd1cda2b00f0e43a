// The work server's page: polls GET /api/v1/dashboard, draws each task's training curve, and replays
// the task's best network (GET /api/v1/tasks/{id}/replay) frame by frame on a canvas.
"use strict";
(() => {
  const $ = id => document.getElementById(id);
  const POLL_MS = 3000, FRAME_MS = 120;
  const tasks = new Map();  // task id -> {root, replay, frame, timer, playing, networkId}

  function duration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    const hms = `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
    return d ? `${d}d ${hms}` : hms;
  }

  function short(text, n) { return text.length > n ? text.slice(0, n) + "…" : text; }

  function cell(tr, value, cls) {
    const td = tr.insertCell();
    td.textContent = value;
    if (cls) td.className = cls;
    return td;
  }

  function taskView(task) {
    let view = tasks.get(task.TaskId);
    if (view) return view;
    const root = $("task-template").content.firstElementChild.cloneNode(true);
    root.dataset.task = task.TaskId;
    $("tasks").appendChild(root);
    view = {root, replay: null, frame: 0, timer: null, playing: true, networkId: null, loading: false};
    const q = sel => root.querySelector(sel);
    q(".play").addEventListener("click", () => {
      view.playing = !view.playing;
      q(".play").textContent = view.playing ? "pause" : "play";
    });
    q(".scrub").addEventListener("input", e => { view.frame = Number(e.target.value); draw(view); });
    tasks.set(task.TaskId, view);
    return view;
  }

  function renderTask(task) {
    const view = taskView(task);
    const q = sel => view.root.querySelector(sel);
    q(".task-name").textContent = `${task.Name} · task ${task.TaskId.slice(0, 16)}…`;
    q(".task-summary").textContent = `${task.Algo === 0 ? "neuraxon" : "algo " + task.Algo}, threshold ` +
      `${task.Threshold}, best ${task.BestScore === undefined ? "–" : task.BestScore}, ` +
      `${task.Solutions} solutions, ${task.Shares} shares` + (task.Training ? ", cumulative training" : "");
    const imps = task.Points;
    const points = imps.map(i => [i.At, i.Score]);
    const markers = imps.map(i => ({x: i.At, y: i.Score, label:
      `score ${i.Score} by ${i.Account} (${i.Worker}) at ${new Date(i.At * 1000).toLocaleString()}`}));
    NxChart.line(q(".curve"), points, {step: true, markers, zero: false, now: Date.now() / 1000,
                                       unit: "best score", empty: "no solution yet"});
    q(".curve").dataset.improvements = String(imps.length);
    const body = q(".improvements").tBodies[0];
    body.replaceChildren();
    for (const i of imps.slice().reverse().slice(0, 10)) {
      const tr = body.insertRow();
      cell(tr, new Date(i.At * 1000).toLocaleString());
      cell(tr, String(i.Score), "num");
      cell(tr, `${short(i.Account, 24)} (${i.Worker})`).title = i.Account;
      cell(tr, i.NetworkId.slice(0, 12)).title = i.NetworkId;
    }
    if (task.ReplayUrl && task.BestNetworkId !== view.networkId && !view.loading) loadReplay(view, task);
  }

  async function loadReplay(view, task) {
    view.loading = true;
    const q = sel => view.root.querySelector(sel);
    q(".replay-note").textContent = "recording the best network's lifetime…";
    try {
      const resp = await fetch(task.ReplayUrl, {cache: "no-store"});
      if (!resp.ok) { q(".replay-note").textContent = `replay unavailable (HTTP ${resp.status})`; return; }
      const replay = await resp.json();
      view.replay = replay;
      view.networkId = replay.NetworkId;
      view.frame = 0;
      q(".replay-note").textContent = `network ${replay.NetworkId.slice(0, 12)}…, score ${replay.Score} ` +
        `(median of worlds ${replay.WorldFitness.join(", ")}); world ${replay.World}: fitness ${replay.Fitness}, ` +
        `${replay.FoodEaten} food, ${replay.Collisions} collisions, ${replay.CellsExplored} cells, ` +
        `${replay.Ticks} ticks`;
      for (const sel of [".world", ".play", ".scrub", ".replay-legend"]) q(sel).hidden = false;
      q(".scrub").max = String(replay.Ticks);
      if (!view.timer) view.timer = setInterval(() => tick(view), FRAME_MS);
      draw(view);
    } catch (err) {
      q(".replay-note").textContent = "replay unavailable: " + err;
    } finally {
      view.loading = false;
    }
  }

  function tick(view) {
    if (!view.playing || !view.replay) return;
    // Frame 0 is the birth; frame t shows the world after tick t. Hold the last frame a moment, then loop.
    view.frame = view.frame >= view.replay.Ticks + 8 ? 0 : view.frame + 1;
    draw(view);
  }

  function draw(view) {
    const r = view.replay;
    const canvas = view.root.querySelector(".world");
    const t = Math.min(view.frame, r.Ticks);
    const cellPx = Math.max(8, Math.min(40, Math.floor(420 / Math.max(r.Width, r.Height))));
    canvas.width = r.Width * cellPx;
    canvas.height = r.Height * cellPx;
    const g = canvas.getContext("2d");
    for (let y = 0; y < r.Height; y++) {
      for (let x = 0; x < r.Width; x++) {
        g.fillStyle = r.Terrain[y][x] === "1" ? "#59616d" : "#1f2630";
        g.fillRect(x * cellPx, y * cellPx, cellPx - 1, cellPx - 1);
      }
    }
    const f = r.Frames;
    g.fillStyle = "rgba(79, 179, 255, 0.18)";  // the path so far
    for (let i = 0; i < t; i++) g.fillRect(f.X[i] * cellPx, f.Y[i] * cellPx, cellPx - 1, cellPx - 1);
    const left = t === 0 ? r.Food.map(p => (p[0] >= 0 ? r.FoodUnits : 0)) : f.FoodLeft[t - 1];
    r.Food.forEach((p, i) => {
      if (p[0] < 0 || left[i] <= 0) return;
      g.fillStyle = `rgba(62, 207, 142, ${0.35 + 0.65 * left[i] / r.FoodUnits})`;
      const pad = Math.floor(cellPx / 5);
      g.fillRect(p[0] * cellPx + pad, p[1] * cellPx + pad, cellPx - 2 * pad - 1, cellPx - 2 * pad - 1);
    });
    const ax = t === 0 ? r.Start[0] : f.X[t - 1], ay = t === 0 ? r.Start[1] : f.Y[t - 1];
    const cx = ax * cellPx + cellPx / 2, cy = ay * cellPx + cellPx / 2;
    g.beginPath();
    g.arc(cx, cy, cellPx * 0.32, 0, 2 * Math.PI);
    g.fillStyle = "#4fb3ff";
    g.fill();
    if (t > 0 && (f.Collided[t - 1] || f.Eaten[t - 1] >= 0)) {
      g.beginPath();
      g.arc(cx, cy, cellPx * 0.45, 0, 2 * Math.PI);
      g.strokeStyle = f.Collided[t - 1] ? "#ff6b6b" : "#ffd34f";
      g.lineWidth = Math.max(2, cellPx / 8);
      g.stroke();
    }
    let eaten = 0, hits = 0;
    for (let i = 0; i < t; i++) { eaten += f.Eaten[i] >= 0 ? 1 : 0; hits += f.Collided[i]; }
    canvas.dataset.frame = String(t);
    view.root.querySelector(".scrub").value = String(t);
    view.root.querySelector(".frame").textContent = `tick ${t} / ${r.Ticks} · energy ` +
      `${t === 0 ? r.EnergyStart : f.Energy[t - 1]} / ${r.EnergyMax} · food ${eaten} · collisions ${hits} · ` +
      `explored ${t === 0 ? 1 : f.Explored[t - 1]}`;
  }

  function render(d) {
    $("epoch").textContent = d.Epoch;
    $("state").textContent = d.Idle ? "idle" : "serving";
    $("state").className = "badge " + (d.Idle ? "warn" : "good");
    $("uptime").textContent = duration(d.UptimeSeconds);
    $("miners").textContent = d.Miners;
    $("verifications").textContent = d.VerificationsPerSecond === undefined ? "–"
      : NxChart.fmt(d.VerificationsPerSecond);
    $("pending").textContent = d.VerificationPending;
    $("verified").textContent = d.VerificationsTotal;
    $("solutions").textContent = d.Tasks.reduce((n, t) => n + t.Solutions, 0);
    $("shares").textContent = d.Tasks.reduce((n, t) => n + t.Shares, 0);
    const body = $("accounts").tBodies[0];
    body.replaceChildren();
    for (const a of d.Accounts) {
      const tr = body.insertRow();
      cell(tr, short(a.Account, 28)).title = a.Account;
      for (const v of [a.Workers, a.Solutions, a.Shares, a.Mismatches]) cell(tr, String(v), "num");
    }
    if (!d.Accounts.length) cell(body.insertRow(), "no accepted results yet", "dim").colSpan = 5;
    d.Tasks.forEach(renderTask);
  }

  async function poll() {
    try {
      const resp = await fetch("/api/v1/dashboard", {cache: "no-store"});
      if (resp.ok) {
        render(await resp.json());
        $("live").textContent = "updated " + new Date().toLocaleTimeString();
      } else {
        $("live").textContent = `HTTP ${resp.status}`;
      }
    } catch (err) {
      $("live").textContent = "unreachable";
    }
    setTimeout(poll, POLL_MS);
  }

  poll();
})();
