"""The frame channel to ferric (docs/PROTOCOL.md), and the descriptors it takes over."""
import os
import sys

from .jsonfast import loads_stdlib, quote_ascii

# Header lines from ferric may be long: they carry the Lambda-Runtime-Client-Context and
# -Cognito-Identity headers. ferric accepts at most 64 KiB from a worker.
MAX_HEADER_IN = 1024 * 1024
MAX_HEADER_OUT = 64 * 1024
# Largest payload of one stream_chunk frame.
MAX_STREAM_CHUNK = 1024 * 1024


def fatal(message, code=2):
    """A protocol failure: say why on stderr and exit at once."""
    try:
        os.write(2, ("ferric python shim: %s\n" % message).encode("utf-8", "replace"))
    finally:
        os._exit(code)


class Channel(object):
    """Frames in from `in_fd`, out to `out_fd`."""

    def __init__(self, in_fd, out_fd, features=()):
        self.reader = open(in_fd, "rb", buffering=1 << 16)
        self.out_fd = out_fd
        self.features = features  # what ferric offers (FERRIC_PROTOCOL_FEATURES)

    def read_frame(self):
        """(header dict, payload bytes or None), or None at a clean EOF."""
        line = self.reader.readline(MAX_HEADER_IN + 1)
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) > MAX_HEADER_IN:
                fatal("frame header longer than %d bytes" % MAX_HEADER_IN)
            fatal("stdin closed in the middle of a frame header")
        try:
            header = loads_stdlib(line.decode("utf-8"))
        except Exception as e:
            fatal("invalid frame header (%s): %r" % (e, line[:200]))
        if not isinstance(header, dict):
            fatal("frame header is not a JSON object: %r" % line[:200])
        length = header.get("len")
        if length is None:
            return header, None
        if type(length) is not int or length < 0:
            fatal("invalid len in frame header: %r" % (length,))
        payload = self.reader.read(length)
        if len(payload) != length:
            fatal("stdin closed in the middle of a %d-byte payload" % length)
        if self.reader.read(1) != b"\n":
            fatal("the %d-byte payload is not followed by a newline" % length)
        return header, payload

    def write_frame(self, fields, payload=None):
        """Flush the logs, then write the frame with one write: never interleaved."""
        parts = ["{"]
        for key, value in fields:
            parts.append('"%s":' % key)
            if isinstance(value, str):
                parts.append(quote_ascii(value))
            elif isinstance(value, list):  # of str
                parts.append("[%s]" % ",".join(map(quote_ascii, value)))
            else:
                parts.append(str(value))
            parts.append(",")
        if payload is None:
            parts[-1] = "}\n"
            data = "".join(parts).encode("ascii")
        else:
            parts.append('"len":%d}\n' % len(payload))
            data = b"".join(("".join(parts).encode("ascii"), payload, b"\n"))
        flush_logs()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.out_fd, view):]
        except OSError as e:
            fatal("cannot write to the frame channel: %s" % e)


def flush_logs():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def open_channel():
    """Frames to a private copy of fd 1 (or FERRIC_PROTOCOL_FD), fd 1 to stderr
    so print() and C code land in the logs, stdin to /dev/null."""
    spec = os.environ.pop("FERRIC_PROTOCOL_FD", "1")
    features = tuple(os.environ.pop("FERRIC_PROTOCOL_FEATURES", "").split(","))
    try:
        out_fd = int(spec)
        if out_fd != 1 and out_fd < 3:
            raise ValueError(spec)
        os.fstat(out_fd)
    except (ValueError, OSError):
        fatal("FERRIC_PROTOCOL_FD=%r is not a usable file descriptor" % spec)
    try:
        in_fd = os.dup(0)  # os.dup's copies are not inherited by child processes
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if out_fd == 1:
            out_fd = os.dup(1)
            os.dup2(2, 1)
        else:
            os.set_inheritable(out_fd, False)
    except OSError as e:
        fatal("cannot set up the protocol channels: %s" % e)
    return Channel(in_fd, out_fd, features)
