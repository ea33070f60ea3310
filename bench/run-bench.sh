#!/usr/bin/env bash
# Container start cost through berth, side by side with ctr on the same
# image and the same private containerd, in one run. A benchmark, not a test:
# it prints numbers and ratios and asserts nothing about them.
#   bench/run-bench.sh [N]      N sequential runs per tool (default 20)
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
n=${1:-20}
ns=berth-bench

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
trap 'stop_daemons "$dir" "$ns"' EXIT
start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn
berthctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }
ctr() { command ctr --address "$dir/containerd.sock" --namespace "$ns" "$@"; }

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
berthctl image import "$dir/image/busybox-oci.tar" >/dev/null
image=berth.test/busybox:latest

now() { date +%s%N; }
# Prints per-run milliseconds, one per line.
time_runs() {
  local i start
  for ((i = 0; i < n; i++)); do
    start=$(now)
    "$@" "$i" >/dev/null
    echo $((($(now) - start) / 1000))
  done
}
stats() {  # microsecond samples on stdin -> "median_ms p90_ms total_ms"
  sort -n | awk '{a[NR]=$1; s+=$1} END {printf "%.1f %.1f %.1f", a[int((NR+1)/2)]/1000, a[int(NR*0.9+0.5)]/1000, s/1000}'
}

berth_run() { berthctl run --rm --name "b$1" "$image" -- true; }
ctr_run_rm() { ctr run --rm "$image" "c$1" true; }
ctr_run_d() { ctr run -d "$image" "d$1" true; }

# One warm-up each, so that neither pays for a cold page cache.
berth_run w >/dev/null; ctr_run_rm w >/dev/null

berth=$(time_runs berth_run | stats)
ctr_rm=$(time_runs ctr_run_rm | stats)
ctr_d=$(time_runs ctr_run_d | stats)
# ctr run -d leaves stopped tasks behind: clean them up, untimed.
for ((i = 0; i < n; i++)); do ctr task rm -f "d$i" >/dev/null 2>&1 || true; ctr container rm "d$i" >/dev/null 2>&1 || true; done

read -r b_med b_p90 b_tot <<<"$berth"
read -r r_med r_p90 r_tot <<<"$ctr_rm"
read -r d_med d_p90 d_tot <<<"$ctr_d"
printf '\n%d sequential runs of `true` in %s (containerd %s, private instance)\n\n' "$n" "$image" \
  "$(ctr version | awk '/Version/ {print $2; exit}')"
printf '%-46s %10s %10s %10s\n' "command" "median ms" "p90 ms" "total ms"
printf '%-46s %10s %10s %10s\n' "berthctl run --rm IMAGE -- true" "$b_med" "$b_p90" "$b_tot"
printf '%-46s %10s %10s %10s\n' "ctr run --rm IMAGE ID true" "$r_med" "$r_p90" "$r_tot"
printf '%-46s %10s %10s %10s\n' "ctr run -d IMAGE ID true (start only)" "$d_med" "$d_p90" "$d_tot"
echo
awk -v b="$b_med" -v r="$r_med" -v d="$d_med" 'BEGIN {
  printf "ratio berth / ctr run --rm (same work: start, wait, delete): %.2f\n", b / r
  printf "ratio berth / ctr run -d   (berth also waits and deletes):  %.2f\n", b / d }'
