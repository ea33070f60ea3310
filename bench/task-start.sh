#!/usr/bin/env bash
# Task start latency through berth's engine, side by side with `ctr run -d`
# on the same image and the same private containerd, in one run; and
# berthd's memory, idle and with N tasks running. A benchmark, not a test.
#   bench/task-start.sh [N] [limits]   N tasks (default 50); with "limits"
#   every task has cpu 128 and memory 64 (its task cgroup's CFS quota and
#   memory limit: a 2-CPU node admits 16 of them, so keep N at most 8 per CPU)
#   and ctr gets the same:
#   --cpus 0.125 --memory-limit 64 MiB.
# Latency of a task = from just before `berthctl run -f` to the engine's
# RUNNING event for it (berthctl events), with the image already present.
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
n=${1:-50}
limits=${2:-}
if [[ -n $limits && $limits != limits ]]; then
  echo "usage: bench/task-start.sh [N] [limits]" >&2
  exit 2
fi
ns=berth-bench-tasks

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
cleanup() {
  [[ -n ${events_pid:-} ]] && kill "$events_pid" 2>/dev/null || true
  stop_daemons "$dir" "$ns"
}
trap cleanup EXIT
start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn
berthd_pid=${berth_daemon_pids[-1]}
berthctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }
ctr() { command ctr --address "$dir/containerd.sock" --namespace "$ns" "$@"; }
now_ms() { date +%s%3N; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$berthd_pid/status"; }

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
berthctl image import "$dir/image/busybox-oci.tar" >/dev/null
image=berth.test/busybox:latest
idle_rss=$(rss_kib)

task_limits=""
ctr_limits=()
if [[ -n $limits ]]; then
  # The node admits only what its CPU holds: say so rather than fail half-way.
  cpu_left=$(berthctl -o json node info | grep -m1 '"remaining"' | tr -dc 0-9)
  if ((n * 128 > cpu_left)); then
    echo "bench: $n tasks of cpu 128 need $((n * 128)) CPU units; this node has $cpu_left" >&2
    exit 2
  fi
  task_limits='"cpu": "128", "memory": "64",'
  ctr_limits=(--cpus 0.125 --memory-limit $((64 << 20)))
fi
cat >"$dir/task.json" <<JSON
{"family": "bench", $task_limits "containerDefinitions": [
  {"name": "main", "image": "$image", "command": ["sleep", "100000"], "stopTimeout": 1}]}
JSON

berthctl -o json events >"$dir/events.jsonl" &
events_pid=$!
sleep 0.5  # let the events stream subscribe before the first task

: >"$dir/submitted"
for ((i = 0; i < n; i++)); do
  start=$(now_ms)
  id=$(berthctl run -f "$dir/task.json" --name "bench-$i")
  echo "$id $start" >>"$dir/submitted"
  # Sequential: wait for this task's RUNNING before the next one.
  until grep "\"taskId\":\"$id\"" "$dir/events.jsonl" | grep '"container":""' |
    grep -q '"status":"RUNNING"'; do
    sleep 0.005
  done
done
running_rss=$(rss_kib)

berth_ms=$(while read -r id start; do
  at=$(grep "\"taskId\":\"$id\"" "$dir/events.jsonl" | grep '"container":""' |
    grep '"status":"RUNNING"' | head -1 | sed 's/.*"at":\([0-9]*\).*/\1/')
  echo $((at - start))
done <"$dir/submitted")

ctr_ms=$(for ((i = 0; i < n; i++)); do
  start=$(now_ms)
  ctr run -d "${ctr_limits[@]}" "$image" "ctr-$i" sleep 100000 >/dev/null
  echo $(($(now_ms) - start))
done)

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }
b50=$(pct 0.5 <<<"$berth_ms"); b99=$(pct 0.99 <<<"$berth_ms")
c50=$(pct 0.5 <<<"$ctr_ms"); c99=$(pct 0.99 <<<"$ctr_ms")

for ((i = 0; i < n; i++)); do
  ctr task kill -s KILL "ctr-$i" >/dev/null 2>&1 || true
done
for ((i = 0; i < n; i++)); do
  ctr task rm -f "ctr-$i" >/dev/null 2>&1 || true
  ctr container rm "ctr-$i" >/dev/null 2>&1 || true
done
while read -r id _; do berthctl stop --no-wait "$id" >/dev/null; done <"$dir/submitted"
while read -r id _; do berthctl stop "$id" >/dev/null; done <"$dir/submitted"

printf '\n%d sequential one-container tasks (sleep) from %s, image present, containerd %s%s\n\n' \
  "$n" "$image" "$(ctr version | awk '/Version/ {print $2; exit}')" \
  "${limits:+, each limited to cpu 128 and 64 MiB}"
printf '%-52s %8s %8s\n' "" "p50 ms" "p99 ms"
printf '%-52s %8s %8s\n' "berthctl run -f TASK -> RUNNING event" "$b50" "$b99"
printf '%-52s %8s %8s\n' "ctr run -d IMAGE ID sleep (returns once started)" "$c50" "$c99"
awk -v b="$b50" -v c="$c50" -v b9="$b99" -v c9="$c99" 'BEGIN {
  printf "\nratio berth / ctr run -d: p50 %.2f, p99 %.2f\n", b / c, b9 / c9 }'
printf 'berthd RSS: idle %d KiB, with %d tasks running %d KiB\n' "$idle_rss" "$n" "$running_rss"
if ! command -v podman >/dev/null; then
  echo "podman: not installed here, not compared (see the issue note)"
fi
