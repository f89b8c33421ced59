"""The telemetry log descriptor (`_LAMBDA_TELEMETRY_LOG_FD`): awslambdaric's
FramedTelemetryLogSink. Each logging record and each error dump is one frame, so a multi-line
record or a traceback is one CloudWatch event:

    frame type (u32 BE) | message length (u32 BE) | timestamp (i64 BE, Unix microseconds) | message

The type says the format and level (logsetup.TEXT_FRAME_TYPES, jsonlog's JSON types); records
without one are 0xA55A0003, error dumps are ERROR frames. Cold: imported only when the variable
is set.
"""
import os
import time

from .logsetup import LOG_JSON

DEFAULT_FRAME_TYPE = (0xA55A0003).to_bytes(4, "big")
# awslambdaric's _ERROR_FRAME_TYPE: JSON or text, ERROR level.
ERROR_FRAME_TYPE = (0xA55A0016 if LOG_JSON else 0xA55A0017).to_bytes(4, "big")


class FramedTelemetryLogSink(object):
    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def log(self, msg, frame_type=None):
        encoded_msg = msg.encode("utf8")
        timestamp = time.time_ns() // 1000  # UNIX timestamp in microseconds
        view = memoryview(b"".join((
            frame_type or DEFAULT_FRAME_TYPE,
            len(encoded_msg).to_bytes(4, "big"),
            timestamp.to_bytes(8, "big"),
            encoded_msg,
        )))
        while view:  # one write() but for a pipe that takes less
            view = view[os.write(self.fd, view):]

    def log_error(self, message_lines):
        self.log("\n".join(message_lines), frame_type=ERROR_FRAME_TYPE)


def open_sink(spec):
    """The framed sink on the descriptor `spec` names, or None (with a note on stderr) when it
    is not an open descriptor: logs then stay on stdout."""
    try:
        fd = int(spec)
        if fd < 3:
            raise ValueError("stdin, stdout or stderr")
        os.fstat(fd)
    except (ValueError, OSError) as e:
        os.write(2, ("ferric python shim: _LAMBDA_TELEMETRY_LOG_FD=%r is not an open file "
                     "descriptor (%s); logging to stdout\n" % (spec, e)).encode("utf-8",
                                                                              "replace"))
        return None
    return FramedTelemetryLogSink(fd)


def close(spec):
    """Close the descriptor (Lambda Managed Instances: awslambdaric's workers never get it)."""
    try:
        fd = int(spec)
        if fd >= 3:
            os.close(fd)
    except (ValueError, OSError):
        pass
