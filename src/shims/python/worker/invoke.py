"""The invoke loop: `ready`, then one answer per `invoke` frame (and SnapStart's `hooks`
frames), until `shutdown` or EOF."""
import os
import sys

from . import logsetup
from .channel import fatal, flush_logs
from .context import create_lambda_context
from .faults import FaultException, make_error
from .handler import load
from .jsonfast import INF, marshal_response, unmarshal_request
from .logsetup import ensure_logging
from .traceenv import TraceEnv

# Work that can wait until an answer is out, off the invocations' critical path: each item
# runs once, after the next answer (the cache write of a start that compiled code, the move
# of the trace id to buffers of our own).
after_answer = []


async def _probe():
    pass


# What calling an `async def` handler returns (types.CoroutineType, without importing types).
_probe = _probe()
COROUTINE = type(_probe)
_probe.close()
del _probe
# The optional frames this worker understands (the ready frame's `features`).
FEATURES = ["hooks"]
# A function defined with `async def`: CO_COROUTINE, CO_ASYNC_GENERATOR.
ASYNC_FLAGS = 0x80 | 0x200


def run(channel, handler):
    request_handler = load(channel, handler)
    answer = prepare(request_handler)
    channel.write_frame((
        ("type", "ready"),
        ("protocol", 1),
        ("pid", os.getpid()),
        ("runtime", "python %d.%d.%d" % sys.version_info[:3]),
        ("executable", os.path.abspath(sys.executable) if sys.executable else ""),
        ("features", FEATURES),
    ))
    serve(channel, request_handler, answer)


def prepare(request_handler):
    """What answers invocations: handle_invoke, or the streaming path for a handler marked
    with ferric_lambda.stream. A handler defined with `async def` gets the worker's event
    loop now, during init (asyncio takes tens of ms to import), instead of at its first
    invocation; sync handlers load neither."""
    answer = handle_invoke
    options = stream_options(request_handler)
    if options is not None:
        from .streaming import StreamingHandler

        answer = StreamingHandler(options).handle_invoke
    code = getattr(getattr(request_handler, "__func__", request_handler), "__code__", None)
    if type(getattr(code, "co_flags", None)) is int and code.co_flags & ASYNC_FLAGS:
        try:
            from .aio import get_loop

            get_loop()
        except Exception:
            pass  # made at the first coroutine instead
    return answer


def serve(channel, request_handler, answer=None):
    trace = TraceEnv(os.environ, after_answer.append)
    answer = answer or handle_invoke
    while True:
        frame = channel.read_frame()
        if frame is None:
            flush_logs()
            sys.exit(0)
        h, payload = frame
        kind = h.get("type")
        if kind == "shutdown":
            run_sigterm_handler()
            flush_logs()
            sys.exit(0)
        if kind == "hooks":
            from . import hooks

            hooks.run(channel, h.get("phase"))
            continue
        if kind != "invoke":
            continue  # unknown frame types from ferric are ignored
        invoke_id = check_invoke(h)
        logsetup.aws_request_id = invoke_id
        logsetup.tenant_id = h.get("tenant_id")
        trace.set(h.get("trace_id"))
        ensure_logging()
        answer(channel, request_handler, invoke_id, h, b"" if payload is None else payload)
        while after_answer:
            after_answer.pop(0)()


def handle_invoke(channel, request_handler, invoke_id, h, body):
    """awslambdaric's handle_event_request: call the handler, send its answer. It runs
    the handler as deep in the stack as `python -m awslambdaric` does (7 frames, see
    main.py), for recursion limits and "[Previous line repeated N more times]" counts."""
    error_result = None
    try:
        lambda_context = create_lambda_context(
            h.get("client_context"), h.get("cognito_identity"), h["deadline_ms"],
            invoke_id, h.get("arn"), h.get("tenant_id"))
        event = unmarshal_request(body, h.get("content_type", "application/json"))
        response = request_handler(event, lambda_context)
        if type(response) is COROUTINE:  # an `async def` handler (awslambdaric: MarshalError)
            from .aio import run

            response = run(response)
        result, content_type = marshal_response(response)
    except FaultException as e:
        from . import errors

        xray_fault = errors.make_xray_fault("LambdaValidationError", e.msg, os.getcwd(), [])
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        etype, value, tb = sys.exc_info()
        from . import errors

        frames = errors.user_frames(tb)
        del tb
        xray_fault = errors.make_xray_fault(etype.__name__, str(value), os.getcwd(), frames)
        error_result = make_error(
            str(value), etype.__name__, errors.format_list(frames), invoke_id)
    if error_result is not None:
        errors.invoke_error(channel, invoke_id, error_result, xray_fault)
        return
    if not isinstance(result, bytes):
        result = result.encode("utf-8")
    channel.write_frame(
        (("type", "result"), ("id", invoke_id), ("content_type", content_type)), result)


def stream_options(request_handler):
    """The ferric_lambda.stream options of a handler marked with it, else None. A handler can
    be marked only once its module imported ferric_lambda (the bundle's: bundle.PUBLIC)."""
    api = sys.modules.get("ferric_lambda")
    if api is None or getattr(api, "__loader__", None) is not sys.modules[
            __package__].__loader__:
        return None
    return api.options(request_handler)


def check_invoke(h):
    """The invoke frame's id, after checking its fields' types (a violation exits 2)."""
    invoke_id = h.get("id")
    if not isinstance(invoke_id, str):
        fatal("invoke frame without a string id")
    deadline = h.get("deadline_ms")
    if type(deadline) is float and deadline == deadline and abs(deadline) != INF:
        deadline = h["deadline_ms"] = int(deadline)
    if type(deadline) is not int:
        fatal("invoke frame without an integer deadline_ms")
    for key in ("arn", "trace_id", "client_context", "cognito_identity", "tenant_id",
                "content_type"):
        if not isinstance(h.get(key), (str, type(None))):
            fatal("invoke frame field %s must be a string or null" % key)
    return invoke_id


def run_sigterm_handler():
    """On ferric's shutdown frame, run the handler's own SIGTERM handler (Lambda's graceful
    shutdown hook), as if the platform had signalled this process. Code that installed one
    has imported `signal`; anything else just exits (atexit handlers run)."""
    signal = sys.modules.get("signal")
    if signal is None:
        return
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        os.kill(os.getpid(), signal.SIGTERM)
