"""The outputs' own settings: the [dashboard] table (the Sheets and Looker Studio dashboard,
its KPI targets and sharing) and the [history] table (where the run history is kept),
typed, with their defaults and what each key means.

A cross-key problem is raised as lines of "key: what is wrong"; the configuration loader
reports each line under the table's path, beside every other problem of the file.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, Strict, model_validator

from cs_sync.settings import Between, OptionalPath, OptionalText, Settings


def _share(value: object) -> object:
    """A target as written: a number (1.1) or a percentage ("110%", "１１０％")."""
    if isinstance(value, str):
        text = value.strip().translate(str.maketrans("０１２３４５６７８９．％", "0123456789.%"))
        if text.endswith("%"):
            try:
                return float(text[:-1]) / 100
            except ValueError:
                pass
    return value


TargetValue = Annotated[float | None, BeforeValidator(_share)]


class KpiTarget(Settings):
    """[[dashboard.targets]]: one KPI's target for a kind of period, shown against the actual
    with the gap on every dashboard."""

    metric: str
    """The KPI: nrr, grr, expansion_arr, revenue_churn_rate, logo_churn_rate, renewal_rate,
    phase_ups … (by period), or with period = "day" one of the day's: onboarding_completion_rate,
    health_score_avg, renewal_arr_at_risk_120d, tasks_overdue …"""
    period: Literal["day", "month", "quarter", "fiscal_year", "ttm"] = "fiscal_year"
    """The periods it applies to (this one under way and the last complete one; ttm: the
    twelve months to the last complete month; day: the run's)."""
    dimension: str = "all"
    """For a KPI by dimension: which one (a grade, a segment, a CSM's name); else all."""
    at_least: TargetValue = None
    """Met at this value or above: a number, or a percentage ("110%")."""
    at_most: TargetValue = None
    """Met at this value or below (churn, overdue tasks)."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        given = [key for key in ("at_least", "at_most") if data.get(key) is not None]
        if len(given) != 1:
            return ['give one of at_least or at_most, e.g. at_least = "110%"']
        return []


_ADDRESS = re.compile(r"[^@\s:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")


def _share_target(value: str) -> str:
    kind, _, rest = value.partition(":") if ":" in value else ("user", "", value)
    if kind == "anyone" or value == "anyone":
        raise ValueError(
            "anyone-with-the-link sharing is refused: the dashboard holds every customer's ARR; "
            'name people, "group:..." or "domain:..."'
        )
    if kind in ("user", "group") and _ADDRESS.fullmatch(rest):
        return value
    if kind == "domain" and _DOMAIN.fullmatch(rest):
        return value
    raise ValueError(f'{value!r} is not an e-mail address, "group:<address>" or "domain:<domain>"')


ShareTarget = Annotated[str, AfterValidator(_share_target)]


# The dashboard spreadsheet's tabs (sheet_tabs.py makes them)
SheetTab = Literal[
    "accounts", "kpi_daily", "kpi_periods", "kpi_targets", "kpi_csm", "health_history", "runs"
]


class DashboardConfig(Settings):
    """Where the KPI dashboard goes: local files, a Google Sheets spreadsheet, or both."""

    local_dir: OptionalPath = Field("dashboard", validate_default=True)
    """Folder for the local dashboard: CSV tables and an offline index.html ("": none)."""
    spreadsheet_id: OptionalText = None
    """The Google Sheets spreadsheet Looker Studio reads (between /d/ and /edit)."""
    credentials_file: OptionalPath = None
    """A service account's JSON key; leave out for the environment's credentials."""
    sheets_leave_out: Annotated[tuple[SheetTab, ...], Strict(False)] = ()
    """Tabs not sent to the spreadsheet, e.g. ["accounts", "health_history"] for a book too
    large for Google Sheets' 10 million cells (those two have a row an account)."""
    looker_template_id: OptionalText = None
    """The Looker Studio report `cs-sync dashboard link` copies (left out: Looker Studio's
    default template over the kpi_periods tab)."""
    share_with: Annotated[tuple[ShareTarget, ...], Strict(False)] = ()
    """Who `cs-sync setup dashboard` shares the spreadsheet with: e-mail addresses,
    "group:cs-leads@example.com" or "domain:example.com"."""
    share_role: Literal["reader", "commenter", "writer"] = "reader"
    """What they may do with it (Drive roles: reader, commenter, writer)."""
    drive_folder_id: OptionalText = None
    """The Drive folder `cs-sync setup dashboard` creates the spreadsheet in: a folder of a
    shared drive where the service account is Content manager (a service account cannot own
    files in My Drive)."""
    targets: Annotated[tuple[KpiTarget, ...], Strict(False)] = ()
    """KPI targets, e.g. NRR at least 110% this fiscal year ([[dashboard.targets]])."""
    gross_margin: Annotated[float, Between(0.01, 1.0)] | None = None
    """Your gross margin (0.8 for 80%): with `cac`, LTV, LTV/CAC and CAC payback over twelve
    months and each complete fiscal year."""
    cac: Annotated[float, Between(0)] | None = None
    """What winning one customer costs on average (sales and marketing spend / new
    customers), in the ARR's currency."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        given = data.get("spreadsheet_id")
        if isinstance(given, str) and given and not re.fullmatch(r"[A-Za-z0-9_-]{10,}", given):
            return [
                f"spreadsheet_id: {given!r} is not a spreadsheet id (the part of its address "
                "between /d/ and /edit)"
            ]
        return []


class HistoryConfig(Settings):
    """Where each run's per-account snapshot, KPI rows and run record are kept: a local
    DuckDB file, or BigQuery tables partitioned by date."""

    backend: Literal["duckdb", "bigquery"] = "duckdb"
    """duckdb: a local file (path); bigquery: tables in `dataset`."""
    path: OptionalPath = Field("cs-sync-history.duckdb", validate_default=True)
    """duckdb: the file ("": history off). Keep it on storage that survives between runs."""
    project: str | None = None
    """bigquery: the project that holds the dataset and pays for queries."""
    dataset: str | None = None
    """bigquery: the dataset of cs-sync's history tables."""
    location: str | None = None
    """bigquery: e.g. "asia-northeast1"; leave out for the dataset's."""
    credentials_file: OptionalPath = None
    """bigquery: a service account's JSON key; leave out for the environment's credentials."""
    maximum_bytes_billed: Annotated[int, Between(10_000_000)] = 10_000_000_000
    """bigquery: every history query is refused above this many bytes billed."""

    @model_validator(mode="before")
    @classmethod
    def _no_file_in_bigquery(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("backend") == "bigquery" and "path" not in data:
            return {**data, "path": ""}
        return data

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        if data.get("backend") != "bigquery":
            return []
        problems = [
            f'{name}: missing; backend = "bigquery" needs the project and dataset that hold '
            "cs-sync's history tables"
            for name in ("project", "dataset")
            if not data.get(name)
        ]
        dataset = data.get("dataset")
        if (
            isinstance(dataset, str)
            and dataset
            and not re.fullmatch(r"[A-Za-z0-9_]{1,1024}", dataset)
        ):
            problems.append(f"dataset: {dataset!r} is not a dataset id (letters, digits, _)")
        return problems

    @property
    def enabled(self) -> bool:
        return self.backend == "bigquery" or self.path is not None

    def describe(self) -> str:
        if self.backend == "bigquery":
            return f"bigquery:{self.project}.{self.dataset}"
        return str(self.path)
