#!/usr/bin/env bash
# Started by Hive: sets up the miner's Python environment on first run, then runs it in the
# foreground (exec, so Hive's stop signal reaches the miner) with its log teed to Hive's log file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=/dev/null
. ./h-manifest.conf

if [[ ! -x venv/bin/neuraxon-miner ]]; then
  python=""
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
  if [[ -z $python ]]; then
    echo "neuraxon-miner needs Python >= 3.11 (apt install python3.11 python3.11-venv)" >&2
    exit 1
  fi
  "$python" -m venv venv
  venv/bin/pip install --quiet ./neuraxon_miner-*.whl
fi

./h-config.sh
mkdir -p "$(dirname "$CUSTOM_LOG_BASENAME")"
export NUMBA_CACHE_DIR="$PWD/numba-cache"
exec > >(tee --append "$CUSTOM_LOG_BASENAME.log") 2>&1
exec venv/bin/neuraxon-miner run --config "$CUSTOM_CONFIG_FILENAME"
