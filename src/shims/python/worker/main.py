"""The worker's entry point: boot.py runs `main()` once the hot modules are loaded.

It behaves like `python -m awslambdaric HANDLER` (awslambdaric 4.2.2) behind ferric's frame
protocol; see README.md. The modules imported here are the hot ones (bundle.py).

Stack depth: `python -m awslambdaric` runs the handler 7 frames deep (runpy's 2, its
__main__, main(), run(), handle_event_request()) after 2 entries from C into the interpreter
(the runpy call, runpy's exec() of __main__), and imports it 7 frames deep (... run(),
_get_handler(), import_module()). Here: boot.py's module frame, main() (which boot.py runs
with exec(main.__code__), not a call, for the second entry from C), start(), invoke.run(),
then invoke.serve() and invoke.handle_invoke(), or handler.load() and handler.get_handler().
Python 3.11 counts the entries from C towards the recursion limit too; with the same depths,
recursion limits and "[Previous line repeated N more times]" counts match. Keep it so (the
tests check both). main() takes no arguments and uses no closure, so exec() can run it.
"""
import os
import sys

from .channel import open_channel
from .handler import setup_sys_path
from .invoke import run
from .logsetup import Unbuffered, install as install_logging, open_sink, redirect_output


def main():
    handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER")
    if not handler:
        raise ValueError("Handler not set")
    open_sink()  # the telemetry descriptor, before the channel takes descriptors of its own
    start(open_channel(), handler)


def start(channel, handler):
    """The process as awslambdaric sets it up, then the invoke loop."""
    redirect_output()  # Lambda Managed Instances: stdout and stderr to the log socket
    # ferric sends SIGUSR2 (12 on Linux) just before killing a worker that ran past its
    # deadline: dump every thread's stack into the logs first. faulthandler is built in (cheap).
    import faulthandler

    faulthandler.register(12, file=sys.stderr, all_threads=True)
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)
    setup_sys_path()
    install_logging()
    if "FERRIC_DEBUG_LISTEN" in os.environ:  # ferric --debug: debugpy, before the handler loads
        from .debug import attach

        attach(channel)
    run(channel, handler)
