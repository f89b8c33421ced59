"""JSON as awslambdaric does it, fast for plain data.

awslambdaric uses simplejson (>= 3.19). Events: NaN/Infinity rejected, its own error texts.
Responses: ", "/": " separators, NaN allowed, Decimal as its text, namedtuples as objects,
nested bytes as UTF-8 strings. Plain data goes through the stdlib accelerator (_json), which
then yields identical results; anything else takes the exact pure-Python paths of `exactjson`
(cold: compiled on first use).
"""
import os

from .faults import FaultException

try:
    import _json as _cjson
except ImportError:  # pragma: no cover - CPython always has it
    _cjson = None

WS = " \t\n\r"
NO_ASCII_ENVS = (
    "AWS_Lambda_python3.12",
    "AWS_Lambda_python3.13",
    "AWS_Lambda_python3.14",
    "AWS_Lambda_python3.15",
)
RESULT_ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in NO_ASCII_ENVS
INF = float("inf")


def _c_or_py(name):
    fn = getattr(_cjson, name, None)
    if fn is None:
        import json.encoder

        fn = getattr(json.encoder, "py_" + name)
    return fn


quote_ascii = _c_or_py("encode_basestring_ascii")
quote_utf8 = _c_or_py("encode_basestring")


class _ScanStdlib(object):
    """Scanner context with json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": INF, "-Infinity": -INF}[name]


class _ScanEvent(_ScanStdlib):
    """simplejson >= 3.19 rejects NaN and Infinity; the exact path says how."""

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


def skip_ws(s, i):
    n = len(s)
    while i < n and s[i] in WS:
        i += 1
    return i


def loads_stdlib(s):
    """json.loads(s) for a str, importing json only to report an error."""
    try:
        if not s.startswith("\ufeff"):
            obj, end = _scan_stdlib(s, skip_ws(s, 0))
            if skip_ws(s, end) == len(s):
                return obj
    except RecursionError:
        raise
    except Exception:
        pass
    import json

    return json.loads(s)


def loads_event(body):
    """simplejson.loads(body) for the event bytes."""
    s = str(body, "utf-8")
    i = 0
    if s:
        if s[0] == "\ufeff":
            i = 1
        elif s[0] == "\xef" and s[:3] == "\xef\xbb\xbf":
            i = 3
    i = skip_ws(s, i)
    try:
        obj, end = _scan_event(s, i)
        if skip_ws(s, end) == len(s):
            return obj
    except RecursionError as e:
        raise RecursionError(str(e).replace(" from a unicode string", " from a string"))
    except Exception:
        pass
    from . import exactjson

    return exactjson.decode(s, i)


_SCALARS = frozenset((str, int, float, bool, type(None)))
CONTAINERS = frozenset((dict, list, tuple))
_PLAIN = _SCALARS | CONTAINERS


def _is_plain(obj):
    """True when obj holds only exact str/int/float/bool/None/dict/list/tuple,
    so the stdlib encoder gives simplejson's bytes. Walks one level at a time
    with gc.get_referents (values, plus keys of dicts with non-str keys)."""
    t = type(obj)
    if t in _SCALARS:
        return True
    if t not in CONTAINERS:
        return False
    from gc import get_referents
    from itertools import compress

    is_container = CONTAINERS.__contains__
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
    quote = quote_ascii if ensure_ascii else quote_utf8
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


def encode(obj, ensure_ascii):
    if _is_plain(obj):
        return _c_encode(obj, ensure_ascii)
    from . import exactjson

    return exactjson.encode(obj, ensure_ascii)


def to_json(obj):
    """awslambdaric's to_json: reads AWS_EXECUTION_ENV on every call."""
    return encode(obj, os.environ.get("AWS_EXECUTION_ENV") not in NO_ASCII_ENVS)


def unmarshal_request(body, content_type):
    if content_type != "application/json":
        return body
    try:
        return loads_event(body)
    except Exception as e:
        raise FaultException(
            FaultException.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None)


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return encode(response, RESULT_ENSURE_ASCII), "application/json"
    except Exception as e:
        raise FaultException(
            FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None)
