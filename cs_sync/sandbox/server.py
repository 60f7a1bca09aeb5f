"""The sandbox's HTTP server: one ThreadingHTTPServer on 127.0.0.1 serving the Salesforce, the
Google Sheets and the Google Drive stand-ins, plus `/__sandbox/*` control endpoints for fault
switches."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cs_sync.connectors.transport import SLACK_HOST
from cs_sync.sandbox.drive_api import DriveApi
from cs_sync.sandbox.faults import Faults
from cs_sync.sandbox.http_types import Request, Response, sf_error
from cs_sync.sandbox.salesforce_api import SalesforceApi
from cs_sync.sandbox.sheets_api import SheetsApi, google_error
from cs_sync.sandbox.store import OrgStore
from cs_sync.sandbox.webhooks_api import WebhooksApi

log = logging.getLogger("cs_sync.sandbox")


# The longest request address (path and query) Salesforce accepts: 16,384 characters.
MAX_URI = 16_384
# The answer to a request whose response is lost (fault switch `lost_responses`).
LOST = Response(0)


class Sandbox:
    """Start with `with Sandbox(db_path) as sandbox:`; `sandbox.url` is http://127.0.0.1:PORT."""

    def __init__(self, db_path: str | Path, port: int = 0) -> None:
        self.store = OrgStore(db_path)
        self.faults = Faults()
        self.faults.daily_api_max = int(self.store.get_meta("daily_api_max", 15000))
        self.salesforce = SalesforceApi(self.store, self.faults)
        self.sheets = SheetsApi(self.store, self.faults)
        self.drive = DriveApi(self.store, self.faults)
        self.webhooks = WebhooksApi(self.store, self.faults)
        self.requests_served = 0
        handler = type("BoundHandler", (_Handler,), {"sandbox": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Sandbox:
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="cs-sync-sandbox",
            daemon=True,
        )
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dispatch(self, request: Request, host: str) -> Response:
        self.requests_served += 1
        if request.path.startswith("/__sandbox/"):
            return self.control(request)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        forwarded = request.headers.get("x-forwarded-host", "")
        if self.webhooks.handles_host(forwarded):  # Slack and Teams: by host, not path
            answer = self.webhooks.handle(request, forwarded)
            aimed = not self.faults.only_on or re.search(
                self.faults.only_on, f"{request.method} {forwarded}{request.path}"
            )
            return LOST if aimed and self.faults.take("lost_responses") else answer
        for api in (self.salesforce, self.sheets, self.drive):
            if api.handles(request.path):
                if self.faults.expire_sessions or self.faults.count_down_expiry():
                    self.store.expire_sessions()
                    self.faults.expire_sessions = False
                if api is self.sheets and self.faults.take("sheets_resets"):
                    return LOST
                targeted = not self.faults.only_on or re.search(
                    self.faults.only_on, f"{request.method} {request.path}"
                )
                if targeted and self.faults.take("server_errors"):
                    status = self.faults.server_error_status
                    if api is not self.salesforce:
                        return google_error(status, "The service is currently unavailable.")
                    if request.path.startswith("/services/oauth2/"):  # the login servers' page
                        return Response(
                            status,
                            b"<html><body>Service Unavailable</body></html>",
                            {"Content-Type": "text/html"},
                        )
                    return sf_error(
                        status, "SERVER_UNAVAILABLE", "Server unavailable, please try again later."
                    )
                response = api.handle(request, host)
                if (
                    request.method in ("POST", "PATCH", "PUT")
                    and request.path.startswith(("/services/data/", "/drive/", "/v4/spreadsheets"))
                    and targeted
                    and self.faults.take("lost_responses")
                ):
                    return LOST
                return response
        return Response.of_json(404, {"error": f"the sandbox does not serve {request.path}"})

    def control(self, request: Request) -> Response:
        if request.path == "/__sandbox/health":
            return Response.of_json(200, {"status": "ok"})
        if request.path == "/__sandbox/faults":
            if request.method == "POST":
                try:
                    self.faults.set(**(request.json() or {}))
                except (ValueError, TypeError) as exc:
                    return Response.of_json(400, {"error": str(exc)})
            return Response.of_json(200, self.faults.snapshot())
        if request.path == "/__sandbox/webhooks":
            if request.method == "POST":
                given = request.json() or {}
                try:
                    self.add_webhook(str(given["url"]), str(given.get("state", "active")))
                except (KeyError, ValueError) as exc:
                    return Response.of_json(400, {"error": str(exc)})
            return Response.of_json(200, {"posts": self.store.webhook_posts()})
        return Response.of_json(404, {"error": "unknown sandbox control endpoint"})

    def add_webhook(self, url: str, state: str = "active") -> None:
        """Make a Slack or Teams webhook address accept posts (or archive or remove it)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not self.webhooks.handles_host(host) or state not in ("active", "archived", "removed"):
            raise ValueError(f"not a Slack or Teams webhook address, or no such state: {state}")
        kind = "slack" if host == SLACK_HOST else "teams"
        self.store.add_webhook(f"{host}{parts.path}", kind, state)


class _Handler(BaseHTTPRequestHandler):
    sandbox: Sandbox
    protocol_version = "HTTP/1.1"

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header by the org's clock."""
        if timestamp is None:
            timestamp = self.sandbox.store.now().timestamp()
        return super().date_time_string(timestamp)

    def _serve(self) -> None:
        if len(self.path) > MAX_URI:  # Salesforce's limit on a request's address
            self.close_connection = True
            self.send_response(414)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        host = self.headers.get("Host") or f"127.0.0.1:{self.sandbox.port}"
        try:
            response = self.sandbox.dispatch(request, host)
        except Exception:  # the sandbox must answer, as the real service would, with a 500
            log.exception("sandbox failed on %s %s", self.command, self.path)
            response = sf_error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
        if response is LOST:  # done, but the answer never reaches the client
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("sandbox %s", format % args)


def set_faults(base_url: str, **switches: Any) -> dict[str, Any]:
    """Turn fault switches on in a sandbox running in another process."""
    import requests

    response = requests.post(f"{base_url}/__sandbox/faults", data=json.dumps(switches), timeout=10)
    response.raise_for_status()
    return dict(response.json())
