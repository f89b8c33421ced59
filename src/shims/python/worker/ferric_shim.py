# ferric Python worker shim, worker protocol v1 (docs/PROTOCOL.md).
#
# Run by ferric as:  PYTHON -c <bootstrap> <this source> CACHE_DIR KEY HANDLER
# The bootstrap (PYTHON_BOOT in src/shims.rs) runs this code at module level,
# its code object loaded from CACHE_DIR or compiled (and then cached).
# Standard library only; it must not rely on __file__ or on being importable.
# It reproduces awslambdaric 4.2.2 (handler loading, context object, response
# and error JSON, logs) byte for byte; see README.md for the details.
#
# Start-up cost matters: without a valid cache this source is compiled (~0.25
# ms per KiB in a fresh process), so code needed only on rare paths lives in
# _COLD and is compiled on first use, and `logging` (~12 ms to import) is set
# up when something imports it.
# Keep the file well below 128 KiB: Linux limits one argv string to that.
import os
import sys


def _start(module_code):
    """Undo the bootstrap's traces, and cache this code if the bootstrap had to compile it."""
    argv = sys.argv
    boot = argv[1:4]  # this source, the cache directory and key
    del argv[1:4]  # user code sees ["-c", HANDLER], as under `python -c SOURCE HANDLER`
    orig = getattr(sys, "orig_argv", [])
    i = len(orig) - len(argv) - 2
    if orig[i:i + 3] == boot:
        del orig[i:i + 3]
    # Python 3.13+ keeps the `-c` program's lines for tracebacks ("<string>"): the
    # bootstrap's. Show this source's, as when it was the `-c` program itself.
    lines = getattr(sys.modules.get("linecache"), "cache", {})
    if "<string>" in lines:
        lines["<string>"] = (len(boot[0]), None, [x + "\n" for x in boot[0].splitlines()],
                             "<string>")
    prepare = os.environ.pop("FERRIC_SHIM_PREPARE", "") == "1"
    g = globals()
    if "_ferric_cache_miss" in g:
        _cache_code(module_code, boot[1], g.pop("_ferric_cache_miss"), prepare)


def _cache_code(code, directory, name, prepare):
    """Write `code` where the bootstrap looks for it, atomically; Lambda's file system is
    read-only but for /tmp, so failures are ignored. With FERRIC_SHIM_PREPARE=1 (at image
    build time), say where it went, or why it could not, and exit."""
    tmp = None
    try:
        if not (directory and name and sys.implementation.cache_tag):
            raise ValueError("no cache directory, or this Python caches no bytecode")
        import marshal

        if prepare:
            os.umask(0o22)  # readable by the unprivileged user Lambda runs functions as
        try:
            st = os.stat(directory)
        except FileNotFoundError:
            os.makedirs(directory, 0o755)
            os.chmod(directory, 0o755)
            st = os.stat(directory)
        if st.st_uid not in (0, os.getuid()) or st.st_mode & 0o22:
            # The bootstrap would not trust it: others could plant code there.
            raise ValueError("it is writable by group or others, or owned by another user")
        path = os.path.join(directory, name)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as f:
            f.write((name + "\n").encode() + marshal.dumps(code))
        os.replace(tmp, path)
        tmp = None
    except Exception as e:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if prepare:
            sys.exit("ferric: cannot cache the Python shim in %r: %s" % (directory, e))
        return
    if prepare:
        print("ferric: compiled the Python shim into %s" % path)
        sys.exit(0)


_start(sys._getframe().f_code)
del _start, _cache_code

_MAX_HEADER = 64 * 1024
_WS = " \t\n\r"
_NO_ASCII_ENVS = (
    "AWS_Lambda_python3.12",
    "AWS_Lambda_python3.13",
    "AWS_Lambda_python3.14",
    "AWS_Lambda_python3.15",
)
_LOG_JSON = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
_LOG_LEVEL = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
_LOG_LEVEL = {None: "", "TRACE": "DEBUG"}.get(_LOG_LEVEL, _LOG_LEVEL).upper()
_RESULT_ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in _NO_ASCII_ENVS
_GLOBAL_AWS_REQUEST_ID = None
_GLOBAL_TENANT_ID = None
_logging_ready = False


def _fatal(message, code=2):
    """A protocol failure: say why on stderr and exit at once."""
    try:
        os.write(2, ("ferric python shim: %s\n" % message).encode("utf-8", "replace"))
    finally:
        os._exit(code)


def _cold(chunk):
    """The globals, once the named chunk of rarely needed code is compiled."""
    g = globals()
    if chunk not in _cold_loaded:
        exec(compile(_COLD[chunk], "<string>", "exec"), g)
        _cold_loaded.add(chunk)
    return g


_cold_loaded = set()


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


# ------------------------------------------------------------ streams and logging


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


_LOG_SINK = StandardLogSink()


def _setup_logging(logging):
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
            self.log_sink.log(self.format(record), getattr(record, "_frame_type", None))

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
            record.tenant_id = _GLOBAL_TENANT_ID
            return True

    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    if _LOG_JSON or _LOG_LEVEL:
        handler = LambdaLoggerHandlerWithFrameType(_LOG_SINK)
    else:
        handler = LambdaLoggerHandler(_LOG_SINK)
    if _LOG_JSON:
        handler.setFormatter(_cold("logs")["_json_formatter"](logging))
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    if _LOG_LEVEL in logging._nameToLevel:
        logger.setLevel(_LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


class _LoggingImportHook(object):
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
            return spec  # unusual loader: _ensure_logging() catches up later
        exec_module = loader.exec_module

        def exec_then_setup(module):
            try:
                del loader.exec_module
            except AttributeError:
                pass
            exec_module(module)
            _setup_logging(module)

        loader.exec_module = exec_then_setup
        return spec


def _ensure_logging():
    if not _logging_ready and "logging" in sys.modules:
        _setup_logging(sys.modules["logging"])


# ------------------------------------------------------------ JSON (fast paths)
# awslambdaric uses simplejson (>= 3.19). Events: NaN/Infinity rejected, its own
# error texts. Responses: ", "/": " separators, NaN allowed, Decimal as its text,
# namedtuples as objects, nested bytes as UTF-8 strings. Plain data goes through
# the stdlib accelerator (_json), which then yields identical results; anything
# else takes the exact pure-Python paths in _COLD["json"].

try:
    import _json as _cjson
except ImportError:  # pragma: no cover - CPython always has it
    _cjson = None


def _c_or_py(name):
    fn = getattr(_cjson, name, None)
    if fn is None:
        import json.encoder

        fn = getattr(json.encoder, "py_" + name)
    return fn


_quote_ascii = _c_or_py("encode_basestring_ascii")
_quote_utf8 = _c_or_py("encode_basestring")
_INF = float("inf")


class _ScanStdlib(object):
    """Scanner context with json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": _INF, "-Infinity": -_INF}[name]


class _ScanEvent(_ScanStdlib):
    """simplejson >= 3.19 rejects NaN and Infinity; the cold path says how."""

    def parse_constant(name):
        raise ValueError(name)


def _make_scanner(ctx):
    try:
        return _cjson.make_scanner(ctx)
    except Exception:
        import json.decoder

        return json.decoder.JSONDecoder(parse_constant=ctx.parse_constant).scan_once


_scan_stdlib = _make_scanner(_ScanStdlib)
_scan_event = _make_scanner(_ScanEvent)


def _skip_ws(s, i):
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def _loads_stdlib(s):
    """json.loads(s) for a str, importing json only to report an error."""
    try:
        if not s.startswith("\ufeff"):
            obj, end = _scan_stdlib(s, _skip_ws(s, 0))
            if _skip_ws(s, end) == len(s):
                return obj
    except RecursionError:
        raise
    except Exception:
        pass
    import json

    return json.loads(s)


def _loads_event(body):
    """simplejson.loads(body) for the event bytes."""
    s = str(body, "utf-8")
    i = 0
    if s:
        if s[0] == "\ufeff":
            i = 1
        elif s[0] == "\xef" and s[:3] == "\xef\xbb\xbf":
            i = 3
    i = _skip_ws(s, i)
    try:
        obj, end = _scan_event(s, i)
        if _skip_ws(s, end) == len(s):
            return obj
    except RecursionError as e:
        raise RecursionError(str(e).replace(" from a unicode string", " from a string"))
    except Exception:
        pass
    return _cold("json")["_sj_decode"](s, i)


_SCALARS = frozenset((str, int, float, bool, type(None)))
_CONTAINERS = frozenset((dict, list, tuple))
_PLAIN = _SCALARS | _CONTAINERS


def _is_plain(obj):
    """True when obj holds only exact str/int/float/bool/None/dict/list/tuple,
    so the stdlib encoder gives simplejson's bytes. Walks one level at a time
    with gc.get_referents (values, plus keys of dicts with non-str keys)."""
    t = type(obj)
    if t in _SCALARS:
        return True
    if t not in _CONTAINERS:
        return False
    from gc import get_referents
    from itertools import compress

    is_container = _CONTAINERS.__contains__
    level = [obj]
    for _ in range(2000):  # deeper (or cyclic) data takes the exact path
        refs = get_referents(*level)
        types = set(map(type, refs))
        if types <= _SCALARS:
            return True
        if not types <= _PLAIN:
            return False
        level = list(compress(refs, map(is_container, map(type, refs))))
    return False


def _c_encode(obj, ensure_ascii):
    quote = _quote_ascii if ensure_ascii else _quote_utf8
    if type(obj) is str:
        return quote(obj)
    try:
        encoder = _cjson.make_encoder({}, None, quote, None, ": ", ", ", False, False, True)
    except Exception:
        import json

        return json.JSONEncoder(
            ensure_ascii=ensure_ascii, allow_nan=True, separators=(", ", ": ")
        ).encode(obj)
    return "".join(encoder(obj, 0))


def _encode(obj, ensure_ascii):
    if _is_plain(obj):
        return _c_encode(obj, ensure_ascii)
    return _cold("json")["_sj_encode"](obj, ensure_ascii)


def to_json(obj):
    """awslambdaric's to_json: reads AWS_EXECUTION_ENV on every call."""
    return _encode(obj, os.environ.get("AWS_EXECUTION_ENV") not in _NO_ASCII_ENVS)


def unmarshal_request(body, content_type):
    if content_type != "application/json":
        return body
    try:
        return _loads_event(body)
    except Exception as e:
        raise FaultException(
            FaultException.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None)


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return _encode(response, _RESULT_ENSURE_ASCII), "application/json"
    except Exception as e:
        raise FaultException(
            FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None)


# ------------------------------------------------------------ context object


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "%s([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.__class__.__name__, self.cognito_identity_id, self.cognito_identity_pool_id)


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return (
            "%s([installation_id=%s,app_title=%s,app_version_name=%s,"
            "app_version_code=%s,app_package_name=%s])"
            % (self.__class__.__name__, self.installation_id, self.app_title,
               self.app_version_name, self.app_version_code, self.app_package_name)
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "%s([custom=%s,env=%s,client=%s])" % (
            self.__class__.__name__, self.custom, self.env, self.client)


def make_obj_from_dict(_class, _dict):
    if _dict is None:
        return None
    obj = _class()
    for field in _class.__slots__:
        setattr(obj, field, _dict.get(field, None))
    return obj


class LambdaContext(object):
    def __init__(self, invoke_id, client_context, cognito_identity,
                 epoch_deadline_time_in_ms, invoked_function_arn=None, tenant_id=None):
        environ = os.environ
        self.aws_request_id = invoke_id
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._w3c_fields = self._extract_and_strip_w3c(client_context)
        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = make_obj_from_dict(Client, self.client_context.client)
        self.identity = make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get(
                "cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        import time

        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def w3c(self):
        """The invoke's W3C trace context: traceparent, tracestate, baggage."""
        return dict(self._w3c_fields)

    @staticmethod
    def _extract_and_strip_w3c(client_context):
        if not isinstance(client_context, dict) or "w3c" not in client_context:
            return {}
        raw = client_context.pop("w3c")
        if not isinstance(raw, dict):
            return {}
        fields = {}
        for key in ("traceparent", "tracestate", "baggage"):
            value = raw.get(key)
            if isinstance(value, str):
                fields[key] = value
        return fields

    def log(self, msg):
        logging = sys.modules.get("logging")
        if logging is not None:
            for handler in logging.getLogger().handlers:
                if hasattr(handler, "log_sink"):
                    handler.log_sink.log(str(msg))
                    return
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "%s([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])"
            % (self.__class__.__name__, self.aws_request_id, self.log_group_name,
               self.log_stream_name, self.function_name, self.memory_limit_in_mb,
               self.function_version, self.invoked_function_arn, self.client_context,
               self.identity, self.tenant_id)
        )


def _parse_json_header(header, name):
    try:
        return _loads_stdlib(header)
    except Exception as e:
        raise FaultException(
            FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
            "Unable to parse {} JSON: {}".format(name, str(e)),
            None,
        )


def create_lambda_context(client_context_json, cognito_identity_json, deadline_ms,
                          invoke_id, invoked_function_arn, tenant_id):
    client_context = None
    if client_context_json:
        client_context = _parse_json_header(client_context_json, "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = _parse_json_header(cognito_identity_json, "Cognito Identity")
    return LambdaContext(invoke_id, client_context, cognito_identity, deadline_ms,
                         invoked_function_arn, tenant_id)


# ------------------------------------------------------------ frames


class _Channel(object):
    def __init__(self, in_fd, out_fd):
        self.reader = open(in_fd, "rb", buffering=1 << 16)
        self.out_fd = out_fd

    def read_frame(self):
        """(header dict, payload bytes or None), or None at a clean EOF."""
        line = self.reader.readline(_MAX_HEADER + 1)
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) > _MAX_HEADER:
                _fatal("frame header longer than %d bytes" % _MAX_HEADER)
            _fatal("stdin closed in the middle of a frame header")
        try:
            header = _loads_stdlib(line.decode("utf-8"))
        except Exception as e:
            _fatal("invalid frame header (%s): %r" % (e, line[:200]))
        if not isinstance(header, dict):
            _fatal("frame header is not a JSON object: %r" % line[:200])
        length = header.get("len")
        if length is None:
            return header, None
        if type(length) is not int or length < 0:
            _fatal("invalid len in frame header: %r" % (length,))
        payload = self.reader.read(length)
        if len(payload) != length:
            _fatal("stdin closed in the middle of a %d-byte payload" % length)
        if self.reader.read(1) != b"\n":
            _fatal("the %d-byte payload is not followed by a newline" % length)
        return header, payload

    def write_frame(self, fields, payload=None):
        """Flush the logs, then write the frame with one write: never interleaved."""
        parts = ["{"]
        for key, value in fields:
            parts.append('"%s":' % key)
            parts.append(_quote_ascii(value) if isinstance(value, str) else str(value))
            parts.append(",")
        if payload is None:
            parts[-1] = "}\n"
            data = "".join(parts).encode("ascii")
        else:
            parts.append('"len":%d}\n' % len(payload))
            data = b"".join(("".join(parts).encode("ascii"), payload, b"\n"))
        _flush_logs()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.out_fd, view):]
        except OSError as e:
            _fatal("cannot write to the frame channel: %s" % e)


def _flush_logs():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _setup_channels():
    """Frames to a private copy of fd 1 (or FERRIC_PROTOCOL_FD), fd 1 to stderr
    so print() and C code land in the logs, stdin to /dev/null."""
    spec = os.environ.pop("FERRIC_PROTOCOL_FD", "1")
    try:
        out_fd = int(spec)
        if out_fd != 1 and out_fd < 3:
            raise ValueError(spec)
        os.fstat(out_fd)
    except (ValueError, OSError):
        _fatal("FERRIC_PROTOCOL_FD=%r is not a usable file descriptor" % spec)
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
        _fatal("cannot set up the protocol channels: %s" % e)
    return _Channel(in_fd, out_fd)


# ------------------------------------------------------------ handler


def _get_handler(handler):
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


def _load(channel, handler):
    error_result = None
    try:
        if os.environ.get("AWS_EXECUTION_ENV", "") == "AWS_Lambda_python3.15":
            _cold("errors")["_preview_warning"]()
        request_handler = _get_handler(handler)
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace)
    except Exception:
        error_result = _cold("errors")["_build_fault_result"](sys.exc_info(), None)
    if error_result is not None:
        _cold("errors")["_init_error"](channel, error_result)
    _ensure_logging()
    return request_handler


def _setup_sys_path():
    """As the AWS base image's bootstrap: the task root first, .pth files in it
    honoured; the cwd stays reachable as with `python -m awslambdaric`."""
    cwd = os.getcwd()
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or cwd
    if sys.path and sys.path[0] == "":
        sys.path[0] = cwd
    if not sys.path or sys.path[0] != task_root:
        sys.path.insert(0, task_root)
    import site

    site.addsitedir(task_root)


# ------------------------------------------------------------ invocations


def _handle_invoke(channel, request_handler, invoke_id, h, body):
    error_result = None
    try:
        lambda_context = create_lambda_context(
            h.get("client_context"), h.get("cognito_identity"), h["deadline_ms"],
            invoke_id, h.get("arn"), h.get("tenant_id"))
        event = unmarshal_request(body, h.get("content_type", "application/json"))
        response = request_handler(event, lambda_context)
        result, content_type = marshal_response(response)
    except FaultException as e:
        cold = _cold("errors")
        xray_fault = cold["_make_xray_fault"]("LambdaValidationError", e.msg, os.getcwd(), [])
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        cold = _cold("errors")
        etype, value, tb = sys.exc_info()
        frames = cold["_user_frames"](tb)
        del tb
        xray_fault = cold["_make_xray_fault"](etype.__name__, str(value), os.getcwd(), frames)
        error_result = make_error(
            str(value), etype.__name__, cold["_format_list"](frames), invoke_id)
    if error_result is not None:
        cold["_invoke_error"](channel, invoke_id, error_result, xray_fault)
        return
    if not isinstance(result, bytes):
        result = result.encode("utf-8")
    channel.write_frame(
        (("type", "result"), ("id", invoke_id), ("content_type", content_type)), result)


def _check_invoke(h):
    invoke_id = h.get("id")
    if not isinstance(invoke_id, str):
        _fatal("invoke frame without a string id")
    deadline = h.get("deadline_ms")
    if type(deadline) is float and deadline == deadline and abs(deadline) != _INF:
        deadline = h["deadline_ms"] = int(deadline)
    if type(deadline) is not int:
        _fatal("invoke frame without an integer deadline_ms")
    for key in ("arn", "trace_id", "client_context", "cognito_identity", "tenant_id",
                "content_type"):
        if not isinstance(h.get(key), (str, type(None))):
            _fatal("invoke frame field %s must be a string or null" % key)
    return invoke_id


def _serve(channel, request_handler):
    global _GLOBAL_AWS_REQUEST_ID, _GLOBAL_TENANT_ID
    environ = os.environ
    while True:
        frame = channel.read_frame()
        if frame is None:
            _flush_logs()
            sys.exit(0)
        h, payload = frame
        kind = h.get("type")
        if kind == "shutdown":
            _run_sigterm_handler()
            _flush_logs()
            sys.exit(0)
        if kind != "invoke":
            continue  # unknown frame types from ferric are ignored
        invoke_id = _check_invoke(h)
        _GLOBAL_AWS_REQUEST_ID = invoke_id
        _GLOBAL_TENANT_ID = h.get("tenant_id")
        trace_id = h.get("trace_id")
        if trace_id is not None:
            environ["_X_AMZN_TRACE_ID"] = trace_id
        elif "_X_AMZN_TRACE_ID" in environ:
            del environ["_X_AMZN_TRACE_ID"]
        _ensure_logging()
        _handle_invoke(channel, request_handler, invoke_id, h,
                       b"" if payload is None else payload)


def _run_sigterm_handler():
    """On ferric's shutdown frame, run the handler's own SIGTERM handler (Lambda's graceful
    shutdown hook), as if the platform had signalled this process. Code that installed one
    has imported `signal`; anything else just exits (atexit handlers run)."""
    signal = sys.modules.get("signal")
    if signal is None:
        return
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        os.kill(os.getpid(), signal.SIGTERM)


def _run(channel, handler):
    request_handler = _load(channel, handler)
    channel.write_frame((
        ("type", "ready"),
        ("protocol", 1),
        ("pid", os.getpid()),
        ("runtime", "python %d.%d.%d" % sys.version_info[:3]),
        ("executable", os.path.abspath(sys.executable) if sys.executable else ""),
    ))
    _serve(channel, request_handler)


def _bootstrap(handler):
    channel = _setup_channels()
    # ferric sends SIGUSR2 (12 on Linux) just before killing a worker that ran past its
    # deadline: dump every thread's stack into the logs first. faulthandler is built in (cheap).
    import faulthandler
    faulthandler.register(12, file=sys.stderr, all_threads=True)
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)
    _setup_sys_path()
    if "logging" in sys.modules:
        _setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingImportHook)
    _run(channel, handler)


def _handler_name():
    handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER")
    if not handler:
        raise ValueError("Handler not set")
    return handler


# ------------------------------------------------------------ cold code
# Compiled on first use by _cold(name): error reporting, the JSON log formatter,
# and simplejson's exact behaviour for unusual values and invalid events.
_COLD = {}
_COLD["errors"] = r'''
import traceback

_format_list = traceback.format_list

# ferric's own wording; the "LAMBDA_WARNING: Unhandled exception" prefix is kept because log
# filters and alarms match on it.
_UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception during init; the error follows. If it started "
    "after a change of runtime, image or dependency versions, compare those first.\r"
)


def _preview_warning():
    if os.environ.get("LAMBDA_DISABLE_PREVIEW_WARN", ""):
        return
    import logging

    _ensure_logging()
    domain = "amazonaws.cn" if os.environ.get("AWS_REGION", "").startswith("cn-") else (
        "aws.amazon.com")
    logging.warning(
        "LAMBDA_WARNING: this Python runtime is a preview release; keep it out of "
        "production. Runtime notes: https://docs.%s/lambda/latest/dg/lambda-runtimes.html\r"
        % domain)


def _user_frames(tb):
    """Traceback tuples without the shim's leading frames (its code is "<string>"),
    as awslambdaric drops its leading bootstrap.py frames."""
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i in range(len(frames)):
        if frames[i][0] != "<string>":
            return frames[i:]
    return frames


def _build_fault_result(exc_info, msg):
    etype, value, tb = exc_info
    frames = _user_frames(tb)
    return make_error(msg if msg else str(value), etype.__name__, _format_list(frames))


def _make_xray_fault(ex_type, ex_msg, working_dir, frames):
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


def _log_error(error_result):
    if _LOG_JSON:
        import time

        logging = sys.modules.get("logging")
        converter = logging.Formatter.converter if logging else time.gmtime
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", converter(time.time())),
            "level": "ERROR",
        }
        record.update(error_result)
        _LOG_SINK.log_error([to_json(record)])
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
    _LOG_SINK.log_error(lines)


def _init_error(channel, error_result):
    import logging

    _ensure_logging()
    logging.warning(_UNHANDLED_WARNING)
    _log_error(error_result)
    body = to_json(error_result).encode("utf-8")
    channel.write_frame((("type", "init_error"), ("error_type", error_result["errorType"])), body)
    sys.exit(1)


def _invoke_error(channel, invoke_id, error_result, xray_fault):
    _log_error(error_result)
    body = to_json(error_result).encode("utf-8")
    fields = [("type", "error"), ("id", invoke_id), ("error_type", error_result["errorType"])]
    cause = to_json(xray_fault)
    header_room = _MAX_HEADER - 200 - 6 * len(invoke_id) - 6 * len(error_result["errorType"])
    if len(_quote_ascii(cause)) <= header_room:
        fields.append(("xray_cause", cause))
    channel.write_frame(fields, body)
'''
_COLD["logs"] = r'''
import traceback


def _json_formatter(logging):
    """awslambdaric's JsonFormatter (AWS_LAMBDA_LOG_FORMAT=JSON)."""
    import json

    reserved = {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
        "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
        "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    }
    frame_types = {
        level: (0xA55A0002 | (level // 10) << 2).to_bytes(4, "big")
        for level in (0, 10, 20, 30, 40, 50)
    }
    encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    class JsonFormatter(logging.Formatter):
        def __init__(self):
            super().__init__(datefmt="%Y-%m-%dT%H:%M:%SZ")

        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            record._frame_type = frame_types.get(record.levelno, frame_types[0])
            exc_info = record.exc_info
            msg = record.msg
            result = {
                "timestamp": self.formatTime(record, self.datefmt),
                "level": record.levelname,
                "message": msg if isinstance(msg, dict) and not record.args
                else record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
                "errorType": exc_info[0].__name__ if exc_info else None,
                "errorMessage": str(exc_info[1]) if exc_info else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno)
                if exc_info else None,
            }
            if hasattr(record, "tenant_id") and record.tenant_id is not None:
                result["tenantId"] = record.tenant_id
            result.update(
                (key, value)
                for key, value in record.__dict__.items()
                if key not in reserved and key not in result
            )
            result = {k: v for k, v in result.items() if v is not None}
            return encode(result) + "\n"

    return JsonFormatter()
'''
_COLD["json"] = r'''
import re as _re

# --- simplejson's decoder (C speedups behaviour): values and error messages


class _DecodeError(ValueError):
    def __init__(self, msg, doc, pos, end=None):
        def linecol(p):
            line = doc.count("\n", 0, p) + 1
            return line, (p + 1 if line == 1 else p - doc.rindex("\n", 0, p))

        msg = msg.replace("%r", repr(doc[pos:pos + 1]))
        line, col = linecol(pos)
        if end is None:
            text = "%s: line %d column %d (char %d)" % (msg, line, col, pos)
        else:
            end_line, end_col = linecol(end)
            text = "%s: line %d column %d - line %d column %d (char %d - %d)" % (
                msg, line, col, end_line, end_col, pos, end)
        ValueError.__init__(self, text)


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_STRING_STOP = _re.compile(r'["\\\x00-\x1f]')


def _sj_hex(s, i, backslash):
    text = s[i:i + 4]
    if len(text) < 4 or not _HEX.issuperset(text):
        raise _DecodeError("Invalid \\uXXXX escape sequence", s, backslash)
    return int(text, 16)


def _sj_string(s, end):
    """The string whose opening quote is at end - 1, and the index after it."""
    begin = end - 1
    n = len(s)
    chunks = []
    while True:
        m = _STRING_STOP.search(s, end)
        if m is None:
            raise _DecodeError("Unterminated string starting at", s, begin)
        pos = m.start()
        chunks.append(s[end:pos])
        c = s[pos]
        if c == '"':
            return "".join(chunks), pos + 1
        if c != "\\":
            raise _DecodeError("Invalid control character %r at", s, pos)
        if pos + 1 >= n:
            raise _DecodeError("Unterminated string starting at", s, begin)
        c = s[pos + 1]
        if c != "u":
            if c not in _ESCAPES:
                raise _DecodeError("Invalid \\X escape sequence %r", s, pos + 1)
            chunks.append(_ESCAPES[c])
            end = pos + 2
            continue
        code = _sj_hex(s, pos + 2, pos)
        end = pos + 6
        if code & 0xFC00 == 0xD800 and end + 6 <= n and s[end:end + 2] == "\\u":
            low = _sj_hex(s, end + 2, end)
            if low & 0xFC00 == 0xDC00:
                code = 0x10000 + (((code - 0xD800) << 10) | (low - 0xDC00))
                end += 6
        chunks.append(chr(code))


def _sj_number(s, start):
    n = len(s)
    i = start
    if s[i] == "-":
        if i >= n - 1:
            raise _DecodeError("Expecting value", s, start)
        i += 1
    if s[i] == "0":
        i += 1
    elif s[i] in _DIGITS:
        while i < n and s[i] in _DIGITS:
            i += 1
    else:
        raise _DecodeError("Expecting value", s, start)
    is_float = False
    if i < n - 1 and s[i] == "." and s[i + 1] in _DIGITS:
        is_float = True
        i += 2
        while i < n and s[i] in _DIGITS:
            i += 1
    if i < n - 1 and s[i] in "eE":
        e_start = i
        i += 1
        if i < n - 1 and s[i] in "-+":
            i += 1
        while i < n and s[i] in _DIGITS:
            i += 1
        if s[i - 1] in _DIGITS:
            is_float = True
        else:
            i = e_start
    text = s[start:i]
    return (float(text) if is_float else int(text)), i


def _sj_decode(s, i):
    """Iterative, so nesting depth is no limit; containers are [list] or [dict, key]."""
    E = _DecodeError
    n = len(s)
    stack = []
    while True:
        if i >= n:
            raise E("Expecting value", s, i)
        c = s[i]
        if c == '"':
            value, i = _sj_string(s, i + 1)
        elif c == "{":
            i = _skip_ws(s, i + 1)
            if i < n and s[i] != "}":
                if s[i] != '"':
                    raise E("Expecting property name enclosed in double quotes or '}'", s, i)
                key, i = _sj_string(s, i + 1)
                i = _skip_ws(s, i)
                if i >= n or s[i] != ":":
                    raise E("Expecting ':' delimiter", s, i)
                i = _skip_ws(s, i + 1)
                stack.append([{}, key])
                continue
            if i >= n:
                raise E("Expecting property name enclosed in double quotes or '}'", s, i)
            value, i = {}, i + 1
        elif c == "[":
            i = _skip_ws(s, i + 1)
            if i < n and s[i] != "]":
                stack.append([[]])
                continue
            if i >= n:
                raise E("Expecting value or ']'", s, i)
            value, i = [], i + 1
        elif s.startswith("null", i):
            value, i = None, i + 4
        elif s.startswith("true", i):
            value, i = True, i + 4
        elif s.startswith("false", i):
            value, i = False, i + 5
        else:
            value, i = _sj_number(s, i)
        while True:  # hand the finished value to the enclosing containers
            if not stack:
                end = _skip_ws(s, i)
                if end != n:
                    raise E("Extra data", s, end, n)
                return value
            top = stack[-1]
            in_array = len(top) == 1
            if in_array:
                top[0].append(value)
                close = "]"
            else:
                top[0][top[1]] = value
                close = "}"
            i = _skip_ws(s, i)
            if i < n and s[i] == close:
                value = stack.pop()[0]
                i += 1
                continue
            if i >= n or s[i] != ",":
                raise E("Expecting ',' delimiter or '%s'" % close, s, i)
            comma = i
            i = _skip_ws(s, i + 1)
            if i < n and s[i] == close:
                raise E("Illegal trailing comma before end of %s" % (
                    "array" if in_array else "object"), s, comma)
            if in_array:
                break
            if i >= n or s[i] != '"':
                raise E("Expecting property name enclosed in double quotes", s, i)
            top[1], i = _sj_string(s, i + 1)
            i = _skip_ws(s, i)
            if i >= n or s[i] != ":":
                raise E("Expecting ':' delimiter", s, i)
            i = _skip_ws(s, i + 1)
            break


# --- simplejson's encoder (C speedups behaviour) with awslambdaric's default()


class _Raw(object):
    __slots__ = ("encoded_json",)

    def __init__(self, encoded_json):
        self.encoded_json = encoded_json


def _sj_default(obj):
    import decimal

    if isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return float("nan")
        return _Raw(str(obj))
    raise TypeError("Object of type %s is not JSON serializable" % obj.__class__.__name__)


def _sj_float(o):
    value = float.__float__(o)
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(o) if type(o) is float else repr(float(o))


def _sj_int(o):
    return int.__repr__(o) if type(o) is int else str(int(o))


_MISSING = object()


def _sj_asdict(o):
    method = getattr(o, "_asdict", None)
    if method is None or not callable(method):
        return _MISSING
    try:
        return method()
    except TypeError:
        return _MISSING


def _sj_key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return bytes.decode(key, "utf-8")
    if isinstance(key, float):
        return _sj_float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return _sj_int(key)
    raise TypeError("keys must be str, int, float, bool or None, not %s" % type(key).__name__)


def _sj_encode(obj, ensure_ascii):
    """simplejson JSONEncoder(allow_nan=True, use_decimal=False) + Decimal default."""
    quote = _quote_ascii if ensure_ascii else _quote_utf8
    raw_types = (_Raw,)
    simplejson_raw = getattr(sys.modules.get("simplejson.raw_json"), "RawJSON", None)
    if simplejson_raw is not None:
        raw_types += (simplejson_raw,)
    markers = {}
    out = []
    emit = out.append

    def push(o):
        if id(o) in markers:
            raise ValueError("Circular reference detected")
        markers[id(o)] = o

    def encode_dict(d):
        if not len(d):
            emit("{}")
            return
        push(d)
        exact = type(d) is dict
        emit("{")
        first = True
        for item in (d.items() if exact else list(d.items())):
            if not exact and not (isinstance(item, tuple) and len(item) == 2):
                raise ValueError("items must return 2-tuples")
            key, value = item
            if not first:
                emit(", ")
            first = False
            emit(quote(_sj_key(key)))
            emit(": ")
            encode(value)
        emit("}")
        del markers[id(d)]

    def encode(o):
        if isinstance(o, str):
            emit(quote(o))
        elif isinstance(o, bytes):
            emit(quote(bytes.decode(o, "utf-8")))
        elif o is None:
            emit("null")
        elif o is True:
            emit("true")
        elif o is False:
            emit("false")
        elif isinstance(o, int):
            emit(_sj_int(o))
        elif isinstance(o, float):
            emit(_sj_float(o))
        else:
            as_dict = _MISSING if type(o) in _CONTAINERS else _sj_asdict(o)
            if as_dict is not _MISSING:
                push(o)
                if not isinstance(as_dict, dict):
                    raise TypeError(
                        "_asdict() must return a dict, not %s" % type(as_dict).__name__)
                encode_dict(as_dict)
                del markers[id(o)]
            elif isinstance(o, (list, tuple)):
                if not len(o):
                    emit("[]")
                    return
                push(o)
                emit("[")
                for index, value in enumerate(o):
                    if index:
                        emit(", ")
                    encode(value)
                emit("]")
                del markers[id(o)]
            elif isinstance(o, dict):
                encode_dict(o)
            elif isinstance(o, raw_types):
                emit(o.encoded_json)
            else:
                push(o)
                encode(_sj_default(o))
                del markers[id(o)]

    if isinstance(obj, str):
        return quote(obj)
    try:
        encode(obj)
    except RecursionError:
        raise RecursionError("maximum recursion depth exceeded while encoding a JSON object")
    return "".join(out)
'''

# `python -m awslambdaric` runs the handler 7 frames deep (runpy's 2, its
# __main__, main(), run(), handle_event_request()) after 2 entries from C (the
# runpy call and its exec). The bootstrap's exec() of this code gives the same
# depth here (the bootstrap's frame, this one, _bootstrap, _run, _serve,
# _handle_invoke), so recursion limits and "[Previous line repeated N more
# times]" counts match.
_bootstrap(_handler_name())
