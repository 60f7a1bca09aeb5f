"""The [usage] table: where product usage comes from (a CSV or Parquet file, a Google Sheets
tab, or a BigQuery table aggregated where it lives), how rows name the account, and which
usage columns are the monthly and the seasonal feature. `usage.source` picks the kind."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Strict, Tag

from cs_sync.connectors.settings import FieldName
from cs_sync.settings import (
    Between,
    ConfigPath,
    MonthList,
    OptionalPath,
    OptionalText,
    Settings,
    parse_months,
)

# The usage table every source gives: one row per account and month, then the metrics.
KEY_COLUMN = "account_id"
MONTH_COLUMN = "month"
CORE_METRICS = ("seats", "active_users", "logins")  # what the built-in features read
METRIC_COLUMNS = (  # the demo book's columns, and the defaults
    "seats",
    "active_users",
    "logins",
    "payslips_sent",
    "year_end_adjustments",
    "surveys_run",
)
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _column_name(value: str) -> str:
    if value and not _COLUMN_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a column name (letters, digits, _)")
    return value


# How a month of a metric is aggregated in BigQuery when usage.bigquery.aggregate is silent.
USAGE_AGGREGATES = {"seats": "max", "active_users": "max"}  # the rest are summed


class BigQueryUsage(Settings):
    """[usage.bigquery]: the events or daily table usage is aggregated from, in BigQuery."""

    table: str
    """The table, as project.dataset.table."""
    key_column: str = "account_id"
    """The column naming the account."""
    date_column: str = "day"
    """A DATE or TIMESTAMP column."""
    aggregate: dict[str, Literal["sum", "max", "avg", "last"]] = {}
    """How a month of each metric is aggregated (seats and active_users: max; others: sum)."""
    months: Annotated[int, Between(13, 120)] = 27
    """How far back to read (the seasonal feature needs two years)."""
    project: str | None = None
    """The project that runs (and pays for) the query."""
    location: str | None = None
    """The dataset's location, e.g. "asia-northeast1"."""
    credentials_file: OptionalPath = None
    """A service account's JSON key; leave out for the environment's credentials."""
    maximum_bytes_billed: Annotated[int, Between(10_000_000)] = 10_000_000_000
    """BigQuery refuses the query above this many bytes billed."""

    def how(self, metric: str) -> str:
        """sum, max, avg or last: how a month of `metric` is aggregated."""
        return self.aggregate.get(metric, USAGE_AGGREGATES.get(metric, "sum"))


def metrics_of(data: dict[str, Any]) -> list[str]:
    """The metrics a [usage] table as written reads (see UsageBase.all_metrics)."""
    monthly = data.get("monthly_feature", "payslips_sent")
    seasonal = data.get("seasonal_feature", "year_end_adjustments")
    own = data.get("metrics", [])
    own = [m for m in own if isinstance(m, str)] if isinstance(own, list) else []
    return list(dict.fromkeys([*CORE_METRICS, monthly, *([seasonal] if seasonal else []), *own]))


class UsageBase(Settings):
    """What every usage source shares: how rows name the account, what a bad row does, and
    which usage columns are the monthly and the seasonal feature."""

    account_key: Literal["salesforce_id", "external_key"] = "salesforce_id"
    """How usage rows name the account: a Salesforce id or salesforce.fields.external_key."""
    on_bad_rows: Literal["skip", "stop"] = "skip"
    """A bad row: skip it and report it, or stop the run before anything is written."""
    monthly_feature: Annotated[str, AfterValidator(_column_name)] = "payslips_sent"
    """The usage column of the feature customers use every month."""
    seasonal_feature: Annotated[OptionalText, AfterValidator(_column_name)] = "year_end_adjustments"
    """The usage column of the feature used once a year ("": none)."""
    season_months: Annotated[MonthList, Field(strict=False)] = (11, 12)
    """When the seasonal feature is used, months in order (may cross the new year): [11, 12],
    or text as typed in Japan ("11,12", "１１月・１２月", "11-12")."""
    metrics: Annotated[tuple[Annotated[str, AfterValidator(_column_name)], ...], Strict(False)] = ()
    """Your own usage metrics beyond these (e.g. ["surveys_run", "candidate_requests"]):
    numeric columns read and checked like the others, for [[features]] with metric = ..."""
    columns: dict[str, str] = {}
    """metric = your column name, when the source names them otherwise."""

    @property
    def all_metrics(self) -> tuple[str, ...]:
        """The usage columns cs-sync reads: seats, active users, logins, the monthly and
        seasonal features, and usage.metrics."""
        seasonal = [self.seasonal_feature] if self.seasonal_feature else []
        return tuple(dict.fromkeys([*CORE_METRICS, self.monthly_feature, *seasonal, *self.metrics]))

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = []
        monthly = data.get("monthly_feature", "payslips_sent")
        own = data.get("metrics", [])
        if isinstance(own, list) and len(set(map(str, own))) != len(own):
            problems.append("metrics: each metric once")
        if monthly == "":
            problems.append(
                "monthly_feature: name the usage column of the feature customers use every month"
            )
        months = data.get("season_months")
        if isinstance(months, str):
            months = parse_months(months)[0]
        if isinstance(months, list) and (len(set(months)) != len(months) or len(months) > 11):
            problems.append("season_months: each month once, and not the whole year")
        metrics = metrics_of(data)
        columns = data.get("columns", {})
        unknown = sorted(set(columns) - set(metrics)) if isinstance(columns, dict) else []
        if unknown:
            problems.append(
                f"columns: {', '.join(unknown)} is not a usage metric; the metrics are "
                f"{', '.join(dict.fromkeys(metrics))}"
            )
        return problems


class CsvUsage(UsageBase):
    source: Literal["csv"] = "csv"
    """Usage from a CSV file."""
    path: ConfigPath
    """The file, relative to this configuration file."""
    encoding: Literal["auto", "utf-8", "cp932"] = "auto"
    """The file's text encoding: "auto" reads UTF-8 (with or without a BOM), then CP932
    (Shift-JIS, what Excel in Japan saves as CSV)."""
    delimiter: Literal["auto", ",", ";", "\t"] = "auto"
    """The column separator: "auto" takes the one the header row uses."""


class ParquetUsage(UsageBase):
    source: Literal["parquet"]
    """Usage from a Parquet file."""
    path: ConfigPath
    """The file, relative to this configuration file."""


class SheetsUsage(UsageBase):
    source: Literal["sheets"]
    """Usage from a Google Sheets tab (format id columns as plain text). With the Google Drive
    API enabled in the account's project, an unchanged spreadsheet is not read again."""
    spreadsheet_id: str
    """The spreadsheet's id (between /d/ and /edit in its address)."""
    worksheet: str = "usage"
    """The tab's name."""
    credentials_file: OptionalPath = None
    """A service account's JSON key; leave out for the environment's credentials."""


class BigQueryUsageSource(UsageBase):
    source: Literal["bigquery"]
    """Usage aggregated inside BigQuery: one row per account and month comes back."""
    bigquery: BigQueryUsage
    """The table and how it is aggregated."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = super().check(data)
        table = data.get("bigquery")
        aggregate = table.get("aggregate", {}) if isinstance(table, dict) else {}
        metrics = metrics_of(data)
        problems += [
            f"bigquery.aggregate.{name}: not a metric; aggregate one of {', '.join(metrics)}"
            for name in (aggregate if isinstance(aggregate, dict) else {})
            if name not in metrics
        ]
        return problems

    def table_columns(self) -> dict[str, str]:
        """metric -> the table's column."""
        return {metric: self.columns.get(metric, metric) for metric in self.all_metrics}


def _usage_source(value: Any) -> str:
    source = value.get("source", "csv") if isinstance(value, dict) else value.source
    return source if source in ("csv", "parquet", "sheets", "bigquery") else "unknown"


UsageConfig = Annotated[
    Annotated[CsvUsage, Tag("csv")]
    | Annotated[ParquetUsage, Tag("parquet")]
    | Annotated[SheetsUsage, Tag("sheets")]
    | Annotated[BigQueryUsageSource, Tag("bigquery")],
    Discriminator(
        _usage_source,
        custom_error_type="usage_source",
        custom_error_message="source: expected one of 'csv', 'parquet', 'sheets', 'bigquery'",
    ),
]
"""[usage]: where product usage comes from (usage.source chooses the kind)."""
USAGE_SOURCES = ("csv", "parquet", "sheets", "bigquery")


class SurveysBigQuery(Settings):
    """[surveys.bigquery]: the table of survey answers in BigQuery, one row per answer."""

    table: str
    """The table, as project.dataset.table."""
    account_column: str = "account_id"
    """The column holding the account's Salesforce id."""
    contact_column: str = "contact_id"
    """The column naming the person who answered (any key)."""
    date_column: str = "answered"
    """When the answer was given: a DATE, DATETIME or TIMESTAMP column."""
    score_column: str = "score"
    """The answer's score (a number)."""
    project: str | None = None
    """The project that runs (and pays for) the query."""
    location: str | None = None
    """The dataset's location, e.g. "asia-northeast1"."""
    maximum_bytes_billed: Annotated[int, Between(10_000_000)] = 1_000_000_000
    """BigQuery refuses the query above this many bytes billed."""


class SurveysConfig(Settings):
    """[surveys]: NPS or CSAT answers per contact, rolled up to the account (survey_score,
    detractor_share, survey_contacts, days_since_survey), from a Contact field, a CSV file,
    a Sheets tab or a BigQuery table. Read only when a measure or condition names one of
    those columns."""

    source: Literal["none", "contact_field", "csv", "sheets", "bigquery"] = "none"
    """contact_field: the latest answer kept on each Contact; csv, sheets or bigquery: one
    row per answer (account, contact, when, score); none: no surveys."""
    contact_field: FieldName | None = None
    """contact_field: the Contact field holding the contact's latest score (number)."""
    date_field: FieldName | None = None
    """contact_field: the Contact field holding when it was given (date); leave out when the
    org keeps none (every answer then counts, whatever its age)."""
    path: OptionalPath = None
    """csv: the file, relative to this configuration file (UTF-8 or CP932)."""
    spreadsheet_id: OptionalText = None
    """sheets: the spreadsheet's id (between /d/ and /edit in its address)."""
    worksheet: str = "surveys"
    """sheets: the tab's name."""
    bigquery: SurveysBigQuery | None = None
    """bigquery: the table of answers and its columns."""
    credentials_file: OptionalPath = None
    """sheets or bigquery: a service account's JSON key; leave out for the environment's
    credentials."""
    scale: Literal["nps", "csat"] = "nps"
    """nps: 0-10 (promoters 9-10, detractors 0-6); csat: 1-5 (satisfied 4-5, dissatisfied 1-2)."""
    months: Annotated[int, Between(1, 36)] = 12
    """Answers older than this many months do not count."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        source = data.get("source", "none")
        if source == "contact_field" and not data.get("contact_field"):
            return ['contact_field: missing; name the Contact field of the score, e.g. "NPS__c"']
        if source == "csv" and not data.get("path"):
            return ["path: missing; name the CSV file of the answers"]
        if source == "sheets" and not data.get("spreadsheet_id"):
            return ["spreadsheet_id: missing; name the spreadsheet of the answers"]
        if source == "bigquery" and not isinstance(data.get("bigquery"), dict):
            return [
                'bigquery: missing; add [surveys.bigquery] with table = "project.dataset.table"'
            ]
        return []
