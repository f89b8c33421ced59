"""What every test module of the Python shim shares: starting workers exactly as ferric does.

A worker is `PYTHON -c <boot.py> HANDLER` with the bundle of ../worker/ on an inherited file
descriptor (FERRIC_SHIM_FD), built here as build.rs builds it (src/shims/README.md): files
sorted by name behind an index, keyed by their FNV-1a hash. Workers get LAMBDA_TASK_ROOT and
the cwd pointing at a temporary task root and share one cache directory per run (except in
the cache tests). Run from the repository root:

    python3 -m unittest discover -s src/shims/python/tests -p 'test_*.py'
"""
import atexit
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
PY_DIR = os.path.dirname(HERE)
WORKER_DIR = os.path.join(PY_DIR, "worker")
PYTHON = sys.executable
with open(os.path.join(PY_DIR, "boot.py"), encoding="utf-8") as _f:
    BOOT_SOURCE = _f.read()


def fnv1a64(data):
    """The bundle key (src/shims/README.md)."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def bundle_files(directory=WORKER_DIR):
    """(name, bytes) of the files build.rs bundles: all under `directory` but dot files,
    __pycache__ and .pyc files, sorted by their path relative to it."""
    found = []
    for parent, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in names:
            if name.startswith(".") or name.endswith(".pyc"):
                continue
            path = os.path.join(parent, name)
            rel = os.path.relpath(path, directory).replace(os.sep, "/")
            with open(path, "rb") as f:
                found.append((rel, f.read()))
    return sorted(found)


def build_bundle(files):
    """The bundle of `files` ((name, bytes) pairs, sorted): index, then the contents."""
    index_len = 0
    while True:
        index = "ferric-bundle 1\n"
        offset = index_len
        for name, data in files:
            index += "%d %d %s\n" % (offset, len(data), name)
            offset += len(data)
        index += "\n"
        if len(index) == index_len:
            assert index_len <= 4096, "bundle index over 4096 bytes"
            return index.encode("ascii") + b"".join(data for _, data in files)
        index_len = len(index)


def bundle_fd(bundle):
    """A file descriptor open on a regular in-memory file holding `bundle`, for workers to
    inherit (it stays open for the whole run)."""
    fd = os.memfd_create("ferric-python-shim-test", 0)
    os.write(fd, bundle)
    return fd


def _worker_bundle():
    """worker/bundle.py as a module of its own, for its constants."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ferric_test_worker_bundle", os.path.join(WORKER_DIR, "bundle.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WORKER_BUNDLE = _worker_bundle()
BUNDLE_FILES = bundle_files()
BUNDLE = build_bundle(BUNDLE_FILES)
SHIM_KEY = "%016x" % fnv1a64(BUNDLE)
BUNDLE_FD = bundle_fd(BUNDLE)
# The cache most workers share (as ferric's /tmp/ferric-VERSION), made on first use.
CACHE_DIR = os.path.join(os.path.realpath(tempfile.gettempdir()),
                         "ferric-shim-test-cache-%d" % os.getpid())
atexit.register(shutil.rmtree, CACHE_DIR, True)


def shim_args(handler=None):
    """The interpreter's command line, as ferric builds it (src/shims/mod.rs)."""
    return [PYTHON, "-c", BOOT_SOURCE] + ([] if handler is None else [handler])


def shim_env(cache_dir=None, fd=None, key=None):
    """The variables ferric gives a shim worker (src/shims/README.md)."""
    return {
        "FERRIC_SHIM_FD": str(BUNDLE_FD if fd is None else fd),
        "FERRIC_SHIM_KEY": SHIM_KEY if key is None else key,
        "FERRIC_SHIM_CACHE": CACHE_DIR if cache_dir is None else cache_dir,
        "FERRIC_SHIM_PREPARE": "",
    }


TIMEOUT = 60
MAX_HEADER = 64 * 1024  # header lines from a worker (ferric's limit)
MAX_HEADER_IN = 1024 * 1024  # header lines to a worker (docs/PROTOCOL.md)
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
    env["FERRIC_PROTOCOL_FEATURES"] = "streaming"  # what ferric offers (docs/PROTOCOL.md)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(shim_env())
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
        args = shim_args(handler if argv_handler else None)
        env = dict(env if env is not None else clean_env(root))
        if cache_dir is not None:
            env["FERRIC_SHIM_CACHE"] = cache_dir
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd or root, env=env, pass_fds=tuple(pass_fds) + (BUNDLE_FD,))
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

    def stream(self, event=b"{}", **fields):
        """Send one invoke; return every frame of its answer (a stream's frames up to its end,
        or the one result or error frame)."""
        if not isinstance(event, bytes):
            event = json.dumps(event).encode("utf-8")
        header = self.invoke_header(event, **fields)
        self.send(header, event)
        frames = []
        while True:
            frame = self.frame()
            if frame[0].get("id") != header["id"]:
                raise AssertionError("unexpected frame %r to %r" % (frame, header))
            frames.append(frame)
            if frame[0]["type"] in ("result", "error", "stream_end", "stream_error"):
                return frames

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

# A handler that raises (app.handler), and others that fail differently.
ERROR_APP = {"app.py": """
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


class ShimTestCase(unittest.TestCase):
    def start(self, files, handler, env=None, **kwargs):
        """A worker for `handler` in a new task root; `env` adds variables."""
        root = make_root(self, files)
        return Worker(self, handler, root, env=clean_env(root, **(env or {})), **kwargs)
