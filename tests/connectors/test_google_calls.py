"""Google's errors, as the client libraries raise them, become cs-sync's own: what is
transient is retried, refused access names the account and the role, the rest is named."""

from __future__ import annotations

import json

import gspread
import pytest
import requests
from google.api_core import exceptions as api_core
from google.auth import exceptions as auth_errors

from cs_sync.connectors.google_calls import GoogleTarget, call_google, google_error
from cs_sync.errors import AuthError, ConnectError, CsSyncError, InputError, TransientError

TARGET = GoogleTarget(
    "Google Sheets", "cs-sync@acme.iam.gserviceaccount.com", "Editor", "dashboard.spreadsheet_id"
)


def sheets_error(code: int, status: str, reason: str = "", message: str = "m") -> Exception:
    response = requests.Response()
    response.status_code = code
    body = {"error": {"code": code, "message": message, "status": status}}
    if reason:
        body["error"]["details"] = [{"reason": reason}]
    response._content = json.dumps(body).encode()
    return gspread.exceptions.APIError(response)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (sheets_error(429, "RESOURCE_EXHAUSTED"), TransientError),
        (sheets_error(503, "UNAVAILABLE"), TransientError),
        (sheets_error(500, "INTERNAL"), TransientError),
        (sheets_error(403, "PERMISSION_DENIED", "RATE_LIMIT_EXCEEDED"), TransientError),
        (sheets_error(403, "PERMISSION_DENIED"), AuthError),
        (sheets_error(401, "UNAUTHENTICATED"), AuthError),
        (sheets_error(404, "NOT_FOUND"), InputError),
        (sheets_error(400, "INVALID_ARGUMENT"), CsSyncError),
        (
            api_core.Forbidden("Exceeded rate limits", errors=[{"reason": "rateLimitExceeded"}]),
            TransientError,
        ),
        (
            api_core.Forbidden("Quota exceeded", errors=[{"reason": "quotaExceeded"}]),
            TransientError,
        ),
        (api_core.Forbidden("Access Denied", errors=[{"reason": "accessDenied"}]), AuthError),
        (api_core.ServiceUnavailable("down"), TransientError),
        (api_core.TooManyRequests("slow"), TransientError),
        (api_core.NotFound("Not found: Table x"), InputError),
        (api_core.BadRequest("Syntax error"), CsSyncError),
        (requests.ConnectionError("Connection reset by peer"), TransientError),
        (requests.ReadTimeout("read timed out"), TransientError),
        (ConnectionResetError(104, "Connection reset by peer"), TransientError),
        (TimeoutError("timed out"), TransientError),
        (auth_errors.TransportError("no route"), TransientError),
        (auth_errors.RefreshError("invalid_grant: account not found"), AuthError),
        (gspread.exceptions.SpreadsheetNotFound(), InputError),
    ],
)
def test_each_error_is_sorted(error: Exception, kind: type[CsSyncError]) -> None:
    translated = google_error(error, "writing the tabs", TARGET)
    assert type(translated) is kind
    assert translated.args[0].startswith("Google Sheets: writing the tabs")


def test_refused_access_names_the_account_and_the_role() -> None:
    message = str(google_error(sheets_error(403, "PERMISSION_DENIED"), "x", TARGET))
    assert "cs-sync@acme.iam.gserviceaccount.com" in message and "give it Editor" in message


def test_transient_failures_are_retried_then_reported() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise requests.ConnectionError("reset")
        return "done"

    assert call_google(flaky, "reading", TARGET, wait_max_s=0.001) == "done"
    assert len(attempts) == 3

    def down() -> str:
        raise sheets_error(503, "UNAVAILABLE")

    with pytest.raises(ConnectError, match="gave up after 2 attempts"):
        call_google(down, "reading", TARGET, max_attempts=2, wait_max_s=0.001)


def test_a_fatal_error_is_not_retried() -> None:
    attempts: list[int] = []

    def refused() -> None:
        attempts.append(1)
        raise sheets_error(403, "PERMISSION_DENIED")

    with pytest.raises(AuthError):
        call_google(refused, "reading", TARGET, wait_max_s=0.001)
    assert len(attempts) == 1
