"""Starting a worker: boot.py and the bundle, the ready frame, the handler's name, channels,
sys.path."""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

from harness import (
    BOOT_SOURCE,
    BUNDLE,
    BUNDLE_FD,
    ECHO_APP,
    PYTHON,
    SHIM_KEY,
    ShimTestCase,
    TIMEOUT,
    Worker,
    clean_env,
    make_root,
    read_frames,
    shim_args,
)

SEES = {
    "fds.py": """
        import os

        def fds():
            # Where this process's descriptors point.
            out = {}
            for fd in os.listdir("/proc/self/fd"):
                try:
                    out[fd] = os.readlink("/proc/self/fd/" + fd)
                except OSError:  # listdir's own
                    pass
            return out

        if __name__ == "__main__":
            import json
            print(json.dumps([dict(os.environ), fds()]))
    """,
    "app.py": """
        import json, os, subprocess, sys
        from fds import fds

        def handler(event, context):
            child = subprocess.run([sys.executable, "fds.py"], stdout=subprocess.PIPE, check=True,
                                   cwd=os.path.dirname(__file__))
            child_env, child_fds = json.loads(child.stdout)
            return {
                "environ": dict(os.environ), "fds": fds(),
                "child_environ": child_env, "child_fds": child_fds,
                "modules": sorted(m for m in sys.modules if m.startswith("_ferric")),
                "compiled": sys.modules["_ferric"].__loader__.compiled,
                "origin": sys.modules["_ferric.main"].__spec__.origin,
            }
    """,
}


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


if __name__ == "__main__":
    unittest.main()


class BootTest(ShimTestCase):
    """boot.py on the command line, the bundle on an inherited descriptor (src/shims/README.md)."""

    def test_boot_program_is_short_and_says_what_it_is(self):
        self.assertLessEqual(len(BOOT_SOURCE.encode("utf-8")), 3072)
        self.assertTrue(BOOT_SOURCE.startswith("# ferric's Python worker boot program"),
                        BOOT_SOURCE[:80])
        compile(BOOT_SOURCE, "<string>", "exec")

    def test_command_line_is_boot_and_handler_under_4_kib(self):
        w = self.start(ECHO_APP, "app.echo")
        w.ready()
        with open("/proc/%d/cmdline" % w.proc.pid, "rb") as f:
            cmdline = f.read()
        self.assertLess(len(cmdline), 4096)
        self.assertEqual(cmdline.split(b"\0")[:-1],
                         [os.fsencode(PYTHON), b"-c", BOOT_SOURCE.encode(), b"app.echo"])
        self.assertEqual(w.shutdown(), 0)

    def sees(self, bundle_target, **env):
        """What the handler of SEES reports, from a worker whose bundle descriptor points
        at `bundle_target`."""
        root = make_root(self, SEES)
        w = Worker(self, "app.handler", root, env=clean_env(root, **env))
        w.ready()
        seen = json.loads(w.result()[1])
        self.assertEqual(w.shutdown(), 0)
        for where in ("environ", "child_environ"):
            self.assertEqual([k for k in seen[where] if k.startswith("FERRIC_")], [], where)
            self.assertNotIn(SHIM_KEY, json.dumps(seen[where]), where)
        for where in ("fds", "child_fds"):
            self.assertNotIn(bundle_target, seen[where].values(), where)
        return seen

    def test_variables_are_removed_and_the_bundle_is_not_inherited(self):
        # The memfd of the harness, as ferric's sealed memfd.
        target = os.readlink("/proc/self/fd/%d" % BUNDLE_FD)
        self.assertTrue(target.startswith("/memfd:"), target)
        seen = self.sees(target)
        self.assertEqual(seen["origin"], "<ferric>/python/worker/main.py")

    def test_bundle_in_a_regular_file(self):
        tmp = tempfile.NamedTemporaryFile(prefix="ferric-bundle-")
        self.addCleanup(tmp.close)
        tmp.write(BUNDLE)
        tmp.flush()
        fd = os.open(tmp.name, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        os.lseek(fd, 1234, os.SEEK_SET)  # a shared file offset must not matter (pread)
        root = make_root(self, SEES)
        w = Worker(self, "app.handler", root, env=clean_env(root, FERRIC_SHIM_FD=str(fd)),
                   pass_fds=(fd,))
        w.ready()
        seen = json.loads(w.result()[1])
        self.assertEqual(w.shutdown(), 0)
        self.assertNotIn(tmp.name, seen["fds"].values())
        self.assertNotIn(tmp.name, seen["child_fds"].values())
        self.assertEqual(os.lseek(fd, 0, os.SEEK_CUR), 1234)

    def test_hot_modules_loaded_cold_ones_not_compiled_or_cached(self):
        cache = os.path.realpath(tempfile.mkdtemp(prefix="ferric-boot-"))
        self.addCleanup(shutil.rmtree, cache, True)
        target = os.readlink("/proc/self/fd/%d" % BUNDLE_FD)
        for start, compiled in (("no cache", True), ("compiled", True), ("cached", False)):
            with self.subTest(start):
                seen = self.sees(target, FERRIC_SHIM_CACHE="" if start == "no cache" else cache)
                self.assertEqual(seen["compiled"], compiled)
                self.assertIn("_ferric.main", seen["modules"])
                self.assertIn("_ferric.invoke", seen["modules"])
                for cold in ("errors", "exactjson", "jsonlog", "putenv", "prepare"):
                    self.assertNotIn("_ferric." + cold, seen["modules"])

    def test_no_bundle(self):
        root = make_root(self, ECHO_APP)
        for fd in (None, "", "banana", "999"):
            with self.subTest(fd):
                env = clean_env(root, FERRIC_SHIM_FD=fd)
                proc = subprocess.run(shim_args("app.echo"), env=env, cwd=root,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, timeout=TIMEOUT)
                self.assertEqual((proc.returncode, proc.stdout), (1, b""))
                self.assertIn(b"ferric python shim: no bundle on FERRIC_SHIM_FD", proc.stderr)
        with tempfile.TemporaryFile() as f:  # not a bundle
            f.write(b"something else\n")
            f.flush()
            proc = subprocess.run(shim_args("app.echo"), cwd=root,
                                  env=clean_env(root, FERRIC_SHIM_FD=str(f.fileno())),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=TIMEOUT, pass_fds=(f.fileno(),))
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"no bundle on FERRIC_SHIM_FD", proc.stderr)
