"""Response streaming with ferric's Python shim: tokens reach the caller as they are produced.

Locally, behind ferric's emulator (from the repository root):

    LAMBDA_TASK_ROOT=examples/python/stream cargo run --release -- app.handler
    curl -N -XPOST http://127.0.0.1:8080/2015-03-31/functions/function/response-streaming-invocations \
         -d '{"prompt": "tell me about streaming"}'

(`app.sse` serves the same tokens as server-sent events behind a function URL.) On Lambda, give
the function URL `InvokeMode: RESPONSE_STREAM`, or call `InvokeWithResponseStream`.

`ferric_lambda` is provided by ferric's worker. To run this module's handlers outside ferric
(unit tests), copy src/shims/python/worker/ferric_lambda.py next to it: under ferric the
shim's own copy is used anyway.
"""
import asyncio
import time

import ferric_lambda
from ferric_lambda import HttpResponse

WORDS = ("Streaming sends each token as soon as the model produces it, so the first words "
         "reach the reader long before the last ones are written.").split()


def generate(prompt, delay=0.05):
    """A stand-in for a language model: one token at a time, with a delay between them."""
    yield "You asked: %s\n" % prompt
    for word in WORDS:
        time.sleep(delay)
        yield word + " "
    yield "\n"


@ferric_lambda.stream(content_type="text/plain; charset=utf-8")
def handler(event, context):
    """Plain streamed text: for InvokeWithResponseStream and ferric's streaming endpoint."""
    yield from generate(event.get("prompt", "nothing"), event.get("delay", 0.05))


@ferric_lambda.stream
async def sse(event, context):
    """Server-sent events behind a function URL: the HTTP response (status, headers, cookies)
    first, then the events. An async generator runs on the worker's one event loop."""
    yield HttpResponse(status_code=200, headers={"content-type": "text/event-stream",
                                                 "cache-control": "no-cache"},
                       cookies=["session=demo; Path=/; HttpOnly"])
    for n, word in enumerate(WORDS):
        await asyncio.sleep(0.05)
        yield "id: %d\ndata: %s\n\n" % (n, word)
    yield "event: done\ndata: {}\n\n"
