"""The context object handlers get: awslambdaric's LambdaContext, attribute for attribute."""
import os
import sys

from .faults import FaultException
from .jsonfast import loads_stdlib


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
        if logging is None:  # awslambdaric's handler is set up with logging: its sink
            from .logsetup import LOG_SINK

            LOG_SINK.log(str(msg))
            return
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


def parse_json_header(header, name):
    try:
        return loads_stdlib(header)
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
        client_context = parse_json_header(client_context_json, "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = parse_json_header(cognito_identity_json, "Cognito Identity")
    return LambdaContext(invoke_id, client_context, cognito_identity, deadline_ms,
                         invoked_function_arn, tenant_id)
