#!/usr/bin/env python3
"""berth side by side with ctr, podman and docker, interleaved, in one run.

Started by bench/run-bench.sh, which installs and starts everything (a
private containerd, berthd, dockerd against that containerd, podman with a
private storage root) and loads the same image into each. This script runs
the cases and prints one table: berth's p50 and p99 and its ratio to each
peer, where the time of one berth task is from just before `berthctl run -f`
to the engine's RUNNING event for it, and the time of a peer is its command's
(each returns once its container runs). It asserts nothing: a benchmark, not
a test.
"""
import argparse
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

# A process that ends at SIGTERM, as a well-behaved service does, so that a
# stop measures the stop and not a stop timeout.
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]


def now_ms():
    return time.time() * 1000.0


def pct(samples, p):
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, int(len(ordered) * p + 0.999) - 1))
    return ordered[index]


def run(argv, check=True, **kwargs):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def timed(argv):
    start = now_ms()
    out = run(argv).stdout.strip()
    return now_ms() - start, out


def pss_kib(pid):
    """Proportional set size: shared pages count once over their sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def processes(name_prefix, needle):
    """Pids whose comm starts with name_prefix and whose command line has needle."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if comm.startswith(name_prefix) and needle in cmdline:
            found.append(int(entry))
    return found


class Events:
    """`berthctl events`: when each task first reported RUNNING and STOPPED."""

    def __init__(self, berthctl):
        self.cv = threading.Condition()
        self.running = {}
        self.stopped = {}
        self.proc = subprocess.Popen(berthctl + ["-o", "json", "events"], stdout=subprocess.PIPE,
                                     text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("container"):
                continue
            table = {"RUNNING": self.running, "STOPPED": self.stopped}.get(event.get("status"))
            if table is None:
                continue
            with self.cv:
                table.setdefault(event["taskId"], float(event["at"]))
                self.cv.notify_all()

    def wait(self, table, ids, timeout=120):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not all(i in table for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [i for i in ids if i not in table]
                    raise RuntimeError(f"tasks never reported: {missing[:5]}")
                self.cv.wait(left)
            return [table[i] for i in ids]

    def close(self):
        self.proc.terminate()
        self.proc.wait()


class Berth:
    name = "berth"

    def __init__(self, args):
        self.ctl = [args.berthctl, "--socket", args.socket]
        self.image = args.image
        self.dir = args.dir
        self.events = Events(self.ctl)
        time.sleep(0.5)  # the stream subscribes before the first task
        info = json.loads(run(self.ctl + ["-o", "json", "node", "info"]).stdout)
        self.metrics_url = "http://" + info["metricsAddress"] + "/metrics"
        self.files = {}

    def definition(self, case):
        if case in self.files:
            return self.files[case]
        container = {"name": "main", "image": self.image, "command": COMMAND, "stopTimeout": 5}
        task = {"family": "bench-" + case, "containerDefinitions": [container]}
        if case == "none":
            task["networkMode"] = "none"
        elif case == "awsvpc":
            task.update({"networkMode": "awsvpc", "cpu": "256", "memory": "128"})
        elif case == "bridge-port":
            task["networkMode"] = "bridge"
            container["portMappings"] = [{"containerPort": 80, "hostPort": 0}]
        elif case == "fleet":
            task["networkMode"] = "awsvpc"
            container.update({"cpu": 16, "memory": 32})
        path = os.path.join(self.dir, f"task-{case}.json")
        with open(path, "w") as f:
            json.dump(task, f)
        self.files[case] = path
        return path

    def start(self, case, name):
        start = now_ms()
        task_id = run(self.ctl + ["run", "-f", self.definition(case), "--name", name]).stdout.strip()
        (running_at,) = self.events.wait(self.events.running, [task_id])
        return running_at - start, task_id

    def start_many(self, case, names, clients):
        start = now_ms()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            ids = list(pool.map(
                lambda n: run(self.ctl + ["run", "-f", self.definition(case), "--name", n])
                .stdout.strip(), names))
        self.events.wait(self.events.running, ids, timeout=600)
        return now_ms() - start, ids

    def remove(self, task_id):
        start = now_ms()
        run(self.ctl + ["stop", task_id])
        run(self.ctl + ["rm", task_id])
        return now_ms() - start

    def remove_many(self, ids, clients):
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda i: run(self.ctl + ["stop", "--no-wait", i]), ids))
        self.events.wait(self.events.stopped, ids, timeout=600)
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda i: run(self.ctl + ["rm", i], check=False), ids))

    def metrics(self):
        """berth_task_start_step_duration_seconds: step -> (sum, count)."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        steps = {}
        for line in text.splitlines():
            for part, slot in (("_sum{", 0), ("_count{", 1)):
                prefix = "berth_task_start_step_duration_seconds" + part
                if line.startswith(prefix):
                    step = line[len(prefix):].split('"')[1]
                    value = float(line.rsplit(" ", 1)[1])
                    steps.setdefault(step, [0.0, 0.0])[slot] = value
        return steps


class Peer:
    """A command line tool that starts a container and returns once it runs."""

    def __init__(self, name, base, image):
        self.name = name
        self.base = base
        self.image = image

    def run_args(self, case):
        if self.name == "ctr":
            limits = []
            if case in ("awsvpc", "fleet"):
                # ctr has no networking: it is the floor, with the limits.
                cpu = 0.25 if case == "awsvpc" else 0.016
                memory = (128 if case == "awsvpc" else 32) << 20
                limits = ["--cpus", str(cpu), "--memory-limit", str(memory)]
            return limits
        args = ["--network", "none"] if case == "none" else ["--network", "bridge"]
        if case == "awsvpc":
            args += ["--cpus", "0.25", "--memory", "128m"]
        elif case == "fleet":
            args += ["--cpus", "0.016", "--memory", "32m"]
        elif case == "bridge-port":
            args += ["-p", "80"]
        return args

    def start(self, case, name):
        if self.name == "ctr":
            argv = self.base + ["run", "-d"] + self.run_args(case) + [self.image, name] + COMMAND
        else:
            argv = self.base + ["run", "-d", "--name", name] + self.run_args(case) + [self.image] + \
                COMMAND
        took, _ = timed(argv)
        return took, name

    def start_many(self, case, names, clients):
        start = now_ms()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda n: self.start(case, n), names))
        return now_ms() - start, names

    def remove(self, name):
        start = now_ms()
        if self.name == "ctr":
            # ctr has no stop: the stop signal, the exit awaited, then removal.
            run(self.base + ["task", "kill", "-s", "TERM", name])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = run(self.base + ["task", "ls"]).stdout
                if not any(line.split()[:1] == [name] and "RUNNING" in line
                           for line in status.splitlines()):
                    break
                time.sleep(0.005)
            run(self.base + ["task", "rm", "-f", name], check=False)
            run(self.base + ["container", "rm", name])
        else:
            run(self.base + ["stop", "-t", "5", name])
            run(self.base + ["rm", name])
        return now_ms() - start

    def remove_many(self, names, clients):
        def force(name):
            if self.name == "ctr":
                run(self.base + ["task", "rm", "-f", name], check=False)
                run(self.base + ["container", "rm", name], check=False)
            else:
                run(self.base + ["rm", "-f", "-t", "0", name], check=False)
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(force, names))


def breakdown(before, after):
    rows = []
    for step, (total, count) in sorted(after.items()):
        base_total, base_count = before.get(step, (0.0, 0.0))
        n = count - base_count
        if n > 0:
            rows.append((step, (total - base_total) / n * 1000, int(n)))
    return rows


def restart_berthd(args, berth, ids):
    """Stops berthd (SIGTERM: tasks keep running) and starts it again; the
    time until it says READY=1, which it does only once it adopted its tasks."""
    pid = int(open(os.path.join(args.dir, "berthd.pid")).read())
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
    os.kill(pid, signal.SIGTERM)
    while os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read():
        time.sleep(0.005)
    notify = os.path.join(args.dir, "bench-restart.notify")
    if os.path.exists(notify):
        os.unlink(notify)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify)
    sock.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=notify)
    log = open(os.path.join(args.dir, "berthd-restarted.log"), "w")
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    while b"READY=1" not in sock.recv(4096):
        pass
    ready_ms = (time.monotonic() - start) * 1000
    sock.close()
    with open(os.path.join(args.dir, "berthd.pid"), "w") as f:
        f.write(str(proc.pid))
    # The events stream ended with the berthd it came from.
    berth.events.close()
    berth.events = Events(berth.ctl)
    time.sleep(0.5)
    tasks = json.loads(run(berth.ctl + ["-o", "json", "ps"]).stdout)
    tasks = tasks.get("tasks", tasks) if isinstance(tasks, dict) else tasks
    running = sum(1 for t in tasks if t.get("id") in set(ids) and t.get("status") == "RUNNING")
    return ready_ms, running, proc.pid


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--berthctl", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--fleet", type=int, default=100)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--peer", action="append", default=[],
                        help="NAME=ARGV (space separated): a peer's command line base")
    args = parser.parse_args()

    berth = Berth(args)
    peers = []
    for spec in args.peer:
        name, base = spec.split("=", 1)
        peers.append(Peer(name, base.split(), args.image))
    tools = [berth] + peers
    berthd_pid = int(open(os.path.join(args.dir, "berthd.pid")).read())
    results = {}  # (case, tool) -> [ms]
    steps = {}
    idle_rss = rss_kib(berthd_pid)

    def record(case, tool, ms):
        results.setdefault((case, tool.name), []).append(ms)

    # Warm-up: one of each, untimed, so that no tool pays for a cold cache.
    for tool in tools:
        for case in ("none", "awsvpc"):
            _, handle = tool.start(case, f"warm-{case}-{tool.name}")
            tool.remove(handle)

    cases = ["none", "awsvpc", "bridge-port"]
    for case in cases:
        before = berth.metrics()
        for i in range(args.runs):
            for tool in tools:
                if case == "bridge-port" and tool.name == "ctr":
                    continue  # ctr publishes no ports
                ms, handle = tool.start(case, f"{case}-{tool.name}-{i}")
                record(case, tool, ms)
                removed = tool.remove(handle)
                if case == "none":
                    record("stop-rm", tool, removed)
        steps[case] = breakdown(before, berth.metrics())

    # 100 tasks from 10 clients, each tool in turn; berthd's memory and its
    # restart with them running come before they are removed.
    names = lambda tool: [f"fleet-{tool.name}-{i}" for i in range(args.fleet)]
    fleet_rss = restart = per_task = None
    for tool in tools:
        if tool is berth:
            before = berth.metrics()
        took, handles = tool.start_many("fleet", names(tool), args.clients)
        record("fleet", tool, took)
        if tool is berth:
            steps["fleet"] = breakdown(before, berth.metrics())
            time.sleep(2)  # let the starts' transient allocations settle
            fleet_rss = rss_kib(berthd_pid)
            per_task = per_task_overhead(args, berthd_pid, idle_rss)
            ready_ms, running, berthd_pid = restart_berthd(args, berth, handles)
            restart = (ready_ms, running, rss_kib(berthd_pid))
        else:
            helper = "conmon" if tool.name == "podman" else "containerd-shim"
            results.setdefault(("shim", tool.name), []).append(
                (helper, helper_per_container(args, helper)))
        tool.remove_many(handles, args.clients)

    report(args, tools, results, steps, idle_rss, fleet_rss, restart, per_task)


def per_task_overhead(args, berthd_pid, idle_rss):
    """KiB per task: berthd's growth plus the helpers berth runs per container
    (berth-logger), beside what a containerd shim costs per container."""
    loggers = processes("berth-logger", args.dir)
    shims = processes("containerd-shim", args.dir)
    logger_pss = sum(pss_kib(p) for p in loggers)
    shim_pss = sum(pss_kib(p) for p in shims)
    growth = rss_kib(berthd_pid) - idle_rss
    n = max(1, len(shims))
    return {"tasks": len(shims), "berthd": growth / args.fleet, "logger": logger_pss / max(1, n),
            "loggers": len(loggers), "shim": shim_pss / n}


def helper_per_container(args, name):
    """PSS of one per-container helper process (a shim, podman's conmon)."""
    helpers = processes(name, args.dir)
    return sum(pss_kib(p) for p in helpers) / max(1, len(helpers))


def report(args, tools, results, steps, idle_rss, fleet_rss, restart, per_task):
    peers = [t.name for t in tools if t.name != "berth"]
    print(f"\nberth against its peers, one run, interleaved: {args.runs} starts per case and tool,"
          f" image present")
    header = f"{'case':<34} {'berth p50':>9} {'p99':>7}"
    for p in peers:
        header += f" {p + ' p50':>11} {'ratio':>6}"
    print(header)
    labels = {
        "none": "start, network none, no limits",
        "awsvpc": "start, awsvpc/bridge + cpu 256 mem 128",
        "bridge-port": "start, bridge + published port",
        "stop-rm": "stop and remove",
        "fleet": f"{args.fleet} tasks, {args.clients} clients (total)",
    }
    for case, label in labels.items():
        samples = results.get((case, "berth"), [])
        b50, b99 = pct(samples, 0.5), pct(samples, 0.99)
        line = f"{label:<34} {b50:9.0f} {b99:7.0f}"
        for p in peers:
            theirs = results.get((case, p))
            if not theirs:
                line += f" {'-':>11} {'-':>6}"
                continue
            t50 = pct(theirs, 0.5)
            line += f" {t50:11.0f} {b50 / t50:6.2f}"
        print(line)
    print("(ms; ratio = berth p50 / peer p50. ctr does no networking: in the awsvpc row it has only"
          " the limits; it publishes no ports)")
    if restart:
        ready_ms, running, rss = restart
        print(f"\nberthd restart with {args.fleet} running tasks: ready (READY=1, tasks adopted) in"
              f" {ready_ms:.0f} ms; {running} of {args.fleet} still RUNNING; RSS after {rss} KiB")
    print(f"berthd RSS: idle {idle_rss} KiB ({idle_rss / 1024:.1f} MiB), with {args.fleet} tasks"
          f" {fleet_rss} KiB ({(fleet_rss or 0) / 1024:.1f} MiB)")
    if per_task:
        total = per_task["berthd"] + per_task["logger"]
        print(f"per task (PSS, KiB): berthd's growth {per_task['berthd']:.0f}, berth-logger"
              f" {per_task['logger']:.0f} ({per_task['loggers']} for {per_task['tasks']} containers)"
              f" = {total:.0f}; containerd-shim {per_task['shim']:.0f} per container")
    for peer in peers:
        shim = results.get(("shim", peer))
        if shim:
            helper, kib = shim[0]
            print(f"  {peer}: its per-container helper ({helper}) {kib:.0f} KiB each")
    for case, rows in steps.items():
        print(f"\nwhere berth's time went ({case}): mean ms per step")
        for step, mean, count in rows:
            print(f"  {step:<28} {mean:8.2f}  (x{count})")


if __name__ == "__main__":
    main()
