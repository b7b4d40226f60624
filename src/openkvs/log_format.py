"""The server's own log lines (not the access log), as text or as one JSON object per line.

Either way a message cannot forge a line: control characters in it are escaped (a traceback,
which the server writes itself, keeps its line breaks in text and is one JSON string in JSON).
"""

from __future__ import annotations

import logging
import re
import time

import orjson

from openkvs.http.access_log import escape_json_text

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _code(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = CONTROLS.sub(_code, record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        try:
            text = orjson.dumps(line).decode()
        except orjson.JSONEncodeError:  # a lone surrogate: shown by its code
            safe = {k: str(v).encode("utf-8", "backslashreplace").decode() for k, v in line.items()}
            text = orjson.dumps(safe).decode()
        return escape_json_text(text)


def configure(level: str, log_format: str) -> None:
    """Send the server's log to standard error in `log_format` ("text" or "json")."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
