#!/usr/bin/env bash
# Set up (first time only) and run the miner. Extra arguments go to `neuraxon-miner`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
if [ $# -eq 0 ]; then set -- run; fi
exec .venv/bin/neuraxon-miner "$@"
