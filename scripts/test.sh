#!/usr/bin/env bash
# Set up (first time only), lint, type-check and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
echo "==> ruff" >&2
.venv/bin/python -m ruff check .
echo "==> mypy" >&2
.venv/bin/python -m mypy
echo "==> pytest" >&2
exec .venv/bin/python -m pytest "$@"
