"""The shared fake Lambda Runtime API (fake-api/, the `ferric-fake-api` binary) for the tests
that run awslambdaric itself: one process per test run, driven through its control API
(fake-api/README.md), reset before every use.

The binary is `FERRIC_FAKE_API` if set, else target/debug/ferric-fake-api of this repository,
built with `cargo build -p ferric-fake-api` when missing.
"""
import atexit
import base64
import json
import os
import subprocess
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
BUILD = "cargo build -p ferric-fake-api"
from harness import ARN  # noqa: E402  (the scenarios' ARN)

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
_lock = threading.Lock()
_fake = None


class FakeApiMissing(RuntimeError):
    pass


def binary():
    """The fake's binary, built if missing; FakeApiMissing says how to get it otherwise."""
    path = os.environ.get("FERRIC_FAKE_API")
    if path:
        if not os.access(path, os.X_OK):
            raise FakeApiMissing("FERRIC_FAKE_API=%r is not an executable" % path)
        return path
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    path = os.path.join(target, "debug", "ferric-fake-api")
    if not os.access(path, os.X_OK):
        try:
            built = subprocess.run(BUILD.split(), cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=900)
            output = built.stdout.decode("utf-8", "replace")[-2000:]
        except (OSError, subprocess.TimeoutExpired) as e:
            built, output = None, str(e)
        if built is None or built.returncode != 0 or not os.access(path, os.X_OK):
            raise FakeApiMissing(
                "the fake Runtime API %s is missing and could not be built; run `%s` in %s "
                "(or set FERRIC_FAKE_API to the binary):\n%s" % (path, BUILD, REPO, output))
    return path


class FakeApi(object):
    """One `ferric-fake-api` process and its control API."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([binary(), "--arn", ARN] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("ferric-fake-api did not start: %r" % line)
        self.address = line.split()[-1]
        # Nothing else is expected on stdout; read it anyway so that the pipe never fills.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def control(self, method, path, payload=None, timeout=120):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            "http://%s/_fake/%s" % (self.address, path), data=data, method=method,
            headers={"content-type": "application/json"})
        with _opener.open(request, timeout=timeout) as answer:
            return json.load(answer)

    def reset(self):
        self.control("POST", "reset", {})

    def faults(self, rules):
        self.control("POST", "faults", rules)

    def invoke(self, **fields):
        return self.control("POST", "invoke", fields)

    def requests(self):
        return self.control("GET", "requests")

    def posts(self):
        """The Runtime API posts (and /restore/ requests), with bodies decoded."""
        out = []
        for r in self.requests():
            if r["kind"] in ("response", "error", "init_error") or "/restore/" in r["path"]:
                r["body"] = base64.b64decode(r["body_base64"])
                out.append(r)
        return out

    def wait_parked(self, count, proc=None, timeout=60):
        """Until the runtime has made `count` /next requests and the last one is parked
        (unanswered), or `proc` exited."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            nexts = [r for r in self.requests() if r["kind"] == "next"]
            if len(nexts) >= count and nexts[-1]["status"] is None:
                return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.01)
        raise AssertionError("the runtime never parked its /next number %d" % count)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.control("POST", "shutdown", {}, timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def shared():
    """The run's fake, started on first use and reset."""
    global _fake
    with _lock:
        if _fake is None or _fake.proc.poll() is not None:
            _fake = FakeApi()
            atexit.register(_fake.stop)
    _fake.reset()
    return _fake


def invocation_fields(inv):
    """The control API's invoke request for a scenario invocation (see test_differential):
    empty header values are sent as empty headers, None ones not at all."""
    fields = {"request_id": inv["id"], "body_base64": inv["body"],
              "deadline_ms": inv["deadline_ms"], "content_type": inv["content_type"],
              "timeout_ms": 60000}
    headers = {}
    for key, header in (("trace_id", "lambda-runtime-trace-id"),
                        ("client_context", "lambda-runtime-client-context"),
                        ("cognito_identity", "lambda-runtime-cognito-identity"),
                        ("tenant_id", "lambda-runtime-aws-tenant-id")):
        value = inv.get(key)
        if value:
            fields[key] = value
        elif value == "":
            headers[header] = ""
    if headers:
        fields["headers"] = headers
    return fields
