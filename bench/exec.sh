#!/usr/bin/env bash
# Time to the first output of an exec session, in one run on one node:
# `berthctl exec TASK -- echo x` beside `ctr task exec` of `echo x` into the
# same container, interleaved, N runs each (a run ends when the output is
# seen and the process has exited). p50 and p99 of each, and their ratio.
# A benchmark, not a test.
#   bench/exec.sh [N]            runs of each (default 50)
# Run as root after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}
n=${1:-50}
ns=berth-bench-exec

dir=$(mktemp -d /tmp/berth-bench-XXXXXX)
source scripts/lib/daemons.sh
trap 'stop_daemons "$dir" "$ns"' EXIT
start_containerd "$dir"
start_berthd "$dir" "$top/$build" "$ns" --log-level warn
ctl() { "$top/$build/berthctl" --socket "$dir/berth.sock" "$@"; }
ctr_() { ctr --address "$dir/containerd.sock" --namespace "$ns" "$@"; }

tests/fixtures/make-test-image.sh "$dir/image" >/dev/null
ctl image import "$dir/image/busybox-oci.tar" >/dev/null
cat >"$dir/task.json" <<JSON
{"family": "exec-bench", "networkMode": "none", "containerDefinitions": [
  {"name": "main", "image": "berth.test/busybox:latest",
   "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"], "stopTimeout": 1}]}
JSON
task=$(ctl run -f "$dir/task.json" --name target)
until ctl -o json describe target | grep -q '"status": "RUNNING"'; do sleep 0.1; done
cid=$(ctl -o json describe target | sed -n 's/.*"containerdId": "\(.*\)".*/\1/p' | head -1)

# Milliseconds from the start of a command to its first line of output
# (and its exit); the command must print "x".
first_output_ms() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
line = p.stdout.readline()
first = time.monotonic()
p.wait()
if line.strip() != b"x" or p.returncode != 0:
    sys.exit("unexpected: %r, exit %d" % (line, p.returncode))
print("%.2f" % ((first - start) * 1000))
PY
}

: >"$dir/berth.ms"
: >"$dir/ctr.ms"
for ((i = 0; i < n; i++)); do
  first_output_ms "$top/$build/berthctl" --socket "$dir/berth.sock" exec target -- echo x \
    >>"$dir/berth.ms"
  first_output_ms ctr --address "$dir/containerd.sock" --namespace "$ns" task exec \
    --exec-id "bench-$i" "$cid" echo x >>"$dir/ctr.ms"
done

pct() { sort -n "$1" | awk -v p="$2" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i]}'; }
b50=$(pct "$dir/berth.ms" 50); b99=$(pct "$dir/berth.ms" 99)
c50=$(pct "$dir/ctr.ms" 50); c99=$(pct "$dir/ctr.ms" 99)
echo "exec, time to first output over $n runs each (ms), task $task:"
printf '  %-32s p50 %7.1f   p99 %7.1f\n' "berthctl exec" "$b50" "$b99"
printf '  %-32s p50 %7.1f   p99 %7.1f\n' "ctr task exec" "$c50" "$c99"
awk -v b="$b50" -v c="$c50" -v b9="$b99" -v c9="$c99" \
  'BEGIN { printf "  berth/ctr                        p50 %7.2f   p99 %7.2f\n", b / c, b9 / c9 }'
ctl stop target >/dev/null
ctl rm target >/dev/null
