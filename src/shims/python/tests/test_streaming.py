"""Response streaming: handlers marked with ferric_lambda.stream answer with stream frames;
every other handler answers as awslambdaric would (test_differential)."""
import json
import os
import unittest

from harness import ShimTestCase, clean_env, make_root, Worker

MIB = 1024 * 1024

STREAM_APP = {"app.py": """
    import asyncio, os, sys, time
    import ferric_lambda
    from ferric_lambda import HttpResponse, stream

    @stream
    def tokens(event, context):
        for word in event.get("words", ["hello ", "streaming ", "world"]):
            yield word
        yield b"\\x00bytes\\xff"
        yield bytearray(b"!")
        yield ""  # nothing to send

    @stream(content_type="text/plain; charset=utf-8")
    def typed(event, context):
        yield "caf\\u00e9"

    @stream
    def large(event, context):
        yield b"x" * event["size"]
        yield "y" * 10

    @stream
    def http(event, context):
        def body():
            yield "<p>"
            yield "streamed</p>"
        return HttpResponse(body(), status_code=201,
                            headers={"content-type": "text/html", "x-n": "1"},
                            cookies=["a=1", "b=2; Path=/"])

    @stream
    def http_first(event, context):
        yield HttpResponse(status_code=202, headers={"content-type": "text/event-stream"})
        yield "data: 1\\n\\n"

    @stream
    def http_empty(event, context):
        return HttpResponse(status_code=204)

    @stream
    def http_str(event, context):
        return HttpResponse("whole body", headers={"h": "v"})

    @stream
    def fails_first(event, context):
        raise_it("before any byte")
        yield "never"

    @stream
    def fails_later(event, context):
        yield "part one, "
        yield "part two"
        raise_it("mid-stream")

    def raise_it(message):
        raise ValueError(message)

    @stream
    def bad_item(event, context):
        yield "ok"
        yield {"not": "bytes"}

    @stream
    def bad_first_item(event, context):
        yield 42

    @stream
    def two_preludes(event, context):
        yield HttpResponse()
        yield HttpResponse()

    @stream
    def plain_value(event, context):
        return {"not": "streamed"}

    @stream
    def text_value(event, context):
        return "raw text"

    @stream
    def empty(event, context):
        return iter(())

    @stream
    async def agen(event, context):
        for i in range(3):
            await asyncio.sleep(0)
            yield "async %d\\n" % i

    @stream
    async def agen_fails(event, context):
        yield "a"
        await asyncio.sleep(0)
        raise_it("async mid-stream")

    @stream
    async def coroutine_http(event, context):
        await asyncio.sleep(0)

        async def body():
            yield "from "
            yield "a coroutine"
        return HttpResponse(body(), headers={"content-type": "text/plain"})

    @stream
    def slow(event, context):
        yield "first"
        deadline = time.time() + 30
        while not os.path.exists(event["gate"]) and time.time() < deadline:
            time.sleep(0.01)
        yield "second"

    @stream
    def event_echo(event, context):
        yield context.aws_request_id
        yield repr(event)

    @stream
    def closes(event, context):
        try:
            yield "a"
            yield 1  # not str or bytes
        finally:
            print("generator closed")

    @stream
    async def acloses(event, context):
        try:
            yield "a"
            yield 1
        finally:
            print("async generator closed")

    class Handlers(object):
        def method(self, event, context):
            yield "from a bound method"

    bound = stream(Handlers().method)

    def not_marked(event, context):
        yield "x"
"""}


def stream_body(frames):
    """(start header, body bytes, end frame) of a stream's frames."""
    start = frames[0][0]
    assert start["type"] == "stream_start", frames
    body = b""
    for header, payload in frames[1:-1]:
        assert header["type"] == "stream_chunk", frames
        assert 0 < len(payload) <= MIB, len(payload)
        body += payload
    return start, body, frames[-1]


class StreamingTest(ShimTestCase):
    def worker(self, handler, env=None):
        w = self.start(STREAM_APP, handler, env=env)
        w.ready()
        return w

    def streamed(self, handler, event=b"{}", env=None):
        w = self.worker(handler, env)
        frames = w.stream(event)
        self.assertEqual(w.shutdown(), 0)
        return frames, w

    def test_a_generator_streams_each_item_as_a_chunk(self):
        frames, _ = self.streamed("app.tokens")
        start, body, end = stream_body(frames)
        self.assertEqual(start, {"type": "stream_start", "id": "req-1",
                                 "content_type": "application/octet-stream"})
        self.assertEqual([p for _, p in frames[1:-1]],
                         [b"hello ", b"streaming ", b"world", b"\x00bytes\xff", b"!"])
        self.assertEqual(end, ({"type": "stream_end", "id": "req-1"}, None))

    def test_the_decorator_sets_the_content_type_and_str_is_utf8(self):
        frames, _ = self.streamed("app.typed")
        start, body, _ = stream_body(frames)
        self.assertEqual(start["content_type"], "text/plain; charset=utf-8")
        self.assertEqual(body, "caf\u00e9".encode("utf-8"))

    def test_writes_over_1_mib_are_split(self):
        frames, _ = self.streamed("app.large", {"size": 2 * MIB + 5})
        start, body, _ = stream_body(frames)
        self.assertEqual([len(p) for _, p in frames[1:-1]], [MIB, MIB, 5, 10])
        self.assertEqual(body, b"x" * (2 * MIB + 5) + b"y" * 10)

    def prelude(self, body):
        head, sep, rest = body.partition(b"\0" * 8)
        self.assertEqual(sep, b"\0" * 8, body)
        return json.loads(head), rest

    def test_an_http_response_writes_the_prelude_first(self):
        frames, _ = self.streamed("app.http")
        start, body, _ = stream_body(frames)
        self.assertEqual(start["content_type"],
                         "application/vnd.awslambda.http-integration-response")
        prelude, rest = self.prelude(body)
        self.assertEqual(prelude, {"statusCode": 201,
                                   "headers": {"content-type": "text/html", "x-n": "1"},
                                   "cookies": ["a=1", "b=2; Path=/"]})
        self.assertEqual(list(prelude), ["statusCode", "headers", "cookies"])
        self.assertEqual(rest, b"<p>streamed</p>")
        self.assertTrue(frames[1][1].endswith(b"\0" * 8), "the prelude is a chunk of its own")

    def test_a_generator_may_yield_the_http_response_first(self):
        for handler, status, rest in (("app.http_first", 202, b"data: 1\n\n"),
                                      ("app.http_empty", 204, b""),
                                      ("app.http_str", 200, b"whole body")):
            with self.subTest(handler):
                frames, _ = self.streamed(handler)
                start, body, _ = stream_body(frames)
                prelude, got = self.prelude(body)
                self.assertEqual((prelude["statusCode"], got), (status, rest))

    def test_an_error_before_any_byte_is_an_ordinary_error(self):
        frames, w = self.streamed("app.fails_first")
        (header, payload), = frames
        self.assertEqual(header["type"], "error")
        error = json.loads(payload)
        self.assertEqual((error["errorType"], error["errorMessage"], error["requestId"]),
                         ("ValueError", "before any byte", "req-1"))
        self.assertEqual(len(error["stackTrace"]), 2)
        self.assertIn("in fails_first\n    raise_it(", error["stackTrace"][0])
        self.assertIn("in raise_it\n    raise ValueError(message)", error["stackTrace"][1])
        self.assertIn("ValueError", json.loads(header["xray_cause"])["exceptions"][0]["type"])
        self.assertIn("[ERROR] ValueError: before any byte\r", w.stderr)

    def test_an_error_mid_stream_ends_it_with_the_error_json(self):
        frames, w = self.streamed("app.fails_later")
        start, body, (header, payload) = stream_body(frames)
        self.assertEqual(body, b"part one, part two")
        self.assertEqual(header["type"], "stream_error")
        self.assertEqual(header["error_type"], "ValueError")
        error = json.loads(payload)
        self.assertEqual(list(error), ["errorMessage", "errorType", "requestId", "stackTrace"])
        self.assertEqual((error["errorMessage"], error["requestId"]), ("mid-stream", "req-1"))
        self.assertIn("in fails_later\n    raise_it(\"mid-stream\")", error["stackTrace"][0])
        self.assertTrue(payload.startswith(b'{"errorMessage": "mid-stream", "errorType": '))
        self.assertIn("[ERROR] ValueError: mid-stream\rTraceback (most recent call last):",
                      w.stderr)

    def test_items_must_be_str_or_bytes(self):
        frames, _ = self.streamed("app.bad_item")
        header, payload = frames[-1]
        self.assertEqual(header["type"], "stream_error")
        self.assertEqual(json.loads(payload), {
            "errorMessage": "Unable to marshal response: a response stream yields str or "
                            "bytes, not dict",
            "errorType": "Runtime.MarshalError", "requestId": "req-1", "stackTrace": []})
        frames, _ = self.streamed("app.bad_first_item")
        (header, payload), = frames
        self.assertEqual((header["type"], json.loads(payload)["errorType"]),
                         ("error", "Runtime.MarshalError"))
        frames, _ = self.streamed("app.two_preludes")
        (header, payload), = frames
        self.assertEqual(header["type"], "error")

    def test_a_generator_that_yields_a_bad_item_is_closed_within_the_invocation(self):
        for handler, text in (("app.closes", "generator closed\n"),
                              ("app.acloses", "async generator closed\n")):
            with self.subTest(handler):
                w = self.worker(handler)
                frames = w.stream()
                self.assertEqual(frames[-1][0]["type"], "stream_error")
                w.wait_stderr(text, timeout=5)
                self.assertEqual(w.shutdown(), 0)

    def test_a_content_type_ferric_could_not_send_is_refused_at_import(self):
        app = {"app.py": """
            import ferric_lambda
            @ferric_lambda.stream(content_type="text/plain\\nx")
            def handler(event, context):
                yield "x"
        """}
        w = self.start(app, "app.handler")
        header, payload = w.frame()
        self.assertEqual(header["type"], "init_error")
        self.assertIn("content_type must be 1 to 1024 printable ASCII", payload.decode())

    def test_a_result_that_is_not_a_stream_is_answered_as_usual(self):
        frames, _ = self.streamed("app.plain_value")
        (header, payload), = frames
        self.assertEqual((header["type"], header["content_type"], payload),
                         ("result", "application/json", b'{"not": "streamed"}'))

    def test_a_str_result_is_the_whole_body_and_an_empty_stream_still_ends(self):
        frames, _ = self.streamed("app.text_value")
        self.assertEqual(stream_body(frames)[1], b"raw text")
        frames, _ = self.streamed("app.empty")
        self.assertEqual([h["type"] for h, _ in frames], ["stream_start", "stream_end"])

    def test_async_generators_and_coroutines_stream(self):
        frames, _ = self.streamed("app.agen")
        self.assertEqual(stream_body(frames)[1], b"async 0\nasync 1\nasync 2\n")
        frames, _ = self.streamed("app.coroutine_http")
        prelude, rest = self.prelude(stream_body(frames)[1])
        self.assertEqual((prelude["headers"], rest),
                         ({"content-type": "text/plain"}, b"from a coroutine"))
        frames, _ = self.streamed("app.agen_fails")
        header, payload = frames[-1]
        error = json.loads(payload)
        self.assertEqual((header["type"], error["errorMessage"]),
                         ("stream_error", "async mid-stream"))
        # The stack trace starts in user code, without asyncio's frames.
        self.assertIn("in agen_fails\n", error["stackTrace"][0])
        self.assertEqual(len(error["stackTrace"]), 2)

    def test_chunks_leave_as_they_are_produced(self):
        w = self.worker("app.slow")
        gate = os.path.join(w.root, "gate")
        event = json.dumps({"gate": gate}).encode()
        w.send(w.invoke_header(event), event)
        self.assertEqual(w.frame()[0]["type"], "stream_start")
        self.assertEqual(w.frame()[1], b"first")  # while the handler waits for the gate
        open(gate, "w").close()
        self.assertEqual(w.frame()[1], b"second")
        self.assertEqual(w.frame()[0]["type"], "stream_end")
        self.assertEqual(w.shutdown(), 0)

    def test_many_invocations_and_the_context(self):
        w = self.worker("app.event_echo")
        for n in range(1, 4):
            start, body, _ = stream_body(w.stream({"n": n}))
            self.assertEqual(body, b"req-%d{'n': %d}" % (n, n))
        self.assertEqual(w.shutdown(), 0)

    def test_a_bound_method_can_be_marked(self):
        frames, _ = self.streamed("app.bound")
        self.assertEqual(stream_body(frames)[1], b"from a bound method")

    def test_an_unmarked_generator_is_a_marshal_error_as_under_awslambdaric(self):
        frames, _ = self.streamed("app.not_marked")
        (header, payload), = frames
        self.assertEqual(json.loads(payload)["errorType"], "Runtime.MarshalError")

    def test_without_the_streaming_feature_the_stream_is_one_result(self):
        for handler, want in (("app.tokens", b"hello streaming world\x00bytes\xff!"),
                              ("app.http_str", None)):
            with self.subTest(handler):
                frames, _ = self.streamed(handler, env={"FERRIC_PROTOCOL_FEATURES": ""})
                (header, payload), = frames
                self.assertEqual(header["type"], "result")
                if want is not None:
                    self.assertEqual((header["content_type"], payload),
                                     ("application/octet-stream", want))
                else:
                    self.assertEqual(header["content_type"],
                                     "application/vnd.awslambda.http-integration-response")
                    self.assertEqual(self.prelude(payload)[1], b"whole body")
        frames, _ = self.streamed("app.fails_later", env={"FERRIC_PROTOCOL_FEATURES": ""})
        self.assertEqual(frames[0][0]["type"], "error")

    def test_the_shims_module_wins_over_a_copy_in_the_task_root(self):
        files = dict(STREAM_APP)
        files["ferric_lambda.py"] = "raise ImportError('the copy was imported')\n"
        root = make_root(self, files)
        w = Worker(self, "app.tokens", root, env=clean_env(root))
        w.ready()
        self.assertEqual(stream_body(w.stream())[1][:6], b"hello ")
        self.assertEqual(w.shutdown(), 0)

    def test_a_stream_frame_header_never_reaches_the_logs(self):
        frames, w = self.streamed("app.tokens")
        self.assertNotIn("stream_", w.stderr)


class StreamingApiTest(unittest.TestCase):
    """ferric_lambda outside a worker: the file users copy for their unit tests."""

    def module(self):
        import importlib.util
        from harness import WORKER_DIR

        spec = importlib.util.spec_from_file_location(
            "ferric_lambda_copy", os.path.join(WORKER_DIR, "ferric_lambda.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def test_the_decorator_returns_the_handler_itself(self):
        api = self.module()

        def handler(event, context):
            yield "x"

        self.assertIs(api.stream(handler), handler)
        self.assertEqual(list(handler({}, None)), ["x"])
        self.assertEqual(api.options(handler).content_type, "application/octet-stream")
        self.assertEqual(api.options(api.stream(content_type="text/plain")(handler))
                         .content_type, "text/plain")
        self.assertIsNone(api.options(lambda e, c: 1))
        with self.assertRaises(TypeError):
            api.stream(content_type=1)
        with self.assertRaises(ValueError):
            api.HttpResponse(status_code="200")
        self.assertEqual(api.HttpResponse(b"b", headers={"a": "b"}).prelude(),
                         {"statusCode": 200, "headers": {"a": "b"}, "cookies": []})


if __name__ == "__main__":
    unittest.main()
