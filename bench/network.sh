#!/usr/bin/env bash
# Task networking cost, side by side with podman on the same image, in one
# run. A benchmark, not a test.
#   bench/network.sh [N]     N tasks/containers per variant (default 30)
# berth: N sequential awsvpc tasks (a namespace of the task's own, CNI
# bridge + host-local + portmap, berth's own network) and N with networkMode
# none; per task the network's set-up and teardown time (berthd's NETWORK and
# NETWORK_REMOVED events report them) and the start latency (berthctl run -f
# -> the RUNNING event). podman: `podman run -d --network bridge` and
# `--network none` (returns once started), and `podman rm -f`; its network
# cost is the difference between the two. Image present for both.
# Run as root after scripts/setup.sh; installs podman if it is missing and
# gives it a private storage root and containers.conf (runc, no default
# ulimits: crun cannot run on a hybrid cgroup layout).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
n=${1:-30}
ns=berth-bench-net

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
podman_ok=
podman() {
  command podman --root "$dir/podman-root" --runroot "$dir/podman-run" \
    --cgroup-manager cgroupfs --events-backend file "$@"
}
cleanup() {
  [[ -n ${events_pid:-} ]] && kill "$events_pid" 2>/dev/null || true
  if [[ -n $podman_ok ]]; then
    podman rm -f -a >/dev/null 2>&1 || true
    podman system reset -f >/dev/null 2>&1 || true
  fi
  stop_daemons "$dir" "$ns"
  ip link del berthb0 2>/dev/null || true
}
trap cleanup EXIT
start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn --bridge-name berthb0 \
  --bridge-subnet 10.216.0.0/16 --cni-conf-dir "$dir/cni"
berthctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }
now_ms() { date +%s%3N; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
berthctl image import "$dir/image/busybox-oci.tar" >/dev/null
image=berth.test/busybox:latest

berthctl -o json events >"$dir/events.jsonl" &
events_pid=$!
sleep 0.5  # let the events stream subscribe before the first task

# One variant: N sequential tasks in `mode`, each stopped once it runs.
# Prints "start_ms" lines to $dir/<mode>.start.
run_berth() {
  local mode=$1
  cat >"$dir/$mode.json" <<JSON
{"family": "bench-$mode", "networkMode": "$mode", "containerDefinitions": [
  {"name": "main", "image": "$image", "stopTimeout": 2,
   "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]}]}
JSON
  : >"$dir/$mode.submitted"
  for ((i = 0; i < n; i++)); do
    local start id
    start=$(now_ms)
    id=$(berthctl run -f "$dir/$mode.json")
    echo "$id $start" >>"$dir/$mode.submitted"
    until grep "\"taskId\":\"$id\"" "$dir/events.jsonl" | grep '"container":""' |
      grep -q '"status":"RUNNING"'; do
      sleep 0.005
    done
    berthctl stop "$id" >/dev/null
  done
  while read -r id start; do
    at=$(grep "\"taskId\":\"$id\"" "$dir/events.jsonl" | grep '"container":""' |
      grep '"status":"RUNNING"' | head -1 | sed 's/.*"at":\([0-9]*\).*/\1/')
    echo $((at - start))
  done <"$dir/$mode.submitted" >"$dir/$mode.start"
}
run_berth awsvpc
run_berth none
# The events' "set up in N ms" and "torn down in N ms".
grep '"status":"NETWORK"' "$dir/events.jsonl" | sed 's/.*set up in \([0-9]*\) ms.*/\1/' \
  >"$dir/berth.setup"
grep '"status":"NETWORK_REMOVED"' "$dir/events.jsonl" |
  sed 's/.*torn down in \([0-9]*\) ms.*/\1/' >"$dir/berth.teardown"

# podman, if it can run here.
if ! command -v podman >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman \
    >/dev/null 2>&1 || true
fi
if command -v podman >/dev/null; then
  cat >"$dir/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF=$dir/containers.conf
  if podman load -i "$dir/image/busybox-oci.tar" >/dev/null 2>&1 &&
    podman run --rm --network none "$image" true >/dev/null 2>&1; then
    podman_ok=1
  fi
fi
if [[ -n $podman_ok ]]; then
  for net in bridge none; do
    : >"$dir/podman-$net.start"
    : >"$dir/podman-$net.rm"
    for ((i = 0; i < n; i++)); do
      start=$(now_ms)
      podman run -d --network "$net" --name "p-$net-$i" "$image" sleep 100000 >/dev/null
      echo $(($(now_ms) - start)) >>"$dir/podman-$net.start"
      start=$(now_ms)
      podman rm -f -t 0 "p-$net-$i" >/dev/null
      echo $(($(now_ms) - start)) >>"$dir/podman-$net.rm"
    done
  done
fi

p50() { pct 0.5 <"$1"; }
p99() { pct 0.99 <"$1"; }
printf '\n%d sequential one-container tasks from %s, image present, containerd %s, %s\n\n' \
  "$n" "$image" "$(ctr --address "$dir/containerd.sock" version | awk '/Version/ {print $2; exit}')" \
  "$( [[ -n $podman_ok ]] && command podman --version || echo 'podman not available')"
printf '%-58s %8s %8s\n' "" "p50 ms" "p99 ms"
row() { printf '%-58s %8s %8s\n' "$1" "$(p50 "$2")" "$(p99 "$2")"; }
row "berth awsvpc: network set-up (netns + CNI ADD)" "$dir/berth.setup"
row "berth awsvpc: network teardown (CNI DEL + unpin)" "$dir/berth.teardown"
row "berth awsvpc: berthctl run -f -> RUNNING" "$dir/awsvpc.start"
row "berth none:   berthctl run -f -> RUNNING" "$dir/none.start"
if [[ -n $podman_ok ]]; then
  row "podman run -d --network bridge" "$dir/podman-bridge.start"
  row "podman run -d --network none" "$dir/podman-none.start"
  row "podman rm -f, bridge" "$dir/podman-bridge.rm"
  row "podman rm -f, none" "$dir/podman-none.rm"
  awk -v bs="$(p50 "$dir/berth.setup")" -v bt="$(p50 "$dir/berth.teardown")" \
    -v ba="$(p50 "$dir/awsvpc.start")" -v bn="$(p50 "$dir/none.start")" \
    -v pb="$(p50 "$dir/podman-bridge.start")" -v pn="$(p50 "$dir/podman-none.start")" \
    -v rb="$(p50 "$dir/podman-bridge.rm")" -v rn="$(p50 "$dir/podman-none.rm")" 'BEGIN {
      ps = pb - pn; pt = rb - rn
      printf "\nnetwork set-up: berth %d ms, podman bridge - none %d ms", bs, ps
      if (ps > 0) printf " (ratio %.2f)", bs / ps
      printf "\nnetwork teardown: berth %d ms, podman rm bridge - none %d ms", bt, pt
      if (pt > 0) printf " (ratio %.2f)", bt / pt
      printf "\nstart with its network: berth awsvpc / podman run --network bridge: %.2f\n", ba / pb
      printf "network share of start: berth %d of %d ms, podman %d of %d ms\n", ba - bn, ba, ps, pb
    }'
else
  echo "podman could not run here: no comparison (berth's own figures above)"
fi
