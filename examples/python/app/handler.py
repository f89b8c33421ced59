"""The workshop's API Gateway proxy handler.

Works with REST API (v1) and HTTP API (v2) proxy events and with plain JSON events:
it greets the caller named in the query string, the JSON body or the event itself.
"""

import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)

GREETING = os.environ.get("GREETING", "Hello")


def _name_from(event):
    if not isinstance(event, dict):
        return None
    params = event.get("queryStringParameters") or {}
    if params.get("name"):
        return params["name"]
    body = event.get("body")
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("name"):
            return parsed["name"]
    return event.get("name")


def _method_and_path(event):
    if not isinstance(event, dict):
        return None, None
    http = (event.get("requestContext") or {}).get("http") or {}
    method = event.get("httpMethod") or http.get("method")
    path = event.get("path") or event.get("rawPath") or http.get("path")
    return method, path


def handler(event, context):
    name = _name_from(event) or "world"
    method, path = _method_and_path(event)
    logger.info("greeting %s (%s %s)", name, method, path)
    body = {
        "message": "{}, {}!".format(GREETING, name),
        "method": method,
        "path": path,
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "remainingMs": context.get_remaining_time_in_millis(),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
