"""Events in, responses out: simplejson's semantics, byte for byte."""
import json
import unittest

from harness import (
    ECHO_APP,
    ShimTestCase,
)


class MarshalTest(ShimTestCase):
    def setUp(self):
        self.w = self.start(ECHO_APP, "app.value")
        self.w.ready()

    def value(self, name):
        return self.w.result({"name": name})

    def test_dict_and_echo_separators(self):
        w = self.start(ECHO_APP, "app.echo")
        w.ready()
        header, payload = w.result(b'{"a":1,"b":[1,2.5,null,true,false],"c":{}}')
        self.assertEqual(header["content_type"], "application/json")
        self.assertEqual(payload, b'{"a": 1, "b": [1, 2.5, null, true, false], "c": {}}')

    def test_none_str_bytes(self):
        self.assertEqual(self.value("none")[1], b"null")
        self.assertEqual(self.value("str")[1], b'"he said \\"hi\\"\\n"')
        header, payload = self.value("bytes")
        self.assertEqual((header["content_type"], payload), ("application/unknown",
                                                            b"\x00raw\xffbytes"))

    def test_decimal_nan_and_infinity(self):
        self.assertEqual(self.value("decimal")[1],
                         b'{"a": 1.10, "b": -1E+2, "n": NaN, "i": -Infinity}')
        self.assertEqual(self.value("floats")[1],
                         b"[1.5, NaN, Infinity, -Infinity, -0.0, 1e+300]")

    def test_unicode_is_escaped_by_default(self):
        self.assertEqual(self.value("unicode")[1],
                         b'{"k\\u00e9": "\\u00e9\\u2603\\ud83d\\ude00", "c": "\\u0000\\u001f\\u007f"}')

    def test_unicode_is_raw_utf8_on_python312_and_later_runtimes(self):
        w = self.start(ECHO_APP, "app.value", env={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"})
        w.ready()
        self.assertEqual(w.result({"name": "unicode"})[1],
                         '{"k\u00e9": "\u00e9\u2603\U0001F600", "c": "\\u0000\\u001f\x7f"}'
                         .encode("utf-8"))

    def test_simplejson_semantics(self):
        self.assertEqual(self.value("namedtuple")[1], b'[{"x": 1, "y": 2}]')
        self.assertEqual(self.value("nested_bytes")[1], b'{"b": "\\u00e9t\\u00e9"}')
        self.assertEqual(self.value("keys")[1], b'{"1": "int", "2.5": "float", "null": "none", '
                                                b'"false": "bool", "k": "bytes"}')

    def test_marshal_errors(self):
        cases = {
            "object": "Object of type object is not JSON serializable",
            "set": "Object of type set is not JSON serializable",
            "circular": "Circular reference detected",
            "tuple_key": "keys must be str, int, float, bool or None, not tuple",
            "bad_bytes": "'utf-8' codec can't decode byte 0xff in position 0: "
                         "invalid start byte",
        }
        for name, message in cases.items():
            header, payload = self.w.error({"name": name})
            self.assertEqual(payload, (
                '{"errorMessage": "Unable to marshal response: %s", "errorType": '
                '"Runtime.MarshalError", "requestId": "%s", "stackTrace": []}'
                % (message, header["id"])).encode())
            self.assertEqual(header["error_type"], "Runtime.MarshalError")
            self.assertEqual(json.loads(header["xray_cause"])["exceptions"][0]["type"],
                             "LambdaValidationError")


class EventTest(ShimTestCase):
    def setUp(self):
        self.w = self.start(ECHO_APP, "app.kind")
        self.w.ready()

    def test_non_json_content_types_get_the_raw_bytes(self):
        for content_type in ("application/octet-stream", "application/json; charset=utf-8",
                             "text/plain"):
            payload = self.w.result(b'{"not": "parsed"}', content_type=content_type)[1]
            self.assertEqual(json.loads(payload), {"type": "bytes", "value": '{"not": "parsed"}'})

    def test_pretty_printed_event_with_newlines(self):
        event = b'{\n  "a": [\n    1,\n    2\n  ],\n  "s": "line\\nbreak"\n}\n'
        self.assertEqual(json.loads(self.w.result(event)[1]),
                         {"type": "dict", "value": {"a": [1, 2], "s": "line\nbreak"}})

    def test_five_megabyte_event_and_response(self):
        w = self.start(ECHO_APP, "app.size")
        w.ready()
        event = json.dumps({"data": "x" * (5 * 1024 * 1024)}).encode()
        self.assertEqual(w.result(event)[1], b'{"len": 5242880, "head": "xxx"}')
        w = self.start(ECHO_APP, "app.big")
        w.ready()
        header, payload = w.result({"n": 5 * 1024 * 1024})
        self.assertEqual(header["len"], 5 * 1024 * 1024 + 2)
        self.assertEqual(payload, b'"' + b"y" * (5 * 1024 * 1024) + b'"')

    def test_unmarshal_errors_use_simplejson_messages(self):
        cases = {
            b"": "Expecting value: line 1 column 1 (char 0)",
            b"{": "Expecting property name enclosed in double quotes or '}': "
                  "line 1 column 2 (char 1)",
            b'{"a": 1} x': "Extra data: line 1 column 10 - line 1 column 11 (char 9 - 10)",
            b'{"a": NaN}': "Expecting value: line 1 column 7 (char 6)",
            b"[1,]": "Illegal trailing comma before end of array: line 1 column 3 (char 2)",
            b'"\\q"': "Invalid \\X escape sequence 'q': line 1 column 3 (char 2)",
            b'\n\n  "x': "Unterminated string starting at: line 3 column 3 (char 4)",
            b"\xff": "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        }
        for event, message in cases.items():
            header, payload = self.w.error(event)
            self.assertEqual(payload, (
                '{"errorMessage": %s, "errorType": "Runtime.UnmarshalError", '
                '"requestId": "%s", "stackTrace": []}'
                % (json.dumps("Unable to unmarshal input: " + message), header["id"])).encode())

    def test_byte_order_mark_is_skipped(self):
        self.assertEqual(json.loads(self.w.result(b'\xef\xbb\xbf{"a": 1}')[1])["value"], {"a": 1})


if __name__ == "__main__":
    unittest.main()
