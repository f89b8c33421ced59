"""awslambdaric's JsonFormatter, for AWS_LAMBDA_LOG_FORMAT=JSON. Cold: imported on first use."""
import traceback


def json_formatter(logging):
    """awslambdaric's JsonFormatter (AWS_LAMBDA_LOG_FORMAT=JSON)."""
    import json

    reserved = {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
        "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
        "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    }
    frame_types = {  # awslambdaric's _JSON_FRAME_TYPES: 0xA55A0002, ...000A (DEBUG), ...
        level: (0xA55A0002 | (level and level // 10 + 1) << 2).to_bytes(4, "big")
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
