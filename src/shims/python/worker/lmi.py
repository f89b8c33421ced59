"""Lambda Managed Instances' log socket: awslambdaric's forked workers connect to the Unix
socket `_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET` once for stdout and once for stderr, and put
the connections on fds 1 and 2 (lambda_multi_concurrent_utils.MultiConcurrentRunner). Each of
ferric's workers does the same. Cold: imported only under Lambda Managed Instances."""
import os

from .channel import fatal


def redirect_output(path):
    import socket

    for fd in (1, 2):  # sys.stdout's, then sys.stderr's
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
                os.dup2(s.fileno(), fd)
        except OSError as e:
            fatal("cannot connect to the log socket %s=%r: %s"
                  % ("_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET", path, e), 1)
