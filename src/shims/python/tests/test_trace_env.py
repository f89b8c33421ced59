"""_X_AMZN_TRACE_ID: right for os.environ, os.getenv, C getenv() and child processes, removed
when an invocation has none, and set without leaking memory (worker/traceenv.py)."""
import json
import threading
import time
import unittest

from harness import (
    ShimTestCase,
    TIMEOUT,
)

APP = {"app.py": """
    import ctypes, os, subprocess, sys

    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    libc.getenv.argtypes = (ctypes.c_char_p,)
    NAME = "_X_AMZN_TRACE_ID"

    def handler(event, context):
        if event.get("user_sets"):
            os.environ[NAME] = event["user_sets"]
        if event.get("user_removes"):
            os.environ.pop(NAME, None)
        c = libc.getenv(NAME.encode())
        seen = {
            "environ": os.environ.get(NAME),
            "environb": os.environb.get(NAME.encode(), b"").decode() or None,
            "getenv": os.getenv(NAME),
            "c": None if c is None else c.decode(),
            "buffers": "_ferric.putenv" in sys.modules,
        }
        if event.get("child"):
            child = subprocess.run(["printenv", NAME], stdout=subprocess.PIPE)
            seen["child"] = child.stdout.decode().rstrip("\\n") if child.returncode == 0 else None
        return seen

    def nothing(event, context):
        return 1
"""}

TRACE = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1;n=%d"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class TraceEnvTest(ShimTestCase):
    def test_every_view_sees_the_invocations_trace_id(self):
        w = self.start(APP, "app.handler")
        w.ready()
        long_value = "Root=1-long;" + "l" * 1000  # beyond the first buffers: they grow
        huge_value = "Root=1-huge;" + "h" * 20000  # beyond their limit: setenv()
        steps = []
        for i in range(80):
            value = TRACE % i
            event = {"child": i % 10 == 0}
            if i % 7 == 3:
                value = None
            elif i in (40, 41):
                value = long_value + str(i)
            elif i in (50, 51):
                value = huge_value + str(i)
            elif i == 60:
                event["user_sets"] = "set by the handler"
            elif i == 62:
                event["user_removes"] = True
            steps.append((value, event))
        for i, (value, event) in enumerate(steps):
            with self.subTest(i=i, value=value and value[:40]):
                seen = json.loads(w.result(json.dumps(event).encode(), trace_id=value)[1])
                if event.get("user_sets"):
                    value = event["user_sets"]
                elif event.get("user_removes"):
                    value = None
                for view in ("environ", "environb", "getenv", "c") + (
                        ("child",) if event["child"] else ()):
                    self.assertEqual(seen[view], value, view)
                # Buffers of our own from the 32nd distinct value on (see traceenv.py).
                distinct = len({v for v, _ in steps[:i] if v is not None})
                self.assertEqual(seen["buffers"], distinct >= 32, distinct)
        self.assertEqual(w.shutdown(), 0)

    def test_memory_stays_flat_over_50000_unique_trace_ids(self):
        # glibc's setenv() keeps every string it made: ~140-190 bytes per new trace id, about
        # 7-9.5 MB per 50,000 invocations, before traceenv.py moved the variable to buffers
        # of its own.
        w = self.start(APP, "app.nothing")
        w.ready()
        warm, count = 5000, 50000
        frames = []
        for i in range(warm + count):
            header = w.invoke_header(b"{}", trace_id=TRACE % i)
            frames.append(json.dumps(header).encode() + b"\n{}\n")

        def send(chunk):
            for data in chunk:
                w.proc.stdin.write(data)
            w.proc.stdin.flush()

        def answers(n):
            for _ in range(n):
                header, payload = w.frame()
                self.assertEqual((header["type"], payload), ("result", b"1"))

        t = threading.Thread(target=send, args=(frames[:warm],), daemon=True)
        t.start()
        answers(warm)
        t.join(TIMEOUT)
        time.sleep(0.2)
        before = rss_kib(w.proc.pid)
        started = time.time()
        t = threading.Thread(target=send, args=(frames[warm:],), daemon=True)
        t.start()
        answers(count)
        t.join(TIMEOUT)
        after = rss_kib(w.proc.pid)
        self.assertEqual(w.shutdown(), 0)
        self.assertLess(after - before, 1024, "RSS grew by %d KiB over %d invocations (%.1fs)"
                        % (after - before, count, time.time() - started))


if __name__ == "__main__":
    unittest.main()
