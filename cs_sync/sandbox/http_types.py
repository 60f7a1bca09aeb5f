"""Plain request and response values passed between the HTTP server and the API handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, payload: Any, **headers: str) -> Response:
        return cls(
            status,
            json.dumps(payload).encode("utf-8"),
            {"Content-Type": "application/json;charset=UTF-8", **headers},
        )

    @classmethod
    def of_xml(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": "text/xml;charset=UTF-8"})


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """A top-level Salesforce REST error: a list with one {message, errorCode, fields}."""
    return Response.of_json(
        status, [{"message": message, "errorCode": code, "fields": fields or []}]
    )
