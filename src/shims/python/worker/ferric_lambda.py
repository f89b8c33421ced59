"""ferric_lambda: what a handler needs to stream its response (README.md, "Response streaming").

    import ferric_lambda

    @ferric_lambda.stream(content_type="text/plain")
    def handler(event, context):
        for token in generate(event["prompt"]):
            yield token                            # str (sent as UTF-8) or bytes

    @ferric_lambda.stream
    async def handler(event, context):           # an async generator works the same way
        yield ferric_lambda.HttpResponse(status_code=200, headers={"content-type": "text/html"})
        async for token in generate(event):
            yield token

Only handlers marked with `stream` stream; every other handler behaves as under awslambdaric.
Inside a ferric worker `import ferric_lambda` always gets this module, from the shim. Outside
ferric (unit tests, awslambdaric) copy this file next to your code: it has no dependencies,
and under ferric the shim's own copy is still the one used.
"""

__all__ = ["stream", "HttpResponse", "HTTP_INTEGRATION_CONTENT_TYPE"]

# The content type of a streamed response that starts with an HTTP prelude: what Lambda
# function URLs and API Gateway's streaming integration read status, headers and cookies from.
HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# The attribute `stream` sets on a handler.
MARK = "__ferric_stream__"


class StreamOptions(object):
    """How a marked handler's response is streamed."""

    __slots__ = ("content_type",)

    def __init__(self, content_type):
        self.content_type = content_type

    def __repr__(self):
        return "StreamOptions(content_type=%r)" % (self.content_type,)


def stream(handler=None, content_type=DEFAULT_CONTENT_TYPE):
    """Mark a handler whose response is streamed: `@stream` or `@stream(content_type=...)`.

    The handler is called as usual, `handler(event, context)`, and may be a generator function,
    an async generator function, or a function (sync or `async def`) that returns a generator,
    an async iterable, a `str`/`bytes` body or an `HttpResponse`. Each item it yields (`str`
    as UTF-8, or bytes) reaches the caller as soon as it is produced. A result that is none of
    these (a dict, a number) is answered as a normal handler would answer it.
    `content_type` is the response's content type when no HttpResponse says otherwise.
    The handler itself is returned (marked), so it can still be called directly in tests.
    """
    if not isinstance(content_type, str):
        raise TypeError("content_type must be a str, not %s" % type(content_type).__name__)
    if not (0 < len(content_type) <= 1024 and all(" " <= c <= "~" for c in content_type)):
        raise ValueError("content_type must be 1 to 1024 printable ASCII characters: %r"
                         % (content_type[:100],))

    def mark(fn):
        if not callable(fn):
            raise TypeError("ferric_lambda.stream needs a callable, not %s" % type(fn).__name__)
        try:
            setattr(fn, MARK, StreamOptions(content_type))
            return fn
        except (AttributeError, TypeError):  # a bound method, a builtin: wrap it
            def streamed(event, context):
                return fn(event, context)

            setattr(streamed, MARK, StreamOptions(content_type))
            return streamed

    return mark if handler is None else mark(handler)


def options(handler):
    """The StreamOptions of a marked handler, or None."""
    try:
        found = getattr(handler, MARK, None)
    except Exception:
        return None
    return found if type(found) is StreamOptions else None


class HttpResponse(object):
    """The HTTP response of a function URL or an API Gateway streaming integration: status,
    headers and cookies, sent as the stream's prelude, then `body`.

    Return it from a `stream` handler, or yield it as the first item of a streaming generator
    (with no body: what the generator yields next is the body). `body` is None, `str`, bytes,
    or an iterable or async iterable of `str`/bytes items.
    """

    __slots__ = ("status_code", "headers", "cookies", "body")

    def __init__(self, body=None, status_code=200, headers=None, cookies=None):
        if type(status_code) is not int or not 100 <= status_code <= 999:
            raise ValueError("status_code must be an HTTP status (an int from 100 to 999)")
        self.body = body
        self.status_code = status_code
        self.headers = dict(headers) if headers else {}
        self.cookies = list(cookies) if cookies else []

    def prelude(self):
        """The prelude's fields, in the order Lambda documents them."""
        return {"statusCode": self.status_code, "headers": self.headers, "cookies": self.cookies}

    def __repr__(self):
        return "HttpResponse(status_code=%r, headers=%r, cookies=%r, body=%r)" % (
            self.status_code, self.headers, self.cookies, self.body)
