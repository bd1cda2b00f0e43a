#!/usr/bin/env bash
# Build dist/neuraxon-miner-<version>.tar.gz: the Hive scripts plus a wheel of the miner.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' miner/_version.py)
out=$(mktemp -d)
mkdir -p "$out/neuraxon-miner" dist
cp docker/hiveos/h-*.sh docker/hiveos/h-manifest.conf "$out/neuraxon-miner/"
sed -i "s/^CUSTOM_VERSION=.*/CUSTOM_VERSION=$version/" "$out/neuraxon-miner/h-manifest.conf"
python3 -m pip wheel --quiet --no-deps --wheel-dir "$out/neuraxon-miner" .
tar -C "$out" -czf "dist/neuraxon-miner-$version.tar.gz" neuraxon-miner
rm -rf "$out"
echo "dist/neuraxon-miner-$version.tar.gz"
