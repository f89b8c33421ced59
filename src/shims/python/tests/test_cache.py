"""The compiled-code cache and prepare mode, and what user code sees of boot.py."""
import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import (
    BOOT_SOURCE,
    BUNDLE_FD,
    BUNDLE_FILES,
    PYTHON,
    SHIM_KEY,
    ShimTestCase,
    TIMEOUT,
    WORKER_BUNDLE,
    Worker,
    clean_env,
    make_root,
    shim_args,
)

PREFIX = WORKER_BUNDLE.FILENAME_PREFIX
SOURCES = dict(BUNDLE_FILES)


def expected_code(name):
    """The code of bundle file `name` as the cache must hold it: compiled with the capture
    line the importer appends (see worker/bundle.py), but for bundle.py, which boot.py runs."""
    source = SOURCES[name] + (b"" if name == "bundle.py" else WORKER_BUNDLE.CAPTURE_LINE)
    return compile(source, PREFIX + name, "exec", dont_inherit=True)


class CacheTest(ShimTestCase):
    """boot.py loads the worker's code from FERRIC_SHIM_CACHE, or compiles it from the bundle
    and the worker writes the cache after its first answer; a bad cache never stops a worker."""

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
    # Planted as main.py's code: a valid cache runs whatever code it holds.
    MARKER = compile("import os\nos.write(1, b'from the cache\\n')\n\n\ndef main():\n    pass\n",
                     PREFIX + "main.py", "exec")

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

    def load(self, path):
        """(hot, {name: code object}) from a cache file."""
        with open(path, "rb") as f:
            data = f.read()
        header = (os.path.basename(path) + "\n").encode()
        self.assertEqual(data[:len(header)], header)
        hot, blobs = marshal.loads(data[len(header):])
        return hot, {name: marshal.loads(blob) for name, blob in blobs.items()}

    def assert_valid(self, path, complete=False):
        """A cache file boot.py uses: the hot modules in load order (main.py's imports,
        then main.py), the code of those, of bundle.py (boot.py runs it) and maybe others
        (all with `complete`)."""
        hot, codes = self.load(path)
        self.assertEqual(hot[-1], "main.py")
        self.assertLessEqual(set(hot), set(codes))
        self.assertLessEqual({"faults.py", "channel.py", "invoke.py"}, set(hot))
        self.assertNotIn("bundle.py", hot)  # boot.py runs it
        self.assertIn("bundle.py", codes)
        self.assertNotIn("errors.py", hot)  # cold
        if complete:
            self.assertEqual(set(codes), set(SOURCES))
        for name, code in codes.items():
            self.assertEqual(code.co_filename, PREFIX + name)
            self.assertEqual(code, expected_code(name), name)

    def plant(self, path, codes):
        """Replace the code of some modules ({name: code}) in a valid cache file."""
        with open(path, "rb") as f:
            data = f.read()
        header = (os.path.basename(path) + "\n").encode()
        hot, blobs = marshal.loads(data[len(header):])
        for name, code in codes.items():
            blobs[name] = marshal.dumps(code)
        with open(path, "wb") as f:
            f.write(header + marshal.dumps((hot, blobs)))

    def run_shim(self, cache_dir, env=None, handler="app.handler", **kwargs):
        env = dict(env or self.env, FERRIC_SHIM_CACHE=cache_dir)
        return subprocess.run(shim_args(handler), cwd=self.root, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT, pass_fds=(BUNDLE_FD,),
                              **kwargs)

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
        self.plant(path, {"main.py": self.MARKER})
        proc = self.run_shim(cache)
        self.assertEqual((proc.returncode, proc.stdout), (0, b"from the cache\n"), proc.stderr)

    def test_the_cache_is_written_after_the_first_answer(self):
        # Off the cold start's critical path; it then holds what that invocation compiled.
        cache = os.path.join(self.tmp, "cache")
        w = self.worker(cache)
        w.ready()
        self.assertFalse(os.path.exists(cache))
        w.error(b"not json")  # compiles the cold error reporting and exact JSON decoder
        w.result()  # the write is done before the next frame is read
        path = self.cache_file(cache)
        hot, codes = self.load(path)
        self.assertIn("errors.py", codes)
        self.assertIn("exactjson.py", codes)
        self.assertNotIn("errors.py", hot)
        self.assertEqual(w.shutdown(), 0)
        # A worker that stops before answering does not write it.
        other = os.path.join(self.tmp, "other")
        self.assertEqual(self.run_shim(other).returncode, 0)
        self.assertFalse(os.path.exists(other))

    def test_invalid_cache_files_are_replaced(self):
        cache = os.path.join(self.tmp, "cache")
        self.serves(cache)
        path = self.cache_file(cache)
        with open(path, "rb") as f:
            good = f.read()
        header = (os.path.basename(path) + "\n").encode()
        hot, blobs = marshal.loads(good[len(header):])

        def payload(changes):
            return header + marshal.dumps((hot, dict(blobs, **changes)))

        cases = {
            "empty": b"",
            "header only": header,
            "truncated": good[:len(good) // 2],
            "one byte short": good[:-1],
            "garbage": header + b"\xff\x00garbage" * 100,
            "another header": b"shim-0000000000000000-x\n" + good[len(header):],
            "no header": good[len(header):],
            "not the pair": header + marshal.dumps({"a": 1}),
            "hot module missing": header + marshal.dumps((hot + ("nothere.py",), blobs)),
            "not bytes": payload({"main.py": 1}),
            "boot.py's bundle.py not code": payload({"bundle.py": marshal.dumps({"a": 1})}),
            "a module not code": payload({"main.py": marshal.dumps({"a": 1})}),
            "a module truncated": payload({"invoke.py": blobs["invoke.py"][:-9]}),
            "a module from another file": payload(
                {"main.py": marshal.dumps(compile("pass", "x.py", "exec"))}),
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

    def test_no_key_no_cache(self):
        cache = os.path.join(self.tmp, "cache")
        self.env["FERRIC_SHIM_KEY"] = ""
        self.assertEqual(self.serves(cache), "ok")
        self.assertFalse(os.path.exists(cache))

    def test_directories_others_can_write_to_are_not_trusted(self):
        cache = os.path.join(self.tmp, "cache")
        self.serves(cache)
        path = self.cache_file(cache)
        self.plant(path, {"main.py": self.MARKER})
        os.chmod(cache, 0o777)
        self.assertEqual(self.serves(cache), "ok")  # the planted code did not run
        os.chmod(cache, 0o775)
        self.assertEqual(self.serves(cache), "ok")
        # And nothing was written there.
        self.assertEqual(self.load(path)[1]["main.py"], self.MARKER)
        if os.getuid() == 0:
            os.chmod(cache, 0o755)
            os.chown(cache, 4242, 4242)  # another user's
            self.assertEqual(self.serves(cache), "ok")
            os.chown(cache, 0, 0)
        os.chmod(cache, 0o755)
        proc = self.run_shim(cache)
        self.assertEqual(proc.stdout, b"from the cache\n")

    def test_user_code_sees_no_trace_of_the_boot(self):
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
                        self.assertNotIn("FERRIC", k)
                        self.assertNotIn(SHIM_KEY, v, k)
                    # __main__ is boot.py's module: nothing of its own is left there.
                    self.assertEqual([n for n in seen["main"] if not n.startswith("__")], [])
            self.cache_file(cache)

    def test_handler_runs_as_deep_compiled_or_cached(self):
        # `python -m awslambdaric`: runpy's 2 frames, its __main__, main(), run(),
        # handle_event_request(), the handler (DifferentialTest checks recursion errors).
        cache = os.path.join(self.tmp, "cache")
        self.assertEqual(self.serves(cache, "app.depth"), 7)  # compiled
        self.cache_file(cache)
        self.assertEqual(self.serves(cache, "app.depth"), 7)  # cached

    def test_tracebacks_show_the_shims_own_lines(self):
        # The worker's frames show their own lines (from the bundle); boot.py's frame shows
        # boot.py's on Python 3.13+, which keeps `-c` programs' lines (older versions: none).
        cache = os.path.join(self.tmp, "cache")
        boot = BOOT_SOURCE.splitlines()
        for start in ("compiled", "cached"):
            with self.subTest(start):
                stack = self.serves(cache, "app.stack")
                m = re.match(r'  File "<string>", line (\d+), in <module>\n(?:    (.*)\n)?$',
                             stack[0])
                self.assertTrue(m, stack[0])
                if sys.version_info >= (3, 13):
                    self.assertEqual(m.group(2), boot[int(m.group(1)) - 1].strip())
                else:
                    self.assertIsNone(m.group(2))
                shown = 0
                for entry in stack[1:]:
                    m = re.match(r'  File "%s([^"]+)", line (\d+), in \S+\n    (.*)\n$'
                                 % re.escape(PREFIX), entry)
                    if m:
                        shown += 1
                        lines = SOURCES[m.group(1)].decode().splitlines()
                        self.assertEqual(m.group(3), lines[int(m.group(2)) - 1].strip())
                self.assertEqual(shown, 5, stack)  # main, start, run, serve, handle_invoke

    def test_prepare_writes_the_cache_and_exits(self):
        cache = os.path.join(self.tmp, "image", "cache")
        env = dict(self.env, FERRIC_SHIM_PREPARE="1")
        kwargs = {"umask": 0o077} if sys.version_info >= (3, 9) else {}
        proc = self.run_shim(cache, env=env, handler=None, **kwargs)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        path = self.cache_file(cache)
        self.assertEqual(proc.stdout.decode(), "ferric: compiled the Python shim into %s\n" % path)
        self.assertEqual(proc.stderr, b"")
        self.assert_valid(path, complete=True)
        # Readable by the unprivileged user Lambda runs functions as.
        self.assertEqual(os.stat(cache).st_mode & 0o777, 0o755)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        before = os.stat(path)
        self.assertEqual(self.serves(cache), "ok")
        self.assertEqual(os.stat(path).st_mtime_ns, before.st_mtime_ns)
        # Cold modules come from it too.
        w = self.worker(cache)
        w.ready()
        w.error(b"not json")
        self.assertEqual(w.shutdown(), 0)
        self.assertEqual(os.stat(path).st_mtime_ns, before.st_mtime_ns)
        # Again: compiles and replaces, whatever is there.
        self.plant(path, {"main.py": self.MARKER})
        proc = self.run_shim(cache, env=env, handler="app.handler")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_valid(path, complete=True)

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
        proc = self.run_shim(shared, env=dict(env, FERRIC_SHIM_KEY=""), handler=None)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no FERRIC_SHIM_KEY", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main()
