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

start_berthd() {
  local dir=$1 build=$2 ns=$3
  shift 3
  start_notified "$dir" berthd "$build/berthd" \
    --containerd-address "$dir/containerd.sock" --namespace "$ns" \
    --root "$dir/berth-root" --state "$dir/berth-state" --socket "$dir/berth.sock" "$@"
}

stop_daemons() {
  local dir=$1 ns=$2
  for ((i = ${#berth_daemon_pids[@]} - 1; i >= 0; i--)); do
    kill "${berth_daemon_pids[i]}" 2>/dev/null || true
    wait "${berth_daemon_pids[i]}" 2>/dev/null || true
  done
  grep -o " $dir[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for c in /sys/fs/cgroup/*/"$ns"; do [[ -d $c ]] && rmdir "$c" 2>/dev/null || true; done
  rm -rf "$dir"
}
