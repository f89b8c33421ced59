"""Response streaming for handlers marked with `ferric_lambda.stream` (README.md).

A marked handler's result is streamed when it is a generator or another iterator, an async
generator or another async iterable, `str`/bytes, or a `ferric_lambda.HttpResponse`; any other
result is answered as handle_invoke answers it. Items go out as they come, each in
`stream_chunk` frames of at most 1 MiB, after a `stream_start` sent lazily with the first byte
(or at the end): an error before any byte is an ordinary `error` frame, one after it a
`stream_error` (awslambdaric's error JSON, which ferric sends in the response's trailers).
Writes block when ferric has not taken the previous chunks: backpressure. Without the
`streaming` protocol feature the stream is collected and sent as one `result`.
Cold: imported when a marked handler is loaded.
"""
import ferric_lambda  # the bundle's (never a copy in the task root): one HttpResponse class

from . import aio
from .channel import MAX_STREAM_CHUNK
from .context import create_lambda_context
from .faults import FaultException
from .invoke import COROUTINE
from .jsonfast import encode, marshal_response, unmarshal_request

HttpResponse = ferric_lambda.HttpResponse
HTTP_CONTENT_TYPE = ferric_lambda.HTTP_INTEGRATION_CONTENT_TYPE
DELIMITER = b"\0" * 8  # between an HTTP prelude and the body
BYTES_LIKE = (bytes, bytearray, memoryview)
GENERATOR = type((lambda: (yield))())


def is_stream(value):
    """Whether a marked handler's result is streamed."""
    t = type(value)
    return (t is str or isinstance(value, BYTES_LIKE) or isinstance(value, HttpResponse)
            or hasattr(t, "__aiter__") or (hasattr(t, "__next__") and hasattr(t, "__iter__")))


class Stream(object):
    """One invocation's streamed response, as frames."""

    def __init__(self, channel, invoke_id, content_type):
        self.channel = channel
        self.invoke_id = invoke_id
        self.content_type = content_type
        self.prelude = None  # the HTTP prelude's bytes, sent before the first body byte
        self.started = False  # stream_start sent
        self.live = "streaming" in channel.features
        self.buffered = []  # without the streaming feature
        self.items = 0

    def http(self, response):
        if self.prelude is not None:
            raise FaultException(
                FaultException.MARSHAL_ERROR,
                "Unable to marshal response: a stream has one HttpResponse, before its body")
        try:
            prelude = encode(response.prelude(), True)
        except Exception as e:
            raise FaultException(
                FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)))
        self.prelude = prelude.encode("ascii") + DELIMITER
        self.content_type = HTTP_CONTENT_TYPE

    def start(self):
        self.started = True
        self.channel.write_frame((("type", "stream_start"), ("id", self.invoke_id),
                                  ("content_type", self.content_type)))
        if self.prelude is not None:
            self.chunk(self.prelude)

    def chunk(self, data):
        view = memoryview(data)
        for at in range(0, len(view), MAX_STREAM_CHUNK):
            self.channel.write_frame((("type", "stream_chunk"), ("id", self.invoke_id)),
                                     view[at:at + MAX_STREAM_CHUNK].tobytes())

    def write(self, data):
        if not data:
            return
        if not self.live:
            self.buffered.append(bytes(data))
        else:
            if not self.started:
                self.start()
            self.chunk(data)

    def item(self, item):
        """One item a streaming body yielded."""
        self.items += 1
        if type(item) is str:
            self.write(item.encode("utf-8"))
        elif isinstance(item, BYTES_LIKE):
            self.write(item)
        elif self.items == 1 and isinstance(item, HttpResponse):
            self.http(item)  # the prelude, first; then its body, if it has one
            self.body(item.body)
        else:
            raise FaultException(
                FaultException.MARSHAL_ERROR,
                "Unable to marshal response: a response stream yields str or bytes, not {}"
                .format(type(item).__name__))

    def body(self, body):
        if body is None:
            return
        if type(body) is str:
            self.write(body.encode("utf-8"))
        elif isinstance(body, BYTES_LIKE):
            self.write(body)
        elif hasattr(type(body), "__aiter__"):
            aio.iterate(body, self.item)
        else:
            try:
                items = iter(body)
            except TypeError:
                raise FaultException(
                    FaultException.MARSHAL_ERROR,
                    "Unable to marshal response: a streamed body is str, bytes or an iterable "
                    "of them, not {}".format(type(body).__name__))
            for item in items:
                try:
                    self.item(item)
                except BaseException:
                    if type(items) is GENERATOR:  # its finally blocks run now
                        items.close()
                    raise

    def send(self, response):
        if isinstance(response, HttpResponse):
            self.http(response)
            self.items = 1  # an HttpResponse body cannot start with another one
            self.body(response.body)
        else:
            self.body(response)

    def end(self):
        if not self.live:
            self.channel.write_frame(
                (("type", "result"), ("id", self.invoke_id), ("content_type", self.content_type)),
                (self.prelude or b"") + b"".join(self.buffered))
            return
        if not self.started:
            self.start()
        self.channel.write_frame((("type", "stream_end"), ("id", self.invoke_id)))


class StreamingHandler(object):
    """handle_invoke for a marked handler."""

    def __init__(self, options):
        self.content_type = options.content_type

    def handle_invoke(self, channel, request_handler, invoke_id, h, body):
        out = Stream(channel, invoke_id, self.content_type)
        try:
            lambda_context = create_lambda_context(
                h.get("client_context"), h.get("cognito_identity"), h["deadline_ms"],
                invoke_id, h.get("arn"), h.get("tenant_id"))
            event = unmarshal_request(body, h.get("content_type", "application/json"))
            response = request_handler(event, lambda_context)
            if type(response) is COROUTINE:
                response = aio.run(response)
            streamed = is_stream(response)
            if streamed:
                out.send(response)
            else:
                result, content_type = marshal_response(response)
        except Exception:
            from . import errors

            error_result, xray_fault = errors.handler_error(invoke_id)
            if out.started:
                errors.stream_error(channel, invoke_id, error_result)
            else:
                errors.invoke_error(channel, invoke_id, error_result, xray_fault)
            return
        if streamed:
            out.end()
            return
        if not isinstance(result, bytes):
            result = result.encode("utf-8")
        channel.write_frame(
            (("type", "result"), ("id", invoke_id), ("content_type", content_type)), result)

