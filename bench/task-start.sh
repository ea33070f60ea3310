#!/usr/bin/env bash
# Task start latency through berth's engine, side by side with `ctr run -d`
# on the same image and the same private containerd, in one run; and
# berthd's memory, idle and with N tasks running. A benchmark, not a test.
#   bench/task-start.sh [N] [limits]   N tasks (default 50); with "limits"
#   every task has cpu 128 and memory 64 (its task cgroup's CFS quota and
#   memory limit: a 2-CPU node admits 16 of them, so keep N at most 8 per CPU)
#   and ctr gets the same:
#   --cpus 0.125 --memory-limit 64 MiB.
#   BERTH_BENCH_NETWORK=MODE   the tasks' networkMode (default: the node's,
#   bridge).
#   BERTH_BASELINE=DIR   also runs the berthd and berthctl in DIR (an earlier
#   build: berthd, berthctl, berth-logger, berth-runc, berth-pause), its
#   tasks interleaved with this build's, and compares the two.
# Latency of a task = from just before `berthctl run -f` to the engine's
# RUNNING event for it (berthctl events), with the image already present.
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
baseline=${BERTH_BASELINE:-}
n=${1:-50}
limits=${2:-}
if [[ -n $limits && $limits != limits ]]; then
  echo "usage: bench/task-start.sh [N] [limits]" >&2
  exit 2
fi
if [[ -n $baseline && ! -x $baseline/berthd ]]; then
  echo "bench: BERTH_BASELINE=$baseline holds no berthd" >&2
  exit 2
fi
ns=berth-bench-tasks

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
events_pids=()
cleanup() {
  for pid in "${events_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_daemons "$dir" "$ns"
}
trap cleanup EXIT
start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn
pid_new=${berth_daemon_pids[-1]}
if [[ -n $baseline ]]; then
  BERTHD_NAME=berthd-base start_berthd "$dir" "$baseline" "$ns-base" --log-level warn
  pid_base=${berth_daemon_pids[-1]}
fi
# berthctl of one build: new or base.
ctl() {
  local which=$1
  shift
  if [[ $which == new ]]; then
    "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"
  else
    "$baseline/berthctl" --socket "$dir/berth-base.sock" "$@"
  fi
}
ctr() { command ctr --address "$dir/containerd.sock" --namespace "$ns" "$@"; }
now_ms() { date +%s%3N; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
builds=(new)
[[ -n $baseline ]] && builds+=(base)

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
for b in "${builds[@]}"; do ctl "$b" image import "$dir/image/busybox-oci.tar" >/dev/null; done
image=berth.test/busybox:latest
idle_new=$(rss_kib "$pid_new")
[[ -n $baseline ]] && idle_base=$(rss_kib "$pid_base")

task_limits=""
ctr_limits=()
if [[ -n $limits ]]; then
  # The node admits only what its CPU holds: say so rather than fail half-way.
  cpu_left=$(ctl new -o json node info | grep -m1 '"remaining"' | tr -dc 0-9)
  if ((n * 128 * ${#builds[@]} > cpu_left)); then
    echo "bench: $n tasks of cpu 128 per build need $((n * 128 * ${#builds[@]})) CPU units;" \
      "this node has $cpu_left" >&2
    exit 2
  fi
  task_limits='"cpu": "128", "memory": "64",'
  ctr_limits=(--cpus 0.125 --memory-limit $((64 << 20)))
fi
network_mode=""
[[ -n ${BERTH_BENCH_NETWORK:-} ]] && network_mode="\"networkMode\": \"$BERTH_BENCH_NETWORK\","
cat >"$dir/task.json" <<JSON
{"family": "bench", $task_limits $network_mode "containerDefinitions": [
  {"name": "main", "image": "$image", "command": ["sleep", "100000"], "stopTimeout": 1}]}
JSON

for b in "${builds[@]}"; do
  ctl "$b" -o json events >"$dir/events-$b.jsonl" &
  events_pids+=($!)
  : >"$dir/submitted-$b"
done
sleep 0.5  # let the events streams subscribe before the first task

running() { grep "\"taskId\":\"$2\"" "$dir/events-$1.jsonl" | grep '"container":""' |
  grep '"status":"RUNNING"'; }
# Interleaved, so that the noise of a shared machine falls on every build.
for ((i = 0; i < n; i++)); do
  for b in "${builds[@]}"; do
    start=$(now_ms)
    id=$(ctl "$b" run -f "$dir/task.json" --name "bench-$b-$i")
    echo "$id $start" >>"$dir/submitted-$b"
    # Sequential: wait for this task's RUNNING before the next one.
    until running "$b" "$id" >/dev/null; do sleep 0.005; done
  done
done
running_new=$(rss_kib "$pid_new")
[[ -n $baseline ]] && running_base=$(rss_kib "$pid_base")

latencies() {
  while read -r id start; do
    at=$(running "$1" "$id" | head -1 | sed 's/.*"at":\([0-9]*\).*/\1/')
    echo $((at - start))
  done <"$dir/submitted-$1"
}

ctr_ms=$(for ((i = 0; i < n; i++)); do
  start=$(now_ms)
  ctr run -d "${ctr_limits[@]}" "$image" "ctr-$i" sleep 100000 >/dev/null
  echo $(($(now_ms) - start))
done)

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }
new_ms=$(latencies new)
n50=$(pct 0.5 <<<"$new_ms"); n99=$(pct 0.99 <<<"$new_ms")
c50=$(pct 0.5 <<<"$ctr_ms"); c99=$(pct 0.99 <<<"$ctr_ms")
if [[ -n $baseline ]]; then
  base_ms=$(latencies base)
  b50=$(pct 0.5 <<<"$base_ms"); b99=$(pct 0.99 <<<"$base_ms")
fi

for ((i = 0; i < n; i++)); do
  ctr task kill -s KILL "ctr-$i" >/dev/null 2>&1 || true
done
for ((i = 0; i < n; i++)); do
  ctr task rm -f "ctr-$i" >/dev/null 2>&1 || true
  ctr container rm "ctr-$i" >/dev/null 2>&1 || true
done
for b in "${builds[@]}"; do
  while read -r id _; do ctl "$b" stop --no-wait "$id" >/dev/null; done <"$dir/submitted-$b"
done
for b in "${builds[@]}"; do
  while read -r id _; do ctl "$b" stop "$id" >/dev/null; done <"$dir/submitted-$b"
done

printf '\n%d sequential one-container tasks (sleep, network %s) from %s, image present, containerd %s%s\n\n' \
  "$n" "${BERTH_BENCH_NETWORK:-bridge}" "$image" "$(ctr version | awk '/Version/ {print $2; exit}')" \
  "${limits:+, each limited to cpu 128 and 64 MiB}"
printf '%-56s %8s %8s\n' "" "p50 ms" "p99 ms"
printf '%-56s %8s %8s\n' "berthctl run -f TASK -> RUNNING event (this build)" "$n50" "$n99"
if [[ -n $baseline ]]; then
  printf '%-56s %8s %8s\n' "berthctl run -f TASK -> RUNNING event (baseline)" "$b50" "$b99"
fi
printf '%-56s %8s %8s\n' "ctr run -d IMAGE ID sleep (returns once started)" "$c50" "$c99"
awk -v b="$n50" -v c="$c50" -v b9="$n99" -v c9="$c99" 'BEGIN {
  printf "\nratio berth / ctr run -d: p50 %.2f, p99 %.2f\n", b / c, b9 / c9 }'
if [[ -n $baseline ]]; then
  awk -v b="$n50" -v c="$b50" -v b9="$n99" -v c9="$b99" 'BEGIN {
    printf "ratio this build / baseline: p50 %.2f, p99 %.2f\n", b / c, b9 / c9 }'
fi
printf 'berthd RSS (this build): idle %d KiB, with %d tasks running %d KiB\n' \
  "$idle_new" "$n" "$running_new"
if [[ -n $baseline ]]; then
  printf 'berthd RSS (baseline):   idle %d KiB, with %d tasks running %d KiB\n' \
    "$idle_base" "$n" "$running_base"
fi
if ! command -v podman >/dev/null; then
  echo "podman: not installed here, not compared (see bench/network.sh)"
fi
