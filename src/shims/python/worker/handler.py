"""Finding and importing the handler as awslambdaric does, and the module search path."""
import os
import sys

from .faults import FaultException, make_error
from .logsetup import ensure_logging


def get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(
            FaultException.MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e)))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        import importlib

        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR,
            "Unable to import module '{}': {}".format(modname, str(e)),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, str(e)),
            trace,
        )
    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND,
            "Handler '{}' missing on module '{}'".format(fname, modname),
            None,
        )


def load(channel, handler):
    """The handler function; on any failure, report the init error and exit 1."""
    error_result = None
    try:
        if os.environ.get("AWS_EXECUTION_ENV", "") == "AWS_Lambda_python3.15":
            from .errors import preview_warning

            preview_warning()
        request_handler = get_handler(handler)
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace)
    except Exception:
        exc_info = sys.exc_info()
        from .errors import build_fault_result

        error_result = build_fault_result(exc_info, None)
        del exc_info
    if error_result is not None:
        from .errors import init_error

        init_error(channel, error_result)
    ensure_logging()
    return request_handler


def setup_sys_path():
    """As the AWS base image's bootstrap: the task root first, .pth files in it
    honoured; the cwd stays reachable as with `python -m awslambdaric`."""
    cwd = os.getcwd()
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or cwd
    if sys.path and sys.path[0] == "":
        sys.path[0] = cwd
    if not sys.path or sys.path[0] != task_root:
        sys.path.insert(0, task_root)
    try:
        names = os.listdir(task_root)
    except OSError:
        names = None
    # site.addsitedir() reads the .pth files; with none it would change nothing (the task root
    # is on the path already), so skip its ~0.1 ms of stat() calls.
    if names is None or any(n.endswith(".pth") and not n.startswith(".") for n in names):
        import site

        site.addsitedir(task_root)
