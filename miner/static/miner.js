// The miner's page: one PageSnapshot per server-sent event (GET /events), rendered in place.
"use strict";
(() => {
  const $ = id => document.getElementById(id);
  const text = (id, value) => { $(id).textContent = value; };
  const rate = v => (v === null || v === undefined ? "–" : NxChart.fmt(v) + " it/s");

  function duration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    const hms = `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
    return d ? `${d}d ${hms}` : hms;
  }

  function when(t) { return new Date(t * 1000).toLocaleTimeString(); }

  function fillLog(id, events, empty) {
    const list = $(id);
    list.replaceChildren();
    if (!events.length) {
      const li = document.createElement("li");
      li.className = "dim";
      li.textContent = empty;
      list.appendChild(li);
    }
    for (const e of events) {
      const li = document.createElement("li");
      li.dataset.kind = e.kind;
      const at = document.createElement("span");
      at.className = "dim";
      at.textContent = `${when(e.at)} ${e.kind} `;
      li.append(at, e.message);
      list.appendChild(li);
    }
  }

  function render(snap) {
    const s = snap.status;
    text("version", s.version);
    text("worker", s.worker + (s.embedded_server ? " (embedded demo server)" : ""));
    text("uptime", duration(s.uptime_seconds));
    const health = $("health");
    health.textContent = !snap.healthy ? "unhealthy" : s.ready ? "mining" : snap.ready_reason;
    health.className = "badge " + (!snap.healthy ? "bad" : s.ready ? "good" : "warn");
    health.title = snap.ready_reason;
    text("rate-10s", rate(s.rates["10s"]));
    text("rate-60s", rate(s.rates["60s"]));
    text("rate-15m", rate(s.rates["15m"]));
    NxChart.line($("hashrate-chart"), snap.hashrate, {span: 900, now: snap.now, unit: "it/s",
                                                       empty: "collecting samples…"});
    for (const key of ["accepted", "rejected", "stale", "pending"]) text(key, s.results[key]);
    text("errors", s.results.error);
    text("best", s.best_score === null ? "–" : s.best_score);
    text("iterations", s.iterations_total);
    text("worker-errors", s.worker_errors);
    const rows = $("threads").tBodies[0];
    rows.replaceChildren();
    s.worker_rates.forEach((r, i) => {
      const tr = rows.insertRow();
      tr.insertCell().textContent = String(i);
      const td = tr.insertCell();
      td.className = "num";
      td.textContent = rate(r);
    });
    text("server", s.server || "not connected");
    text("job", s.job ? `${s.job.job_id} (${s.job.algo}${s.job.idle ? ", idle" : ""})` : "–");
    text("job-age", s.job ? duration(s.job.age_seconds) : "–");
    text("threshold", s.job ? String(s.job.threshold) + (s.job.parent_score !== null
      ? ` (parent ${s.job.parent_score})` : "") : "–");
    text("switches", s.server_switches);
    fillLog("server-history", snap.server_history, "no session yet");
    fillLog("recent-errors", snap.recent_errors, "none");
    const faults = $("worker-faults");
    faults.replaceChildren();
    if (!snap.worker_faults.length) {
      const p = document.createElement("p");
      p.className = "dim";
      p.textContent = "none";
      faults.appendChild(p);
    }
    for (const f of snap.worker_faults) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = `${f.error} ×${f.count} (${f.algo}, thread ${f.worker}, last ${when(f.last_at)})`;
      const pre = document.createElement("pre");
      pre.textContent = `${f.where}\n${f.traceback}`;
      details.append(summary, pre);
      faults.appendChild(details);
    }
  }

  function connect() {
    const source = new EventSource("/events");
    source.addEventListener("snapshot", event => {
      render(JSON.parse(event.data));
      text("live", "live · " + new Date().toLocaleTimeString());
    });
    source.onerror = () => { text("live", "reconnecting…"); };
  }

  connect();
})();
