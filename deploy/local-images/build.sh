#!/usr/bin/env bash
# Build local stand-ins of the images docker-compose.yml names, for a podman
# that cannot pull from a container registry: a minimal Debian bookworm root
# filesystem (debootstrap from the mirror apt already uses), imported as
# localhost/modelgate-bookworm-min:1, and on top of it python, postgres, redis
# and a mail sink. Images that exist already are kept (delete them to rebuild).
# Prints the tags to use, as KEY=value lines, on stdout's last lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
engine=${ENGINE:-podman}
rootfs_tag=localhost/modelgate-bookworm-min:1
declare -A images=(
  [python]=localhost/modelgate-python:3.11-bookworm
  [postgres]=localhost/modelgate-postgres:15-bookworm
  [redis]=localhost/modelgate-redis:7-bookworm
  [mailpit]=localhost/modelgate-mailsink:1
)

exists() { "$engine" image exists "$1" 2>/dev/null; }

if ! exists "$rootfs_tag"; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  dir=$(mktemp -d /var/tmp/modelgate-rootfs.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  echo "debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >/dev/null
  tar -C "$dir" -c . | "$engine" import - "$rootfs_tag" >/dev/null
  rm -rf "$dir"
  trap - EXIT
fi

for name in python postgres redis mailpit; do
  tag=${images[$name]}
  if ! exists "$tag"; then
    echo "building $tag" >&2
    "$engine" build --network=host -q --build-arg ROOTFS="$rootfs_tag" \
      -f "$here/$name.Dockerfile" -t "$tag" "$here" >/dev/null
  fi
done

echo "BASE_IMAGE=${images[python]}"
echo "POSTGRES_IMAGE=${images[postgres]}"
echo "REDIS_IMAGE=${images[redis]}"
echo "MAIL_IMAGE=${images[mailpit]}"
