"""Init errors: awslambdaric's error types, bodies and logs."""
import json
import os
import unittest

from harness import (
    ECHO_APP,
    ShimTestCase,
    UNHANDLED_WARNING_START,
)


class InitErrorTest(ShimTestCase):
    def init_error(self, files, handler, env=None):
        w = self.start(files, handler, env=env or {})
        header, payload = w.frame()
        self.assertEqual(header["type"], "init_error", payload)
        self.assertEqual(w.wait(), 1)
        body = json.loads(payload)
        self.assertEqual(list(body), ["errorMessage", "errorType", "requestId", "stackTrace"])
        self.assertEqual(header["error_type"], body["errorType"])
        return w, header, payload

    def expect(self, files, handler, message, error_type):
        w, header, payload = self.init_error(files, handler)
        expected = ('{"errorMessage": %s, "errorType": "%s", "requestId": "", "stackTrace": []}'
                    % (json.dumps(message), error_type)).encode()
        self.assertEqual(payload, expected)
        log = w.stderr
        self.assertIn("\t\t" + UNHANDLED_WARNING_START, log)
        self.assertIn("compare those first.\r\n[ERROR] %s: %s\rTraceback (most recent call last):\n"
                      % (error_type, message), log)
        return w

    def test_malformed_handler_name(self):
        self.expect(ECHO_APP, "nodot",
                    "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)",
                    "Runtime.MalformedHandlerName")

    def test_built_in_module_conflict_uses_the_name_before_slash_mapping(self):
        self.expect(ECHO_APP, "sys/x.handler",
                    "Unable to import module 'sys/x': No module named 'sys.x'; "
                    "'sys' is not a package", "Runtime.ImportModuleError")
        self.expect(ECHO_APP, "sys.handler",
                    "Cannot use built-in module sys as a handler module",
                    "Runtime.BuiltInModuleConflict")

    def test_import_module_error(self):
        self.expect(ECHO_APP, "missing.handler",
                    "Unable to import module 'missing': No module named 'missing'",
                    "Runtime.ImportModuleError")

    def test_import_error_of_a_dependency(self):
        files = {"app.py": "import not_installed_dep\n"}
        self.expect(files, "app.handler",
                    "Unable to import module 'app': No module named 'not_installed_dep'",
                    "Runtime.ImportModuleError")

    def test_handler_not_found(self):
        self.expect(ECHO_APP, "app.nothere", "Handler 'nothere' missing on module 'app'",
                    "Runtime.HandlerNotFound")

    def test_user_code_syntax_error(self):
        source = "def handler(event, context):\n    return (\n"
        w, header, payload = self.init_error({"bad.py": source}, "bad.handler")
        path = os.path.join(w.root, "bad.py")
        try:
            compile(source, path, "exec")
        except SyntaxError as e:
            error = e
        self.assertEqual(json.loads(payload), {
            "errorMessage": "Syntax error in module 'bad': %s" % error,
            "errorType": "Runtime.UserCodeSyntaxError",
            "requestId": "",
            "stackTrace": ['  File "%s" Line %s\n    %s' % (path, error.lineno, error.text)],
        })

    def test_other_exception_at_import_keeps_importlib_frames_drops_the_shims(self):
        files = {"app.py": "x = 1\n\nraise ValueError('at import')\n"}
        w, header, payload = self.init_error(files, "app.handler")
        body = json.loads(payload)
        self.assertEqual((body["errorType"], body["errorMessage"]), ("ValueError", "at import"))
        trace = body["stackTrace"]
        self.assertTrue(trace[0].startswith('  File "%s' % os.path.dirname(
            os.__file__)), trace)
        self.assertIn("in import_module", trace[0])
        self.assertEqual(trace[-1], '  File "%s", line 3, in <module>\n'
                         "    raise ValueError('at import')\n" % os.path.join(w.root, "app.py"))
        self.assertFalse([t for t in trace if "<string>" in t], trace)
        self.assertIn("[ERROR] ValueError: at import\rTraceback (most recent call last):\r"
                      "\u00a0\u00a0File ", w.stderr)

    def test_empty_module_name_is_reported_with_its_own_type(self):
        w, header, payload = self.init_error(ECHO_APP, ".handler")
        body = json.loads(payload)
        self.assertEqual((body["errorType"], body["errorMessage"]),
                         ("ValueError", "Empty module name"))

    def test_json_log_format(self):
        w, header, payload = self.init_error(ECHO_APP, "missing.handler",
                                             env={"AWS_LAMBDA_LOG_FORMAT": "json"})
        lines = w.stderr.splitlines()
        warning, error = json.loads(lines[0]), json.loads(lines[1])
        self.assertEqual(list(warning), ["timestamp", "level", "message", "logger", "requestId"])
        self.assertEqual(warning["level"], "WARNING")
        self.assertTrue(warning["message"].startswith(UNHANDLED_WARNING_START))
        self.assertRegex(warning["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(lines[1], '{"timestamp": "%s", "level": "ERROR", %s'
                         % (error["timestamp"], payload.decode()[1:]))

    def test_system_exit_at_import_is_not_an_init_error(self):
        w = self.start({"app.py": "import sys\nsys.exit(7)\n"}, "app.handler")
        self.assertEqual(w.wait(), 7)
        self.assertRaises(AssertionError, w.frame, 1)


if __name__ == "__main__":
    unittest.main()
