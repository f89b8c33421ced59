"""SnapStart's runtime hooks, as ferric asks for them (`hooks` frames after `ready`);
test_differential compares them with awslambdaric's."""
import json
import unittest

from harness import ShimTestCase

HOOKS_APP = {
    "app.py": """
        import sys
        from snapshot_restore_py import register_after_restore, register_before_snapshot

        order = []
        register_before_snapshot(order.append, "b1")
        register_before_snapshot(order.append, "b2")
        register_after_restore(order.append, "a1")
        register_after_restore(lambda **kw: order.append(kw), k="a2")

        def handler(event, context):
            return order
    """,
    "fails.py": """
        from snapshot_restore_py import register_before_snapshot

        def hook():
            raise RuntimeError("cannot snapshot")

        register_before_snapshot(hook)

        def handler(event, context):
            return 1
    """,
    # A stand-in with the package's interface, so the test does not depend on its being
    # installed: hooks are found through the module user code imported.
    "snapshot_restore_py.py": """
        _before, _after = [], []

        def register_before_snapshot(func, *args, **kwargs):
            _before.append((func, args, kwargs))
            return func

        def register_after_restore(func, *args, **kwargs):
            _after.append((func, args, kwargs))
            return func

        def get_before_snapshot():
            return _before

        def get_after_restore():
            return _after
    """,
    "plain.py": """
        import sys
        def handler(event, context):
            return "snapshot_restore_py" in sys.modules
    """,
}


class HooksTest(ShimTestCase):
    def hooks(self, w, phase):
        w.send({"type": "hooks", "phase": phase})
        return w.frame()

    def test_ready_offers_hooks(self):
        w = self.start(HOOKS_APP, "plain.handler")
        self.assertEqual(w.ready()["features"], ["hooks"])
        self.assertEqual(w.shutdown(), 0)

    def test_hooks_run_lifo_before_the_snapshot_and_fifo_after_the_restore(self):
        w = self.start(HOOKS_APP, "app.handler")
        w.ready()
        self.assertEqual(self.hooks(w, "before_snapshot"),
                         ({"type": "hooks_done", "phase": "before_snapshot"}, None))
        self.assertEqual(self.hooks(w, "after_restore"),
                         ({"type": "hooks_done", "phase": "after_restore"}, None))
        self.assertEqual(json.loads(w.result()[1]), ["b2", "b1", "a1", {"k": "a2"}])
        # Before-snapshot hooks run once (popped); after-restore hooks every time asked.
        self.hooks(w, "before_snapshot")
        self.hooks(w, "after_restore")
        self.assertEqual(json.loads(w.result()[1]),
                         ["b2", "b1", "a1", {"k": "a2"}, "a1", {"k": "a2"}])
        self.assertEqual(w.shutdown(), 0)

    def test_a_failing_hook_is_reported_and_logged(self):
        w = self.start(HOOKS_APP, "fails.handler")
        w.ready()
        header, payload = self.hooks(w, "before_snapshot")
        self.assertEqual(header["type"], "hooks_error")
        self.assertEqual(header["phase"], "before_snapshot")
        self.assertEqual(header["error_type"], "RuntimeError")
        error = json.loads(payload)
        self.assertEqual((error["errorMessage"], error["errorType"], error["requestId"]),
                         ("cannot snapshot", "RuntimeError", ""))
        runner, hook = error["stackTrace"]  # the runner's frame stays, as awslambdaric's does
        self.assertIn('<ferric>/python/worker/hooks.py", line ', runner)
        self.assertIn("in run_before_snapshot\n    func(*args, **kwargs)\n", runner)
        self.assertIn('fails.py", line 5, in hook\n', hook)
        w.wait_stderr("[ERROR] RuntimeError: cannot snapshot\rTraceback", timeout=5)
        self.assertEqual(w.shutdown(), 0)  # ferric stops the worker

    def test_without_registered_hooks_or_the_package_each_phase_is_done_at_once(self):
        w = self.start(HOOKS_APP, "plain.handler")
        w.ready()
        for phase in ("before_snapshot", "after_restore", "a_future_phase"):
            self.assertEqual(self.hooks(w, phase)[0], {"type": "hooks_done", "phase": phase})
        self.assertEqual(w.result()[1], b"false")  # the shim never imported the package
        self.assertEqual(w.shutdown(), 0)


if __name__ == "__main__":
    unittest.main()
