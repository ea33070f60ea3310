#!/usr/bin/env bash
# What metrics cost berthd, in one run on one node: N running one-container
# tasks (awsvpc: each has its own namespace, whose counters a scrape reads),
# berthd's CPU time over a quiet window and over a window scraped every 10 s
# as Prometheus would (the difference is the scraping's share of one core),
# each scrape's latency and size, and berthd's RSS with its HTTP surfaces on
# (idle, then with the tasks) and off. A benchmark, not a test.
#   bench/metrics.sh [N]          N tasks (default 100)
#   BERTH_BENCH_WINDOW=SECONDS    each window's length (default 60)
#   BERTH_BENCH_NETWORK=MODE      the tasks' network mode (default awsvpc)
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
n=${1:-100}
window=${BERTH_BENCH_WINDOW:-60}
network=${BERTH_BENCH_NETWORK:-awsvpc}
ns=berth-bench-metrics

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
trap 'stop_daemons "$dir" "$ns"; ip link del berthm0 2>/dev/null || true' EXIT
start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn --bridge-name berthm0 \
  --bridge-subnet 10.219.0.0/16
berthd_pid=${berth_daemon_pids[-1]}
ctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
metrics=$(ctl -o json node info | sed -n 's/.*"metricsAddress": "\(.*\)".*/\1/p')
rss_on_idle=$(rss_kib "$berthd_pid")

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
ctl image import "$dir/image/busybox-oci.tar" >/dev/null
cat >"$dir/task.json" <<JSON
{"family": "metered", "networkMode": "$network", "containerDefinitions": [
  {"name": "main", "image": "berth.test/busybox:latest", "cpu": 16, "memory": 32,
   "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"], "stopTimeout": 1}]}
JSON
for ((i = 0; i < n; i++)); do ctl run -f "$dir/task.json" --name "m$i" >/dev/null; done
until [[ $(ctl -o json ps | grep -c '"status": "RUNNING"') -ge $n ]]; do sleep 0.2; done
sleep 5  # the starts' own work done

# A quiet window, then one scraped every 10 s.
before=$(cpu_ticks "$berthd_pid")
sleep "$window"
quiet=$(($(cpu_ticks "$berthd_pid") - before))
: >"$dir/latency"
before=$(cpu_ticks "$berthd_pid")
start=$(date +%s)
while (($(date +%s) - start < window)); do
  curl -s -o "$dir/scrape.txt" -w '%{time_total}\n' "http://$metrics/metrics" >>"$dir/latency"
  sleep 10
done
scraped=$(($(cpu_ticks "$berthd_pid") - before))
scrapes=$(wc -l <"$dir/latency")
rss_on_tasks=$(rss_kib "$berthd_pid")
series=$(grep -vc '^#' "$dir/scrape.txt")
bytes=$(wc -c <"$dir/scrape.txt")
container_series=$(grep -c '^container_cpu_usage_seconds_total{container="main"' "$dir/scrape.txt")

# The same berthd with its HTTP surfaces off, idle, beside it.
BERTHD_NAME=berthd-off start_berthd "$dir" "$top/$build" "$ns-off" --log-level warn \
  --metrics-address "" --introspection-address "" --no-task-metadata-endpoint \
  --bridge-name berthoff0 --bridge-subnet 10.218.0.0/16
off_pid=${berth_daemon_pids[-1]}
sleep 2
rss_off_idle=$(rss_kib "$off_pid")

for ((i = 0; i < n; i++)); do ctl stop --no-wait "m$i" >/dev/null; done
until [[ $(ctl -o json ps) != *'"RUNNING"'* ]]; do sleep 0.2; done

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }
l50=$(pct 0.5 <"$dir/latency")
l99=$(pct 0.99 <"$dir/latency")
printf '\n%d running one-container tasks (%s), berthd scraped every 10 s for %d s (%d scrapes)\n\n' \
  "$n" "$network" "$window" "$scrapes"
awk -v q="$quiet" -v s="$scraped" -v w="$window" -v hz="$hz" -v k="$scrapes" 'BEGIN {
  printf "berthd CPU, quiet window:          %6.3f %% of one core\n", 100 * q / hz / w
  printf "berthd CPU, scraped window:        %6.3f %% of one core\n", 100 * s / hz / w
  printf "scraping'"'"'s share (difference):     %6.3f %% of one core (goal < 1 %%)\n", 100 * (s - q) / hz / w
  if (k > 0) printf "CPU per scrape:                    %6.1f ms\n", 1000 * (s - q) / hz / k }'
awk -v a="$l50" -v b="$l99" 'BEGIN { printf "scrape latency:                    p50 %.1f ms, p99 %.1f ms\n", a * 1000, b * 1000 }'
printf 'scrape size:                       %d series, %d bytes, %d task containers\n' \
  "$series" "$bytes" "$container_series"
printf 'berthd RSS, surfaces on, idle:     %6.1f MiB\n' "$(awk -v k="$rss_on_idle" 'BEGIN {print k / 1024}')"
printf 'berthd RSS, surfaces on, %3d tasks: %5.1f MiB\n' "$n" "$(awk -v k="$rss_on_tasks" 'BEGIN {print k / 1024}')"
printf 'berthd RSS, surfaces off, idle:    %6.1f MiB\n' "$(awk -v k="$rss_off_idle" 'BEGIN {print k / 1024}')"
