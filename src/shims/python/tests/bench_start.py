"""Cold start of the Python shim: time from spawn to the `ready` frame, in milliseconds.

    python src/shims/python/tests/bench_start.py [--runs N] [--against GIT_REV]
                                                 [--against-tree DIR]

Starts workers as ferric does for a trivial handler (its module byte-compiled already, so
the shim's own cost is what differs) with a valid cache ("hit"), an empty cache directory
that the worker fills ("miss") and no cache directory at all ("none"), and prints the
median and quartiles of each: wall-clock time from spawn to the ready frame and to the
answer of one invocation sent then, and the worker's CPU time from spawn to its exit after
that answer (all the work it did, less sensitive to a busy machine than wall-clock time);
and the median resident set after that answer.
`--against` also measures the single-file shim of that git revision
(src/shims/python/ferric_shim.py, started by the PYTHON_BOOT of its src/shims.rs),
interleaving the runs so that both see the same machine load; `--against-tree` the bundled
shim in DIR (a copy of src/shims/python from another revision: its boot.py and worker/).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

APP = "def handler(event, context):\n    return event\n"


class Current(object):
    name = "new"

    def command(self, cache_dir):
        env = dict(harness.shim_env(cache_dir=cache_dir))
        return harness.shim_args("app.handler"), env, (harness.BUNDLE_FD,)


class Old(object):
    """The single-file shim of a git revision."""

    def __init__(self, rev):
        self.name = "old " + rev
        repo = os.path.dirname(os.path.dirname(os.path.dirname(harness.PY_DIR)))

        def show(path):
            return subprocess.run(["git", "-C", repo, "show", "%s:%s" % (rev, path)],
                                  check=True, stdout=subprocess.PIPE).stdout.decode()

        self.source = show("src/shims/python/ferric_shim.py")
        self.boot = re.search(r'pub const PYTHON_BOOT: &str = r#"(.*?)"#;',
                              show("src/shims.rs"), re.S).group(1)
        self.key = "%016x" % harness.fnv1a64(self.source.encode())

    def command(self, cache_dir):
        args = [harness.PYTHON, "-c", self.boot, self.source, cache_dir, self.key, "app.handler"]
        return args, {"FERRIC_SHIM_PREPARE": ""}, ()


INVOKE = b'{"type":"invoke","id":"bench","deadline_ms":0,"len":2}\n{}\n'


class Tree(object):
    """The bundled shim of another directory (boot.py and worker/, as in src/shims/python)."""

    def __init__(self, path):
        self.name = "tree " + os.path.basename(os.path.abspath(path))[:9]
        with open(os.path.join(path, "boot.py"), encoding="utf-8") as f:
            self.boot = f.read()
        bundle = harness.build_bundle(harness.bundle_files(os.path.join(path, "worker")))
        self.key = "%016x" % harness.fnv1a64(bundle)
        self.fd = harness.bundle_fd(bundle)

    def command(self, cache_dir):
        env = dict(harness.shim_env(cache_dir=cache_dir, fd=self.fd, key=self.key))
        return [harness.PYTHON, "-c", self.boot, "app.handler"], env, (self.fd,)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def start_ms(shim, root, cache_dir):
    """(spawn -> ready, spawn -> first answer, the worker's CPU time until its exit) in ms, and
    its resident set after the answer in KiB."""
    args, extra, fds = shim.command(cache_dir)
    env = harness.clean_env(root, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=root, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=fds)
    ready = proc.stdout.readline()
    t_ready = time.perf_counter()
    proc.stdin.write(INVOKE)
    proc.stdin.flush()
    answer = proc.stdout.readline()
    t_answer = time.perf_counter()
    proc.stdout.readline()  # the answer's payload
    rss = rss_kib(proc.pid)
    proc.stdin.close()  # the worker exits
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if b'"ready"' not in ready or b'"result"' not in answer:
        raise SystemExit("%s: %r %r %r" % (shim.name, ready, answer, proc.stderr.read()))
    proc.stdout.close()
    proc.stderr.close()
    return ((t_ready - t0) * 1000, (t_answer - t0) * 1000,
            (usage.ru_utime + usage.ru_stime) * 1000, rss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--against", metavar="GIT_REV")
    parser.add_argument("--against-tree", metavar="DIR")
    options = parser.parse_args()
    shims = [Current()] + ([Old(options.against)] if options.against else []) + (
        [Tree(options.against_tree)] if options.against_tree else [])
    tmp = tempfile.mkdtemp(prefix="ferric-bench-start-")
    try:
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        with open(os.path.join(root, "app.py"), "w") as f:
            f.write(APP)
        subprocess.run([harness.PYTHON, "-m", "compileall", "-q", root], check=True)
        results = {}
        for shim in shims:  # warm the OS caches and fill each shim's cache
            cache = os.path.join(tmp, "hit-" + shim.name.replace(" ", "-"))
            shim.hit_dir = cache
            start_ms(shim, root, cache)
            start_ms(shim, root, cache)
        for i in range(options.runs):
            for shim in shims:
                miss = os.path.join(tmp, "miss-%d" % i)
                for mode, cache in (("hit", shim.hit_dir), ("miss", miss), ("none", "")):
                    results.setdefault((shim.name, mode), []).append(start_ms(shim, root, cache))
                shutil.rmtree(miss, True)
        print("ms, median [q1 q3] of %d runs each, %s" % (options.runs, harness.PYTHON))
        print("ready: spawn -> ready frame; answer: spawn -> answer to an invoke sent at ready; "
              "cpu: the worker's user+sys time, spawn to exit (after that answer); rss: KiB "
              "after the answer")
        print("%-14s %-5s %-22s %-22s %-22s %s" % ("shim", "cache", "ready", "answer", "cpu",
                                                   "rss"))
        for (name, mode), runs in results.items():
            cells = []
            columns = list(zip(*runs))
            for times in columns[:3]:
                q = statistics.quantiles(times, n=4)
                cells.append("%6.2f [%5.2f %5.2f]" % (statistics.median(times), q[0], q[2]))
            cells.append("%d" % statistics.median(columns[3]))
            print("%-14s %-5s %-22s %-22s %-22s %s" % ((name, mode) + tuple(cells)))
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
