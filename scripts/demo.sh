#!/usr/bin/env bash
# berth's main job on its embedded default, from nothing: sets the machine up
# (scripts/setup.sh), starts a local containerd and berthd in a scratch
# directory, imports a sample busybox image (no registry or network needed),
# runs a sample container in the foreground with its output and exit status,
# then runs a two-container ECS task definition (examples/web-with-sidecar.json:
# busybox httpd plus a sidecar that waits for it to be HEALTHY) and shows
# `berthctl ps`, `describe` and `logs`. Everything it started is stopped at
# the end.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BERTH_BUILD_DIR:-build}

scripts/setup.sh
demo=$(mktemp -d /tmp/berth-demo-XXXXXX)
source scripts/lib/daemons.sh
trap 'stop_daemons "$demo" berth-demo' EXIT

echo "== starting containerd ($demo/containerd.sock)"
start_containerd "$demo"
echo "== starting berthd ($demo/berth.sock)"
start_berthd "$demo" "$top/$build" berth-demo
export BERTH_SOCKET=$demo/berth.sock
berthctl() { "$top/$build/berthctl" "$@"; }

echo "== berthctl version"
berthctl version
echo "== berthctl node info (cgroup layout; CPU and memory left for tasks)"
berthctl node info
echo "== building a sample busybox image and importing it (berthctl image import)"
tests/fixtures/make-test-image.sh "$demo/image" >/dev/null
berthctl image import "$demo/image/busybox-oci.tar"
berthctl image ls

echo "== berthctl run --name sample berth.test/busybox:latest -- sh -c '...'"
echo "   (a one-container task in the foreground: its output streamed, its exit status ours)"
set +e
berthctl run --name sample berth.test/busybox:latest -- sh -c \
  'echo "hello from $(hostname), running as $(id -un) in $(pwd)"; cat /etc/berth-test-image;
   echo "this line goes to stderr" >&2; exit 7'
status=$?
set -e
echo "== the container exited with status $status"
echo "== berthctl ps -a: it stays, STOPPED, until removed (berthctl run --rm removes it at once)"
berthctl ps -a
echo "== its log file, both streams tagged ($demo/berth-root/logs/):"
cat "$demo"/berth-root/logs/*-sample.log
echo "== berthctl rm sample"
berthctl rm sample
[[ $status -eq 7 ]]

echo
echo "== berthctl run -f examples/web-with-sidecar.json (an ECS task definition)"
cat examples/web-with-sidecar.json
task=$(berthctl run -f examples/web-with-sidecar.json)
echo "task id: $task"
echo "== waiting for the sidecar, which starts once web is HEALTHY"
for _ in $(seq 1 60); do
  state=$(berthctl -o json describe "$task")
  grep -q '"status": "RUNNING"' <<<"$(grep -A4 '"name": "sidecar"' <<<"$state")" && break
  sleep 1
done
echo "== berthctl ps"
berthctl ps
echo "== berthctl node info (the task's share is taken)"
berthctl node info
echo "== berthctl describe $task"
berthctl describe "$task"
echo "== berthctl logs $task"
berthctl logs "$task"
echo "== berthctl stats --no-stream (what its containers use, as docker stats shows it)"
berthctl stats --no-stream
metrics=$(berthctl -o json node info | sed -n 's/.*"metricsAddress": "\(.*\)".*/\1/p')
echo "== curl http://$metrics/metrics (Prometheus, cAdvisor's names), the web container's lines:"
curl -s "http://$metrics/metrics" | grep -E '^container_(cpu_usage_seconds_total|memory_working_set_bytes|network_receive_bytes_total)\{container="web"'
echo "== the task metadata endpoint v4, read from inside the web container:"
echo "   (169.254.170.2 on the task namespace's loopback; nothing added on the host)"
web=$(berthctl -o json describe "$task" | python3 -c \
  'import json, sys; print(next(c["containerdId"] for c in json.load(sys.stdin)["containers"] if c["name"] == "web"))')
ctr --address "$demo/containerd.sock" -n berth-demo tasks exec --exec-id metadata "$web" \
  sh -c 'echo "ECS_CONTAINER_METADATA_URI_V4=$ECS_CONTAINER_METADATA_URI_V4"; wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"'
echo
echo "== berthctl stop $task (its stop signal to each main process, SIGKILL after stopTimeout)"
berthctl stop "$task"
echo "== berthctl ps -a"
berthctl ps -a
berthctl describe "$task" | grep -E 'Status|ExitCode|StopCode|Reason'
echo "== berthd's log:"
cat "$demo/berthd.log"
