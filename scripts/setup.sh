#!/usr/bin/env bash
# Sets up a Debian 12 machine for berth, as root, and builds it. Idempotent:
# run it again after pulling changes.
#   scripts/setup.sh             install packages, configure and build
#   BERTH_BUILD_DIR=dir          build somewhere other than ./build
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (packages, containerd, cgroups)" >&2
  exit 1
fi

packages=(
  # build
  g++ cmake make pkg-config git
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev
  golang-etcd-server-dev golang-github-grpc-ecosystem-grpc-gateway-dev
  libcgroup-dev libnl-3-dev libnl-route-3-dev libsystemd-dev
  libspdlog-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev clang-format clang-tidy-16
  # run
  containerd runc containernetworking-plugins iptables ca-certificates iproute2 tini
  golang-github-containers-common  # /usr/share/containers/seccomp.json, the default profile
  # test fixtures: a registry, images built from busybox and with mmdebstrap, token auth
  docker-registry busybox-static mmdebstrap python3 openssl curl tar gzip
  etcd-server etcd-client  # a private etcd (and etcdctl) for the control-plane tests
  prometheus  # promtool and a real scraper for the metrics tests
  systemd dpkg-dev binutils  # systemd-analyze verify; the .deb (dpkg-shlibdeps, strip)
  systemd-container dbus-daemon  # a booted systemd (nspawn); a private bus for sd-bus tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${BERTH_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
echo "setup: built berthd, berthctl, berth-logger and berth-pause in $build/"
