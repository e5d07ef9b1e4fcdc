#!/usr/bin/env bash
# Times the README's test command on a fresh machine with only Node.js:
# a new Debian 12 root made by debootstrap (minbase), given this machine's
# Node.js, npm, npm settings and CA certificates (for its registry proxy),
# and a clean clone of this repository's HEAD. Inside it runs
# `npx -y deno@2.9.6 task test`, which must install everything else itself.
# Needs root and Debian's debootstrap; takes about 2 min plus the run.
#
#   bash bench/fresh_machine.sh [ROOT]   (default /tmp/beam-fresh-root)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/tmp/beam-fresh-root}
[ "$(id -u)" = 0 ] || { echo "Run as root: it makes a Debian root with debootstrap and chroot." >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
if [ -e "$root" ]; then echo "$root exists; give a new folder." >&2; exit 1; fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" || true; done
}
trap cleanup EXIT

debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.debootstrap.log"
cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" && rm -f "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/"
cp "$(command -v node)" "$root/usr/bin/node"
mkdir -p "$root/usr/lib/node_modules" "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
cp -a "$(npm root -g)/npm" "$root/usr/lib/node_modules/"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
cp /usr/local/share/ca-certificates/* "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f ~/.npmrc ] && cp ~/.npmrc "$root/root/.npmrc"
git clone -q "$repo" "$root/src"
for d in proc sys dev dev/pts dev/shm; do
  mount --bind "/$d" "$root/$d"
  mounted+=("$root/$d")
done
echo "Fresh root ready at $root; running npx -y deno@2.9.6 task test in it."
start=$(date +%s)
set +e
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_DIR=/etc/ssl/certs \
  bash -c "cd /src && npx -y deno@2.9.6 task test"
status=$?
set -e
echo "npx -y deno@2.9.6 task test on a fresh machine: exit $status after $(($(date +%s) - start)) s"
exit $status
