"""Tests for ferric_shim.py, the Python worker of protocol v1 (docs/PROTOCOL.md).

Each test starts the shim exactly as ferric does, `PYTHON -c <bootstrap>
<source> CACHE_DIR KEY HANDLER` (the bootstrap is PYTHON_BOOT in src/shims.rs),
with LAMBDA_TASK_ROOT and the cwd pointing at a temporary task root, and speaks
frames to it; workers share one cache directory per run, except in CacheTest.
Run from the repository root:

    python3 -m unittest discover -s src/shims/python -p 'test_*.py'

DifferentialTest compares the shim with awslambdaric 4.2.2 itself, byte for
byte; it runs when awslambdaric is importable (use the venv, see README.md).
"""
import atexit
import base64
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "ferric_shim.py"), encoding="utf-8") as _f:
    SHIM_SOURCE = _f.read()
PYTHON = sys.executable
with open(os.path.join(HERE, "..", "..", "shims.rs"), encoding="utf-8") as _f:
    BOOT_SOURCE = re.search(r'pub const PYTHON_BOOT: &str = r#"(.*?)"#;', _f.read(), re.S).group(1)


def fnv1a64(data):
    """PYTHON_SHIM_KEY in src/shims.rs."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


SHIM_KEY = "%016x" % fnv1a64(SHIM_SOURCE.encode("utf-8"))
# The cache most workers share (as ferric's /tmp/ferric-VERSION), made on first use.
CACHE_DIR = os.path.join(os.path.realpath(tempfile.gettempdir()),
                         "ferric-shim-test-cache-%d" % os.getpid())
atexit.register(shutil.rmtree, CACHE_DIR, True)


def shim_args(cache_dir=None, handler=None):
    """The interpreter's command line, as src/shims.rs `worker_spec` builds it."""
    return ([PYTHON, "-c", BOOT_SOURCE, SHIM_SOURCE,
             CACHE_DIR if cache_dir is None else cache_dir, SHIM_KEY]
            + ([] if handler is None else [handler]))


TIMEOUT = 60
MAX_HEADER = 64 * 1024
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
UNHANDLED_WARNING_START = "LAMBDA_WARNING: Unhandled exception"
# The rest of that warning line (TEXT: up to "\r"; JSON: up to the escaped "\\r").
WARNING_TEXT = re.compile(r"LAMBDA_WARNING: Unhandled exception[^\r\\]*")
_EOF = object()


def clean_env(root, **extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "_X_AMZN", "FERRIC_", "_LAMBDA"))
        and k != "PYTHONUNBUFFERED"  # Lambda does not set it; it would hide buffering bugs
    }
    env["LAMBDA_TASK_ROOT"] = root
    env["FERRIC_PROTOCOL_FD"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def make_root(testcase, files):
    """A temporary task root holding `files` (relative path -> source text)."""
    root = os.path.realpath(tempfile.mkdtemp(prefix="ferric-shim-test-"))
    testcase.addCleanup(shutil.rmtree, root, True)
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
    return root


class ProtocolViolation(Exception):
    pass


def read_frames(stream, sink):
    """Parse frames strictly from `stream` into the queue `sink`; anything that
    is not a valid frame is reported as a ProtocolViolation."""
    try:
        while True:
            line = stream.readline(MAX_HEADER + 1)
            if not line:
                sink.put(_EOF)
                return
            if not line.endswith(b"\n"):
                raise ProtocolViolation("header without newline or too long: %r" % line[:100])
            try:
                header = json.loads(line.decode("utf-8"))
            except ValueError:
                raise ProtocolViolation("header is not JSON: %r" % line[:200])
            if not isinstance(header, dict) or not isinstance(header.get("type"), str):
                raise ProtocolViolation("header is not an object with a type: %r" % line)
            payload = None
            if "len" in header:
                payload = stream.read(header["len"])
                if len(payload) != header["len"] or stream.read(1) != b"\n":
                    raise ProtocolViolation("payload not followed by newline: %r" % header)
            sink.put((header, payload))
    except Exception as e:  # surfaced to the test by Worker.frame()
        sink.put(e)


class Worker(object):
    """One shim process, started the way ferric starts it."""

    def __init__(self, testcase, handler, root, env=None, cwd=None, argv_handler=True,
                 pass_fds=(), stdout_frames=True, cache_dir=None):
        args = shim_args(cache_dir, handler if argv_handler else None)
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd or root, env=env if env is not None else clean_env(root),
            pass_fds=pass_fds)
        testcase.addCleanup(self.kill)
        self.root = root
        self.frames = queue.Queue()
        self._stderr = bytearray()
        self._stdout = bytearray()
        self._lock = threading.Lock()
        self._counter = 0
        threads = [threading.Thread(target=self._drain, args=(self.proc.stderr, self._stderr))]
        if stdout_frames:
            threads.append(threading.Thread(
                target=read_frames, args=(self.proc.stdout, self.frames)))
        else:
            threads.append(threading.Thread(
                target=self._drain, args=(self.proc.stdout, self._stdout)))
        self._threads = threads
        for t in threads:
            t.daemon = True
            t.start()

    def _drain(self, stream, buf):
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            with self._lock:
                buf.extend(chunk)

    @property
    def stderr(self):
        with self._lock:
            return self._stderr.decode("utf-8", "replace")

    @property
    def stdout(self):
        with self._lock:
            return self._stdout.decode("utf-8", "replace")

    def wait_stderr(self, text, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while text not in self.stderr:
            if time.time() > deadline:
                raise AssertionError("%r never appeared on stderr:\n%s" % (text, self.stderr))
            time.sleep(0.01)
        return self.stderr

    def frame(self, timeout=TIMEOUT):
        try:
            item = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no frame within %ss; stderr:\n%s" % (timeout, self.stderr))
        if item is _EOF:
            self.proc.wait(timeout)
            raise AssertionError("frame channel closed (exit %s); stderr:\n%s"
                                 % (self.proc.returncode, self.stderr))
        if isinstance(item, Exception):
            raise AssertionError("bad frame channel: %s; stderr:\n%s" % (item, self.stderr))
        return item

    def ready(self):
        header, payload = self.frame()
        if header["type"] != "ready":
            raise AssertionError("expected ready, got %r %r\nstderr:\n%s"
                                 % (header, payload, self.stderr))
        return header

    def send(self, header, payload=None):
        data = json.dumps(header).encode("utf-8") + b"\n"
        if payload is not None:
            data += payload + b"\n"
        self.send_raw(data)

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def invoke_header(self, payload, **fields):
        self._counter += 1
        header = {
            "type": "invoke",
            "id": "req-%d" % self._counter,
            "deadline_ms": int(time.time() * 1000) + 600000,
            "arn": ARN,
            "trace_id": None,
            "client_context": None,
            "cognito_identity": None,
            "tenant_id": None,
            "content_type": "application/json",
            "len": len(payload),
        }
        header.update(fields)
        return header

    def invoke(self, event=b"{}", **fields):
        """Send one invoke; return (header, payload) of the answer."""
        if not isinstance(event, bytes):
            event = json.dumps(event).encode("utf-8")
        header = self.invoke_header(event, **fields)
        self.send(header, event)
        answer = self.frame()
        if answer[0].get("id") != header["id"] or answer[0]["type"] not in ("result", "error"):
            raise AssertionError("unexpected answer %r to %r" % (answer, header))
        return answer

    def result(self, event=b"{}", **fields):
        header, payload = self.invoke(event, **fields)
        if header["type"] != "result":
            raise AssertionError("expected a result, got %r %r\nstderr:\n%s"
                                 % (header, payload, self.stderr))
        return header, payload

    def error(self, event=b"{}", **fields):
        header, payload = self.invoke(event, **fields)
        if header["type"] != "error":
            raise AssertionError("expected an error, got %r %r" % (header, payload))
        return header, payload

    def shutdown(self):
        self.send({"type": "shutdown"})
        return self.wait()

    def wait(self, timeout=TIMEOUT):
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except Exception:
                pass


ECHO_APP = {
    "app.py": """
        import decimal, os, sys

        def echo(event, context):
            return event

        def kind(event, context):
            return {"type": type(event).__name__, "value": event.decode("latin-1")
                    if isinstance(event, bytes) else event}

        def size(event, context):
            return {"len": len(event["data"]), "head": event["data"][:3]}

        def big(event, context):
            return "y" * event["n"]

        def value(event, context):
            return VALUES[event["name"]]

        def trace(event, context):
            return os.environ.get("_X_AMZN_TRACE_ID")

        class Point(tuple):
            def _asdict(self):
                return {"x": self[0], "y": self[1]}

        circular = []
        circular.append(circular)

        VALUES = {
            "none": None,
            "str": 'he said "hi"\\n',
            "bytes": b"\\x00raw\\xffbytes",
            "decimal": {"a": decimal.Decimal("1.10"), "b": decimal.Decimal("-1E+2"),
                        "n": decimal.Decimal("NaN"), "i": decimal.Decimal("-Infinity")},
            "floats": [1.5, float("nan"), float("inf"), -float("inf"), -0.0, 1e300],
            "unicode": {"k\\u00e9": "\\u00e9\\u2603\\U0001F600", "c": "\\x00\\x1f\\x7f"},
            "namedtuple": [Point((1, 2))],
            "nested_bytes": {"b": b"\\xc3\\xa9t\\xc3\\xa9"},
            "keys": {1: "int", 2.5: "float", None: "none", False: "bool", b"k": "bytes"},
            "object": object(),
            "set": {1},
            "circular": circular,
            "tuple_key": {(1, 2): 3},
            "bad_bytes": [b"\\xff"],
        }
    """,
}


class ShimTestCase(unittest.TestCase):
    def start(self, files, handler, env=None, **kwargs):
        """A worker for `handler` in a new task root; `env` adds variables."""
        root = make_root(self, files)
        return Worker(self, handler, root, env=clean_env(root, **(env or {})), **kwargs)


class StartupTest(ShimTestCase):
    def test_ready_frame(self):
        w = self.start(ECHO_APP, "app.echo")
        header = w.ready()
        self.assertEqual(header["protocol"], 1)
        self.assertEqual(header["pid"], w.proc.pid)
        self.assertEqual(header["runtime"], "python %d.%d.%d" % sys.version_info[:3])
        self.assertTrue(os.path.isabs(header["executable"]))
        self.assertEqual(os.path.realpath(header["executable"]), os.path.realpath(PYTHON))
        self.assertEqual(w.shutdown(), 0)

    def test_handler_from_env_when_not_on_the_command_line(self):
        root = make_root(self, ECHO_APP)
        w = Worker(self, None, root, env=clean_env(root, _HANDLER="app.echo"),
                   argv_handler=False)
        w.ready()
        self.assertEqual(w.result({"a": 1})[1], b'{"a": 1}')

    def test_source_fits_in_one_argv_string(self):
        # Linux's MAX_ARG_STRLEN: one argument may not exceed 128 KiB.
        self.assertLess(len(SHIM_SOURCE.encode("utf-8")), 120 * 1024)

    def test_bad_protocol_fd_is_refused(self):
        root = make_root(self, ECHO_APP)
        w = Worker(self, "app.echo", root, env=clean_env(root, FERRIC_PROTOCOL_FD="banana"))
        self.assertEqual(w.wait(), 2)
        self.assertIn("FERRIC_PROTOCOL_FD", w.stderr)

    def test_frames_on_another_fd(self):
        root = make_root(self, {"app.py": """
            def handler(event, context):
                print("to stdout")
                return "ok"
        """})
        r, wfd = os.pipe()
        w = Worker(self, "app.handler", root, env=clean_env(root, FERRIC_PROTOCOL_FD=str(wfd)),
                   pass_fds=(wfd,), stdout_frames=False)
        os.close(wfd)
        frames = queue.Queue()
        reader = os.fdopen(r, "rb")
        self.addCleanup(reader.close)
        t = threading.Thread(target=read_frames, args=(reader, frames), daemon=True)
        t.start()
        self.assertEqual(frames.get(timeout=TIMEOUT)[0]["type"], "ready")
        w.send(w.invoke_header(b"{}"), b"{}")
        header, payload = frames.get(timeout=TIMEOUT)
        self.assertEqual((header["type"], payload), ("result", b'"ok"'))
        self.assertEqual(w.shutdown(), 0)
        self.assertEqual(w.stdout, "to stdout\n")

    def test_sys_path_task_root_first_pth_files_and_cwd(self):
        root = make_root(self, {
            "app.py": """
                import sys
                def handler(event, context):
                    import vendored, cwdmod, both
                    return [sys.path[0], vendored.X, cwdmod.X, both.X]
            """,
            "both.py": "X = 'task root'\n",
            "extra.pth": "vendor\n",
            "vendor/vendored.py": "X = 'vendored'\n",
        })
        cwd = make_root(self, {"cwdmod.py": "X = 'cwd'\n", "both.py": "X = 'cwd'\n"})
        w = Worker(self, "app.handler", root, cwd=cwd)
        w.ready()
        self.assertEqual(json.loads(w.result()[1]), [root, "vendored", "cwd", "task root"])

    def test_slash_and_dotted_handler_paths(self):
        files = {
            "dir/sub/mod.py": "def handler(e, c):\n    return 'slash'\n",
            "pkg/__init__.py": "",
            "pkg/inner.py": "def handler(e, c):\n    return 'dotted'\n",
        }
        root = make_root(self, files)
        for handler, expected in (("dir/sub/mod.handler", b'"slash"'),
                                  ("pkg.inner.handler", b'"dotted"')):
            w = Worker(self, handler, root)
            w.ready()
            self.assertEqual(w.result()[1], expected)


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


class MarshalTest(ShimTestCase):
    def setUp(self):
        self.w = self.start(ECHO_APP, "app.value")
        self.w.ready()

    def value(self, name):
        return self.w.result({"name": name})

    def test_dict_and_echo_separators(self):
        w = self.start(ECHO_APP, "app.echo")
        w.ready()
        header, payload = w.result(b'{"a":1,"b":[1,2.5,null,true,false],"c":{}}')
        self.assertEqual(header["content_type"], "application/json")
        self.assertEqual(payload, b'{"a": 1, "b": [1, 2.5, null, true, false], "c": {}}')

    def test_none_str_bytes(self):
        self.assertEqual(self.value("none")[1], b"null")
        self.assertEqual(self.value("str")[1], b'"he said \\"hi\\"\\n"')
        header, payload = self.value("bytes")
        self.assertEqual((header["content_type"], payload), ("application/unknown",
                                                            b"\x00raw\xffbytes"))

    def test_decimal_nan_and_infinity(self):
        self.assertEqual(self.value("decimal")[1],
                         b'{"a": 1.10, "b": -1E+2, "n": NaN, "i": -Infinity}')
        self.assertEqual(self.value("floats")[1],
                         b"[1.5, NaN, Infinity, -Infinity, -0.0, 1e+300]")

    def test_unicode_is_escaped_by_default(self):
        self.assertEqual(self.value("unicode")[1],
                         b'{"k\\u00e9": "\\u00e9\\u2603\\ud83d\\ude00", "c": "\\u0000\\u001f\\u007f"}')

    def test_unicode_is_raw_utf8_on_python312_and_later_runtimes(self):
        w = self.start(ECHO_APP, "app.value", env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"})
        w.ready()
        self.assertEqual(w.result({"name": "unicode"})[1],
                         '{"k\u00e9": "\u00e9\u2603\U0001F600", "c": "\\u0000\\u001f\x7f"}'
                         .encode("utf-8"))

    def test_simplejson_semantics(self):
        self.assertEqual(self.value("namedtuple")[1], b'[{"x": 1, "y": 2}]')
        self.assertEqual(self.value("nested_bytes")[1], b'{"b": "\\u00e9t\\u00e9"}')
        self.assertEqual(self.value("keys")[1], b'{"1": "int", "2.5": "float", "null": "none", '
                                                b'"false": "bool", "k": "bytes"}')

    def test_marshal_errors(self):
        cases = {
            "object": "Object of type object is not JSON serializable",
            "set": "Object of type set is not JSON serializable",
            "circular": "Circular reference detected",
            "tuple_key": "keys must be str, int, float, bool or None, not tuple",
            "bad_bytes": "'utf-8' codec can't decode byte 0xff in position 0: "
                         "invalid start byte",
        }
        for name, message in cases.items():
            header, payload = self.w.error({"name": name})
            self.assertEqual(payload, (
                '{"errorMessage": "Unable to marshal response: %s", "errorType": '
                '"Runtime.MarshalError", "requestId": "%s", "stackTrace": []}'
                % (message, header["id"])).encode())
            self.assertEqual(header["error_type"], "Runtime.MarshalError")
            self.assertEqual(json.loads(header["xray_cause"])["exceptions"][0]["type"],
                             "LambdaValidationError")


class EventTest(ShimTestCase):
    def setUp(self):
        self.w = self.start(ECHO_APP, "app.kind")
        self.w.ready()

    def test_non_json_content_types_get_the_raw_bytes(self):
        for content_type in ("application/octet-stream", "application/json; charset=utf-8",
                             "text/plain"):
            payload = self.w.result(b'{"not": "parsed"}', content_type=content_type)[1]
            self.assertEqual(json.loads(payload), {"type": "bytes", "value": '{"not": "parsed"}'})

    def test_pretty_printed_event_with_newlines(self):
        event = b'{\n  "a": [\n    1,\n    2\n  ],\n  "s": "line\\nbreak"\n}\n'
        self.assertEqual(json.loads(self.w.result(event)[1]),
                         {"type": "dict", "value": {"a": [1, 2], "s": "line\nbreak"}})

    def test_five_megabyte_event_and_response(self):
        w = self.start(ECHO_APP, "app.size")
        w.ready()
        event = json.dumps({"data": "x" * (5 * 1024 * 1024)}).encode()
        self.assertEqual(w.result(event)[1], b'{"len": 5242880, "head": "xxx"}')
        w = self.start(ECHO_APP, "app.big")
        w.ready()
        header, payload = w.result({"n": 5 * 1024 * 1024})
        self.assertEqual(header["len"], 5 * 1024 * 1024 + 2)
        self.assertEqual(payload, b'"' + b"y" * (5 * 1024 * 1024) + b'"')

    def test_unmarshal_errors_use_simplejson_messages(self):
        cases = {
            b"": "Expecting value: line 1 column 1 (char 0)",
            b"{": "Expecting property name enclosed in double quotes or '}': "
                  "line 1 column 2 (char 1)",
            b'{"a": 1} x': "Extra data: line 1 column 10 - line 1 column 11 (char 9 - 10)",
            b'{"a": NaN}': "Expecting value: line 1 column 7 (char 6)",
            b"[1,]": "Illegal trailing comma before end of array: line 1 column 3 (char 2)",
            b'"\\q"': "Invalid \\X escape sequence 'q': line 1 column 3 (char 2)",
            b'\n\n  "x': "Unterminated string starting at: line 3 column 3 (char 4)",
            b"\xff": "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        }
        for event, message in cases.items():
            header, payload = self.w.error(event)
            self.assertEqual(payload, (
                '{"errorMessage": %s, "errorType": "Runtime.UnmarshalError", '
                '"requestId": "%s", "stackTrace": []}'
                % (json.dumps("Unable to unmarshal input: " + message), header["id"])).encode())

    def test_byte_order_mark_is_skipped(self):
        self.assertEqual(json.loads(self.w.result(b'\xef\xbb\xbf{"a": 1}')[1])["value"], {"a": 1})


class HandlerErrorTest(ShimTestCase):
    APP = {"app.py": """
        def helper(message):
            raise ValueError(message)

        def handler(event, context):
            return helper(event["message"])

        class CustomError(Exception):
            pass

        def custom(event, context):
            raise CustomError()

        def exit_code(event, context):
            raise SystemExit(event)
    """}

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


class ContextTest(ShimTestCase):
    APP = {"app.py": """
        import os
        def handler(event, context):
            cc = context.client_context
            return {
                "aws_request_id": context.aws_request_id,
                "invoked_function_arn": context.invoked_function_arn,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "tenant_id": context.tenant_id,
                "identity": [context.identity.cognito_identity_id,
                             context.identity.cognito_identity_pool_id],
                "client_context": None if cc is None else [
                    cc.custom, cc.env, cc.client and cc.client.installation_id,
                    cc.client and cc.client.app_version_name],
                "w3c": context.w3c(),
                "remaining": context.get_remaining_time_in_millis(),
                "repr": repr(context),
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            }
    """}
    ENV = {
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/f",
        "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
    }

    def setUp(self):
        self.w = self.start(self.APP, "app.handler", env=self.ENV)
        self.w.ready()

    def test_minimal_context(self):
        ctx = json.loads(self.w.result(deadline_ms=0)[1])
        self.assertEqual(ctx["remaining"], 0)
        self.assertEqual(ctx["memory_limit_in_mb"], "256")
        self.assertEqual(ctx["identity"], [None, None])
        self.assertIsNone(ctx["client_context"])
        self.assertEqual(ctx["w3c"], {})
        self.assertEqual(ctx["repr"], (
            "LambdaContext([aws_request_id=req-1,log_group_name=/aws/lambda/f,"
            "log_stream_name=stream,function_name=f,memory_limit_in_mb=256,"
            "function_version=$LATEST,invoked_function_arn=%s,client_context=None,"
            "identity=CognitoIdentity([cognito_identity_id=None,cognito_identity_pool_id=None]),"
            "tenant_id=None])" % ARN))

    def test_full_context(self):
        client_context = json.dumps({
            "client": {"installation_id": "inst", "app_title": "t"},
            "custom": {"k": "v"}, "env": {"e": "1"},
            "w3c": {"traceparent": "00-abc", "tracestate": 5, "other": "x"},
        })
        deadline = int(time.time() * 1000) + 60000
        ctx = json.loads(self.w.result(
            deadline_ms=deadline, client_context=client_context, tenant_id="tenant-1",
            cognito_identity='{"cognitoIdentityId": "id1", "cognitoIdentityPoolId": "pool1"}',
            trace_id="Root=1-abc;Sampled=1")[1])
        self.assertTrue(50000 < ctx["remaining"] <= 60000, ctx["remaining"])
        self.assertEqual(ctx["identity"], ["id1", "pool1"])
        self.assertEqual(ctx["client_context"], [{"k": "v"}, {"e": "1"}, "inst", None])
        self.assertEqual(ctx["w3c"], {"traceparent": "00-abc"})
        self.assertEqual(ctx["tenant_id"], "tenant-1")
        self.assertEqual(ctx["trace"], "Root=1-abc;Sampled=1")
        self.assertIn(",client_context=ClientContext([custom={'k': 'v'},env={'e': '1'},"
                      "client=Client([installation_id=inst,app_title=t,app_version_name=None,"
                      "app_version_code=None,app_package_name=None])]),identity=CognitoIdentity("
                      "[cognito_identity_id=id1,cognito_identity_pool_id=pool1]),"
                      "tenant_id=tenant-1])", ctx["repr"])

    def test_trace_id_is_set_then_removed(self):
        self.assertEqual(json.loads(self.w.result(trace_id="Root=1-a")[1])["trace"], "Root=1-a")
        self.assertIsNone(json.loads(self.w.result(trace_id=None)[1])["trace"])
        self.assertEqual(json.loads(self.w.result(trace_id="Root=1-b")[1])["trace"], "Root=1-b")

    def test_context_unmarshal_errors(self):
        for field, text, message in (
                ("client_context", "not json",
                 "Unable to parse Client Context JSON: Expecting value: line 1 column 1 (char 0)"),
                ("cognito_identity", "{x}",
                 "Unable to parse Cognito Identity JSON: Expecting property name enclosed in "
                 "double quotes: line 1 column 2 (char 1)")):
            header, payload = self.w.error(**{field: text})
            self.assertEqual(payload, (
                '{"errorMessage": "%s", "errorType": "Runtime.LambdaContextUnmarshalError", '
                '"requestId": "%s", "stackTrace": []}' % (message, header["id"])).encode())


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

    def test_handler_error_log_in_json_format(self):
        w = self.start(HandlerErrorTest.APP, "app.handler",
                       env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        w.ready()
        header, payload = w.error({"message": "boom"})
        line = w.wait_stderr("\n").splitlines()[0]
        timestamp = json.loads(line)["timestamp"]
        self.assertEqual(line, '{"timestamp": "%s", "level": "ERROR", %s'
                         % (timestamp, payload.decode()[1:]))


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

    def protocol_error(self, data, message):
        w = self.start(self.APP, "app.handler")
        w.ready()
        w.send_raw(data)
        w.proc.stdin.close()
        self.assertEqual(w.wait(), 2)
        self.assertIn(message, w.stderr)
        self.assertFalse(self.atexit_ran(w))

    def test_header_longer_than_64_kib(self):
        self.protocol_error(b'{"type": "x", "pad": "' + b"p" * MAX_HEADER + b'"}\n',
                            "longer than 65536")

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


class CacheTest(ShimTestCase):
    """The bootstrap (PYTHON_BOOT in src/shims.rs) loads the shim's code from CACHE_DIR, or
    runs the source and the shim writes the cache; a bad cache never stops a worker."""

    APP = {"app.py": """
        import os, sys, traceback, __main__

        def handler(event, context):
            return "ok"

        def traces(event, context):
            return {
                "argv": sys.argv,
                "orig_argv": getattr(sys, "orig_argv", None),
                "environ": dict(os.environ),
                "main": sorted(vars(__main__)),
            }

        def depth(event, context):
            n, frame = 0, sys._getframe()
            while frame is not None:
                n, frame = n + 1, frame.f_back
            return n

        def stack(event, context):
            return traceback.format_stack()
    """}
    MARKER = compile("import os\nos.write(1, b'from the cache\\n')\n", "<string>", "exec")

    def setUp(self):
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="ferric-shim-cache-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.root = make_root(self, self.APP)
        self.env = clean_env(self.root)

    def worker(self, cache_dir, handler="app.handler", **kwargs):
        return Worker(self, handler, self.root, env=self.env, cache_dir=cache_dir, **kwargs)

    def serves(self, cache_dir, handler="app.handler", event=b"{}"):
        """Start a worker on `cache_dir`, invoke it once, stop it; return the result."""
        w = self.worker(cache_dir, handler)
        w.ready()
        result = json.loads(w.result(event)[1])
        self.assertEqual(w.shutdown(), 0)
        self.assertNotIn("from the cache", w.stderr)
        return result

    def cache_file(self, cache_dir):
        names = [n for n in os.listdir(cache_dir)]
        self.assertEqual(len(names), 1, names)
        prefix = "shim-%s-%s-" % (SHIM_KEY, sys.implementation.cache_tag)
        self.assertTrue(names[0].startswith(prefix), names)
        return os.path.join(cache_dir, names[0])

    def assert_valid(self, path):
        import marshal

        with open(path, "rb") as f:
            data = f.read()
        header = (os.path.basename(path) + "\n").encode()
        self.assertEqual(data[:len(header)], header)
        self.assertEqual(marshal.loads(data[len(header):]),
                         compile(SHIM_SOURCE, "<string>", "exec"))

    def plant(self, path, code):
        """A cache file holding `code`, with a valid header."""
        import marshal

        with open(path, "wb") as f:
            f.write((os.path.basename(path) + "\n").encode() + marshal.dumps(code))

    def run_shim(self, cache_dir, env=None, handler="app.handler", **kwargs):
        return subprocess.run(shim_args(cache_dir, handler), cwd=self.root, env=env or self.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT, **kwargs)

    def test_first_start_writes_the_cache_and_later_ones_load_it(self):
        cache = os.path.join(self.tmp, "made", "cache")  # made by the worker
        self.assertEqual(self.serves(cache), "ok")
        path = self.cache_file(cache)
        self.assert_valid(path)
        self.assertEqual(os.stat(cache).st_mode & 0o777, 0o755)
        before = os.stat(path)
        self.assertEqual(self.serves(cache), "ok")
        after = os.stat(path)
        # Not rewritten...
        self.assertEqual((after.st_ino, after.st_mtime_ns), (before.st_ino, before.st_mtime_ns))
        self.assertEqual(os.listdir(cache), [os.path.basename(path)])
        # ...because it was loaded: a valid file runs whatever code it holds.
        self.plant(path, self.MARKER)
        proc = self.run_shim(cache)
        self.assertEqual((proc.returncode, proc.stdout), (0, b"from the cache\n"), proc.stderr)

    def test_invalid_cache_files_are_replaced(self):
        import marshal

        cache = os.path.join(self.tmp, "cache")
        self.serves(cache)
        path = self.cache_file(cache)
        with open(path, "rb") as f:
            good = f.read()
        header = (os.path.basename(path) + "\n").encode()
        cases = {
            "empty": b"",
            "header only": header,
            "truncated": good[:len(good) // 2],
            "one byte short": good[:-1],
            "garbage": header + b"\xff\x00garbage" * 100,
            "another header": b"shim-0000000000000000-x\n" + good[len(header):],
            "no header": good[len(header):],
            "not code": header + marshal.dumps({"a": 1}),
            "other filename": header + marshal.dumps(compile("pass", "x.py", "exec")),
        }
        for name, data in cases.items():
            with self.subTest(name):
                with open(path, "wb") as f:
                    f.write(data)
                self.assertEqual(self.serves(cache), "ok")
                self.assert_valid(path)
                self.assertEqual(os.listdir(cache), [os.path.basename(path)])

    def test_unusable_cache_directories(self):
        marker = os.path.join(self.tmp, "file")
        open(marker, "w").close()
        self.assertEqual(self.serves(os.path.join(marker, "cache")), "ok")  # not a directory
        self.assertEqual(self.serves(""), "ok")
        # A cache file in the way of os.replace().
        cache = os.path.join(self.tmp, "blocked")
        self.serves(cache)
        path = self.cache_file(cache)
        os.remove(path)
        os.mkdir(path)
        self.assertEqual(self.serves(cache), "ok")
        self.assertTrue(os.path.isdir(path))
        self.assertEqual(os.listdir(cache), [os.path.basename(path)])
        if os.getuid() != 0:  # root writes anywhere
            readonly = os.path.join(self.tmp, "readonly")
            os.mkdir(readonly, 0o555)
            self.addCleanup(os.chmod, readonly, 0o755)
            self.assertEqual(self.serves(readonly), "ok")
            self.assertEqual(os.listdir(readonly), [])

    def test_directories_others_can_write_to_are_not_trusted(self):
        cache = os.path.join(self.tmp, "cache")
        self.serves(cache)
        path = self.cache_file(cache)
        self.plant(path, self.MARKER)
        os.chmod(cache, 0o777)
        self.assertEqual(self.serves(cache), "ok")  # the planted code did not run
        os.chmod(cache, 0o775)
        self.assertEqual(self.serves(cache), "ok")
        with open(path, "rb") as f:  # and nothing was written there
            self.assertIn(b"from the cache", f.read())
        if os.getuid() == 0:
            os.chmod(cache, 0o755)
            os.chown(cache, 4242, 4242)  # another user's
            self.assertEqual(self.serves(cache), "ok")
            os.chown(cache, 0, 0)
        os.chmod(cache, 0o755)
        proc = self.run_shim(cache)
        self.assertEqual(proc.stdout, b"from the cache\n")

    def test_user_code_sees_no_trace_of_the_bootstrap(self):
        cache = os.path.join(self.tmp, "cache")
        for start in ("compiled", "cached"):
            for argv_handler in (True, False):
                with self.subTest(start=start, argv_handler=argv_handler):
                    env = dict(self.env, _HANDLER="app.traces")
                    w = Worker(self, "app.traces", self.root, env=env, cache_dir=cache,
                               argv_handler=argv_handler)
                    w.ready()
                    seen = json.loads(w.result()[1])
                    self.assertEqual(w.shutdown(), 0)
                    handler = ["app.traces"] if argv_handler else []
                    self.assertEqual(seen["argv"], ["-c"] + handler)
                    if seen["orig_argv"] is not None:
                        self.assertEqual(seen["orig_argv"], [PYTHON, "-c", BOOT_SOURCE] + handler)
                    for k, v in seen["environ"].items():
                        self.assertNotIn("worker shim", v, k)
                        self.assertNotIn("FERRIC", k)
                    self.assertEqual([n for n in seen["main"] if "ferric" in n.lower()
                                      or n in ("_start", "_cache_code")], [])
            self.cache_file(cache)

    def test_handler_runs_as_deep_compiled_or_cached(self):
        # `python -m awslambdaric`: runpy's 2 frames, its __main__, main(), run(),
        # handle_event_request(), the handler (DifferentialTest checks recursion errors).
        cache = os.path.join(self.tmp, "cache")
        self.assertEqual(self.serves(cache, "app.depth"), 7)  # compiled
        self.cache_file(cache)
        self.assertEqual(self.serves(cache, "app.depth"), 7)  # cached

    def test_tracebacks_show_the_shims_own_lines(self):
        # Python 3.13+ shows `-c` source lines: the shim's frames show the shim's, as when
        # the shim was the `-c` program (older versions show none).
        cache = os.path.join(self.tmp, "cache")
        lines = SHIM_SOURCE.splitlines()
        for start in ("compiled", "cached"):
            with self.subTest(start):
                stack = self.serves(cache, "app.stack")
                shown = 0
                # The outermost frame is the bootstrap's exec().
                for entry in stack[1:]:
                    m = re.match(r'  File "<string>", line (\d+), in \S+\n(?:    (.*)\n)?$',
                                 entry)
                    if m and m.group(2):
                        shown += 1
                        self.assertEqual(m.group(2), lines[int(m.group(1)) - 1].strip())
                self.assertEqual(shown > 0, sys.version_info >= (3, 13), stack)

    def test_prepare_writes_the_cache_and_exits(self):
        cache = os.path.join(self.tmp, "image", "cache")
        env = dict(self.env, FERRIC_SHIM_PREPARE="1")
        kwargs = {"umask": 0o077} if sys.version_info >= (3, 9) else {}
        proc = self.run_shim(cache, env=env, handler=None, **kwargs)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        path = self.cache_file(cache)
        self.assertEqual(proc.stdout.decode(), "ferric: compiled the Python shim into %s\n" % path)
        self.assertEqual(proc.stderr, b"")
        self.assert_valid(path)
        # Readable by the unprivileged user Lambda runs functions as.
        self.assertEqual(os.stat(cache).st_mode & 0o777, 0o755)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        before = os.stat(path)
        self.assertEqual(self.serves(cache), "ok")
        self.assertEqual(os.stat(path).st_mtime_ns, before.st_mtime_ns)
        # Again: compiles and replaces, whatever is there.
        self.plant(path, self.MARKER)
        proc = self.run_shim(cache, env=env, handler="app.handler")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_valid(path)

    def test_prepare_says_why_it_cannot_cache(self):
        env = dict(self.env, FERRIC_SHIM_PREPARE="1")
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        marker = os.path.join(self.tmp, "file")
        open(marker, "w").close()
        for cache, reason in ((shared, "writable by group or others"),
                              (os.path.join(marker, "cache"), "Not a directory"),
                              ("", "no cache directory")):
            with self.subTest(cache):
                proc = self.run_shim(cache, env=env, handler=None)
                self.assertEqual(proc.returncode, 1)
                self.assertEqual(proc.stdout, b"")
                err = proc.stderr.decode()
                self.assertTrue(err.startswith("ferric: cannot cache the Python shim in %r: "
                                               % cache), err)
                self.assertIn(reason, err)
        self.assertEqual(os.listdir(shared), [])


# ---------------------------------------------------------------- differential

try:
    from importlib.metadata import version as _dist_version

    AWSLAMBDARIC_VERSION = _dist_version("awslambdaric")
    import awslambdaric.bootstrap  # noqa: F401  (importable, with its C extension)
except Exception as e:  # ImportError, PackageNotFoundError
    AWSLAMBDARIC_VERSION = None
    _SKIP_REASON = ("awslambdaric is not importable (%s); run the tests with the venv: python3 -m "
                    "venv .cache/py-venv && .cache/py-venv/bin/pip install awslambdaric==4.2.2"
                    % e)
else:
    _SKIP_REASON = "awslambdaric %s is installed, the reference is 4.2.2" % AWSLAMBDARIC_VERSION
if AWSLAMBDARIC_VERSION != "4.2.2":
    sys.stderr.write("test_ferric_shim: skipping DifferentialTest: %s\n" % _SKIP_REASON)

class FakeRuntimeAPI(object):
    """Just enough of the Lambda Runtime API for awslambdaric's own client: serves
    the scripted invocations from /next and records every post."""

    def __init__(self, testcase, invocations):
        import http.client
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        # awslambdaric sends X-Ray causes up to 1 MiB in a header (RAPID accepts
        # that); http.server refuses header lines over 64 KiB by default.
        http.client._MAXLINE = max(http.client._MAXLINE, 2 << 20)

        self.pending = list(invocations)
        self.records = []
        self.idle = threading.Event()  # /next was called with nothing left to serve
        release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one send per response: no Nagle/delayed-ACK stalls
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def reply(self, code, body, headers=()):
                try:
                    self.send_response(code)
                    for name, value in headers:
                        if value is not None:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client was killed at the end of the test
                    self.close_connection = True

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b"{}")
                if not api.pending:
                    api.idle.set()
                    release.wait(TIMEOUT)
                    return self.reply(500, b"{}")
                inv = api.pending.pop(0)
                self.reply(200, base64.b64decode(inv["body"]), (
                    ("Lambda-Runtime-Aws-Request-Id", inv["id"]),
                    ("Lambda-Runtime-Deadline-Ms", str(inv["deadline_ms"])),
                    ("Lambda-Runtime-Invoked-Function-Arn", inv["arn"]),
                    ("Lambda-Runtime-Trace-Id", inv["trace_id"]),
                    ("Lambda-Runtime-Client-Context", inv["client_context"]),
                    ("Lambda-Runtime-Cognito-Identity", inv["cognito_identity"]),
                    ("Lambda-Runtime-Aws-Tenant-Id", inv["tenant_id"]),
                    ("Content-Type", inv["content_type"])))

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = self.path.split("/")
                record = {"body": base64.b64encode(body).decode()}
                if self.path.endswith("/runtime/init/error"):
                    record.update(kind="init_error", error_type=self.headers.get(
                        "Lambda-Runtime-Function-Error-Type"))
                elif parts[-1] == "response":
                    record.update(kind="result", id=parts[-2],
                                  content_type=self.headers.get("Content-Type"))
                elif parts[-1] == "error":
                    record.update(kind="error", id=parts[-2], xray=self.headers.get(
                        "Lambda-Runtime-Function-XRay-Error-Cause"))
                api.records.append(record)
                self.reply(202, b'{"status":"OK"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        testcase.addCleanup(self.server.server_close)
        testcase.addCleanup(self.server.shutdown)
        testcase.addCleanup(release.set)


def expected_xray(cause, invoke_id, error_type):
    """The shim sends awslambdaric's X-Ray cause when its frame header stays
    within 64 KiB (the Runtime API crops causes to 64 KiB anyway)."""
    if not cause:
        return None
    room = MAX_HEADER - 200 - 6 * len(invoke_id) - 6 * len(error_type)
    return cause if len(json.dumps(cause)) <= room else None


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")

DIFF_APP = {
    "diffapp.py": r'''
        import collections, datetime, decimal, enum, logging, os, sys
        import helper

        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        logger.info("module imported")

        class Color(enum.IntEnum):
            RED = 1

        class Name(str, enum.Enum):
            A = "a"

        class Half(float):
            def __repr__(self):
                return "custom"

        class Weird(int):
            def __str__(self):
                return "weird"

        class AsDict(object):
            def _asdict(self):
                return {"as": "dict"}

        class AsList(object):
            def _asdict(self):
                return [1]

        class AsTypeError(object):
            def _asdict(self, required):
                return {}

        class MyDict(dict):
            pass

        class MyList(list):
            pass

        class DictWithAsDict(dict):
            def _asdict(self):
                return {"from": "_asdict"}

        P = collections.namedtuple("P", "x y")
        circular = {}
        circular["self"] = circular
        deep = []
        for _ in range(200):
            deep = [deep]
        try:
            import simplejson
            raw = simplejson.RawJSON('{"raw": [1, 2]}')
        except ImportError:
            raw = None

        VALUES = {
            "dict": {"a": 1, "b": [1, 2.5, None, True, False], "c": {"d": "e"}, "": []},
            "empty": [{}, [], (), "", 0],
            "strings": ["plain", "caf\u00e9", "\u2603\U0001F600", "\x00\x1f\x7f\"\\/\n\t\b\f\r",
                        "\u2028\u2029", "\ud800 lone"],
            "top_str": "top \"level\" \u00e9",
            "top_int": 42, "top_none": None, "top_true": True, "top_float": 0.1 + 0.2,
            "ints": [0, -1, 2 ** 64, -(10 ** 100), Color.RED, Weird(5)],
            "floats": [1.5, -0.0, 1e300, 1e-300, float("nan"), float("inf"), -float("inf"),
                       Half(0.5), 1e16, 123456789.123456789],
            "decimals": [decimal.Decimal(x) for x in ("1.10", "-0", "1E+2", "NaN", "sNaN",
                         "-NaN", "Infinity", "-Infinity", "0.000001", "1e-7", "123456789012345678901234567890")],
            "decimal_key": {decimal.Decimal("1"): 1},
            "bytes_nested": {"b": b"abc", "u": [b"\xc3\xa9"]},
            "bytes_invalid": {"b": b"\xff"},
            "bytes_top": b"\x00\xff raw",
            "bytearray": bytearray(b"x"),
            "tuples": (1, (2, 3), [()]),
            "namedtuple": P(1, P(2, 3)),
            "namedtuples_in_list": [P(x=1, y=None)],
            "asdict": AsDict(), "aslist": AsList(), "astypeerror": AsTypeError(),
            "dict_with_asdict": DictWithAsDict(a=1),
            "subclasses": [MyDict(a=1), MyList([1]), collections.OrderedDict(b=2),
                           collections.defaultdict(int, c=3), Name.A],
            "keys": {1: 1, 2.5: 2, float("nan"): 3, None: 4, False: 6, b"k": 7, "s": 8,
                     Half(1.5): 10, Weird(9): 9},
            "bool_keys": {True: 1, False: 0},
            "enum_keys": {Color.RED: "red"},
            "tuple_key": {(1,): 1},
            "object_key": {object(): 1},
            "set": {1, 2},
            "frozenset_nested": {"a": frozenset()},
            "object": object(),
            "datetime": {"when": datetime.datetime(2020, 1, 1)},
            "generator": (x for x in ()),
            "circular": circular,
            "circular_list": [circular],
            "deep": deep,
            "raw": raw,
            "mixed_decimal": {"d": [decimal.Decimal("2.50"), {"e": decimal.Decimal("-1")}]},
        }

        class CustomError(Exception):
            pass

        def _raise(name):
            if name == "value":
                raise ValueError("boom")
            if name == "empty":
                raise ValueError()
            if name == "key":
                raise KeyError("k")
            if name == "custom":
                raise CustomError("custom \u00e9 \u2603")
            if name == "multiline":
                raise RuntimeError("line one\nline two\n  indented")
            if name == "nested":
                return helper.fail("from helper")
            if name == "chained":
                try:
                    {}["x"]
                except KeyError as e:
                    raise TypeError("chained") from e
            if name == "recursion":
                def again(n):
                    return again(n + 1)
                again(0)
            if name == "assert":
                assert 1 == 2, "assertion"
            if name == "zero":
                return 1 / 0
            if name == "lambda":
                return (lambda: [][1])()

        def value(event, context):
            return VALUES[event["name"]]

        def echo(event, context):
            return event

        def fail(event, context):
            _raise(event["name"])

        def context_info(event, context):
            logger.info("context %s \u00e9\u2603", context.aws_request_id)
            context.log("context.log line\n")
            print("printed", event)
            if isinstance(event, dict) and event.get("log_exception"):
                try:
                    1 / 0
                except ZeroDivisionError:
                    logger.exception("caught", extra={"extra_field": [1, "x"]})
            return {
                "repr": repr(context),
                "w3c": context.w3c(),
                "remaining": context.get_remaining_time_in_millis(),
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
                "event": event if not isinstance(event, bytes) else event.decode("latin-1"),
                "cc_type": type(context.client_context).__name__,
            }
    ''',
    "helper.py": '''
        def fail(message):
            raise LookupError(message)
    ''',
}

MARSHAL_NAMES = [
    "dict", "empty", "strings", "top_str", "top_int", "top_none", "top_true", "top_float",
    "ints", "floats", "decimals", "decimal_key", "bytes_nested", "bytes_invalid", "bytes_top",
    "bytearray", "tuples", "namedtuple", "namedtuples_in_list", "asdict", "aslist",
    "astypeerror", "dict_with_asdict", "subclasses", "keys", "bool_keys", "enum_keys",
    "tuple_key", "object_key", "set", "frozenset_nested", "object", "datetime", "generator",
    "circular", "circular_list", "deep", "raw", "mixed_decimal",
]

UNMARSHAL_CASES = [
    b"{}", b"[]", b'"x"', b"1", b"-0", b"1.5e3", b"1E400", b"-1e-400", b'  {"a" : [1 , 2]}  ',
    b'{\n  "a": [\n    1,\n    2\n  ]\n}\n', b'\xef\xbb\xbf{"a": 1}', b'"\\ud83d\\ude00"',
    b'"\\ud800"', b'"\\ud800\\u0041"', b'"\\udc00\\ud800"', b'{"a": 1, "a": 2, "b": 3}',
    b"null", b"true", b"false", b"123456789012345678901234567890", b'"\\/\\b\\f\\n\\r\\t"',
    b'"\xc3\xa9\xe2\x98\x83"', b" \t\r\n1 \t\r\n", b"[[[[[]]]]]", b'{"": {"": {}}}',
    b"", b" ", b"{", b"[", b"]", b"}", b"[1,]", b'{"a":1,}', b'{"a" 1}', b'{"a":1 "b":2}',
    b"[1 2]", b"NaN", b"[NaN]", b"Infinity", b"-Infinity", b'{"a": -}', b"tru", b"nul",
    b"fals", b'"abc', b'"a\\x"', b'"\\u12"', b'"\\u12zz"', b'"\\ud800\\uzzzz"', b'"\\ud800\\u12',
    b'"a\x01b"', b'"\x1f"', b'{"a":1}x', b'{"a":1} {"b":2}', b"\xff", b"\xef\xbb\xbf",
    b"\xef\xbb\xbf \xef\xbb\xbf1", b"01", b"1.", b".5", b"-", b"--1", b"[1,", b'{"a":1,',
    b"{1:2}", b"{'a':1}", b"\n\n  x", b"[\n1,\n2\n,]", b'{"a"', b'{"a":', b'{"a"  :  ',
    b'"\t"', b"\\", b"[]]", b"1e", b"1e+", b"1e+5x", b"-a", b"[-]", b"1.e5", b"+1",
    b"\x00", b'{"a":[1,2,{"b":[}]}', b'["\\', b'["\\u', b"[,1]", b"{,}", b'{"a":1,,}',
    b"\xc3", b"\xed\xa0\x80", b"\xfe\xff\x00{", b"\x00{\x00}", b"[1]\n\n\nx", b"[\n\n",
    b"\r\n\r\n{", b"  \n  [1, 2\n", b'"\xe2\x80\xa8"', b"1 2", b"true false",
]


def fuzz_cases(count=250, seed=20240601):
    """Deterministic mutations of valid documents: deletions, insertions, swaps."""
    import random

    rng = random.Random(seed)
    bases = [b'{"a": [1, 2.5, {"b": null}], "c": "d\\u00e9", "e": true}',
             b'[1, -2, 3.5e2, "x", [], {}, false]', b'{"k": {"k": {"k": "\\n"}}}']
    alphabet = b'{}[]",:0123456789-+.eE \n\t\\uabtrufnl\x00\x7f'
    out = []
    for _ in range(count):
        doc = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(doc) + 1)
            op = rng.random()
            if op < 0.4 and i < len(doc):
                del doc[i]
            elif op < 0.8:
                doc.insert(i, rng.choice(alphabet))
            elif i < len(doc) - 1:
                doc[i], doc[i + 1] = doc[i + 1], doc[i]
        out.append(bytes(doc))
    return out


@unittest.skipUnless(AWSLAMBDARIC_VERSION == "4.2.2", _SKIP_REASON)
class DifferentialTest(unittest.TestCase):
    """The shim and `python -m awslambdaric` 4.2.2 (served by a fake Runtime API)
    get the same handler and invocations; every posted body, content type, error
    type, X-Ray cause and log line must be identical."""

    def run_both(self, handler, invocations, files=DIFF_APP, env=None, cache_dir=None):
        root = make_root(self, files)
        env = clean_env(root, **(env or {}))
        scenario = [
            dict({"id": "req-%d" % i, "trace_id": None, "arn": ARN, "deadline_ms": 1,
                  "client_context": None, "cognito_identity": None, "tenant_id": None,
                  "content_type": "application/json"},
                 **{k: v for k, v in inv.items() if k != "body"},
                 body=base64.b64encode(inv.get("body", b"{}")).decode())
            for i, inv in enumerate(invocations)]

        # The reference: `python -m awslambdaric HANDLER`, as users run it today.
        api = FakeRuntimeAPI(self, scenario)
        ref = subprocess.Popen(
            [PYTHON, "-m", "awslambdaric", handler], cwd=root,
            env=dict(env, AWS_LAMBDA_RUNTIME_API=api.address),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: ref.poll() is None and ref.kill())
        while ref.poll() is None and not api.idle.wait(0.01):
            pass
        if ref.poll() is None:
            ref.kill()
        ref_out, ref_err = ref.communicate(timeout=TIMEOUT)
        self.assertEqual(ref_err, b"", ref_err.decode("utf-8", "replace"))
        expected = api.records

        worker = Worker(self, handler, root, env=env, cache_dir=cache_dir)
        got = []
        header, payload = worker.frame()
        if header["type"] == "init_error":
            got.append({"kind": "init_error", "error_type": header["error_type"],
                        "body": base64.b64encode(payload).decode()})
            self.assertEqual(worker.wait(), 1)
            self.assertEqual(ref.returncode, 1)
        else:
            self.assertEqual(header["type"], "ready")
            for inv in scenario:
                body = base64.b64decode(inv["body"])
                fields = {k: v for k, v in inv.items() if k != "body"}
                fields.update(type="invoke", len=len(body))
                worker.send(fields, body)
                header, payload = worker.frame()
                record = {"kind": header["type"], "id": header["id"],
                          "body": base64.b64encode(payload).decode()}
                if header["type"] == "result":
                    record["content_type"] = header["content_type"]
                else:
                    record["xray"] = header.get("xray_cause")
                got.append(record)
            self.assertEqual(worker.shutdown(), 0)
        for record in expected:
            if record["kind"] == "error":
                body = json.loads(base64.b64decode(record["body"]))
                record["xray"] = expected_xray(record["xray"], record["id"], body["errorType"])
        for records in (expected, got):
            for record in records:
                if record.get("xray"):
                    xray = json.loads(record["xray"])
                    xray["paths"].sort()
                    record["xray"] = xray
                record["body"] = base64.b64decode(record["body"])
        self.assertEqual(len(got), len(expected), (got, expected))
        for inv, want, have in zip(scenario or [None], expected, got):
            self.assertEqual(have, want, "invocation %r" % (inv,))
        # The init warning's wording is ferric's own (only its prefix is kept).
        self.assertEqual(WARNING_TEXT.sub("<warning>", TIMESTAMP.sub("<ts>", worker.stderr)),
                         WARNING_TEXT.sub("<warning>", TIMESTAMP.sub(
                             "<ts>", ref_out.decode("utf-8", "replace"))))
        return expected

    def values(self, names):
        return [{"body": json.dumps({"name": n}).encode()} for n in names]

    def test_marshal_matrix(self):
        names = MARSHAL_NAMES
        records = self.run_both("diffapp.value", self.values(names))
        kinds = set(r["kind"] for r in records)
        self.assertEqual(kinds, {"result", "error"})

    def test_marshal_matrix_without_ascii_escapes(self):
        names = ["dict", "strings", "top_str", "keys", "bytes_nested", "decimals", "subclasses"]
        values = self.values(names)
        values[1]["body"] = json.dumps({"name": "dict"}).encode()  # a lone surrogate can't be UTF-8
        self.run_both("diffapp.value", values, env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"})

    def test_unmarshal_matrix(self):
        cases = UNMARSHAL_CASES + fuzz_cases()
        records = self.run_both("diffapp.echo", [{"body": b} for b in cases])
        errors = sum(1 for r in records if r["kind"] == "error")
        self.assertGreater(errors, 100)
        self.assertGreater(len(records) - errors, 30)

    def test_handler_exceptions(self):
        names = ["value", "empty", "key", "custom", "multiline", "nested", "chained",
                 "recursion", "assert", "zero", "lambda"]
        self.run_both("diffapp.fail", self.values(names))
        self.run_both("diffapp.fail", self.values(["custom", "nested"]),
                      env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})

    def test_recursion_with_the_shim_compiled_then_cached(self):
        # The stack depth, hence the frames in the RecursionError's stackTrace, must not
        # depend on how the bootstrap got the shim's code.
        cache = os.path.join(os.path.realpath(tempfile.mkdtemp(prefix="ferric-diff-")), "c")
        self.addCleanup(shutil.rmtree, os.path.dirname(cache), True)
        for _ in ("compiled", "cached"):
            self.run_both("diffapp.fail", self.values(["recursion"]), cache_dir=cache)
            self.assertEqual(len(os.listdir(cache)), 1)

    def context_invocations(self):
        cc = {"client": {"installation_id": "i", "app_title": "t", "extra": 1},
              "custom": {"k": [1]}, "env": {"e": "v"},
              "w3c": {"traceparent": "00-1", "tracestate": "s", "baggage": 3, "x": "y"}}
        return [
            {"body": b'{"a": 1}', "trace_id": "Root=1-a", "tenant_id": "tenant"},
            {"body": b'{"log_exception": true}', "client_context": json.dumps(cc),
             "cognito_identity": '{"cognitoIdentityId": "id", "cognitoIdentityPoolId": "p"}'},
            {"body": b"raw bytes", "content_type": "text/plain"},
            {"client_context": '{"w3c": "not a dict"}', "cognito_identity": "{}"},
            {"client_context": "{bad"},
            {"cognito_identity": "[1, 2"},
            {"body": b"{}", "client_context": "", "cognito_identity": ""},
        ]

    def test_context_and_logs(self):
        self.run_both("diffapp.context_info", self.context_invocations(),
                      env={"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_VERSION": "1",
                           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                           "AWS_LAMBDA_LOG_GROUP_NAME": "g", "AWS_LAMBDA_LOG_STREAM_NAME": "s"})

    def test_context_and_logs_in_json_format(self):
        self.run_both("diffapp.context_info", self.context_invocations(),
                      env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})

    def test_init_errors(self):
        files = dict(DIFF_APP)
        files.update({
            "syntax.py": "def handler(event, context):\n    return (\n",
            "indent.py": "def handler(event, context):\nreturn 1\n",
            "raises.py": "import helper\nhelper.fail('at import')\n",
            "depmissing.py": "import not_installed_dep_xyz\n",
            "exits.py": "raise KeyError('k')\n",
            "pkg/__init__.py": "",
            "pkg/mod.py": "raise RuntimeError('in package')\n",
        })
        for handler in ("nodot", "sys.handler", "missing.handler", "diffapp.missing",
                        "syntax.handler", "indent.handler", "raises.handler",
                        "depmissing.handler", "exits.handler", "pkg/mod.handler",
                        "pkg.nothere.handler", ".handler", "diffapp.", "os.path.x"):
            for env in ({}, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}):
                with self.subTest(handler=handler, env=env):
                    records = self.run_both(handler, [], files=files, env=env)
                    self.assertEqual(records[0]["kind"], "init_error")


if __name__ == "__main__":
    unittest.main()
