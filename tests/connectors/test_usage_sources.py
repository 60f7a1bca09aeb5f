"""Usage from Parquet, Google Sheets (sandbox, real HTTP) and BigQuery (responses payloads):
the same checks as the CSV, with the source's own numbering."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import gspread
import pytest
import responses

from cs_sync.connectors.usage_csv import read_usage_parquet
from cs_sync.connectors.usage_settings import (
    KEY_COLUMN,
    METRIC_COLUMNS,
    MONTH_COLUMN,
    BigQueryUsage,
)
from cs_sync.connectors.usage_sheets import read_usage_sheet
from cs_sync.errors import CsSyncError, InputError
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID

AS_OF = date(2026, 11, 24)
COLUMNS = [KEY_COLUMN, MONTH_COLUMN, *METRIC_COLUMNS]


def test_parquet_keeps_ids_as_text(tmp_path: Path) -> None:
    path = tmp_path / "usage.parquet"
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES ('00123', DATE '2026-10-01', 10, 5, 50, 5, 0, 0), "
        "('00124', DATE '2026-12-01', 10, 5, 50, 5, 0, 0)) AS t("
        + ", ".join(COLUMNS)
        + f")) TO '{path}' (FORMAT parquet)"
    )
    table = read_usage_parquet(path, AS_OF, "external_key", "skip")
    assert table.frame["account_key"].tolist() == ["00123"]  # a date column read as its month
    assert table.frame["month"].dt.strftime("%Y-%m").tolist() == ["2026-10"]
    assert "line 3" in str(table.problems[0]) and "after the run date" in str(table.problems[0])
    with pytest.raises(InputError, match="not a readable Parquet"):
        (tmp_path / "bad.parquet").write_text("nope")
        read_usage_parquet(tmp_path / "bad.parquet", AS_OF, "external_key", "skip")


def usage_tab(gc: gspread.Client, rows: list[list[object]]) -> None:
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    tab = book.add_worksheet("usage", rows=len(rows) + 5, cols=len(COLUMNS))
    tab.update(rows, "A1", value_input_option="USER_ENTERED")


def test_a_sheet_is_read_with_its_row_numbers(gc: gspread.Client) -> None:
    usage_tab(
        gc,
        [
            COLUMNS,
            ["'00123", "2026-10", 10, 5, "1,200", 5, 0, 0],  # typed as text; a formatted number
            ["00124", "2026/10/01", 10, "lots", 50, 5, 0, 0],
            ["00125", "2026-10", 12, 6, 60, 6, 0, 0],
            ["00125", "2026-10", 12, 6, 60, 6, 0, 0],
        ],
    )
    table = read_usage_sheet(gc, DASHBOARD_SPREADSHEET_ID, "usage", AS_OF, "external_key", "skip")
    assert table.frame["account_key"].tolist() == ["00123"]
    assert table.frame["logins"].tolist() == [1200]
    messages = [str(p) for p in table.problems]
    # typed without the apostrophe into a plain cell, Sheets itself made 00124 the number 124
    assert any("line 3, column active_users (account 124)" in m for m in messages)
    assert sum("more than one row for this account and month" in m for m in messages) == 2
    assert "tab 'usage'" in table.source
    with pytest.raises(InputError, match="bad row"):
        read_usage_sheet(gc, DASHBOARD_SPREADSHEET_ID, "usage", AS_OF, "external_key", "stop")


def test_sheet_header_and_empty_tab(gc: gspread.Client) -> None:
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    book.add_worksheet("empty", rows=5, cols=5)
    with pytest.raises(InputError, match="is empty; its first row must name"):
        read_usage_sheet(gc, DASHBOARD_SPREADSHEET_ID, "empty", AS_OF, "external_key", "skip")
    usage_tab(gc, [["account_id", "month", "seats"], ["1", "2026-10", 3]])
    with pytest.raises(InputError, match="missing column"):
        read_usage_sheet(gc, DASHBOARD_SPREADSHEET_ID, "usage", AS_OF, "external_key", "skip")
    with pytest.raises(InputError, match="no such tab"):
        read_usage_sheet(gc, DASHBOARD_SPREADSHEET_ID, "nope", AS_OF, "external_key", "skip")


bigquery = pytest.importorskip("google.cloud.bigquery")


def table_metadata(columns: dict[str, str], table: str = "daily_usage") -> None:
    """tables.get: the usage table's schema, as BigQuery describes it."""
    responses.add(
        responses.GET,
        f"https://bigquery.googleapis.com/bigquery/v2/projects/acme-cs/datasets/product/tables/{table}",
        json={
            "kind": "bigquery#table",
            "tableReference": {"projectId": "acme-cs", "datasetId": "product", "tableId": table},
            "schema": {
                "fields": [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in columns.items()]
            },
        },
    )


def query_result(rows: list[list[str]]) -> None:
    """jobs.query: the usage query's answer, complete at once, one row per account and month."""
    fields = [
        {"name": name, "type": "STRING" if i < 2 else "FLOAT", "mode": "NULLABLE"}
        for i, name in enumerate(COLUMNS)
    ]
    responses.add(
        responses.POST,
        "https://bigquery.googleapis.com/bigquery/v2/projects/acme-cs/queries",
        json={
            "kind": "bigquery#queryResponse",
            "schema": {"fields": fields},
            "jobReference": {"projectId": "acme-cs", "jobId": "q1", "location": "US"},
            "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": v} for v in row]} for row in rows],
            "jobComplete": True,
        },
    )


@responses.activate
def test_bigquery_aggregates_inside_bigquery() -> None:
    from google.auth.credentials import AnonymousCredentials

    from cs_sync.connectors.usage_bigquery import read_usage_bigquery

    rows = [
        ["001A000001HbB2zIAF", "2026-10", "100", "80", "900", "80", "0", "1"],
        ["001A000001HbB2z", "2026-11", "100", "81", "950", "82", "0", "1"],
        ["not-an-id", "2026-10", "1", "1", "1", "1", "0", "0"],
    ]
    table_metadata(
        {"sf_account_id": "STRING", "event_date": "DATE", "login_count": "INTEGER"}
        | {name: "INTEGER" for name in COLUMNS[2:]}
    )
    query_result(rows)
    settings = BigQueryUsage(
        table="acme-cs.product.daily_usage",
        key_column="sf_account_id",
        date_column="event_date",
        aggregate={"seats": "max", "active_users": "max"},
        project="acme-cs",
        maximum_bytes_billed=50_000_000,
    )
    client = bigquery.Client(project="acme-cs", credentials=AnonymousCredentials())
    columns = {name: name for name in COLUMNS[2:]} | {"logins": "login_count"}
    table = read_usage_bigquery(settings, columns, AS_OF, "salesforce_id", "skip", client=client)
    assert table.frame["account_key"].tolist() == ["001A000001HbB2zIAF"] * 2
    assert "row 3, column account_id" in str(table.problems[0])
    sent = json.loads(responses.calls[1].request.body)
    query = sent["query"]
    assert "SUM(`login_count`) AS logins" in query and "MAX(`seats`) AS seats" in query
    assert "FROM `acme-cs.product.daily_usage`" in query and "GROUP BY 1, 2" in query
    assert sent["maximumBytesBilled"] == "50000000"
    bounds = {p["name"]: p["parameterValue"]["value"] for p in sent["queryParameters"]}
    assert bounds == {"since": "2024-08-01", "until": "2026-12-01"}  # 27 months; no future


@responses.activate
@pytest.mark.parametrize(
    ("status", "reason", "message", "kind", "named"),
    [
        (
            404,
            "notFound",
            "Not found: Table acme-cs:product.daily_usage",
            "input",
            "usage.bigquery.table (acme-cs.product.daily_usage)",
        ),
        (404, "notFound", "Not found: Dataset acme-cs:product", "input", "usage.bigquery.table"),
        (403, "accessDenied", "Access Denied: Table", "auth", "BigQuery Data Viewer"),
    ],
)
def test_bigquery_usage_errors_are_named(
    status: int, reason: str, message: str, kind: str, named: str
) -> None:
    from google.auth.credentials import AnonymousCredentials

    from cs_sync.connectors.usage_bigquery import read_usage_bigquery

    responses.add(
        responses.GET,
        "https://bigquery.googleapis.com/bigquery/v2/projects/acme-cs/datasets/product/tables/daily_usage",
        status=status,
        json={"error": {"code": status, "message": message, "errors": [{"reason": reason}]}},
    )
    settings = BigQueryUsage(table="acme-cs.product.daily_usage", project="acme-cs")
    client = bigquery.Client(project="acme-cs", credentials=AnonymousCredentials())
    with pytest.raises(CsSyncError) as raised:
        read_usage_bigquery(settings, {"seats": "seats"}, AS_OF, "salesforce_id", "skip", client)
    assert raised.value.kind == kind
    assert named in str(raised.value)


def test_bigquery_names_are_checked() -> None:
    from cs_sync.connectors.usage_bigquery import usage_query

    with pytest.raises(Exception, match="not a column name"):
        usage_query(BigQueryUsage(table="acme-cs.p.t", key_column="id; DROP TABLE x"), {})
    with pytest.raises(Exception, match="project.dataset.table"):
        usage_query(BigQueryUsage(table="t"), {})


def test_survey_answers_from_a_sheet(gc: gspread.Client) -> None:
    from cs_sync.connectors.surveys_csv import validate_answers
    from cs_sync.connectors.usage_sheets import read_tab

    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    tab = book.add_worksheet("surveys", rows=5, cols=4)
    account = "0015g00000000GpAAI"
    tab.update(
        [
            ["account_id", "contact_id", "answered", "score"],
            [account, "c1", "2026/10/01", 9],
            [account, "c2", "2026-10-02", "とても良い"],
        ],
        "A1",
        value_input_option="USER_ENTERED",
    )
    source = "survey sheet"
    raw = read_tab(gc, DASHBOARD_SPREADSHEET_ID, "surveys", source, "surveys", "the columns")
    answers, bad = validate_answers(raw, source, "nps")
    assert answers[["contact_id", "score"]].values.tolist() == [["c1", 9]]
    assert str(answers["day"].iloc[0].date()) == "2026-10-01"
    assert bad == ["line 3, score: 'とても良い' is not a NPS score (0-10)"]


@responses.activate
def test_a_bigquery_table_unchanged_since_the_last_read_is_not_queried_again(
    tmp_path: Path,
) -> None:
    """The table's metadata, read anyway to check its columns, says when its data last
    changed: unchanged, the last read's checked rows are reused (no query, no bytes billed);
    changed, or a view (whose metadata does not say), it is queried."""
    from google.auth.credentials import AnonymousCredentials

    from cs_sync.connectors.usage_bigquery import read_usage_bigquery
    from cs_sync.connectors.usage_memo import UsageMemo

    url = "https://bigquery.googleapis.com/bigquery/v2/projects/acme-cs/datasets/product/tables/daily_usage"
    schema = {"sf_account_id": "STRING", "event_date": "DATE"} | {
        name: "INTEGER" for name in COLUMNS[2:]
    }

    def metadata(modified: str, kind: str = "TABLE") -> None:
        responses.replace(
            responses.GET,
            url,
            json={
                "kind": "bigquery#table",
                "type": kind,
                "lastModifiedTime": modified,
                "numRows": "2",
                "tableReference": {
                    "projectId": "acme-cs",
                    "datasetId": "product",
                    "tableId": "daily_usage",
                },
                "schema": {
                    "fields": [
                        {"name": n, "type": t, "mode": "NULLABLE"} for n, t in schema.items()
                    ]
                },
            },
        )

    responses.add(responses.GET, url, json={})
    metadata("1764460800000")
    query_result([["001A000001HbB2zIAF", "2026-10", "100", "80", "900", "80", "0", "1"]])
    settings = BigQueryUsage(
        table="acme-cs.product.daily_usage",
        key_column="sf_account_id",
        date_column="event_date",
        project="acme-cs",
    )
    client = bigquery.Client(project="acme-cs", credentials=AnonymousCredentials())
    columns = {name: name for name in COLUMNS[2:]}
    memo = UsageMemo(tmp_path / "copy.duckdb")

    def read() -> tuple[list[str], object]:
        before = len(responses.calls)
        table = read_usage_bigquery(
            settings, columns, AS_OF, "salesforce_id", "skip", client, memo=memo
        )
        return [call.request.method for call in responses.calls[before:]], table

    sent, first = read()
    assert sent == ["GET", "POST"]
    sent, again = read()
    assert sent == ["GET"]  # the metadata alone
    assert again.frame.equals(first.frame)  # type: ignore[attr-defined]
    metadata("1764547200000")  # rows loaded since
    assert read()[0] == ["GET", "POST"]
    metadata("1764547200000", kind="VIEW")
    assert read()[0] == ["GET", "POST"]
    assert read()[0] == ["GET", "POST"]  # a view is always queried
