# Shared by scripts/demo.sh and bench/: a private containerd and berthd in a
# scratch directory, each waited for through its sd_notify "READY=1".
# Source it; it defines start_containerd DIR, start_berthd DIR BUILD NS [FLAGS...]
# and stop_daemons DIR NS (stops what was started, removes DIR).

berth_daemon_pids=()

# Starts "$@" with a NOTIFY_SOCKET and returns once it says READY=1; exits
# with its log if it dies or stays silent for 60 s.
start_notified() {
  local dir=$1 name=$2
  shift 2
  local sock=$dir/$name.notify log=$dir/$name.log
  python3 - "$sock" > "$dir/$name.ready" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(60)
try:
    print("ready" if b"READY=1" in s.recv(4096) else "")
except socket.timeout:
    print("")
PY
  local waiter=$!
  while [[ ! -S $sock ]]; do sleep 0.01; done
  NOTIFY_SOCKET=$sock "$@" > "$log" 2>&1 &
  berth_daemon_pids+=($!)
  wait "$waiter" || true
  if [[ $(cat "$dir/$name.ready") != ready ]]; then
    echo "$name did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
}

start_containerd() {
  local dir=$1
  cat > "$dir/containerd.toml" <<TOML
version = 2
root = "$dir/containerd-root"
state = "$dir/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
TOML
  start_notified "$dir" containerd containerd --config "$dir/containerd.toml"
}

# BERTHD_NAME (default berthd) names its root, state, socket and log, for
# several berthds side by side ("berthd" keeps berth-root, berth.sock, ...).
start_berthd() {
  local dir=$1 build=$2 ns=$3
  shift 3
  local name=${BERTHD_NAME:-berthd}
  local base=${name/berthd/berth}
  # Loopback ports of its own for /metrics and introspection (berthctl node
  # info says which), unless given: several berthds may run side by side.
  local ports=()
  [[ " $* " == *" --metrics-address "* ]] || ports+=(--metrics-address 127.0.0.1:0)
  [[ " $* " == *" --introspection-address "* ]] || ports+=(--introspection-address 127.0.0.1:0)
  start_notified "$dir" "$name" "$build/berthd" \
    --containerd-address "$dir/containerd.sock" --namespace "$ns" \
    --root "$dir/$base-root" --state "$dir/$base-state" --socket "$dir/$base.sock" \
    "${ports[@]}" "$@"
}

# What a run cut short leaves (a failed step under set -e): its containers'
# shims and processes, and their cgroups: task cgroups under /<ns>, those of
# berthctl run under /<ns>-run, ctr's under /<ns>. Removed deepest first.
remove_cgroups() {
  local dir=$1 ns=$2 parent tries
  pkill -KILL -f -- "containerd-shim-runc-v2 .*-address $dir/containerd.sock" 2>/dev/null || true
  local parents=(/sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/*/"$ns-run" /sys/fs/cgroup/*/"$ns-base"
    /sys/fs/cgroup/*/"$ns-base-run")
  for parent in "${parents[@]}"; do
    [[ -d $parent ]] || continue
    find "$parent" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  # A killed process leaves its cgroup once reaped: retry for a while.
  for ((tries = 0; tries < 50; tries++)); do
    local left=0
    for parent in "${parents[@]}"; do
      [[ -d $parent ]] || continue
      find "$parent" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $parent ]] && left=1
    done
    ((left)) || return 0
    sleep 0.1
  done
  echo "cgroups of namespace $ns still in use; left in place" >&2
}

stop_daemons() {
  local dir=$1 ns=$2
  for ((i = ${#berth_daemon_pids[@]} - 1; i >= 0; i--)); do
    kill "${berth_daemon_pids[i]}" 2>/dev/null || true
    wait "${berth_daemon_pids[i]}" 2>/dev/null || true
  done
  grep -o " $dir[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  remove_cgroups "$dir" "$ns"
  rm -rf "$dir"
}
