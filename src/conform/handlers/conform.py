"""The conformance handler `ferric conform --runtime python` runs in the Python shim.

It follows the contract in docs/PROTOCOL.md ("Checking a worker: ferric conform"): bytes
(events of any content type but application/json) come back as they came; JSON events with a
"conform" key ask for something. The module has no `init_error`: `_HANDLER=conform.init_error`
must fail the init.
"""
import os
import subprocess
import sys


class ConformError(Exception):
    pass


def fake_frames(request_id):
    """The lines the log event asks for: frames, should they reach the frame channel."""
    return '{"type":"result","id":"%s","len":4}\nFAKE\n{"type":"ready","protocol":1}\n' % request_id


def log(request_id):
    text = fake_frames(request_id)
    sys.stderr.write(text)
    sys.stderr.flush()
    print(text, end="", flush=True)  # sys.stdout: fd 1, which the shim points at the logs
    os.write(1, text.encode())  # fd 1 itself, as C code writes it
    try:  # and child processes, which inherit fd 1
        subprocess.run(["/bin/sh", "-c", 'printf "%s" "$1"', "sh", text], check=False)
    except OSError:
        pass  # no shell in this image


def handler(event, context):
    if isinstance(event, bytes):
        return event
    command = event.get("conform") if isinstance(event, dict) else None
    if command == "info":
        return {"events": "bytes"}
    if command == "echo":
        return event["text"]
    if command == "error":
        raise ConformError("conformance check: an error was asked for")
    if command == "log":
        log(context.aws_request_id)
        return "logged"
    if command == "stream":
        return {"conform": "nostream"}
    return event
