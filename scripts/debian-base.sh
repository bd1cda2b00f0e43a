#!/usr/bin/env bash
# A Debian bookworm base image for podman without an image registry: mmdebstrap builds the root
# file system from the Debian mirror, `podman import` turns it into an image. Prints the image name.
#
#   scripts/debian-base.sh python    # minbase + python3 python3-venv (Python 3.11, like python:3.11-slim-bookworm)
#   scripts/debian-base.sh systemd   # the same + systemd systemd-sysv dbus: a machine that boots /sbin/init
#
# The tarball is cached in $NEURAXON_CACHE_DIR (default: /var/cache/neuraxon-ci as root, else
# ${XDG_CACHE_HOME:-~/.cache}/neuraxon-ci), named by a hash of the mmdebstrap arguments, so a
# change of them builds a new one; a tarball older than 30 days is rebuilt (security updates).
# The image tag is that hash plus the tarball's date, so a rebuilt tarball is imported again.
set -euo pipefail

kind=${1:-}
packages=python3,python3-venv
case $kind in
  python) cmd='["/bin/bash"]' ;;
  systemd) packages=systemd,systemd-sysv,dbus,$packages; cmd='["/sbin/init"]' ;;
  *) echo "usage: $0 python|systemd" >&2; exit 2 ;;
esac
# Documentation, manual pages and translations are left out: nothing reads them in a container.
args=(--variant=minbase --include="$packages"
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
      --dpkgopt='path-exclude=/usr/share/info/*'
      bookworm)

if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/neuraxon-ci; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/neuraxon-ci; fi
cache=${NEURAXON_CACHE_DIR:-$default_cache}
mkdir -p "$cache"
key=$(printf '%s\n' "${args[@]}" | sha256sum | cut -c1-12)
tarball=$cache/debian-$kind-$key.tar
if [ ! -s "$tarball" ] || [ -n "$(find "$tarball" -mtime +30)" ]; then
  echo "==> mmdebstrap ${args[*]} $tarball" >&2
  tmp=$(mktemp "$cache/.debian-$kind-XXXXXX.tar")
  trap 'rm -f "$tmp"' EXIT
  mmdebstrap --quiet "${args[@]}" "$tmp" >&2
  mv "$tmp" "$tarball"
fi
image=localhost/neuraxon-debian-$kind:$key-$(date -r "$tarball" +%Y%m%d%H%M)
if ! podman image exists "$image"; then
  echo "==> podman import $tarball $image" >&2
  podman import --quiet --change "CMD $cmd" "$tarball" "$image" >/dev/null
fi
echo "$image"
