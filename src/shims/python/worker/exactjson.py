"""simplejson's exact behaviour (its C speedups), for what the fast paths of `jsonfast` do not
cover: invalid events (simplejson's values and error messages) and responses that are not
plain data (Decimal, namedtuples, bytes, subclasses, ...). Cold: imported on first use."""
import re as _re
import sys

from .jsonfast import CONTAINERS, INF, quote_ascii, quote_utf8, skip_ws

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


def decode(s, i):
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
            i = skip_ws(s, i + 1)
            if i < n and s[i] != "}":
                if s[i] != '"':
                    raise E("Expecting property name enclosed in double quotes or '}'", s, i)
                key, i = _sj_string(s, i + 1)
                i = skip_ws(s, i)
                if i >= n or s[i] != ":":
                    raise E("Expecting ':' delimiter", s, i)
                i = skip_ws(s, i + 1)
                stack.append([{}, key])
                continue
            if i >= n:
                raise E("Expecting property name enclosed in double quotes or '}'", s, i)
            value, i = {}, i + 1
        elif c == "[":
            i = skip_ws(s, i + 1)
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
                end = skip_ws(s, i)
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
            i = skip_ws(s, i)
            if i < n and s[i] == close:
                value = stack.pop()[0]
                i += 1
                continue
            if i >= n or s[i] != ",":
                raise E("Expecting ',' delimiter or '%s'" % close, s, i)
            comma = i
            i = skip_ws(s, i + 1)
            if i < n and s[i] == close:
                raise E("Illegal trailing comma before end of %s" % (
                    "array" if in_array else "object"), s, comma)
            if in_array:
                break
            if i >= n or s[i] != '"':
                raise E("Expecting property name enclosed in double quotes", s, i)
            top[1], i = _sj_string(s, i + 1)
            i = skip_ws(s, i)
            if i >= n or s[i] != ":":
                raise E("Expecting ':' delimiter", s, i)
            i = skip_ws(s, i + 1)
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
    if value == INF:
        return "Infinity"
    if value == -INF:
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


def encode(obj, ensure_ascii):
    """simplejson JSONEncoder(allow_nan=True, use_decimal=False) + Decimal default."""
    quote = quote_ascii if ensure_ascii else quote_utf8
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
            encode_value(value)
        emit("}")
        del markers[id(d)]

    def encode_value(o):
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
            as_dict = _MISSING if type(o) in CONTAINERS else _sj_asdict(o)
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
                    encode_value(value)
                emit("]")
                del markers[id(o)]
            elif isinstance(o, dict):
                encode_dict(o)
            elif isinstance(o, raw_types):
                emit(o.encoded_json)
            else:
                push(o)
                encode_value(_sj_default(o))
                del markers[id(o)]

    if isinstance(obj, str):
        return quote(obj)
    try:
        encode_value(obj)
    except RecursionError:
        raise RecursionError("maximum recursion depth exceeded while encoding a JSON object")
    return "".join(out)
