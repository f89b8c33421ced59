"""`async def` handlers: one asyncio event loop per worker, made during init for a handler
defined with `async def` (invoke.prepare) or when a handler first returns a coroutine, and kept
across invocations, so module-level async clients (and tasks they started) stay bound to a
loop that lives. It runs only while an invocation is being handled; between
invocations it is idle, as the function would be under a frozen Lambda sandbox. ferric
enforces the deadline, as for any handler. Cold: asyncio costs milliseconds to import, so
sync handlers never load it.
"""
_loop = None


class CancelledError(Exception):
    """An asyncio.CancelledError that ended a handler. asyncio's is a BaseException, which the
    invoke path lets through (as it does SystemExit); this reports it as a handler error of the
    same name, with its traceback."""


def get_loop():
    """The worker's event loop, the current one of the main thread while a handler runs
    (asyncio.run() elsewhere unsets it)."""
    global _loop
    import asyncio

    loop = _loop
    if loop is None or loop.is_closed():
        loop = _loop = _first_loop(asyncio)
    asyncio.set_event_loop(loop)
    return loop


def _first_loop(asyncio):
    """A loop module code made current at import time (asyncio.get_event_loop() in Pythons
    that create one, asyncio.set_event_loop()), so that clients bound to it keep working;
    else a new one."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:  # none (3.14+), or asyncio.run() unset it
            loop = None
    if loop is None or loop.is_closed() or loop.is_running():
        loop = asyncio.new_event_loop()
    return loop


async def _capture(awaitable, box):
    try:
        box.append((True, await awaitable))
    except (SystemExit, KeyboardInterrupt):
        raise  # ends the process, as from a sync handler
    except BaseException as e:  # noqa: B902 - CancelledError is a BaseException
        box.append((False, e))


def run(awaitable):
    """Run `awaitable` on the worker's loop: its value, or its exception raised again. The
    exception's traceback then starts at the shim's frames (which error reports drop) and
    goes on into user code; asyncio's own frames are not in it, so the stackTrace is what the
    same code would give as a sync handler."""
    box = []
    get_loop().run_until_complete(_capture(awaitable, box))
    (ok, value), = box
    del box
    if ok:
        return value
    try:
        if not isinstance(value, Exception):
            raise CancelledError(*value.args).with_traceback(value.__traceback__) from None
        raise value
    finally:
        value = None


def iterate(aiterable, consume):
    """Pass each item of an async iterable to `consume` (on the loop, so a blocking write
    holds the producer back: backpressure). When `consume` raises, an async generator is
    closed at once, so its `finally` blocks run within this invocation."""

    async def pump():
        iterator = aiterable.__aiter__()
        async for item in iterator:
            try:
                consume(item)
            except BaseException:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
                raise

    run(pump())
