#!/usr/bin/env bash
# Build the neuraxon-miner image without the image reaching a package index (air-gapped build).
#
#   scripts/build-image.sh [--engine docker|podman] [--base IMAGE] [--tag NAME] [--wheels-only] [-- BUILD-ARGS...]
#
# 1. `pip wheel` builds neuraxon-miner and every dependency into docker/wheelhouse/ on this host,
#    with this host's own pip settings (pip.conf, PIP_INDEX_URL, find-links, a proxy or a mirror).
# 2. docker/Dockerfile is built with OFFLINE=1 and the network switched off (`--network none`): it
#    installs only from that wheelhouse (`pip install --no-index`).
#
# Environment: ENGINE (default: docker if installed, else podman), PYTHON (the interpreter whose pip
# builds the wheels; default python3; it must be the image's Python minor version, 3.11).
# Under podman the image is built with --format docker: the OCI format has no HEALTHCHECK.
# The exact commands, the base image without a registry and the podman settings: docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${ENGINE:-$(command -v docker >/dev/null && echo docker || echo podman)}
base=""
tag="neuraxon-miner:latest"
wheels_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --engine) engine=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --wheels-only) wheels_only=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
image_python=3.11  # python:3.11-slim-bookworm and Debian bookworm's python3
host_python=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || {
  echo "build-image.sh: cannot run PYTHON=$python" >&2; exit 2; }
if [ "$host_python" != "$image_python" ]; then
  echo "build-image.sh: $python is Python $host_python but the image has $image_python; wheels of compiled" \
       "dependencies must match it: run with PYTHON=python$image_python" >&2
  exit 2
fi

wheelhouse=docker/wheelhouse
pip=("$python" -m pip)
if ! "${pip[@]}" --version >/dev/null 2>&1; then
  # No pip for this interpreter (Debian's python3 without python3-pip): a throwaway venv has one;
  # it reads the same pip settings.
  venv=$(mktemp -d)
  trap 'rm -rf "$venv"' EXIT
  "$python" -m venv "$venv"
  pip=("$venv/bin/python" -m pip)
fi
echo "==> wheels into $wheelhouse ($("${pip[@]}" --version | cut -d' ' -f1-2), Python $host_python)" >&2
find "$wheelhouse" -name '*.whl' -delete
# Reproducible wheel (zip timestamps from the last commit): unchanged sources give the same bytes,
# so the image build reuses its cached install layer.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
export SOURCE_DATE_EPOCH
"${pip[@]}" wheel --quiet --wheel-dir "$wheelhouse" .
[ "$wheels_only" = 1 ] && exit 0

args=(build --network none --build-arg OFFLINE=1 -f docker/Dockerfile -t "$tag")
[ -n "$base" ] && args+=(--build-arg "BASE=$base")
if [ "$engine" = podman ]; then
  args+=(--format docker)
  # A local base (localhost/...) made with scripts/debian-base.sh is never pulled.
  case $base in localhost/*) args+=(--pull=never) ;; esac
fi
echo "==> $engine ${args[*]} $* ." >&2
"$engine" "${args[@]}" "$@" .
