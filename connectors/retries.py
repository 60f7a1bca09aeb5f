"""The one retry policy of every adapter (Salesforce, Google Sheets, BigQuery): only what is
transient is retried, a bounded number of times, with exponential backoff and full jitter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from cs_sync.errors import ConnectError, TransientError

T = TypeVar("T")


def with_retries(
    action: Callable[[], T], max_attempts: int, wait_max_s: float, on_retry: Callable[[Any], None]
) -> T:
    """Run `action`, retrying TransientError only; after the last attempt the failure becomes
    a ConnectError (exit 3) that says how many attempts were made."""
    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(max_attempts),
        wait=wait_random_exponential(multiplier=0.5, max=wait_max_s),
        reraise=True,
        before_sleep=on_retry,
    )
    try:
        return retrying(action)
    except TransientError as exc:
        raise ConnectError(f"{exc} (gave up after {max_attempts} attempts)") from None
