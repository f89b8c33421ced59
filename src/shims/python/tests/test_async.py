"""`async def` handlers: awaited on one event loop per worker that lives across invocations;
their errors reported exactly as a sync handler's. Sync handlers never import asyncio."""
import json
import unittest

from harness import ShimTestCase, Worker, clean_env, make_root

ASYNC_APP = {
    "sync_app.py": """
        import helper
        def handler(event, context):
            return helper.fail(event)
    """,
    "async_app.py": """
        import helper
        async def handler(event, context):
            return helper.fail(event)
    """,
    "wrapped.py": """
        import async_app

        def handler(event, context):  # a sync wrapper: the loop is made at its first coroutine
            return async_app.handler(event, context)
    """,
    "helper.py": """
        def fail(event):
            if event.get("fail"):
                raise KeyError("missing " + event["fail"])
            return {"echo": event}
    """,
    "app.py": """
        import asyncio, os, sys

        # A loop made current at import time (module-level clients bind to it): kept.
        IMPORT_LOOP = asyncio.new_event_loop()
        asyncio.set_event_loop(IMPORT_LOOP)
        LOCK = asyncio.Lock()  # binds to the loop that first uses it
        seen = []

        async def background():
            while True:
                seen.append("tick")
                await asyncio.sleep(0)

        async def handler(event, context):
            loop = asyncio.get_running_loop()
            async with LOCK:
                await asyncio.sleep(0)
            if not seen:
                asyncio.ensure_future(background())  # fire and forget: runs on
            await asyncio.sleep(0.01)
            return {"same_loop": loop is IMPORT_LOOP, "ticks": len(seen) > 0,
                    "request": context.aws_request_id,
                    "remaining": context.get_remaining_time_in_millis() > 0}

        async def cancelled(event, context):
            task = asyncio.ensure_future(asyncio.sleep(10))
            asyncio.get_running_loop().call_soon(task.cancel)
            await task

        async def exits(event, context):
            await asyncio.sleep(0)
            sys.exit(event["code"])

        class Awaitable(object):
            def __await__(self):
                yield

        def returns_awaitable(event, context):
            return Awaitable()
    """,
    "plain.py": """
        import sys
        def handler(event, context):
            return sorted(m for m in ("asyncio", "inspect", "concurrent.futures")
                          if m in sys.modules)
    """,
}


class AsyncHandlerTest(ShimTestCase):
    def worker(self, handler):
        w = self.start(ASYNC_APP, handler)
        w.ready()
        return w

    def test_an_async_handler_is_awaited_like_a_sync_one_answers(self):
        w = self.worker("async_app.handler")
        header, payload = w.result({"a": [1, 2.5]})
        self.assertEqual(payload, b'{"echo": {"a": [1, 2.5]}}')
        self.assertEqual(w.shutdown(), 0)

    def test_a_sync_function_that_returns_a_coroutine_is_awaited_too(self):
        w = self.worker("wrapped.handler")
        self.assertEqual(w.result({"n": 1})[1], b'{"echo": {"n": 1}}')
        self.assertEqual(json.loads(w.error({"fail": "x"})[1])["errorType"], "KeyError")
        self.assertEqual(w.shutdown(), 0)

    def test_errors_are_reported_as_for_the_same_sync_handler(self):
        answers = {}
        root = make_root(self, ASYNC_APP)
        for module in ("sync_app", "async_app"):
            w = Worker(self, module + ".handler", root, env=clean_env(root))
            w.ready()
            header, payload = w.error({"fail": "key"})
            w.wait_stderr("Traceback")
            self.assertEqual(w.shutdown(), 0)
            answers[module] = (header, payload.decode(), w.stderr)
        sync, async_ = answers["sync_app"], answers["async_app"]
        swap = lambda text: text.replace("async_app.py", "sync_app.py")
        self.assertEqual(swap(async_[1]), sync[1])
        self.assertEqual(json.loads(sync[1])["errorType"], "KeyError")
        self.assertEqual(len(json.loads(sync[1])["stackTrace"]), 2)
        causes = [json.loads(swap(a[0]["xray_cause"])) for a in (async_, sync)]
        for cause in causes:
            cause["paths"].sort()  # a set's order
        self.assertEqual(causes[0], causes[1])
        self.assertEqual(swap(async_[2]).replace("req-1", "R"), sync[2].replace("req-1", "R"))

    def test_one_loop_lives_across_invocations(self):
        w = self.worker("app.handler")
        first = json.loads(w.result()[1])
        self.assertEqual(first, {"same_loop": True, "ticks": True, "request": "req-1",
                                 "remaining": True})
        for n in (2, 3):  # the lock bound to the loop still works; the task still runs
            self.assertEqual(json.loads(w.result()[1])["request"], "req-%d" % n)
        self.assertEqual(w.shutdown(), 0)

    def test_a_cancelled_handler_is_an_error_not_a_crash(self):
        w = self.worker("app.cancelled")
        header, payload = w.error()
        error = json.loads(payload)
        self.assertEqual(error["errorType"], "CancelledError")
        self.assertIn("in cancelled\n    await task", error["stackTrace"][0])
        header, payload = w.error()  # the worker goes on
        self.assertEqual(w.shutdown(), 0)

    def test_sys_exit_ends_the_worker_as_from_a_sync_handler(self):
        w = self.worker("app.exits")
        w.send(w.invoke_header(b'{"code": 3}'), b'{"code": 3}')
        self.assertEqual(w.wait(), 3)

    def test_other_awaitables_are_not_awaited(self):
        # Only coroutines are: anything else is marshalled, as awslambdaric does.
        w = self.worker("app.returns_awaitable")
        self.assertEqual(json.loads(w.error()[1])["errorType"], "Runtime.MarshalError")
        self.assertEqual(w.shutdown(), 0)

    def test_sync_handlers_never_import_asyncio(self):
        w = self.worker("plain.handler")
        self.assertEqual(json.loads(w.result()[1]), [])
        self.assertEqual(w.shutdown(), 0)


if __name__ == "__main__":
    unittest.main()
