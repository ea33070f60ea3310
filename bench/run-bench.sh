#!/usr/bin/env bash
# berth beside what users would run instead, on the same host, the same
# containerd and the same image, interleaved in one run so that the noise of
# a shared machine falls on all alike. A benchmark, not a test: it prints one
# table (berth's p50 and p99, the ratio to each peer) and asserts nothing.
#   bench/run-bench.sh [RUNS [FLEET]]   RUNS starts per case and tool
#                                       (default 12), FLEET tasks started by
#                                       10 clients (default 100)
#   BERTH_BENCH_PEERS="ctr podman docker"   the peers (default: all three)
# The peers: `ctr` (containerd's own client, on berth's containerd), Debian's
# podman (a private storage root, runc, no default ulimits: crun cannot run
# on a hybrid cgroup layout) and Debian's docker.io (a private dockerd on
# berth's containerd, its own bridge). Installs podman and docker.io when
# missing. The cases and the figures: docs/performance.md.
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
runs=${1:-12}
fleet=${2:-100}
read -r -a peers <<<"${BERTH_BENCH_PEERS:-ctr podman docker}"
ns=berth-bench
docker_bridge=berthdk0
docker_subnet=10.219.0.1/24
podman_bridge=berthpm0

wanted=()
for peer in "${peers[@]}"; do
  case $peer in
    ctr) ;;
    podman) command -v podman >/dev/null || wanted+=(podman) ;;
    docker) [[ -x /usr/sbin/dockerd ]] || wanted+=(docker.io) ;;
    *) echo "bench: unknown peer '$peer' (ctr, podman, docker)" >&2; exit 2 ;;
  esac
done
if ((${#wanted[@]})); then
  echo "bench: installing ${wanted[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" \
    >/dev/null
fi

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
podman() {
  command podman --root "$dir/podman-root" --runroot "$dir/podman-run" \
    --cgroup-manager cgroupfs --events-backend file "$@"
}
docker() { /usr/bin/docker -H "unix://$dir/docker.sock" "$@"; }
# The rules a dockerd adds, in the tables it adds them to; and its chains.
remove_docker_rules() {
  local table rule
  for table in filter nat; do
    iptables -t "$table" -S 2>/dev/null | grep -E -- "-A [A-Z-]+ .*(DOCKER|$docker_bridge)" |
      grep -v -- '^-A DOCKER' | sed 's/^-A/-D/' | while read -r rule; do
      eval "iptables -t $table $rule" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}
# podman's firewall plugin makes shared chains once and never removes them:
# the bench removes them if it made them.
had_cni_forward=$(iptables -S FORWARD 2>/dev/null | grep -c -- '-j CNI-FORWARD' || true)
cleanup() {
  set +e
  if ((had_cni_forward == 0)) && iptables -S FORWARD 2>/dev/null | grep -q -- '-j CNI-FORWARD'; then
    iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
    iptables -F CNI-FORWARD; iptables -X CNI-FORWARD
    iptables -F CNI-ADMIN; iptables -X CNI-ADMIN
  fi 2>/dev/null
  [[ -f $dir/berthd.pid ]] && berth_daemon_pids+=("$(cat "$dir/berthd.pid")")
  pkill -f -- "berthctl --socket $dir/berth.sock" 2>/dev/null
  if [[ -S $dir/docker.sock ]]; then
    docker ps -aq | xargs -r /usr/bin/docker -H "unix://$dir/docker.sock" rm -f >/dev/null 2>&1
    kill "$(cat "$dir/docker.pid" 2>/dev/null)" 2>/dev/null
    while pgrep -f "dockerd .*$dir" >/dev/null; do sleep 0.1; done
  fi
  if [[ -d $dir/podman-root ]]; then
    podman rm -f -a -t 0 >/dev/null 2>&1
    podman system reset -f >/dev/null 2>&1
  fi
  [[ -n ${registry_pid:-} ]] && kill "$registry_pid" 2>/dev/null
  stop_daemons "$dir" "$ns"
  remove_docker_rules
  # The moby namespace's cgroups (docker's cgroupfs parent) and podman's.
  for parent in /sys/fs/cgroup/*/docker /sys/fs/cgroup/*/libpod_parent; do
    [[ -d $parent ]] && find "$parent" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  ip link del "$docker_bridge" 2>/dev/null
  ip link del "$podman_bridge" 2>/dev/null
  ip link del berthbn0 2>/dev/null
}
trap cleanup EXIT

start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn --bridge-name berthbn0 \
  --bridge-subnet 10.216.0.0/16 --cni-conf-dir "$dir/cni"
echo "${berth_daemon_pids[-1]}" >"$dir/berthd.pid"
berth_daemon_pids=("${berth_daemon_pids[@]:0:${#berth_daemon_pids[@]}-1}")
berthctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }

# The image: the test image, imported into berth (and so into containerd
# for ctr) and served by a registry on loopback for podman and docker.
tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
berthctl image import "$dir/image/busybox-oci.tar" >/dev/null
image=berth.test/busybox:latest
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tests/fixtures/registry-config.sh "$dir/registry" "$port" none
docker-registry serve "$dir/registry/config.yml" >"$dir/registry.log" 2>&1 &
registry_pid=$!
until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.05; done
tests/fixtures/push-image.sh "$dir/image/docker" "127.0.0.1:$port" busybox latest
remote=127.0.0.1:$port/busybox:latest

peer_args=()
for peer in "${peers[@]}"; do
  case $peer in
    ctr)
      peer_args+=(--peer "ctr=ctr --address $dir/containerd.sock --namespace $ns")
      ;;
    podman)
      # Its own config: runc, no default ulimits, a CNI bridge of its own.
      mkdir -p "$dir/podman-cni"
      cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
[network]
network_backend = "cni"
network_config_dir = "$dir/podman-cni"
default_network = "benchnet"
CONF
      cat >"$dir/podman-cni/benchnet.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "benchnet", "plugins": [
  {"type": "bridge", "bridge": "$podman_bridge", "isGateway": true, "ipMasq": true,
   "hairpinMode": true, "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
   "ranges": [[{"subnet": "10.218.0.0/24", "gateway": "10.218.0.1"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "firewall"}, {"type": "tuning"}]}
JSON
      export CONTAINERS_CONF=$dir/containers.conf
      podman pull -q --tls-verify=false "$remote" >/dev/null
      podman tag "$remote" "$image"
      peer_args+=(--peer "podman=podman --root $dir/podman-root --runroot $dir/podman-run
        --cgroup-manager cgroupfs --events-backend file")
      ;;
    docker)
      echo '{}' >"$dir/daemon.json"  # not the host's /etc/docker/daemon.json
      ip link add "$docker_bridge" type bridge
      ip addr add "$docker_subnet" dev "$docker_bridge"
      ip link set "$docker_bridge" up
      /usr/sbin/dockerd --containerd "$dir/containerd.sock" --data-root "$dir/docker-root" \
        --exec-root "$dir/docker-exec" --pidfile "$dir/docker.pid" -H "unix://$dir/docker.sock" \
        --bridge "$docker_bridge" --config-file "$dir/daemon.json" >"$dir/dockerd.log" 2>&1 &
      until docker version >/dev/null 2>&1; do
        kill -0 $! 2>/dev/null || { cat "$dir/dockerd.log" >&2; exit 1; }
        sleep 0.1
      done
      docker pull -q "$remote" >/dev/null
      docker tag "$remote" "$image"
      peer_args+=(--peer "docker=/usr/bin/docker -H unix://$dir/docker.sock")
      ;;
  esac
done

echo "berth $(git describe --always --dirty)," \
  "containerd $(ctr --address "$dir/containerd.sock" version | awk '/Version/ {print $2; exit}')," \
  "runc $(runc --version | awk 'NR==1 {print $3}')," \
  "podman $(command podman --version 2>/dev/null | awk '{print $3}')," \
  "docker $(/usr/bin/docker --version 2>/dev/null | awk '{print $3}' | tr -d ,)," \
  "$(nproc) CPUs, $(uname -r)"
python3 bench/compare.py --dir "$dir" --berthctl "$top/$build/berthctl" \
  --socket "$dir/berth.sock" --image "$image" --runs "$runs" --fleet "$fleet" "${peer_args[@]}"
