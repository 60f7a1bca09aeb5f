"""Log output on stderr: readable lines by default, one JSON object a line for log collectors
(`--json-logs` or `[worker] json_logs = true`)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# The secret parts of webhook addresses, as the HTTP library's debug lines (-vv) show them:
# Slack's /services/T…/B…/<secret>, a Teams channel webhook's last parts, a Workflows
# webhook's signature.
SECRET_PARTS = (
    re.compile(r"(/services/T[A-Z0-9]+/B[A-Z0-9]+/)[A-Za-z0-9]+"),
    re.compile(r"(/IncomingWebhook/)[^\s\"?]+"),
    re.compile(r"([?&]sig=)[^&\s\"]+"),
)


class Redact(logging.Filter):
    """Takes the secret parts of webhook addresses out of every line before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        cleaned = text
        for pattern in SECRET_PARTS:
            cleaned = pattern.sub(r"\1[redacted]", cleaned)
        if cleaned != text:
            record.msg, record.args = cleaned, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name("cs-sync")
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "cs-sync"] + [handler]
    root.setLevel(level)
