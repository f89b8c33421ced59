"""`ferric --debug` for Python: debugpy listens, and the worker waits for a debugger to attach,
before the handler's module is imported, so breakpoints at module level and in the handler hit.

ferric sets FERRIC_DEBUG_LISTEN (HOST:PORT) only under --debug; without it nothing here runs and
debugpy is never imported. debugpy comes from the function's own environment (its task root or
site-packages): ferric does not ship it.
"""
import os
import sys

LISTEN = "FERRIC_DEBUG_LISTEN"


def address(value):
    """(host, port) from HOST:PORT, [V6]:PORT included; ValueError names what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("%s=%r is not HOST:PORT" % (LISTEN, value))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def attach(channel):
    """Under --debug: listen with debugpy and wait for the client. A failure (no debugpy, the
    port taken) is the worker's init error, naming the fix."""
    value = os.environ.pop(LISTEN, None)
    if not value:
        return
    try:
        where = address(value)
        try:
            import debugpy
        except ImportError as e:
            raise DebuggerUnavailable(
                "ferric --debug: the debugger for Python, debugpy, is not installed for %s (%s). "
                "Install it where the function's packages are (pip install debugpy, into the "
                "environment or the task root), or run without --debug"
                % (sys.executable or "python", e))
        try:
            debugpy.listen(where)
        except Exception as e:
            raise DebuggerUnavailable(
                "ferric --debug: debugpy could not listen on %s (%s: %s). Choose another port: "
                "--debug=HOST:PORT" % (value, type(e).__name__, e))
    except (ValueError, DebuggerUnavailable) as e:
        from .errors import init_error
        from .faults import make_error

        init_error(channel, make_error(str(e), "Runtime.DebuggerUnavailable", []))
    sys.stderr.write("ferric --debug: debugpy listens on %s; waiting for the debugger to attach\n"
                     % value)
    debugpy.wait_for_client()


class DebuggerUnavailable(Exception):
    pass
