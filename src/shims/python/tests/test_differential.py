"""The shim against awslambdaric 4.2.2 itself: the same handlers and invocations through both,
every posted body, content type, error type, X-Ray cause, log line and telemetry frame compared
byte for byte, and SnapStart's runtime hooks. awslambdaric runs against the shared fake Runtime
API (the ferric-fake-api binary, fakeapi.py); the shim gets the same invocations as frames. It
runs when awslambdaric 4.2.2 is importable (use the venv, see ../README.md)."""
import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import fakeapi
from harness import (
    ARN,
    MAX_HEADER,
    PYTHON,
    TIMEOUT,
    WARNING_TEXT,
    Worker,
    clean_env,
    make_root,
)

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
    sys.stderr.write("test_differential: skipping DifferentialTest: %s\n" % _SKIP_REASON)


def expected_xray(cause, invoke_id, error_type):
    """The shim sends awslambdaric's X-Ray cause when its frame header stays
    within 64 KiB (the Runtime API crops causes to 64 KiB anyway)."""
    if not cause:
        return None
    room = MAX_HEADER - 200 - 6 * len(invoke_id) - 6 * len(error_type)
    return cause if len(json.dumps(cause)) <= room else None


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z")


def normalised(text):
    """Log text with timestamps and ferric's own init warning wording replaced."""
    return WARNING_TEXT.sub("<warning>", TIMESTAMP.sub("<ts>", text))


class Drain(object):
    """A process's output, read as it comes (so that the pipe never fills)."""

    def __init__(self, stream):
        self.stream = stream
        self.buf = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            chunk = self.stream.read1(65536)
            if not chunk:
                return
            self.buf.extend(chunk)

    def text(self):
        return bytes(self.buf).decode("utf-8", "replace")

    def finish(self):
        self.thread.join(TIMEOUT)
        self.stream.close()
        return bytes(self.buf)


class TelemetryPipe(object):
    """A pipe for `_LAMBDA_TELEMETRY_LOG_FD`: the runtime gets the write end; its frames
    (type u32, length u32, timestamp i64 in microseconds, message) are read as they come."""

    def __init__(self, testcase):
        self.read_fd, self.write_fd = os.pipe()
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        testcase.addCleanup(self._close)

    def started(self):
        """The runtime has its copy: only it may keep the pipe open."""
        os.close(self.write_fd)
        self.write_fd = None
        self.thread.start()

    def _read(self):
        while True:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                return
            self.data.extend(chunk)

    def _close(self):
        for fd in (self.read_fd, self.write_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.read_fd = self.write_fd = None

    def frames(self):
        """[(frame type, message)] once the runtime has exited, timestamps checked and dropped
        (the message's own timestamps normalised)."""
        self.thread.join(TIMEOUT)
        data, frames, at = bytes(self.data), [], 0
        while at < len(data):
            kind, length, micros = struct.unpack(">IIq", data[at:at + 16])
            message = data[at + 16:at + 16 + length]
            assert len(message) == length, "a frame cut short: %r" % data[at:]
            assert abs(micros / 1e6 - time.time()) < 600, micros
            frames.append(("%08x" % kind, normalised(message.decode("utf-8"))))
            at += 16 + length
        return frames

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

        def logs(event, context):
            logging.getLogger("named").warning("warned\nover two lines")
            logger.debug("debug %d", 1)
            logger.log(25, "custom level")
            logger.critical("critical")
            logger.error("with args %s %r", "a", {"b": 1})
            logger.info({"as": "dict"})
            logging.getLogger().log(5, "below debug")
            context.log("context.log without newline")
            context.log({"not": "a string"})
            sys.stdout.write("stdout write\n")
            print("print", "\u00e9")
            sys.stderr.write("stderr write\n")
            return "logged"

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

    def run_both(self, handler, invocations, files=DIFF_APP, env=None, cache_dir=None,
                 telemetry=False):
        """Both runtimes, the same handler and invocations; the posts (and, with `telemetry`,
        the frames on the telemetry descriptor) compared. Returns awslambdaric's posts."""
        root = make_root(self, files)
        env = clean_env(root, **(env or {}))
        scenario = [
            dict({"id": "req-%d" % i, "trace_id": None, "arn": ARN, "deadline_ms": 1,
                  "client_context": None, "cognito_identity": None, "tenant_id": None,
                  "content_type": "application/json"},
                 **{k: v for k, v in inv.items() if k != "body"},
                 body=base64.b64encode(inv.get("body", b"{}")).decode())
            for i, inv in enumerate(invocations)]

        # The reference: `python -m awslambdaric HANDLER`, as users run it today, against the
        # shared fake Runtime API. Its stdout and stderr share one pipe, as the shim's share
        # ferric's log pipe.
        api = fakeapi.shared()
        ref_telemetry = TelemetryPipe(self) if telemetry else None
        ref_env = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
        if ref_telemetry:
            ref_env["_LAMBDA_TELEMETRY_LOG_FD"] = str(ref_telemetry.write_fd)
        ref = subprocess.Popen(
            [PYTHON, "-m", "awslambdaric", handler], cwd=root, env=ref_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(ref_telemetry.write_fd,) if ref_telemetry else ())
        self.addCleanup(lambda: ref.poll() is None and ref.kill())
        if ref_telemetry:
            ref_telemetry.started()
        ref_output = Drain(ref.stdout)
        for inv in scenario:
            answer = api.invoke(**fakeapi.invocation_fields(inv))
            self.assertNotEqual(answer["outcome"], "timed_out", ref_output.text())
        if api.wait_parked(len(scenario) + 1, ref):
            ref.kill()
        ref.wait(TIMEOUT)
        ref_out = ref_output.finish()
        expected = []
        for post in api.posts():
            record = {"kind": {"response": "result"}.get(post["kind"], post["kind"]),
                      "body": base64.b64encode(post["body"]).decode()}
            headers = post["headers"]
            if post["kind"] == "init_error":
                record["error_type"] = headers.get("lambda-runtime-function-error-type")
            else:
                record["id"] = post["request_id"]
            if post["kind"] == "response":
                record["content_type"] = headers.get("content-type")
            elif post["kind"] == "error":
                record["xray"] = headers.get("lambda-runtime-function-xray-error-cause")
            expected.append(record)

        shim_telemetry = TelemetryPipe(self) if telemetry else None
        if shim_telemetry:
            env = dict(env, _LAMBDA_TELEMETRY_LOG_FD=str(shim_telemetry.write_fd))
        worker = Worker(self, handler, root, env=env, cache_dir=cache_dir,
                        pass_fds=(shim_telemetry.write_fd,) if shim_telemetry else ())
        if shim_telemetry:
            shim_telemetry.started()
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
        self.maxDiff = None
        self.assertEqual(len(got), len(expected), (got, expected))
        for inv, want, have in zip(scenario or [None], expected, got):
            self.assertEqual(have, want, "invocation %r" % (inv,))
        # The init warning's wording is ferric's own (only its prefix is kept).
        self.assertEqual(normalised(worker.stderr), normalised(ref_out.decode("utf-8", "replace")))
        if telemetry:
            want, have = ref_telemetry.frames(), shim_telemetry.frames()
            self.assertEqual(have, want)
            self.last_frames = want
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

    def test_client_context_over_64_kib(self):
        # Over the 64 KiB that header lines from ferric were once limited to; awslambdaric's
        # HTTP client takes header lines up to 100 KiB, so this is as large as a comparison
        # goes (test_context covers 200 KB).
        cc = {"client": {"installation_id": "i" * 1000, "app_title": "t"},
              "custom": {"blob": "x" * 80000, "n": [1, 2.5]}, "env": {"e": "v"},
              "w3c": {"traceparent": "00-1", "tracestate": "s"}}
        cognito = {"cognitoIdentityId": "c" * 10000, "cognitoIdentityPoolId": "p"}
        self.run_both("diffapp.context_info", [
            {"body": b'{"a": 1}', "client_context": json.dumps(cc),
             "cognito_identity": json.dumps(cognito)}])

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

    # The telemetry descriptor (_LAMBDA_TELEMETRY_LOG_FD): the same frames, type for type.
    LOG_ENVS = ({}, {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, {"AWS_LAMBDA_LOG_FORMAT": "JSON"},
                {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "TRACE"})

    def test_telemetry_frames_for_logs_and_context_log(self):
        for env in self.LOG_ENVS:
            with self.subTest(env=env):
                self.run_both("diffapp.logs", [{}, {}], env=env, telemetry=True)
                kinds = set(kind for kind, _ in self.last_frames)
                self.assertGreater(len(self.last_frames), 5)
                if env:
                    self.assertGreater(len(kinds), 3, self.last_frames)
                self.run_both("diffapp.context_info", self.context_invocations(), env=env,
                              telemetry=True)

    def test_telemetry_frames_for_handler_errors(self):
        names = ["value", "multiline", "nested", "chained", "custom", "recursion"]
        for env in self.LOG_ENVS[::2]:
            with self.subTest(env=env):
                self.run_both("diffapp.fail", self.values(names), env=env, telemetry=True)
                errors = [m for kind, m in self.last_frames
                          if kind in ("a55a0017", "a55a0016")]
                self.assertEqual(len(errors), len(names), self.last_frames)
                if not env:  # one frame per error dump, lines and all
                    self.assertIn("\nTraceback (most recent call last):\n", errors[0])

    def test_telemetry_frames_for_init_errors(self):
        files = dict(DIFF_APP, **{"raises.py": "import helper\nhelper.fail('at import')\n",
                                  "syntax.py": "def handler(event, context):\n    return (\n"})
        for handler in ("raises.handler", "syntax.handler", "diffapp.missing", "nodot"):
            for env in self.LOG_ENVS[::2]:
                with self.subTest(handler=handler, env=env):
                    self.run_both(handler, [], files=files, env=env, telemetry=True)
                    warning, error = self.last_frames[-2:]
                    self.assertIn("<warning>", warning[1])
                    self.assertIn(error[0], ("a55a0017", "a55a0016"))

    # SnapStart's runtime hooks (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start): awslambdaric runs
    # them itself around GET /runtime/restore/next; the shim when ferric sends `hooks` frames.
    SNAP_APP = dict(DIFF_APP, **{"snap.py": """
        import logging, os, sys
        from snapshot_restore_py import register_after_restore, register_before_snapshot
        import helper

        ran = []
        FAIL = os.environ.get("SNAP_FAIL", "")

        def note(what, *args, **kwargs):
            ran.append([what, list(args), kwargs])
            print("hook", what, args, kwargs)
            logging.getLogger().warning("hook %s", what)
            if what == FAIL:
                if FAIL.endswith("exit"):
                    sys.exit(3)
                helper.fail("hook %s failed" % what)

        register_before_snapshot(note, "before-1", 1, k="v")
        register_before_snapshot(note, "before-2")
        register_before_snapshot(note, "before-exit")

        @register_after_restore
        def after_first():
            note("after-1")

        register_after_restore(note, "after-2", x=[1])
        register_after_restore(note, "after-exit")

        def handler(event, context):
            return ran
    """, "nohooks.py": """
        def handler(event, context):
            return "no hooks"
    """})
    RESTORE_ROUTES = [
        {"when": {"path_contains": "/runtime/restore/next"}, "fault": {"status": 200, "body": ""},
         "times": None},
        {"when": {"path_contains": "/runtime/restore/error"},
         "fault": {"status": 202, "body": "{}"}, "times": None},
    ]
    RUNNER_FRAME = re.compile(
        r'File \\?"(?:[^"\\]*/lambda_runtime_hooks_runner\.py|<ferric>/python/worker/hooks\.py)'
        r'\\?", line \d+')

    def run_snapstart(self, handler, fail="", env=None, telemetry=False):
        """awslambdaric and the shim through both hook phases (the fake Runtime API's restore
        routes are fault rules: it has none of its own); their posts, logs and frames compared.
        Returns awslambdaric's posts."""
        root = make_root(self, self.SNAP_APP)
        env = clean_env(root, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start", SNAP_FAIL=fail,
                        **(env or {}))
        api = fakeapi.shared()
        api.faults(self.RESTORE_ROUTES)
        ref_telemetry = TelemetryPipe(self) if telemetry else None
        ref_env = dict(env, AWS_LAMBDA_RUNTIME_API=api.address)
        if ref_telemetry:
            ref_env["_LAMBDA_TELEMETRY_LOG_FD"] = str(ref_telemetry.write_fd)
        ref = subprocess.Popen(
            [PYTHON, "-m", "awslambdaric", handler], cwd=root, env=ref_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(ref_telemetry.write_fd,) if ref_telemetry else ())
        self.addCleanup(lambda: ref.poll() is None and ref.kill())
        if ref_telemetry:
            ref_telemetry.started()
        ref_output = Drain(ref.stdout)
        if not fail:
            answer = api.invoke(request_id="req-0", deadline_ms=1, timeout_ms=60000)
            self.assertEqual(answer["outcome"], "response", ref_output.text())
        if api.wait_parked(2, ref):
            ref.kill()
        code = ref.wait(TIMEOUT)
        ref_out = ref_output.finish()
        expected = []
        for post in api.posts():
            kind = "restore_error" if "/restore/" in post["path"] else post["kind"]
            if post["path"].endswith("/restore/next"):
                continue
            expected.append((kind, post["headers"].get("lambda-runtime-function-error-type"),
                             post["body"]))

        shim_telemetry = TelemetryPipe(self) if telemetry else None
        if shim_telemetry:
            env = dict(env, _LAMBDA_TELEMETRY_LOG_FD=str(shim_telemetry.write_fd))
        worker = Worker(self, handler, root, env=env,
                        pass_fds=(shim_telemetry.write_fd,) if shim_telemetry else ())
        if shim_telemetry:
            shim_telemetry.started()
        self.assertEqual(worker.ready()["features"], ["hooks"])
        got = []
        for phase, kind, error_type in (
                ("before_snapshot", "init_error", "Runtime.BeforeSnapshotError"),
                ("after_restore", "restore_error", "Runtime.AfterRestoreError")):
            worker.send({"type": "hooks", "phase": phase})
            header, payload = worker.frame()
            self.assertEqual(header["phase"], phase)
            if header["type"] == "hooks_error":
                self.assertEqual(header["error_type"], json.loads(payload)["errorType"])
                got.append((kind, error_type, payload))
                break
            self.assertEqual(header["type"], "hooks_done")
        else:
            header, payload = worker.invoke(b"{}", id="req-0", deadline_ms=1)
            got.append(("response", None, payload))
            expected = [(k, None, b) for k, _, b in expected]
        self.assertEqual(worker.shutdown(), 0)
        self.assertEqual(code, {"": -9}.get(fail, 64 if fail.startswith("before") else 65))
        runner = lambda text: self.RUNNER_FRAME.sub('File "<runner>", line <n>', text)
        self.maxDiff = None
        self.assertEqual([(k, t, runner(b.decode())) for k, t, b in got],
                         [(k, t, runner(b.decode())) for k, t, b in expected])
        self.assertEqual(runner(normalised(worker.stderr)),
                         runner(normalised(ref_out.decode("utf-8", "replace"))))
        if telemetry:
            self.assertEqual([(k, runner(m)) for k, m in shim_telemetry.frames()],
                             [(k, runner(m)) for k, m in ref_telemetry.frames()])
        return expected

    def test_snapstart_hooks_run_in_awslambdarics_order(self):
        (kind, _, body), = self.run_snapstart("snap.handler")
        self.assertEqual([step[0] for step in json.loads(body)],
                         ["before-exit", "before-2", "before-1", "after-1", "after-2",
                          "after-exit"])

    def test_snapstart_hook_failures(self):
        for fail in ("before-2", "before-exit", "after-2", "after-exit"):
            for env in ({}, {"AWS_LAMBDA_LOG_FORMAT": "JSON"}):
                with self.subTest(fail=fail, env=env):
                    (kind, error_type, body), = self.run_snapstart("snap.handler", fail, env)
                    self.assertEqual(kind, "init_error" if fail[0] == "b" else "restore_error")
                    self.assertEqual(json.loads(body)["errorType"],
                                     "SystemExit" if fail.endswith("exit") else "LookupError")

    def test_snapstart_hooks_with_the_telemetry_descriptor(self):
        self.run_snapstart("snap.handler", "after-2", telemetry=True)

    def test_snapstart_without_hooks_or_the_package(self):
        (kind, _, body), = self.run_snapstart("nohooks.handler")
        self.assertEqual(body, b'"no hooks"')  # test_hooks: the shim never imports the package


if __name__ == "__main__":
    unittest.main()
