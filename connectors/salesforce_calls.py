"""How each Salesforce API call is judged: vendor errors translated into cs_sync.errors (here
and nowhere else), transient failures retried with bounded backoff, and the org's daily API
allowance watched so that a run stops before it eats into the reserve."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from cs_sync.connectors.transport import CallCounter, never_sent
from cs_sync.errors import (
    AuthError,
    BudgetExhausted,
    CsSyncError,
    PermissionDenied,
    SetupError,
    TransientError,
    Unanswered,
)

log = logging.getLogger("cs_sync.connectors.salesforce")
T = TypeVar("T")


def restful(sf: Salesforce, path: str, method: str = "GET", body: Any = None) -> Any:
    """One REST call (bound with functools.partial for SalesforceClient.call)."""
    return sf.restful(path, method=method, json=body) if body is not None else sf.restful(path)


def _error_list(error: SalesforceError) -> list[dict[str, Any]]:
    content = error.content
    return content if isinstance(content, list) else []


def _error_code(error: SalesforceError) -> str:
    items = _error_list(error)
    return str(items[0].get("errorCode", "")) if items else ""


def _error_message(error: SalesforceError) -> str:
    items = _error_list(error)
    return str(items[0].get("message", "")) if items else str(error.content)[:300]


def translate(error: Exception, doing: str) -> CsSyncError:
    """One place where vendor errors become the project's errors."""
    if isinstance(error, CsSyncError):
        return error
    if isinstance(error, SalesforceAuthenticationFailed):
        detail = getattr(error, "auth_message", "") or ""
        return AuthError(
            f"Salesforce refused the login ({error.code}: {detail.strip()[:200]}). Check "
            "salesforce.auth and its settings: client_id and the client secret (and that the "
            "app's client credentials flow has a run-as user), or client_id, username and the "
            "private key (jwt), or username, password and security token (password)."
        )
    if isinstance(error, SalesforceExpiredSession):
        return AuthError(
            f"Salesforce session expired or invalid while {doing}; with "
            'auth = "session" provide a fresh session id, or use password login.'
        )
    if isinstance(error, SalesforceError) and _error_code(error).startswith("INSUFFICIENT_ACCESS"):
        return PermissionDenied(
            f"Salesforce refused {doing}: the integration user lacks the permission "
            f"({_error_code(error)}: {_error_message(error)})"
        )
    if isinstance(error, SalesforceRefusedRequest):
        message = _error_message(error)
        if _error_code(error) == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" in message:
            return BudgetExhausted(
                f"the org's daily API allowance is used up ({message}); "
                "cs-sync stopped without using more. Rerun after the "
                "allowance resets (24-hour rolling window)."
            )
        if _error_code(error) == "REQUEST_LIMIT_EXCEEDED":
            return TransientError(f"Salesforce is busy while {doing}: {message}")
        return AuthError(
            f"Salesforce refused {doing} ({_error_code(error)}: {message}); check "
            "that the integration user has API access and the needed permissions."
        )
    if isinstance(error, SalesforceMalformedRequest):
        code = _error_code(error)
        message = _error_message(error)
        if code in ("INVALID_FIELD", "INVALID_TYPE"):
            return SetupError(
                f"Salesforce rejected {doing}: {message} Run `cs-sync setup "
                "salesforce --apply` or ask an admin to grant the integration "
                "user field-level security on cs-sync's fields."
            )
        if code == "JSON_PARSER_ERROR":
            return SetupError(
                f"Salesforce rejected {doing}: {message}. A field mapped in [salesforce.fields] "
                "has another type than cs-sync writes; `cs-sync doctor` names the field and "
                "the type it needs. Nothing in this request was written."
            )
        return CsSyncError(f"Salesforce rejected {doing} ({code}): {message}")
    if isinstance(error, SalesforceOperationError):  # a Bulk job that failed or never ended
        detail = str(error).removeprefix("Job failure. Response content: ")
        if "Job timeout" in detail:
            return TransientError(f"a Bulk job did not finish in time while {doing}: {detail}")
        missing = re.search(r"Field name not found : (\S+)", detail)
        if missing:
            return SetupError(
                f"Salesforce failed the whole Bulk job while {doing}: {detail}. The field "
                f"{missing.group(1)} is missing or hidden from the integration user: run "
                "`cs-sync doctor`, then `cs-sync setup salesforce --apply` or grant it in a "
                "permission set. Nothing of this job was written."
            )
        return SetupError(
            f"Salesforce failed the whole Bulk job while {doing}: {detail}. Nothing of this "
            "job was written."
        )
    if isinstance(error, SalesforceError):
        if error.status >= 500:
            return TransientError(f"Salesforce answered HTTP {error.status} while {doing}")
        return CsSyncError(
            f"Salesforce error while {doing}: HTTP {error.status} {_error_message(error)}"
        )
    if isinstance(error, requests.ConnectTimeout):
        return TransientError(f"cannot reach Salesforce while {doing}: the connection timed out")
    if isinstance(error, requests.Timeout):
        return Unanswered(f"Salesforce did not answer in time while {doing}")
    if isinstance(error, requests.ConnectionError):
        if never_sent(error):
            return TransientError(f"cannot reach Salesforce while {doing}: {error}")
        return Unanswered(f"the connection to Salesforce dropped while {doing}: {error}")
    return CsSyncError(f"unexpected error while {doing}: {error!r}")


@dataclass
class ApiBudget:
    """Keeps a share of the org's daily API allowance for everything else the company runs.

    The reading comes from the `Sforce-Limit-Info` header of every response (and `/limits`
    at the start); a call that would dip into the reserve is not made."""

    reserve_share: float
    counter: CallCounter | None = None

    def check(self, doing: str) -> None:
        if self.counter is None or self.counter.api_max is None or self.counter.api_used is None:
            return
        maximum = self.counter.api_max
        remaining = maximum - self.counter.api_used
        reserve = math.ceil(maximum * self.reserve_share)
        if remaining <= reserve:
            raise BudgetExhausted(
                f"stopped before {doing}: {remaining} of the org's {maximum} daily API calls are "
                f"left and {reserve} ({self.reserve_share:.0%}) are kept for other integrations "
                "(salesforce.api_reserve_share). Everything written so far is kept; rerun when "
                "the allowance has recovered and cs-sync continues where it stopped."
            )

    def observe_limits(self, limits: dict[str, Any]) -> None:
        daily = limits.get("DailyApiRequests") or {}
        if self.counter is not None and "Max" in daily and "Remaining" in daily:
            self.counter.api_max = int(daily["Max"])
            self.counter.api_used = int(daily["Max"]) - int(daily["Remaining"])
