"""Error reporting: init errors, handler exceptions, their logs and X-Ray causes, as
awslambdaric reports them. Cold: imported on the first error."""
import os
import sys
import traceback

from . import logsetup
from .bundle import FILENAME_PREFIX
from .channel import MAX_HEADER_OUT
from .faults import FaultException, make_error
from .jsonfast import quote_ascii, to_json
from .logsetup import LOG_JSON, ensure_logging

format_list = traceback.format_list

# ferric's own wording; the "LAMBDA_WARNING: Unhandled exception" prefix is kept because log
# filters and alarms match on it.
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception during init; the error follows. If it started "
    "after a change of runtime, image or dependency versions, compare those first.\r"
)


def preview_warning():
    if os.environ.get("LAMBDA_DISABLE_PREVIEW_WARN", ""):
        return
    import logging

    ensure_logging()
    domain = "amazonaws.cn" if os.environ.get("AWS_REGION", "").startswith("cn-") else (
        "aws.amazon.com")
    logging.warning(
        "LAMBDA_WARNING: this Python runtime is a preview release; keep it out of "
        "production. Runtime notes: https://docs.%s/lambda/latest/dg/lambda-runtimes.html\r"
        % domain)


def is_shim_file(filename):
    """True for the shim's own code: boot.py (the `-c` program) and the bundle's modules."""
    return filename == "<string>" or filename.startswith(FILENAME_PREFIX)


def extract(tb):
    """Traceback tuples, as awslambdaric's extract_traceback."""
    return [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]


def user_frames(tb):
    """Traceback tuples without the shim's leading frames, as awslambdaric drops its leading
    bootstrap.py frames."""
    frames = extract(tb)
    for i in range(len(frames)):
        if not is_shim_file(frames[i][0]):
            return frames[i:]
    return frames


def build_fault_result(exc_info, msg):
    etype, value, tb = exc_info
    frames = user_frames(tb)
    return make_error(msg if msg else str(value), etype.__name__, format_list(frames))


def make_xray_fault(ex_type, ex_msg, working_dir, frames):
    stack = []
    files = set()
    for path, line, label, _code in frames:
        stack.append({"label": label, "path": path, "line": line})
        files.add(path)
    return {
        "working_directory": working_dir,
        "exceptions": [{"message": ex_msg, "type": ex_type, "stack": stack}],
        "paths": list(files),
    }


def log_error(error_result):
    if LOG_JSON:
        import time

        logging = sys.modules.get("logging")
        converter = logging.Formatter.converter if logging else time.gmtime
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", converter(time.time())),
            "level": "ERROR",
        }
        record.update(error_result)
        logsetup.LOG_SINK.log_error([to_json(record)])
        return
    description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        description += " " + error_type
    message = error_result.get("errorMessage")
    if message:
        if error_type:
            description += ":"
        description += " " + message
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                text = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(text)) + text)
    logsetup.LOG_SINK.log_error(lines)


def init_error(channel, error_result):
    import logging

    ensure_logging()
    logging.warning(UNHANDLED_WARNING)
    log_error(error_result)
    body = to_json(error_result).encode("utf-8")
    channel.write_frame((("type", "init_error"), ("error_type", error_result["errorType"])), body)
    sys.exit(1)


def handler_error(invoke_id):
    """(error body, X-Ray cause) for the exception being handled, as handle_invoke builds
    them (for the paths that leave handle_invoke: streams, SnapStart hooks)."""
    etype, value, tb = sys.exc_info()
    if isinstance(value, FaultException):
        return (make_error(value.msg, value.exception_type, value.trace, invoke_id),
                make_xray_fault("LambdaValidationError", value.msg, os.getcwd(), []))
    frames = user_frames(tb)
    del tb
    return (make_error(str(value), etype.__name__, format_list(frames), invoke_id),
            make_xray_fault(etype.__name__, str(value), os.getcwd(), frames))


def stream_error(channel, invoke_id, error_result):
    """A streamed response ends with an error: logged as any invocation error, then its body
    goes to ferric, which sends it in the response's trailers."""
    log_error(error_result)
    channel.write_frame(
        (("type", "stream_error"), ("id", invoke_id), ("error_type", error_result["errorType"])),
        to_json(error_result).encode("utf-8"))


def invoke_error(channel, invoke_id, error_result, xray_fault):
    log_error(error_result)
    body = to_json(error_result).encode("utf-8")
    fields = [("type", "error"), ("id", invoke_id), ("error_type", error_result["errorType"])]
    cause = to_json(xray_fault)
    header_room = MAX_HEADER_OUT - 200 - 6 * len(invoke_id) - 6 * len(error_result["errorType"])
    if len(quote_ascii(cause)) <= header_room:
        fields.append(("xray_cause", cause))
    channel.write_frame(fields, body)
