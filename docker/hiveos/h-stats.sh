#!/usr/bin/env bash
# Sourced by the Hive agent: sets $khs (total speed in k-iterations/s) and $stats (JSON) from the
# miner's /status endpoint -- never from the log, whose wording may change.
_nx_dir=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=/dev/null
. "$_nx_dir/h-manifest.conf"

_nx_status=$(curl --silent --fail --max-time 5 "http://127.0.0.1:${MINER_API_PORT}/status" 2>/dev/null)
if [[ -z $_nx_status ]]; then
  khs=0
  stats="null"
else
  _nx_temp=$( (command -v cpu-temp >/dev/null && cpu-temp) 2>/dev/null || echo 0)
  khs=$(jq -r '((.rates["10s"] // .rates["60s"] // 0) / 1000)' <<< "$_nx_status")
  stats=$(jq -c --argjson temp "${_nx_temp:-0}" '{
      hs: [(.rates["10s"] // .rates["60s"] // 0)],
      hs_units: "hs",
      temp: [$temp],
      fan: [0],
      uptime: (.uptime_seconds | floor),
      ver: .version,
      ar: [.results.accepted, .results.rejected, .results.stale],
      algo: (if .job then .job.algo else "neuraxon" end),
      bus_numbers: ["null"]
    }' <<< "$_nx_status")
fi
unset _nx_dir _nx_status _nx_temp
