"""BigQuery calls shared by the history store and the usage source: the client, a capped and
parameterised query, and the translation of BigQuery's errors (through google_calls.py, with
what is special to BigQuery: a table not there yet, a query over its byte cap).

google-cloud-bigquery retries transient errors itself; cs-sync bounds that at two minutes (its
own default is ten) and translates what is left here.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from cs_sync.connectors.google_calls import GoogleTarget, google_error
from cs_sync.errors import ConnectError, CsSyncError

try:  # an optional extra: pip install 'cs-sync[bigquery]'
    from google.api_core import exceptions as google_errors
    from google.cloud import bigquery
    from google.cloud.bigquery import retry as bq_retry
except ImportError:  # pragma: no cover - exercised only without the extra
    bigquery = None  # type: ignore[assignment]

RETRY_DEADLINE_S = 120.0  # transient errors are retried for this long, then reported


def run_query(
    client: Any,
    sql: str,
    parameters: list[tuple[str, str, Any]],
    maximum_bytes_billed: int,
    location: str | None,
    doing: str,
    limit_key: str,
    errors: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """A parameterised query, capped by `maximum_bytes_billed`, its rows as a frame; `errors`
    tunes translated_errors (the setting and role named, whether a missing table is empty)."""
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ArrayQueryParameter(name, kind, value)
            if isinstance(value, list)
            else bigquery.ScalarQueryParameter(name, kind, value)
            for name, kind, value in parameters
        ],
        maximum_bytes_billed=maximum_bytes_billed,
    )
    with translated_errors(doing, limit_key, **(errors or {})):
        rows = client.query_and_wait(
            sql,
            job_config=config,
            location=location,
            api_timeout=60.0,
            wait_timeout=RETRY_DEADLINE_S * 5,
            retry=bq_retry.DEFAULT_RETRY.with_deadline(RETRY_DEADLINE_S),
            job_retry=bq_retry.DEFAULT_JOB_RETRY.with_deadline(RETRY_DEADLINE_S),
        )
        return pd.DataFrame([dict(row.items()) for row in rows])


def last_change(table: Any) -> str | None:
    """When a table's rows last changed, from its metadata (tables.get): its last modification
    and row count; None for a view, an external table or a table with rows still in its
    streaming buffer, whose metadata does not say when their rows changed."""
    if table.table_type != "TABLE" or table.streaming_buffer is not None or not table.modified:
        return None
    return f"{table.modified.isoformat()}/{table.num_rows}"


class Missing(Exception):
    """The table is not there yet: nothing was ever written to it."""


HISTORY_ACCESS = "BigQuery Data Editor on the dataset and BigQuery Job User on the project"


class translated_errors:
    """Google API errors become cs-sync's own (google_calls.google_error), named by what was
    being done; a table that does not exist yet is _Missing where that means "empty"."""

    def __init__(
        self,
        doing: str,
        limit_key: str = "history.maximum_bytes_billed",
        setting: str = "history.project and history.dataset (the dataset must exist)",
        role: str = HISTORY_ACCESS,
        missing_is_empty: bool = True,
    ) -> None:
        self.doing = doing
        self.limit_key = limit_key
        self.target = GoogleTarget("BigQuery", "the service account", role, setting)
        self.missing_is_empty = missing_is_empty

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type | None, error: BaseException | None, tb: object
    ) -> Literal[False]:
        if error is None or bigquery is None or not isinstance(error, Exception):
            return False
        reasons = {e.get("reason") for e in getattr(error, "errors", None) or []}
        if (
            self.missing_is_empty
            and isinstance(error, google_errors.NotFound)
            and "Not found: Table" in str(error)
        ):
            raise Missing from None
        if "bytesBilledLimitExceeded" in reasons:
            raise CsSyncError(
                f"BigQuery: {self.doing} would bill more than {self.limit_key} "
                f"({_reason(error)}); raise the limit if that is expected"
            ) from None
        if isinstance(error, google_errors.RetryError):  # BigQuery's own retries ran out
            raise ConnectError(f"BigQuery: {self.doing}: {_reason(error)}") from None
        raise google_error(error, self.doing, self.target) from None


def _reason(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return str(message).splitlines()[0]
