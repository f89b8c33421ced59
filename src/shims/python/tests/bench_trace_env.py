"""Memory of a worker that gets a new trace id with every invocation.

    python src/shims/python/tests/bench_trace_env.py [--invocations N] [--against GIT_REV]

Sends N invocations (default 100,000) with unique `trace_id`s to a worker whose handler does
nothing, after 5,000 to warm it up, and prints the growth of its resident set. `--against`
also measures the single-file shim of that git revision (see bench_start.py).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_start  # noqa: E402
import harness  # noqa: E402

TRACE = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1;n=%d"
WARM = 5000


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def measure(shim, root, invocations):
    args, extra, fds = shim.command("")
    proc = subprocess.Popen(args, cwd=root, env=harness.clean_env(root, **extra),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=fds)
    proc.stdout.readline()  # ready

    def send(first, last):
        for i in range(first, last):
            header = json.dumps({"type": "invoke", "id": "r%d" % i, "deadline_ms": 0,
                                 "trace_id": TRACE % i, "len": 2})
            proc.stdin.write(header.encode() + b"\n{}\n")
        proc.stdin.flush()

    def run(first, last):
        t = threading.Thread(target=send, args=(first, last), daemon=True)
        t.start()
        for _ in range(first, last):
            if b'"result"' not in proc.stdout.readline():
                raise SystemExit("%s: not a result" % shim.name)
            proc.stdout.readline()  # the payload
        t.join()

    run(0, WARM)
    time.sleep(0.2)
    before = rss_kib(proc.pid)
    started = time.time()
    run(WARM, WARM + invocations)
    elapsed = time.time() - started
    after = rss_kib(proc.pid)
    proc.stdin.close()
    proc.wait()
    return before, after, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invocations", type=int, default=100000)
    parser.add_argument("--against", metavar="GIT_REV")
    options = parser.parse_args()
    shims = [bench_start.Current()] + (
        [bench_start.Old(options.against)] if options.against else [])
    root = tempfile.mkdtemp(prefix="ferric-bench-trace-")
    try:
        with open(os.path.join(root, "app.py"), "w") as f:
            f.write("def handler(event, context):\n    return 1\n")
        print("RSS over %d invocations with unique trace ids (after %d to warm up), %s"
              % (options.invocations, WARM, harness.PYTHON))
        for shim in shims:
            before, after, elapsed = measure(shim, root, options.invocations)
            print("%-14s %7d KiB -> %7d KiB: %+7d KiB (%.0f bytes per invocation; %.1f s)" % (
                shim.name, before, after, after - before,
                (after - before) * 1024.0 / options.invocations, elapsed))
    finally:
        shutil.rmtree(root, True)


if __name__ == "__main__":
    main()
