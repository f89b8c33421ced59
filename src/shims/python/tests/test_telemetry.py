"""The telemetry log descriptor (`_LAMBDA_TELEMETRY_LOG_FD`) and Lambda Managed Instances' log
socket (`_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`); test_differential compares the frames
with awslambdaric's."""
import json
import os
import socket
import struct
import tempfile
import threading
import time
import unittest

from harness import TIMEOUT, ShimTestCase

APP = {"app.py": """
    import logging, os, sys

    def handler(event, context):
        logging.getLogger().warning("two\\nlines")
        context.log("via context")
        print("printed")
        sys.stderr.write("to stderr\\n")
        if event.get("fail"):
            raise ValueError("failed")
        fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        return {"env": os.environ.get("_LAMBDA_TELEMETRY_LOG_FD"),
                "logging_first": "logging" in sys.modules, "fds": fds}
"""}


def read_frames(data):
    frames, at = [], 0
    while at < len(data):
        kind, length, micros = struct.unpack(">IIq", data[at:at + 16])
        frames.append((kind, micros, data[at + 16:at + 16 + length].decode()))
        at += 16 + length
    return frames


class TelemetryTest(ShimTestCase):
    def run_app(self, env=None, events=({},)):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        env = dict(env or {}, _LAMBDA_TELEMETRY_LOG_FD=str(w))
        worker = self.start(APP, "app.handler", env=env, pass_fds=(w,))
        os.close(w)
        worker.ready()
        answers = [worker.invoke(event) for event in events]
        self.assertEqual(worker.shutdown(), 0)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        return worker, answers, read_frames(data), w

    def test_records_and_error_dumps_are_one_frame_each(self):
        before = time.time()
        worker, answers, frames, fd = self.run_app(events=({}, {"fail": True}))
        result = json.loads(answers[0][1])
        self.assertIsNone(result["env"])  # removed from the environment
        self.assertIn(fd, result["fds"])  # inherited, as awslambdaric leaves it
        kinds = [kind for kind, _, _ in frames]
        self.assertEqual(kinds, [0xA55A0003] * 4 + [0xA55A0017])
        self.assertRegex(frames[0][2], r"^\[WARNING\]\t[^\t]+\treq-1\ttwo\nlines\n$")
        self.assertEqual(frames[1][2], "via context")
        self.assertTrue(frames[4][2].startswith(
            "[ERROR] ValueError: failed\nTraceback (most recent call last):\n"))
        for _, micros, _ in frames:
            self.assertLess(abs(micros / 1e6 - (before + time.time()) / 2), 60)
        # print() and sys.stderr stay on the log stream (ferric's log pipe).
        self.assertEqual(worker.stderr, "printed\nto stderr\n" * 2)

    def test_frame_types_follow_format_and_level(self):
        _, _, frames, _ = self.run_app(env={"AWS_LAMBDA_LOG_LEVEL": "INFO"})
        self.assertEqual([k for k, _, _ in frames], [0xA55A0013, 0xA55A0003])
        _, _, frames, _ = self.run_app(env={"AWS_LAMBDA_LOG_FORMAT": "JSON"},
                                       events=({"fail": True},))
        self.assertEqual([k for k, _, _ in frames], [0xA55A0012, 0xA55A0003, 0xA55A0016])
        self.assertEqual(json.loads(frames[0][2])["message"], "two\nlines")

    def test_context_log_is_a_frame_even_before_logging_is_imported(self):
        app = {"app.py": """
            import sys
            def handler(event, context):
                context.log("no logging module\\n")
                return "logging" in sys.modules
        """}
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        worker = self.start(app, "app.handler", env={"_LAMBDA_TELEMETRY_LOG_FD": str(w)},
                            pass_fds=(w,))
        os.close(w)
        worker.ready()
        self.assertEqual(worker.result()[1], b"false")
        self.assertEqual(worker.shutdown(), 0)
        (kind, _, message), = read_frames(os.read(r, 65536))
        self.assertEqual((kind, message), (0xA55A0003, "no logging module\n"))

    def test_a_descriptor_that_is_not_open_leaves_logs_on_stdout(self):
        w = self.start(APP, "app.handler", env={"_LAMBDA_TELEMETRY_LOG_FD": "987"})
        w.ready()
        self.assertIsNone(json.loads(w.result()[1])["env"])
        self.assertEqual(w.shutdown(), 0)
        self.assertIn("_LAMBDA_TELEMETRY_LOG_FD='987' is not an open file descriptor",
                      w.stderr)
        self.assertIn("two\nlines\nvia contextprinted\n", w.stderr)


class LogSocket(object):
    """A Unix stream socket server that keeps what each connection sends, in order."""

    def __init__(self, testcase):
        directory = tempfile.mkdtemp(prefix="ferric-lmi-")
        testcase.addCleanup(os.rmdir, directory)
        self.path = os.path.join(directory, "logs.sock")
        testcase.addCleanup(os.unlink, self.path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(16)
        testcase.addCleanup(self.server.close)
        self.connections = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.connections.append(buf)
            threading.Thread(target=self._read, args=(conn, buf), daemon=True).start()

    def _read(self, conn, buf):
        with conn:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                with self.lock:
                    buf.extend(chunk)

    def texts(self, count, until, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                texts = [bytes(b).decode() for b in self.connections]
            if len(texts) >= count and until(texts):
                return texts
            time.sleep(0.01)
        raise AssertionError("the log socket got %r" % texts)


class LmiTest(ShimTestCase):
    def test_stdout_and_stderr_go_to_connections_of_their_own(self):
        logs = LogSocket(self)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2", "AWS_LAMBDA_LOG_FORMAT": "JSON",
               "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET": logs.path,
               "_LAMBDA_TELEMETRY_LOG_FD": str(w)}
        worker = self.start(APP, "app.handler", env=env, pass_fds=(w,))
        os.close(w)
        worker.ready()
        result = json.loads(worker.result()[1])
        self.assertIsNone(result["env"])
        self.assertNotIn(w, result["fds"])  # awslambdaric's workers never have it
        worker.error({"fail": True})
        out, err = logs.texts(2, lambda t: "ValueError" in t[0] and t[1].count("stderr") == 2)
        lines = out.splitlines()
        self.assertEqual(json.loads(lines[0])["message"], "two\nlines")
        self.assertEqual(lines[1], "via contextprinted")
        self.assertEqual(json.loads(lines[-1])["errorType"], "ValueError")
        self.assertEqual(err, "to stderr\n" * 2)
        self.assertEqual(worker.shutdown(), 0)
        self.assertEqual(worker.stderr, "")  # nothing left for ferric's log pipe
        self.assertEqual(os.read(r, 100), b"")  # and nothing on the descriptor

    def test_a_socket_that_cannot_be_reached_ends_the_worker(self):
        env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2",
               "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET": "/nonexistent/logs.sock"}
        w = self.start(APP, "app.handler", env=env)
        self.assertEqual(w.wait(), 1)
        self.assertIn("cannot connect to the log socket", w.stderr)

    def test_without_a_socket_logs_stay_on_the_log_stream(self):
        w = self.start(APP, "app.handler", env={"AWS_LAMBDA_MAX_CONCURRENCY": "2"})
        w.ready()
        w.result()
        self.assertEqual(w.shutdown(), 0)
        self.assertIn("printed\nto stderr\n", w.stderr)


if __name__ == "__main__":
    unittest.main()
