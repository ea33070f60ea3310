#!/usr/bin/env bash
# Builds berth's Debian package from a build tree:
#   scripts/package.sh [BUILD_DIR] [OUT_DIR]      (defaults: build, BUILD_DIR)
# prints the path of the .deb. The package holds berthd, berthctl and their
# helpers in /usr/bin, the systemd unit, a tmpfiles.d entry and the default
# /etc/berth/berthd.toml (a conffile); its Depends are the shared libraries
# the binaries link (dpkg-shlibdeps) and the components berthd drives.
# Installing it and `systemctl enable --now berthd` gives a working node.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-$build}
version=$(sed -n 's/^project(berth VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/berth_${version}_${arch}"

for binary in berthd berthctl berth-logger berth-runc berth-pause; do
  install -D -m 0755 "$build/$binary" "$root/usr/bin/$binary"
done
# Debug information stays in the build tree; the package ships what runs.
strip --strip-debug "$root"/usr/bin/*
install -D -m 0644 systemd/berthd.service "$root/lib/systemd/system/berthd.service"
install -D -m 0644 systemd/berth.tmpfiles "$root/usr/lib/tmpfiles.d/berth.conf"
install -D -m 0644 systemd/berthd.toml "$root/etc/berth/berthd.toml"
install -D -m 0644 systemd/berth-logind.conf "$root/usr/lib/systemd/logind.conf.d/berth.conf"
install -D -m 0644 README.md "$root/usr/share/doc/berth/README.md"

# The shared libraries' packages, as dpkg-shlibdeps finds them; and libcurl4,
# which berthd loads when it first pulls (runtime/curl_api.h).
mkdir -p "$stage/debian"
printf 'Source: berth\n\nPackage: berth\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O -e"$root/usr/bin/berthd" -e"$root/usr/bin/berthctl" \
  -e"$root/usr/bin/berth-logger" -e"$root/usr/bin/berth-runc" -e"$root/usr/bin/berth-pause" |
  sed -n 's/^shlibs:Depends=//p')
if [[ -z "$shlibs" ]]; then
  echo "package: dpkg-shlibdeps named no library packages" >&2
  exit 1
fi

mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: berth
Version: $version
Architecture: $arch
Maintainer: berth developers <berth@localhost>
Section: admin
Priority: optional
Depends: $shlibs, libcurl4, containerd, runc, containernetworking-plugins, iptables, golang-github-containers-common
Description: node agent that runs Amazon ECS task definitions on containerd
 berthd takes tasks (ECS task definitions) from its local API, a manifest
 directory or an etcd control plane, runs their containers through
 containerd with a network namespace and cgroup limits per task, and
 reports their state, health and metrics. berthctl is its command line.
CONTROL
echo /etc/berth/berthd.toml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  systemd-tmpfiles --create berth.conf >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # logind reads its InhibitDelayMaxSec again at SIGHUP.
    systemctl kill -s HUP systemd-logind.service >/dev/null 2>&1 || true
    # An upgrade: the new berthd takes over (the tasks run on and are adopted).
    if [ -n "$2" ]; then systemctl try-restart berthd.service || true; fi
  fi
fi
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
# Stopping berthd leaves its tasks running (KillMode=process); removing the
# package stops berthd only.
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop berthd.service >/dev/null 2>&1 || true
fi
PRERM
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$out"
deb="$(cd "$out" && pwd)/berth_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
echo "$deb"
