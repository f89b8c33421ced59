"""What user code writes: logs on stderr, never on the frame channel; logging."""
import json
import unittest

from harness import (
    ERROR_APP,
    ShimTestCase,
)


class OutputTest(ShimTestCase):
    APP = {"app.py": """
        import ctypes, os, subprocess, sys
        print("import-time print")

        def handler(event, context):
            print("one")
            os.write(1, b"two\\n")
            ctypes.CDLL(None).write(1, b"three\\n", 6)
            os.system("echo four")
            sys.stdout.write("five\\n")
            subprocess.run(["echo", "six"])
            context.log("seven\\n")
            sys.stderr.write("eight\\n")
            return {"ok": True}
    """}

    def test_user_output_never_reaches_the_frame_channel(self):
        w = self.start(self.APP, "app.handler")
        w.ready()
        for _ in range(2):
            self.assertEqual(w.result()[1], b'{"ok": true}')
        w.shutdown()
        expected = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n"
        self.assertEqual(w.stderr, "import-time print\n" + expected * 2)

    def test_logs_are_flushed_before_the_answer(self):
        app = {"app.py": """
            import sys
            def handler(event, context):
                sys.__stdout__.write("buffered text\\n")  # the raw, block-buffered stream
                return 1
        """}
        w = self.start(app, "app.handler")
        w.ready()
        w.result()
        w.wait_stderr("buffered text\n", timeout=5)

    def test_stdin_and_protocol_fd_are_not_visible_to_user_code(self):
        app = {"app.py": """
            import os, stat, subprocess, sys
            def handler(event, context):
                if not stat.S_ISCHR(os.fstat(0).st_mode):
                    return "stdin is not /dev/null"
                child = subprocess.run(["cat"], stdout=subprocess.PIPE, timeout=10)
                return [sys.stdin.read(), child.stdout.decode(),
                        "FERRIC_PROTOCOL_FD" in os.environ, sorted(os.listdir("/proc/self/fd"))]
        """}
        w = self.start(app, "app.handler")
        w.ready()
        stdin, child, fd_env, fds = json.loads(w.result()[1])
        self.assertEqual((stdin, child, fd_env), ("", "", False))
        header, payload = w.result()  # the worker still reads its frames
        self.assertEqual(w.shutdown(), 0)

    def test_logging_text_format_and_levels(self):
        app = {"app.py": """
            import logging
            logger = logging.getLogger()
            logger.setLevel(logging.INFO)
            logger.info("at import")
            def handler(event, context):
                logger.debug("hidden")
                logger.info("hello %s", "world")
                return [type(h).__name__ for h in logger.handlers]
        """}
        w = self.start(app, "app.handler")
        w.ready()
        header, payload = w.result()
        self.assertEqual(json.loads(payload), ["LambdaLoggerHandler"])
        log = w.wait_stderr("hello world")
        self.assertRegex(log, r"^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t\tat import\n"
                              r"\[INFO\]\t[^\t]+Z\treq-1\thello world\n$")

    def test_logging_json_format_and_level_from_env(self):
        app = {"app.py": """
            import logging
            def handler(event, context):
                logging.info("dropped")
                logging.warning("careful \u00e9", extra={"k": "v"})
                logging.error({"a": 1})
                return [type(h).__name__ for h in logging.getLogger().handlers]
        """}
        w = self.start(app, "app.handler", env={"AWS_LAMBDA_LOG_FORMAT": "JSON",
                                                "AWS_LAMBDA_LOG_LEVEL": "WARN"})
        w.ready()
        header, payload = w.result(tenant_id="t1")
        self.assertEqual(json.loads(payload), ["LambdaLoggerHandlerWithFrameType"])
        log = w.wait_stderr('"a"')
        self.assertIn('"message": "careful \u00e9"', log)  # ensure_ascii=False
        lines = [json.loads(line) for line in log.splitlines()]
        for line in lines:
            del line["timestamp"]
        self.assertEqual(lines, [
            {"level": "WARNING", "message": "careful \u00e9", "logger": "root", "requestId": "req-1",
             "tenantId": "t1", "k": "v"},
            {"level": "ERROR", "message": {"a": 1}, "logger": "root", "requestId": "req-1",
             "tenantId": "t1"},
        ])

    def test_log_level_from_env_in_text_format(self):
        app = {"app.py": """
            import logging
            def handler(event, context):
                logging.debug("debug line")
                root = logging.getLogger()
                return [[type(h).__name__ for h in root.handlers], root.level]
        """}
        for level in ("DEBUG", "TRACE"):  # TRACE is DEBUG, as in awslambdaric
            with self.subTest(level):
                w = self.start(app, "app.handler", env={"AWS_LAMBDA_LOG_LEVEL": level})
                w.ready()
                self.assertEqual(json.loads(w.result()[1]),
                                 [["LambdaLoggerHandlerWithFrameType"], 10])
                self.assertRegex(w.wait_stderr("debug line"),
                                 r"^\[DEBUG\]\t[^\t]+Z\treq-1\tdebug line\n$")

    def test_handler_error_log_in_json_format(self):
        w = self.start(ERROR_APP, "app.handler",
                       env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        w.ready()
        header, payload = w.error({"message": "boom"})
        line = w.wait_stderr("\n").splitlines()[0]
        timestamp = json.loads(line)["timestamp"]
        self.assertEqual(line, '{"timestamp": "%s", "level": "ERROR", %s'
                         % (timestamp, payload.decode()[1:]))


if __name__ == "__main__":
    unittest.main()
