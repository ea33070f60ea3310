#!/usr/bin/env bash
# The fleet's cost, in one run on one node: the time from `berthctl cluster
# run` to RUNNING seen in etcd (the node's status key), beside the local
# `berthctl run -f` to its RUNNING event, interleaved; etcd writes (store
# revisions) and bytes received per task start; and per minute of an idle
# node's heartbeat. A benchmark, not a test.
#   bench/fleet.sh [N]          N tasks each way (default 30)
#   BERTH_BENCH_IDLE=SECONDS    how long the idle node is measured (default 60)
# etcd is a private one-member etcd on loopback, plain HTTP without auth.
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
n=${1:-30}
idle=${BERTH_BENCH_IDLE:-60}
ns=berth-bench-fleet
cluster=bench
node=bench-node

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
watch_pids=()
cleanup() {
  for pid in "${watch_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_daemons "$dir" "$ns"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client_port=$(free_port)
peer_port=$(free_port)
endpoint=http://127.0.0.1:$client_port
start_containerd "$dir"
start_notified "$dir" etcd etcd --name bench --data-dir "$dir/etcd" \
  --listen-client-urls "$endpoint" --advertise-client-urls "$endpoint" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "bench=http://127.0.0.1:$peer_port"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn \
  --etcd-endpoints "$endpoint" --cluster "$cluster" --node-name "$node"

ctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }
cctl() { "$top/$build/berthctl" cluster --etcd-endpoints "$endpoint" --cluster "$cluster" "$@"; }
etcdctl() { ETCDCTL_API=3 command etcdctl --endpoints "$endpoint" "$@"; }
now_ms() { date +%s%3N; }
revision() { etcdctl endpoint status -w json | sed 's/.*"revision":\([0-9]*\).*/\1/'; }
received_bytes() {
  curl -s "$endpoint/metrics" | awk '/^etcd_network_client_grpc_received_bytes_total/ {print $2}'
}

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
ctl image import "$dir/image/busybox-oci.tar" >/dev/null
image=berth.test/busybox:latest
cat >"$dir/task.json" <<JSON
{"family": "bench", "networkMode": "none", "containerDefinitions": [
  {"name": "main", "image": "$image", "command": ["sleep", "100000"], "stopTimeout": 1}]}
JSON

# When each status first says RUNNING, stamped as etcd's watch delivers it
# ($! is etcdctl's: killing it ends the reader too).
stamp_running() {
  while IFS= read -r line; do
    case $line in
      *'"knownStatus":"RUNNING"'*)
        name=$(sed 's/.*"name":"\([^"]*\)".*/\1/' <<<"$line")
        echo "$name ${EPOCHREALTIME/./}"
        ;;
    esac
  done >"$dir/etcd-running"
}
ETCDCTL_API=3 command etcdctl --endpoints "$endpoint" watch --prefix "/berth/$cluster/status/" \
  > >(stamp_running) &
watch_pids+=($!)
ETCDCTL_API=3 command etcdctl --endpoints "$endpoint" watch --prefix "/berth/$cluster/" \
  >"$dir/etcd-watch.log" &
watch_pids+=($!)
"$top/$build/berthctl" --socket "$dir/berth.sock" -o json events >"$dir/events.jsonl" &
watch_pids+=($!)
until [[ $(cctl -o json nodes) == *'"READY"'* ]]; do sleep 0.1; done
sleep 0.5  # let both watches subscribe before the first task

rev_before=$(revision)
bytes_before=$(received_bytes)
: >"$dir/cluster-ms"
: >"$dir/local"
for ((i = 0; i < n; i++)); do
  start_us=${EPOCHREALTIME/./}
  cctl run -f "$dir/task.json" --name "c$i" >/dev/null
  until grep -q "^c$i " "$dir/etcd-running"; do sleep 0.005; done
  at_us=$(grep -m1 "^c$i " "$dir/etcd-running" | cut -d' ' -f2)
  echo $(((at_us - start_us) / 1000)) >>"$dir/cluster-ms"

  start=$(now_ms)
  id=$(ctl run -f "$dir/task.json" --name "l$i")
  echo "$id $start" >>"$dir/local"
  until grep "\"taskId\":\"$id\"" "$dir/events.jsonl" | grep '"container":""' |
    grep -q '"status":"RUNNING"'; do sleep 0.005; done
done
rev_after=$(revision)
bytes_after=$(received_bytes)

local_ms=$(while read -r id start; do
  at=$(grep "\"taskId\":\"$id\"" "$dir/events.jsonl" | grep '"container":""' |
    grep '"status":"RUNNING"' | head -1 | sed 's/.*"at":\([0-9]*\).*/\1/')
  echo $((at - start))
done <"$dir/local")

# An idle node: its heartbeat alone (once its record caught up with the
# tasks, at its next heartbeat).
sleep 5
idle_rev_before=$(revision)
idle_bytes_before=$(received_bytes)
sleep "$idle"
idle_rev_after=$(revision)
idle_bytes_after=$(received_bytes)
[[ -n ${BERTH_BENCH_KEEP_WATCH:-} ]] && cp "$dir/etcd-watch.log" "$BERTH_BENCH_KEEP_WATCH"

for ((i = 0; i < n; i++)); do cctl stop "c$i" >/dev/null; done
while read -r id _; do ctl stop --no-wait "$id" >/dev/null; done <"$dir/local"
while read -r id _; do ctl stop "$id" >/dev/null; done <"$dir/local"
until [[ $(ctl -o json ps) != *'"RUNNING"'* ]]; do sleep 0.1; done

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }
c50=$(pct 0.5 <"$dir/cluster-ms"); c99=$(pct 0.99 <"$dir/cluster-ms")
l50=$(pct 0.5 <<<"$local_ms"); l99=$(pct 0.99 <<<"$local_ms")

printf '\n%d sequential one-container tasks each way (sleep, network none), image present, etcd %s\n\n' \
  "$n" "$(etcd --version | awk '/etcd Version/ {print $3}')"
printf '%-58s %8s %8s\n' "" "p50 ms" "p99 ms"
printf '%-58s %8s %8s\n' "berthctl cluster run -> RUNNING in etcd (status key)" "$c50" "$c99"
printf '%-58s %8s %8s\n' "berthctl run -f -> RUNNING event (local API)" "$l50" "$l99"
awk -v c="$c50" -v l="$l50" -v c9="$c99" -v l9="$l99" 'BEGIN {
  printf "\nratio fleet / local: p50 %.2f, p99 %.2f\n", c / l, c9 / l9 }'
awk -v r="$((rev_after - rev_before))" -v b="$((bytes_after - bytes_before))" -v n="$n" 'BEGIN {
  printf "etcd per task start: %.1f writes (the placement and the node'"'"'s), %.0f bytes received\n", r / n, b / n }'
awk -v r="$((idle_rev_after - idle_rev_before))" -v b="$((idle_bytes_after - idle_bytes_before))" \
  -v s="$idle" 'BEGIN {
  printf "etcd per heartbeat minute (idle node): %.1f writes, %.0f bytes received\n", r * 60 / s, b * 60 / s }'
