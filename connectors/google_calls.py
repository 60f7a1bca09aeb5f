"""Google for cs-sync, in one place (Sheets through gspread, BigQuery through
google-cloud-bigquery, Drive through google-api-python-client): the credentials (a
service-account key file named in config, or the environment's), the clients, and how every
call is judged: the vendor's errors become cs-sync's own, named by what was being done and what
to fix, and what is transient is retried with the project's one retry policy.

- transient, retried then reported as a connection failure (exit 3): 429, 408, 5xx, a 403
  whose reason is a rate or quota limit, connection resets, timeouts, and a credentials
  refresh that could not reach Google;
- refused access (exit 3): 401, and a 403 that is not a limit, naming the account and the role
  it needs; refused credentials;
- not found (exit 2): named with the setting that points at it;
- anything else: fatal, named with Google's own message.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gspread
import httplib2
import requests
from google.api_core import exceptions as api_core
from google.auth import exceptions as auth_errors
from googleapiclient import errors as api_client

from cs_sync.connectors.retries import with_retries
from cs_sync.connectors.transport import CallCounter, build_session, configure_session
from cs_sync.errors import AuthError, CsSyncError, InputError, TransientError

log = logging.getLogger("cs_sync.connectors.google")
T = TypeVar("T")

# Reasons Google gives with a 403 (or 429) that mean "slow down", not "no access".
LIMIT_REASONS = frozenset(
    {
        "ratelimitexceeded",
        "userratelimitexceeded",
        "quotaexceeded",
        "resource_exhausted",
        "rate_limit_exceeded",
        "backenderror",
        "internalerror",
    }
)


@dataclass(frozen=True)
class GoogleTarget:
    """What a call reaches, for the messages: the service, the account calling it, the role
    the account needs, and the setting that names the thing (spreadsheet, table)."""

    service: str  # "Google Sheets" or "BigQuery"
    account: str  # the service account's e-mail, or "the application default credentials"
    role: str  # e.g. "Editor on the spreadsheet"
    setting: str  # e.g. "dashboard.spreadsheet_id"


def _details(error: BaseException) -> tuple[int, set[str], str]:
    """The HTTP status, the reasons (lower case) and the message of a Google error."""
    if isinstance(error, gspread.exceptions.APIError):
        body = dict(error.error)
        reasons = {str(body.get("status", ""))}
        for item in list(body.get("errors") or []) + list(body.get("details") or []):
            if isinstance(item, dict):
                reasons.add(str(item.get("reason", "")))
        return int(error.code), {r.lower() for r in reasons if r}, str(body.get("message", ""))
    if isinstance(error, api_client.HttpError):
        reasons = {str(e.get("reason", "")).lower() for e in _error_items(error)}
        return int(error.resp.status), reasons - {""}, str(error.reason)
    if isinstance(error, api_core.GoogleAPICallError):
        reasons = {str(e.get("reason", "")).lower() for e in error.errors or []}
        return int(error.code or 0), reasons - {""}, str(error.message).splitlines()[0]
    return 0, set(), str(error)


def _error_items(error: api_client.HttpError) -> list[dict[str, Any]]:
    details = error.error_details
    return [item for item in details if isinstance(item, dict)] if isinstance(details, list) else []


def google_error(error: BaseException, doing: str, target: GoogleTarget) -> CsSyncError:
    """One place where Google's errors become the project's."""
    if isinstance(error, CsSyncError):
        return error
    where = f"{target.service}: {doing}"
    if isinstance(error, auth_errors.RefreshError):
        return AuthError(
            f"{where}: Google refused the credentials of {target.account} ({error}); check the "
            "service-account key (it may have been deleted or disabled)"
        )
    if isinstance(
        error,
        requests.ConnectionError
        | requests.Timeout
        | auth_errors.TransportError
        | http.client.HTTPException
        | httplib2.HttpLib2Error
        | ConnectionError
        | TimeoutError,
    ):
        return TransientError(f"{where}: cannot reach Google ({type(error).__name__}: {error})")
    if isinstance(error, gspread.exceptions.WorksheetNotFound):
        return InputError(
            f"{where}: the spreadsheet has no such tab {error}; check {target.setting}"
        )
    if isinstance(error, gspread.exceptions.SpreadsheetNotFound):
        return InputError(
            f"{where}: no such spreadsheet, or it is not shared with {target.account}; check "
            f"{target.setting}, and give the account {target.role}"
        )
    status, reasons, message = _details(error)
    if status == 0:
        return CsSyncError(f"{where}: unexpected error {error!r}")
    shown = f"{status} {', '.join(sorted(reasons)) or ''}: {message}".replace(" :", ":")
    if status in (408, 429) or status >= 500 or (status == 403 and reasons & LIMIT_REASONS):
        return TransientError(f"{where}: Google is busy or limiting requests ({shown})")
    if status in (401, 403):
        return AuthError(
            f"{where}: Google refused {target.account} ({shown}); give it {target.role}, and "
            f"enable the {target.service} API in its project"
        )
    if status == 404:
        return InputError(f"{where}: not found ({shown}); check {target.setting}")
    return CsSyncError(f"{where}: Google answered {shown}")


def call_google(
    action: Callable[[], T],
    doing: str,
    target: GoogleTarget,
    max_attempts: int = 5,
    wait_max_s: float = 20.0,
) -> T:
    """Run one Google call: transient failures retried (bounded, with backoff), every error
    translated."""

    def attempt() -> T:
        try:
            return action()
        except Exception as exc:
            raise google_error(exc, doing, target) from None

    def note(state: Any) -> None:
        log.warning("retrying %s call after: %s", target.service, state.outcome.exception())

    return with_retries(attempt, max_attempts, wait_max_s, note)


SHEETS_SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
BIGQUERY_SCOPES = ["https://www.googleapis.com/auth/bigquery"]


def google_credentials(credentials_file: Path | None, scopes: list[str], setting: str) -> Any:
    """A service account's key file, or the environment's credentials (on Google Cloud, the
    job's own service account); a key that cannot be used names the setting."""
    import google.auth
    from google.oauth2 import service_account

    try:
        if credentials_file is not None:
            return service_account.Credentials.from_service_account_file(
                str(credentials_file), scopes=scopes
            )
        credentials, _ = google.auth.default(scopes=scopes)
        return credentials
    except (OSError, ValueError, auth_errors.DefaultCredentialsError) as error:
        raise AuthError(
            f"{setting}: no usable Google credentials ({type(error).__name__}); set it to a "
            "service-account JSON key, or leave it out where the environment provides "
            "credentials"
        ) from None


def sheets_client(
    credentials_file: Path | None,
    sandbox_url: str | None,
    counter: CallCounter | None,
    setting: str = "dashboard.credentials_file",
    scopes: tuple[str, ...] = (),
) -> gspread.Client:
    """A gspread client with cs-sync's timeouts and call counting, its credentials asking for
    the Sheets scope and `scopes`. With the sandbox's address (config [sandbox] url) it talks
    to the sandbox, with no Google credentials."""
    if sandbox_url is not None:
        client = gspread.Client(auth=None, session=build_session(sandbox_url, counter))  # type: ignore[arg-type]
        client.set_timeout(30)
        return client
    from google.auth.transport.requests import AuthorizedSession

    credentials = google_credentials(credentials_file, [*SHEETS_SCOPES, *scopes], setting)
    session = AuthorizedSession(credentials)
    configure_session(session, None, counter)
    client = gspread.Client(auth=credentials, session=session)
    client.set_timeout(30)
    return client


def bigquery_client(
    project: str | None,
    location: str | None,
    credentials_file: Path | None,
    setting: str = "credentials_file",
) -> Any:
    """A BigQuery client (google-cloud-bigquery is the optional extra cs-sync[bigquery])."""
    try:
        from google.cloud import bigquery
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise CsSyncError(
            'BigQuery (history.backend or usage.source = "bigquery") needs '
            "google-cloud-bigquery: install cs-sync with pip install 'cs-sync[bigquery]'"
        ) from None
    credentials = (
        google_credentials(credentials_file, BIGQUERY_SCOPES, setting)
        if credentials_file is not None
        else None
    )
    return bigquery.Client(project=project, credentials=credentials, location=location)


def account_of(credentials: Any) -> str:
    """The e-mail of a service account's credentials, for messages."""
    email = getattr(credentials, "service_account_email", None)
    return str(email) if email else "the application default credentials"
