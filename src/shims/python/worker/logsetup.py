"""Streams, log sinks and logging set up as awslambdaric sets them up.

`logging` costs ~12 ms to import, so it is configured when something imports it: an import
hook runs `setup_logging` right after the module's code (or `ensure_logging` catches up).
The JSON formatter (`AWS_LAMBDA_LOG_FORMAT=JSON`) is in `jsonlog`, the telemetry descriptor's
framed sink in `telemetry` and Lambda Managed Instances' log socket in `lmi`, all cold.
"""
import os
import sys

LOG_JSON = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
LOG_LEVEL = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
LOG_LEVEL = {None: "", "TRACE": "DEBUG"}.get(LOG_LEVEL, LOG_LEVEL).upper()

# The current invocation's, for log records (set by `invoke.serve`).
aws_request_id = None
tenant_id = None
_logging_ready = False


class Unbuffered(object):
    """Flush after every write, as awslambdaric wraps sys.stdout and sys.stderr."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        self.stream.write(msg)
        self.stream.flush()

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class StandardLogSink(object):
    """Records and error dumps go to sys.stdout, i.e. fd 1, which is stderr here."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines):
        sys.stdout.write("\r".join(message_lines) + "\n")


LOG_SINK = StandardLogSink()  # or telemetry.FramedTelemetryLogSink (`open_sink`)

# awslambdaric's text frame types by level (lambda_runtime_log_utils._TEXT_FRAME_TYPES), for a
# LambdaLoggerHandlerWithFrameType's records that no JSON formatter gave a type.
# Lambda's levels: none 0, TRACE 1, DEBUG 2, INFO 3, WARN 4, ERROR 5, FATAL 6, in bits 2-4.
TEXT_FRAME_TYPES = {level: (0xA55A0003 | (level and level // 10 + 1) << 2).to_bytes(4, "big")
                    for level in (0, 10, 20, 30, 40, 50)}
LMI_SOCKET_ENV = "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"


def multi_concurrent():
    """Lambda Managed Instances: awslambdaric's multi-concurrent mode, when the variable is set."""
    return os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY") is not None


def open_sink():
    """The log sink, as awslambdaric's create_log_sink: frames on the descriptor named by
    `_LAMBDA_TELEMETRY_LOG_FD` (removed from the environment), else sys.stdout. Under Lambda
    Managed Instances awslambdaric's parent process consumes (and closes) the descriptor and
    its forked workers log on sys.stdout, which is then a connection to the log socket
    (`redirect_output`). Runs before the channel takes descriptors of its own, so that closing
    a descriptor named by the variable cannot close one of the channel's."""
    global LOG_SINK
    fd = os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    if fd is None:
        return
    from . import telemetry

    if multi_concurrent():
        telemetry.close(fd)
    else:
        LOG_SINK = telemetry.open_sink(fd) or LOG_SINK


def redirect_output():
    """Lambda Managed Instances: stdout and stderr to connections of their own to the log
    socket, as awslambdaric's forked workers do (once the channel is off fd 1)."""
    if os.environ.get(LMI_SOCKET_ENV) and multi_concurrent():
        from . import lmi

        lmi.redirect_output(os.environ[LMI_SOCKET_ENV])


def setup_logging(logging):
    """awslambdaric's _setup_logging, run once the logging module exists."""
    global _logging_ready
    _logging_ready = True
    import time

    class LambdaLoggerHandler(logging.Handler):
        def __init__(self, log_sink):
            logging.Handler.__init__(self)
            self.log_sink = log_sink

        def emit(self, record):
            self.log_sink.log(self.format(record))

    class LambdaLoggerHandlerWithFrameType(logging.Handler):
        def __init__(self, log_sink):
            super().__init__()
            self.log_sink = log_sink

        def emit(self, record):
            self.log_sink.log(
                self.format(record),
                getattr(record, "_frame_type", None)
                or TEXT_FRAME_TYPES.get(min(50, max(0, record.levelno)) // 10 * 10),
            )

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = aws_request_id or ""
            record.tenant_id = tenant_id
            return True

    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    if LOG_JSON or LOG_LEVEL:
        handler = LambdaLoggerHandlerWithFrameType(LOG_SINK)
    else:
        handler = LambdaLoggerHandler(LOG_SINK)
    if LOG_JSON:
        from . import jsonlog

        handler.setFormatter(jsonlog.json_formatter(logging))
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    if LOG_LEVEL in logging._nameToLevel:
        logger.setLevel(LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


class LoggingImportHook(object):
    """Meta path finder: sets logging up right after the `logging` module runs."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        try:
            sys.meta_path.remove(cls)
        except ValueError:
            pass
        spec = None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is not None:
                spec = find_spec(name, path, target)
                if spec is not None:
                    break
        loader = getattr(spec, "loader", None)
        if isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec  # unusual loader: ensure_logging() catches up later
        exec_module = loader.exec_module

        def exec_then_setup(module):
            try:
                del loader.exec_module
            except AttributeError:
                pass
            exec_module(module)
            setup_logging(module)

        loader.exec_module = exec_then_setup
        return spec


def ensure_logging():
    if not _logging_ready and "logging" in sys.modules:
        setup_logging(sys.modules["logging"])


def install():
    """Set logging up now if it is imported already, else when something imports it."""
    if "logging" in sys.modules:
        setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, LoggingImportHook)
