"""The context object and the invocation's environment."""
import json
import time
import unittest

from harness import (
    ARN,
    ShimTestCase,
)


class ContextTest(ShimTestCase):
    APP = {"app.py": """
        import os
        def handler(event, context):
            cc = context.client_context
            return {
                "aws_request_id": context.aws_request_id,
                "invoked_function_arn": context.invoked_function_arn,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "tenant_id": context.tenant_id,
                "identity": [context.identity.cognito_identity_id,
                             context.identity.cognito_identity_pool_id],
                "client_context": None if cc is None else [
                    cc.custom, cc.env, cc.client and cc.client.installation_id,
                    cc.client and cc.client.app_version_name],
                "w3c": context.w3c(),
                "remaining": context.get_remaining_time_in_millis(),
                "repr": repr(context),
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            }
    """}
    ENV = {
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/f",
        "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
    }

    def setUp(self):
        self.w = self.start(self.APP, "app.handler", env=self.ENV)
        self.w.ready()

    def test_minimal_context(self):
        ctx = json.loads(self.w.result(deadline_ms=0)[1])
        self.assertEqual(ctx["remaining"], 0)
        self.assertEqual(ctx["memory_limit_in_mb"], "256")
        self.assertEqual(ctx["identity"], [None, None])
        self.assertIsNone(ctx["client_context"])
        self.assertEqual(ctx["w3c"], {})
        self.assertEqual(ctx["repr"], (
            "LambdaContext([aws_request_id=req-1,log_group_name=/aws/lambda/f,"
            "log_stream_name=stream,function_name=f,memory_limit_in_mb=256,"
            "function_version=$LATEST,invoked_function_arn=%s,client_context=None,"
            "identity=CognitoIdentity([cognito_identity_id=None,cognito_identity_pool_id=None]),"
            "tenant_id=None])" % ARN))

    def test_full_context(self):
        client_context = json.dumps({
            "client": {"installation_id": "inst", "app_title": "t"},
            "custom": {"k": "v"}, "env": {"e": "1"},
            "w3c": {"traceparent": "00-abc", "tracestate": 5, "other": "x"},
        })
        deadline = int(time.time() * 1000) + 60000
        ctx = json.loads(self.w.result(
            deadline_ms=deadline, client_context=client_context, tenant_id="tenant-1",
            cognito_identity='{"cognitoIdentityId": "id1", "cognitoIdentityPoolId": "pool1"}',
            trace_id="Root=1-abc;Sampled=1")[1])
        self.assertTrue(50000 < ctx["remaining"] <= 60000, ctx["remaining"])
        self.assertEqual(ctx["identity"], ["id1", "pool1"])
        self.assertEqual(ctx["client_context"], [{"k": "v"}, {"e": "1"}, "inst", None])
        self.assertEqual(ctx["w3c"], {"traceparent": "00-abc"})
        self.assertEqual(ctx["tenant_id"], "tenant-1")
        self.assertEqual(ctx["trace"], "Root=1-abc;Sampled=1")
        self.assertIn(",client_context=ClientContext([custom={'k': 'v'},env={'e': '1'},"
                      "client=Client([installation_id=inst,app_title=t,app_version_name=None,"
                      "app_version_code=None,app_package_name=None])]),identity=CognitoIdentity("
                      "[cognito_identity_id=id1,cognito_identity_pool_id=pool1]),"
                      "tenant_id=tenant-1])", ctx["repr"])

    def test_large_client_context_and_cognito_identity(self):
        # Headers of this size once broke the worker: header lines from ferric may be 1 MiB.
        custom = {"blob": "x" * 200000, "list": [1, 2.5, None], "text": "caf\u00e9 \u2603"}
        env = {"platform": "Android", "locale": "en_US"}
        client = {"installation_id": "inst-" + "i" * 64, "app_title": "big",
                  "app_version_name": "1.0", "app_version_code": "100",
                  "app_package_name": "com.example"}
        client_context = json.dumps({"client": client, "custom": custom, "env": env,
                                     "w3c": {"traceparent": "00-big", "baggage": "b=1"}})
        self.assertGreater(len(client_context), 200 * 1000)
        identity_id = "us-east-1:" + "c" * 100000
        cognito = json.dumps({"cognitoIdentityId": identity_id, "cognitoIdentityPoolId": "pool"})
        for _ in range(2):
            header, payload = self.w.result(client_context=client_context,
                                            cognito_identity=cognito)
            ctx = json.loads(payload)
            self.assertEqual(ctx["client_context"], [custom, env, client["installation_id"], "1.0"])
            self.assertEqual(ctx["identity"], [identity_id, "pool"])
            self.assertEqual(ctx["w3c"], {"traceparent": "00-big", "baggage": "b=1"})
            self.assertIn(",client=Client([installation_id=%s,app_title=big,app_version_name=1.0,"
                          "app_version_code=100,app_package_name=com.example])]),identity="
                          "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=pool"
                          "]),tenant_id=None])" % (client["installation_id"], identity_id),
                          ctx["repr"])
        self.assertEqual(json.loads(self.w.result()[1])["client_context"], None)

    def test_trace_id_is_set_then_removed(self):
        self.assertEqual(json.loads(self.w.result(trace_id="Root=1-a")[1])["trace"], "Root=1-a")
        self.assertIsNone(json.loads(self.w.result(trace_id=None)[1])["trace"])
        self.assertEqual(json.loads(self.w.result(trace_id="Root=1-b")[1])["trace"], "Root=1-b")

    def test_context_unmarshal_errors(self):
        for field, text, message in (
                ("client_context", "not json",
                 "Unable to parse Client Context JSON: Expecting value: line 1 column 1 (char 0)"),
                ("cognito_identity", "{x}",
                 "Unable to parse Cognito Identity JSON: Expecting property name enclosed in "
                 "double quotes: line 1 column 2 (char 1)")):
            header, payload = self.w.error(**{field: text})
            self.assertEqual(payload, (
                '{"errorMessage": "%s", "errorType": "Runtime.LambdaContextUnmarshalError", '
                '"requestId": "%s", "stackTrace": []}' % (message, header["id"])).encode())


if __name__ == "__main__":
    unittest.main()
