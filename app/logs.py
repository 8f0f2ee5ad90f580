"""JSON-lines logging for every process."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Context fields a log call may pass in `extra=` and that are worth keeping.
CONTEXT_FIELDS = (
    "event_id",
    "realm_id",
    "entity_type",
    "external_id",
    "attempt",
    "intuit_tid",
    "job",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would print every request line; uvicorn's own error log stays.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
