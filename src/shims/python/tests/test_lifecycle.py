"""Shutdown, EOF, atexit, and ferric's protocol violations."""
import json
import os
import signal
import unittest

from harness import (
    MAX_HEADER,
    MAX_HEADER_IN,
    ShimTestCase,
)


class LifecycleTest(ShimTestCase):
    APP = {"app.py": """
        import atexit, os
        atexit.register(lambda: open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "atexit"),
                                     "w").close())
        def handler(event, context):
            return event
    """}

    def atexit_ran(self, w):
        return os.path.exists(os.path.join(w.root, "atexit"))

    def test_shutdown_runs_atexit_and_exits_zero(self):
        w = self.start(self.APP, "app.handler")
        w.ready()
        w.result()
        self.assertEqual(w.shutdown(), 0)
        self.assertTrue(self.atexit_ran(w))

    def test_eof_exits_zero(self):
        w = self.start(self.APP, "app.handler")
        w.ready()
        w.proc.stdin.close()
        self.assertEqual(w.wait(), 0)
        self.assertTrue(self.atexit_ran(w))

    def test_shutdown_runs_the_handlers_sigterm_handler(self):
        # As Lambda's SIGTERM before a shutdown would.
        app = {"app.py": """
            import signal, sys

            def on_sigterm(signum, frame):
                print("SIGTERM handler ran")
                sys.exit(0)

            signal.signal(signal.SIGTERM, on_sigterm)

            def handler(event, context):
                return 1
        """}
        w = self.start(app, "app.handler")
        w.ready()
        w.result()
        self.assertEqual(w.shutdown(), 0)
        self.assertIn("SIGTERM handler ran\n", w.stderr)

    def test_sigusr2_dumps_every_threads_stack(self):
        # ferric sends SIGUSR2 just before killing a worker that ran past its deadline.
        app = {"app.py": """
            import threading, time

            def background():
                time.sleep(600)

            def handler(event, context):
                threading.Thread(target=background, daemon=True).start()
                print("handler running", flush=True)
                time.sleep(600)
        """}
        w = self.start(app, "app.handler")
        w.ready()
        w.send(w.invoke_header(b"{}"), b"{}")
        w.wait_stderr("handler running\n")
        os.kill(w.proc.pid, signal.SIGUSR2)
        log = w.wait_stderr("in background")
        self.assertIn("in handler", log)
        self.assertIn("Current thread", log)
        self.assertIsNone(w.proc.poll())  # the dump does not stop it

    def test_unknown_frames_are_ignored(self):
        w = self.start(self.APP, "app.handler")
        w.ready()
        w.send({"type": "future-thing", "len": 3}, b"a\nb")
        w.send({"type": "other"})
        self.assertEqual(w.result({"x": 1})[1], b'{"x": 1}')

    def test_header_of_exactly_64_kib_is_accepted(self):
        w = self.start(self.APP, "app.handler")
        w.ready()
        header = w.invoke_header(b"1", padding="")
        size = len(json.dumps(header).encode())
        header["padding"] = "p" * (MAX_HEADER - size)
        self.assertEqual(len(json.dumps(header).encode()), MAX_HEADER)
        w.send(header, b"1")
        self.assertEqual(w.frame()[1], b"1")

    def test_header_of_exactly_1_mib_is_accepted(self):
        # Header lines from ferric carry the client context and Cognito identity: up to 1 MiB.
        w = self.start(self.APP, "app.handler")
        w.ready()
        for _ in range(2):
            header = w.invoke_header(b"1", padding="")
            size = len(json.dumps(header).encode())
            header["padding"] = "p" * (MAX_HEADER_IN - size)
            self.assertEqual(len(json.dumps(header).encode()), MAX_HEADER_IN)
            w.send(header, b"1")
            self.assertEqual(w.frame()[1], b"1")

    def protocol_error(self, data, message):
        w = self.start(self.APP, "app.handler")
        w.ready()
        w.send_raw(data)
        w.proc.stdin.close()
        self.assertEqual(w.wait(), 2)
        self.assertIn(message, w.stderr)
        self.assertFalse(self.atexit_ran(w))

    def test_header_longer_than_1_mib(self):
        self.protocol_error(b'{"type": "x", "pad": "' + b"p" * MAX_HEADER_IN + b'"}\n',
                            "longer than 1048576")

    def test_payload_without_trailing_newline(self):
        self.protocol_error(b'{"type": "invoke", "id": "a", "deadline_ms": 0, "len": 2}\n{}X',
                            "not followed by a newline")

    def test_truncated_payload(self):
        self.protocol_error(b'{"type": "invoke", "id": "a", "deadline_ms": 0, "len": 20}\n{}',
                            "middle of a 20-byte payload")

    def test_invalid_headers(self):
        self.protocol_error(b"not json\n", "invalid frame header")
        self.protocol_error(b"[1, 2]\n", "not a JSON object")
        self.protocol_error(b'{"type": "invoke", "deadline_ms": 0, "len": 0}\n\n', "string id")
        self.protocol_error(b'{"type": "invoke", "id": "a", "len": 0}\n\n', "deadline_ms")
        self.protocol_error(b'{"type": "invoke", "id": "a", "deadline_ms": 0, "trace_id": 5}\n',
                            "trace_id")
        self.protocol_error(b'{"type": "x", "len": -1}\n', "invalid len")
        self.protocol_error(b'{"type": "invoke"', "middle of a frame header")


if __name__ == "__main__":
    unittest.main()
