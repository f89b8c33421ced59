"""SnapStart's runtime hooks, run when ferric asks (`hooks` frames, docs/PROTOCOL.md): the
callables registered with the `snapshot_restore_py` package, as awslambdaric runs them
(lambda_runtime_hooks_runner.py, bootstrap.on_init_complete): before the snapshot in the
reverse order of registration, each once; after the restore in the order of registration.

The registry is the one user code filled: a handler that registers hooks has imported
`snapshot_restore_py`, so the shim never imports it (and works without it: no hooks, done at
once). Cold: imported on the first `hooks` frame.
"""
import sys


def _registry(getter):
    module = sys.modules.get("snapshot_restore_py")
    if module is None:
        return []
    return getattr(module, getter)()


def run_before_snapshot():
    before_snapshot_callables = _registry("get_before_snapshot")
    while before_snapshot_callables:
        # Last registered, first run; each runs once (popped from the registry).
        func, args, kwargs = before_snapshot_callables.pop()
        func(*args, **kwargs)


def run_after_restore():
    after_restore_callables = _registry("get_after_restore")
    for func, args, kwargs in after_restore_callables:
        func(*args, **kwargs)


RUNNERS = {"before_snapshot": run_before_snapshot, "after_restore": run_after_restore}


def run(channel, phase):
    """Run one phase's hooks; answer `hooks_done`, or log the error as awslambdaric does and
    answer `hooks_error` with the body it posts (ferric posts it to /init/error or
    /restore/error and stops the worker). A phase this shim does not know has no hooks."""
    runner = RUNNERS.get(phase)
    try:
        if runner is not None:
            runner()
    except:  # noqa: E722 - awslambdaric reports any exception, SystemExit included
        error_result = _error_result()
    else:
        channel.write_frame((("type", "hooks_done"), ("phase", str(phase))))
        return
    from .errors import log_error
    from .jsonfast import to_json

    log_error(error_result)
    channel.write_frame(
        (("type", "hooks_error"), ("phase", str(phase)), ("error_type", error_result["errorType"])),
        to_json(error_result).encode("utf-8"))


def _error_result():
    """awslambdaric's build_fault_result for a failed hook: its stackTrace starts at its
    runner's frame (only bootstrap.py frames are dropped), here at this module's."""
    from .errors import extract, format_list
    from .faults import make_error

    etype, value, tb = sys.exc_info()
    frames = extract(tb.tb_next)  # without run()'s own frame
    del tb
    return make_error(str(value), etype.__name__, format_list(frames))
