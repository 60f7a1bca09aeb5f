"""HTTP sessions for the vendor clients: default timeouts, call counting, and routing of the
real service hosts to a local sandbox when the config's [sandbox] url names one.

simple-salesforce and gspread both accept a `requests.Session`, and google-api-python-client
takes one through `SessionHttp`; this is the one seam through which the demo and the
end-to-end tests reach the sandbox, so nothing else in the connectors knows it is talking to a
stand-in.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT = (10.0, 120.0)  # connect, read (seconds)
SLACK_HOST = "hooks.slack.com"  # Slack incoming webhooks
# Teams: a channel's incoming webhook, and Workflows webhooks (two hosts)
TEAMS_HOSTS = (".webhook.office.com", ".logic.azure.com", ".api.powerplatform.com")
WEBHOOK_SUFFIXES = (SLACK_HOST, *TEAMS_HOSTS)
ROUTED_SUFFIXES = (
    ".salesforce.com",
    ".force.com",
    "sheets.googleapis.com",
    "www.googleapis.com",  # Drive v3
    "oauth2.googleapis.com",
    *WEBHOOK_SUFFIXES,
)
# The header that tells the sandbox which host a routed request was for (as a proxy does).
FORWARDED_HOST = "X-Forwarded-Host"


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def never_sent(error: requests.ConnectionError) -> bool:
    """Whether a connection failed before the request left (refused, no such host), so the
    request was certainly not done and may be sent again whatever it was."""
    cause = error.args[0] if error.args else None
    if isinstance(cause, str):  # raised before sending (the sandbox's routing refused it)
        return True
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError)


class _TimeoutAdapter(HTTPAdapter):
    """Applies a default timeout (requests has none) and, optionally, routes to a local server."""

    def __init__(
        self,
        timeout: tuple[float, float],
        route_to: str | None,
        max_calls_per_minute: float | None = None,
    ) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout
        self.route_to = urlsplit(route_to) if route_to else None
        self.spacing_s = 60.0 / max_calls_per_minute if max_calls_per_minute else 0.0
        self.next_allowed = 0.0

    def _pace(self) -> None:
        """Keep calls at least `spacing_s` apart (a rate cap for long backfills)."""
        if not self.spacing_s:
            return
        now = time.monotonic()
        if now < self.next_allowed:
            time.sleep(self.next_allowed - now)
        self.next_allowed = max(now, self.next_allowed) + self.spacing_s

    def send(  # type: ignore[override]  # passes requests' keyword arguments through
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self._pace()
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.route_to is not None:
            parts = urlsplit(request.url or "")
            host = parts.hostname or ""
            if not (is_loopback_url(request.url or "") or host.endswith(ROUTED_SUFFIXES)):
                raise requests.ConnectionError(
                    f"sandbox mode: refusing to send a request to {host} (only the Salesforce "
                    "and Google hosts are routed to the local sandbox)"
                )
            request.url = urlunsplit(("http", self.route_to.netloc, parts.path, parts.query, ""))
            if host.endswith(WEBHOOK_SUFFIXES):  # their paths overlap Salesforce's /services/
                request.headers[FORWARDED_HOST] = host
        return super().send(request, **kwargs)


class SessionHttp:
    """google-api-python-client's `http` object over a requests session. Its default,
    httplib2, sends a request a second time, unseen, when the first answer is lost (a second
    spreadsheet); here each request goes once and cs-sync's own retries decide."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        redirections: int = 5,
        connection_type: Any = None,
    ) -> tuple[Any, bytes]:
        import httplib2

        answer = self.session.request(
            method, uri, data=body, headers=headers, allow_redirects=redirections > 0
        )
        info = {name.lower(): value for name, value in answer.headers.items()}
        info["status"] = str(answer.status_code)
        response = httplib2.Response(info)
        response.reason = answer.reason
        return response, answer.content


class CallCounter:
    """Counts HTTP calls and the bytes they moved per service, and remembers the last
    Sforce-Limit-Info reading."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()  # request and response bodies, per service
        self.api_used: int | None = None
        self.api_max: int | None = None

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.request.url or "").path
        host = (
            response.request.headers.get(FORWARDED_HOST)
            or urlsplit(response.request.url or "").hostname
            or ""
        )
        if host.endswith(WEBHOOK_SUFFIXES):
            service = "webhooks"
        elif path.startswith("/v4/spreadsheets"):
            service = "sheets"
        else:
            service = "salesforce"
        self.calls[service] += 1
        # the answer's declared length, else its body (no call of cs-sync's streams an answer)
        length = response.headers.get("Content-Length")
        received = int(length) if length and length.isdigit() else len(response.content or b"")
        body = response.request.body
        sent = len(body.encode() if isinstance(body, str) else body) if body else 0
        self.bytes[service] += received + sent
        info = response.headers.get("Sforce-Limit-Info", "")
        for item in info.split(";"):
            name, _, value = item.strip().partition("=")
            if name == "api-usage" and "/" in value:
                used, _, maximum = value.partition("/")
                if used.isdigit() and maximum.isdigit():
                    self.api_used, self.api_max = int(used), int(maximum)


def build_session(
    route_to: str | None,
    counter: CallCounter | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    max_calls_per_minute: float | None = None,
) -> requests.Session:
    """A session with timeouts and an optional rate cap; with `route_to` (the sandbox's
    address, config [sandbox] url), the Salesforce and Google hosts are routed there over
    plain HTTP and nothing else is reached."""
    return configure_session(requests.Session(), route_to, counter, timeout, max_calls_per_minute)


def configure_session(
    session: requests.Session,
    route_to: str | None,
    counter: CallCounter | None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    max_calls_per_minute: float | None = None,
) -> requests.Session:
    """Mount cs-sync's adapter (timeouts, routing, rate cap) and call counting on a session,
    including one a vendor library made (google-auth's AuthorizedSession)."""
    adapter = _TimeoutAdapter(timeout, route_to, max_calls_per_minute)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if counter is not None:
        session.hooks["response"].append(counter.hook)
    return session
