"""Handler exceptions: error bodies, stack traces, X-Ray causes, logs."""
import json
import os
import unittest

from harness import (
    ERROR_APP,
    ShimTestCase,
)


class HandlerErrorTest(ShimTestCase):
    APP = ERROR_APP

    def setUp(self):
        self.w = self.start(self.APP, "app.handler")
        self.w.ready()
        self.path = os.path.join(self.w.root, "app.py")

    def test_error_body_stack_trace_and_xray_cause(self):
        header, payload = self.w.error({"message": "boom"})
        trace = ['  File "%s", line 6, in handler\n    return helper(event["message"])\n'
                 % self.path,
                 '  File "%s", line 3, in helper\n    raise ValueError(message)\n' % self.path]
        self.assertEqual(payload, (
            '{"errorMessage": "boom", "errorType": "ValueError", "requestId": "%s", '
            '"stackTrace": %s}' % (header["id"], json.dumps(trace, separators=(", ", ": ")))
        ).encode())
        self.assertEqual(header["error_type"], "ValueError")
        self.assertEqual(json.loads(header["xray_cause"]), {
            "working_directory": self.w.root,
            "exceptions": [{"message": "boom", "type": "ValueError", "stack": [
                {"label": "handler", "path": self.path, "line": 6},
                {"label": "helper", "path": self.path, "line": 3}]}],
            "paths": [self.path],
        })
        log = self.w.wait_stderr("raise ValueError(message)")
        self.assertIn(
            '[ERROR] ValueError: boom\rTraceback (most recent call last):\r'
            '\u00a0\u00a0File "%s", line 6, in handler\r'
            '\u00a0\u00a0\u00a0\u00a0return helper(event["message"])\r'
            '\u00a0\u00a0File "%s", line 3, in helper\r'
            '\u00a0\u00a0\u00a0\u00a0raise ValueError(message)\n' % (self.path, self.path), log)

    def test_unicode_and_empty_messages(self):
        payload = self.w.error({"message": "caf\u00e9 \u2603"})[1]
        self.assertTrue(payload.startswith(b'{"errorMessage": "caf\\u00e9 \\u2603", '))
        w = self.start(self.APP, "app.custom")
        w.ready()
        payload = w.error()[1]
        self.assertTrue(payload.startswith(b'{"errorMessage": "", "errorType": "CustomError"'))
        self.assertIn("[ERROR] CustomError\rTraceback", w.wait_stderr("[ERROR] CustomError"))

    def test_worker_survives_errors(self):
        for i in range(3):
            self.w.error({"message": str(i)})
        self.assertEqual(self.w.shutdown(), 0)

    def test_system_exit_is_not_caught(self):
        w = self.start(self.APP, "app.exit_code")
        w.ready()
        w.send(w.invoke_header(b"3"), b"3")
        self.assertEqual(w.wait(), 3)
        self.assertRaises(AssertionError, w.frame, 1)


if __name__ == "__main__":
    unittest.main()
