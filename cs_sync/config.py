"""The one TOML configuration file, loaded into one validated, typed object.

Every problem is collected and reported at once with its key path. Secrets are never read from
the TOML itself: the file names an environment variable (`*_env`) or a file (`*_file`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from connectors.usage_csv import CORE_METRICS
from cs_sync.errors import AuthError, ConfigError
from rules.expressions import Expression, ExpressionError, compile_expression
from rules.features import ACCOUNT_INPUTS, FEATURE_COLUMNS
from rules.health import HEALTH_COLUMNS
from rules.phases import PHASE_COLUMNS, PRESETS, Phase, PhaseSettings, build_phases
from rules.renewal import (
    AXIS_NAMES,
    DEFAULT_AXES,
    DEFAULT_STRATEGIES,
    Axis,
    RenewalSettings,
    Strategy,
    build_axes,
    build_strategies,
)
from rules.renewal import OUTPUT_COLUMNS as RENEWAL_COLUMNS
from rules.task_presets import build_rule, preset_rules
from rules.tasks import STORED as STORED_OUTPUTS
from rules.tasks import TaskSettings

SECRET_KEYS = (
    "password",
    "security_token",
    "session_id",
    "private_key",
    "client_secret",
    "token",
    "api_key",
    "credentials",
)
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^\d{2,3}\.0$")


@dataclass(frozen=True)
class Secret:
    """Where a secret lives: an environment variable or a file. Never the value itself."""

    label: str  # the config key, e.g. "salesforce.password"
    env: str | None = None
    file: Path | None = None

    def read(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise AuthError(
                    f"{self.label}: environment variable {self.env} is not set or "
                    "empty; export it before running cs-sync"
                )
            return value
        assert self.file is not None
        try:
            return self.file.read_text("utf-8").strip()
        except OSError as exc:
            raise AuthError(
                f"{self.label}: cannot read the secret file {self.file} "
                f"({exc.strerror}); check the path in {self.label}_file"
            ) from None


@dataclass(frozen=True)
class SalesforceFields:
    """Account fields cs-sync reads (inputs) and writes (outputs), by API name."""

    arr: str = "CS_ARR__c"
    seats: str = "CS_Seats__c"
    contract_start: str = "CS_Contract_Start__c"
    renewal_date: str = "CS_Renewal_Date__c"
    segment: str = "CS_Segment__c"
    sub_csm: str = "CS_Sub_CSM__c"
    external_key: str = "CS_External_Key__c"
    budget_status: str = "CS_Budget_Status__c"
    sentiment: str = "CS_Sentiment__c"
    busy_months: str = "CS_Busy_Months__c"
    approval_lead_days: str = "CS_Approval_Lead_Days__c"
    score: str = "CS_Health_Score__c"
    grade: str = "CS_Health_Grade__c"
    trend: str = "CS_Health_Trend__c"
    reasons: str = "CS_Health_Reasons__c"
    phase: str = "CS_Phase__c"
    phase_delayed: str = "CS_Phase_Delayed__c"
    renewal_strategy: str = "CS_Renewal_Strategy__c"
    next_action: str = "CS_Next_Action__c"
    next_action_date: str = "CS_Next_Action_Date__c"
    last_synced: str = "CS_Last_Synced__c"
    override_grade: str = "CS_Override_Grade__c"
    override_reason: str = "CS_Override_Reason__c"
    override_expiry: str = "CS_Override_Expiry__c"
    task_key: str = "CS_Sync_Key__c"

    def owned(self) -> tuple[str, ...]:
        """The Account fields cs-sync owns and may write (the default write allowlist)."""
        return (
            self.score,
            self.grade,
            self.trend,
            self.reasons,
            self.phase,
            self.phase_delayed,
            self.renewal_strategy,
            self.next_action,
            self.next_action_date,
            self.last_synced,
        )


@dataclass(frozen=True)
class SalesforceConfig:
    instance_url: str
    api_version: str
    auth: str  # password | jwt | session
    username: str | None
    domain: str
    password: Secret | None
    security_token: Secret | None
    session_id: Secret | None
    consumer_key: str | None
    private_key: Secret | None
    account_filter: str
    query_batch_size: int
    timeout_s: float
    api_reserve_share: float
    fields: SalesforceFields
    bulk_threshold: int = 2000
    bulk_query_threshold: int = 10000
    write_step_records: int = 10000  # records per write step; SIGTERM waits for one step
    former_customer_filter: str = "Type = 'Former Customer'"  # read by backfill and backtest
    write_allowlist: tuple[str, ...] = ()  # Account fields cs-sync may write
    renewal_types: tuple[str, ...] = ("Renewal",)
    expansion_types: tuple[str, ...] = ("Upsell", "Existing Business")
    roles: tuple[tuple[str, tuple[str, ...]], ...] = ()  # stakeholder → contact role values


@dataclass(frozen=True)
class BigQueryUsage:
    """[usage.bigquery]: the events or daily table the usage is aggregated from, in BigQuery."""

    table: str  # project.dataset.table
    key_column: str = "account_id"
    date_column: str = "day"  # a DATE or TIMESTAMP column
    columns: dict[str, str] = field(default_factory=dict)  # metric -> the table's column
    aggregate: dict[str, str] = field(default_factory=dict)  # metric -> sum|max|avg|last
    months: int = 27  # how far back to read
    project: str | None = None  # the project that runs (and pays for) the query
    location: str | None = None
    credentials_file: Path | None = None
    maximum_bytes_billed: int = 10_000_000_000


@dataclass(frozen=True)
class UsageConfig:
    source: str  # csv | parquet | sheets | bigquery
    path: Path
    account_key: str  # salesforce_id | external_key
    on_bad_rows: str  # skip | stop
    monthly_feature: str = "payslips_sent"  # used every month: missing months are a risk
    seasonal_feature: str | None = "year_end_adjustments"  # used once a year; None: no season
    season_months: tuple[int, ...] = (11, 12)  # when it is used, in order
    spreadsheet_id: str | None = None  # source "sheets"
    worksheet: str = "usage"
    credentials_file: Path | None = None  # sheets: a service-account key
    bigquery: BigQueryUsage | None = None  # source "bigquery"
    columns: dict[str, str] = field(default_factory=dict)  # metric -> the source's name

    @property
    def metrics(self) -> tuple[str, ...]:
        """The usage columns the rules read: seats, active users, logins, and the monthly and
        seasonal features."""
        seasonal = [self.seasonal_feature] if self.seasonal_feature else []
        return tuple(dict.fromkeys([*CORE_METRICS, self.monthly_feature, *seasonal]))


@dataclass(frozen=True)
class Measure:
    """One input of the health score. Scaled to a share of its weight (0 to 1) by one of:
    linear between `bad` and `good`; `bands` [(threshold, share)] checked in order (value at
    least the threshold, or at most with direction "lower"); `values` {text: share}."""

    name: str  # a feature column
    weight: float
    bad: float = 0.0
    good: float = 1.0
    bands: tuple[tuple[float, float], ...] = ()
    direction: str = "higher"  # bands: higher | lower
    values: tuple[tuple[str, float], ...] = ()
    missing: str = "skip"  # skip (reweight the others) | neutral (half) | worst (nothing)
    label: tuple[tuple[str, str], ...] = ()  # (language, text) for the reason sentence

    @property
    def kind(self) -> str:
        return "bands" if self.bands else "values" if self.values else "linear"


@dataclass(frozen=True)
class HealthConfig:
    measures: tuple[Measure, ...]
    grades: tuple[tuple[str, float], ...]  # (grade, minimum score), best first; the last is 0
    trend_threshold: float


@dataclass(frozen=True)
class PhasesConfig:
    preset: str  # lifecycle | staging | custom
    settings: PhaseSettings
    phases: tuple[Phase, ...]


@dataclass(frozen=True)
class RenewalConfig:
    settings: RenewalSettings
    axes: tuple[Axis, ...]
    strategies: tuple[Strategy, ...]


def default_renewal() -> RenewalConfig:
    return RenewalConfig(
        RenewalSettings(), build_axes(DEFAULT_AXES), build_strategies(DEFAULT_STRATEGIES)
    )


@dataclass(frozen=True)
class FeatureDefinition:
    """An admin's extra feature: a column computed from the others, usable by every rule."""

    name: str
    expression: Expression


@dataclass(frozen=True)
class DashboardConfig:
    local_dir: Path | None
    spreadsheet_id: str | None = None  # the Google Sheets dashboard; None: not written
    credentials_file: Path | None = None  # service-account key; None: the environment's
    looker_template_id: str | None = None  # the report `cs-sync dashboard link` copies


@dataclass(frozen=True)
class HistoryConfig:
    """Where each run's per-account snapshot, KPI rows and run record are kept: a local
    DuckDB file, or BigQuery tables partitioned by date."""

    path: Path | None  # duckdb: the file; None with backend duckdb: history off
    backend: str = "duckdb"  # duckdb | bigquery
    project: str | None = None  # bigquery: the project that holds the dataset and pays
    dataset: str | None = None
    location: str | None = None  # e.g. "asia-northeast1"; None: the dataset's
    credentials_file: Path | None = None  # a service-account key; None: the environment's
    maximum_bytes_billed: int = 10_000_000_000  # per query; above it BigQuery refuses

    @property
    def enabled(self) -> bool:
        return self.backend == "bigquery" or self.path is not None

    def describe(self) -> str:
        if self.backend == "bigquery":
            return f"bigquery:{self.project}.{self.dataset}"
        return str(self.path)


@dataclass(frozen=True)
class BrakesConfig:
    """Refuse to apply a plan that changes too much at once (exit 4) unless --force."""

    max_grade_change_share: float = 0.25  # of the accounts that already had a grade
    max_phase_change_share: float = 0.25  # of the accounts that already had a phase
    max_new_tasks: int = 500  # tasks the rules want this run, before tasks.max_per_run
    min_accounts: int = 10  # the share brakes fire only when at least this many change


CHURN_EVENTS = ("lost_renewal", "contract_ended", "arr_zero")


@dataclass(frozen=True)
class BacktestSettings:
    """`cs-sync backtest`: which past dates, what counts as churn, which alert to judge."""

    horizon_days: int = 180  # churn within this many days after a date counts
    months: int = 12  # snapshot dates: one a month over this many months
    churn: tuple[str, ...] = ("lost_renewal", "contract_ended")  # of CHURN_EVENTS
    at_risk_grades: tuple[str, ...] = ()  # () = the two worst grades
    alert_window_days: int = 90


@dataclass(frozen=True)
class WorkerConfig:
    """`cs-sync worker`: when to run, and the files it shares with other processes."""

    schedule: str
    timezone: str
    lock_file: Path
    status_file: Path
    json_logs: bool = False


@dataclass(frozen=True)
class SandboxConfig:
    """Only for the local sandbox: the database file `cs-sync sandbox serve` serves."""

    database: Path | None


@dataclass(frozen=True)
class Config:
    path: Path
    language: str
    timezone: str
    salesforce: SalesforceConfig
    usage: UsageConfig
    health: HealthConfig
    tasks: TaskSettings
    dashboard: DashboardConfig
    sandbox: SandboxConfig
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    holiday_country: str | None = "JP"
    company_closed: tuple[str, ...] = ()
    phases: PhasesConfig = field(
        default_factory=lambda: PhasesConfig(
            "lifecycle", PhaseSettings(), build_phases(PRESETS["lifecycle"](PhaseSettings()))
        )
    )
    features: tuple[FeatureDefinition, ...] = ()
    renewal: RenewalConfig = field(default_factory=default_renewal)
    history: HistoryConfig = field(default_factory=lambda: HistoryConfig(None))
    brakes: BrakesConfig = field(default_factory=BrakesConfig)
    worker: WorkerConfig | None = None
    backtest: BacktestSettings = field(default_factory=BacktestSettings)

    @property
    def version_hash(self) -> str:
        """A short hash of the whole configuration, stored with every history row, so that
        a score can be traced to the rules that made it."""
        canonical = json.dumps(self.raw, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


DEFAULT_MEASURES = (
    Measure("active_ratio", 40, 0.2, 0.8),
    Measure("login_trend", 20, 0.5, 1.0),
    Measure("monthly_feature", 20, 3, 0),
    Measure("seasonal_dropped", 20, 1, 0),
)


class _Reader:
    """Reads one TOML table, recording problems instead of raising, and unknown keys."""

    def __init__(self, table: Any, prefix: str, problems: list[str]) -> None:
        self.problems = problems
        self.prefix = prefix
        if table is None:
            table = {}
        if not isinstance(table, dict):
            problems.append(f"{prefix}: expected a table ([{prefix}])")
            table = {}
        self.table: dict[str, Any] = table
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
        self.seen.add(name)
        if name not in self.table:
            if default is _REQUIRED:
                self.problems.append(f"{self.key(name)}: missing; expected {what}")
                return None
            return default
        value = self.table[name]
        if isinstance(value, bool) and bool not in kinds:
            self.problems.append(f"{self.key(name)}: expected {what}, got {value!r}")
            return default if default is not _REQUIRED else None
        if not isinstance(value, kinds):
            self.problems.append(f"{self.key(name)}: expected {what}, got {value!r}")
            return default if default is not _REQUIRED else None
        return value

    def text(self, name: str, default: Any = None, choices: tuple[str, ...] = ()) -> Any:
        what = "one of " + ", ".join(repr(c) for c in choices) if choices else "a string"
        value = self.get(name, (str,), default, what)
        if choices and value is not None and value not in choices:
            self.problems.append(f"{self.key(name)}: {value!r} is not {what}")
            return default if default is not _REQUIRED else None
        return value

    def number(
        self, name: str, default: Any, low: float | None = None, high: float | None = None
    ) -> Any:
        value = self.get(name, (int, float), default, "a number")
        if value is not None and (
            (low is not None and value < low) or (high is not None and value > high)
        ):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problems.append(f"{self.key(name)}: {value} is out of range; expected {bounds}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        return bool(self.get(name, (bool,), default, "true or false"))

    def sub(self, name: str) -> _Reader:
        self.seen.add(name)
        return _Reader(self.table.get(name), self.key(name), self.problems)

    def finish(self) -> None:
        for name in self.table:
            if name in self.seen:
                continue
            if name in SECRET_KEYS:
                self.problems.append(
                    f"{self.key(name)}: secrets are never read from the configuration file. "
                    f"Put the value in an environment variable and set {self.key(name)}_env = "
                    f'"VARIABLE_NAME", or in a file readable only by cs-sync and set '
                    f'{self.key(name)}_file = "path/to/file"; then delete {self.key(name)}'
                )
            else:
                self.problems.append(
                    f"{self.key(name)}: unknown key (check the spelling against "
                    "config.example.toml)"
                )


_REQUIRED = object()


def _secret(reader: _Reader, name: str, base: Path, required: bool) -> Secret | None:
    env = reader.text(f"{name}_env")
    file = reader.text(f"{name}_file")
    label = reader.key(name)
    if env and file:
        reader.problems.append(f"{label}: set either {name}_env or {name}_file, not both")
        return None
    if env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
            reader.problems.append(f"{label}_env: {env!r} is not an environment variable name")
            return None
        return Secret(label, env=env)
    if file:
        return Secret(label, file=_resolve(base, file))
    if required:
        reader.problems.append(
            f'{label}: missing; set {name}_env = "VARIABLE_NAME" or {name}_file = "path/to/file"'
        )
    return None


def _field_name(reader: _Reader, name: str, default: str) -> str:
    value = reader.text(name, default)
    if value is not None and not _FIELD_NAME.match(value):
        reader.problems.append(f"{reader.key(name)}: {value!r} is not a Salesforce field API name")
        return default
    return str(value)


# 年末年始: most Japanese companies close from Dec 29 to Jan 3 (Jan 1 is a public holiday).
YEAR_END_BREAK = ("12-29", "12-30", "12-31", "01-02", "01-03")

DEFAULT_ROLES = (
    ("economic_buyer", ("Economic Buyer", "Economic Decision Maker", "Decision Maker")),
    ("champion", ("Champion",)),  # not a standard role value: usually added by the org
    ("administrator", ("Technical Buyer",)),
    ("end_user", ("Business User",)),
)


def _resolve(base: Path, text: str) -> Path:
    """A path from the config: `~` expanded, relative paths taken from the config's folder."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _month_day(text: str) -> bool:
    """MM-DD that exists in some year (02-29 included)."""
    match = re.fullmatch(r"(\d\d)-(\d\d)", text)
    if not match:
        return False
    try:
        date(2024, int(match.group(1)), int(match.group(2)))
    except ValueError:
        return False
    return True


def _text_list(reader: _Reader, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = reader.get(name, (list,), None, "a list of strings")
    if value is None:
        return default
    if not all(isinstance(item, str) and item for item in value):
        reader.problems.append(f"{reader.key(name)}: expected a list of non-empty strings")
        return default
    return tuple(value)


def _salesforce(reader: _Reader, base: Path) -> SalesforceConfig:
    instance_url = reader.text("instance_url", _REQUIRED)
    if instance_url and not re.match(r"^https?://[^/\s]+/?$", instance_url):
        reader.problems.append(
            "salesforce.instance_url: expected the org's base URL such as "
            '"https://acme.my.salesforce.com"'
        )
    version = reader.text("api_version", "62.0")
    if version and not _VERSION.match(version):
        reader.problems.append(
            f'salesforce.api_version: {version!r} is not an API version such as "62.0"'
        )
    auth = reader.text("auth", "password", ("password", "jwt", "session"))
    username = reader.text("username")
    domain = reader.text("domain", "login")
    password = _secret(reader, "password", base, required=auth == "password")
    token = _secret(reader, "security_token", base, required=False)
    session_id = _secret(reader, "session_id", base, required=auth == "session")
    consumer_key = reader.text("consumer_key")
    private_key = _secret(reader, "private_key", base, required=auth == "jwt")
    if auth in ("password", "jwt") and not username:
        reader.problems.append(
            f"salesforce.username: missing; {auth} login needs the integration user's username"
        )
    if auth == "jwt" and not consumer_key:
        reader.problems.append(
            "salesforce.consumer_key: missing; JWT login needs the connected app's consumer key"
        )
    account_filter = reader.text("account_filter", "Type = 'Customer - Direct'")
    batch = reader.number("query_batch_size", 2000, 200, 2000)
    timeout = reader.number("timeout_s", 120, 1, 600)
    reserve = reader.number("api_reserve_share", 0.2, 0, 0.9)
    bulk_threshold = reader.number("bulk_threshold", 2000, 1)
    bulk_query_threshold = reader.number("bulk_query_threshold", 10000, 1)
    write_step = reader.number("write_step_records", 10000, 10, 1_000_000)
    former_filter = reader.text("former_customer_filter", "Type = 'Former Customer'")
    fields_reader = reader.sub("fields")
    defaults = SalesforceFields()
    fields = SalesforceFields(
        **{
            name: _field_name(fields_reader, name, getattr(defaults, name))
            for name in defaults.__dataclass_fields__
        }
    )
    fields_reader.finish()
    opp_reader = reader.sub("opportunities")
    renewal_types = _text_list(opp_reader, "renewal_types", ("Renewal",))
    expansion_types = _text_list(opp_reader, "expansion_types", ("Upsell", "Existing Business"))
    opp_reader.finish()
    roles_reader = reader.sub("roles")
    roles = tuple(
        (name, _text_list(roles_reader, name, default)) for name, default in DEFAULT_ROLES
    )
    roles_reader.finish()
    allowlist_raw = reader.get(
        "write_allowlist", (list,), None, "a list of Account field API names"
    )
    allowlist = (
        tuple(str(v) for v in allowlist_raw) if allowlist_raw is not None else fields.owned()
    )
    for name in allowlist:
        if not _FIELD_NAME.match(name):
            reader.problems.append(f"salesforce.write_allowlist: {name!r} is not a field API name")
    missing = [
        name
        for name in (fields.score, fields.grade, fields.trend, fields.reasons)
        if name not in allowlist
    ]
    if missing:
        reader.problems.append(
            "salesforce.write_allowlist: cs-sync cannot do its job without "
            f"writing {', '.join(missing)}; add them"
        )
    return SalesforceConfig(
        instance_url=str(instance_url or "").rstrip("/"),
        api_version=str(version),
        auth=str(auth),
        username=username,
        domain=str(domain),
        password=password,
        security_token=token,
        session_id=session_id,
        consumer_key=consumer_key,
        private_key=private_key,
        account_filter=str(account_filter),
        query_batch_size=int(batch),
        timeout_s=float(timeout),
        api_reserve_share=float(reserve),
        bulk_threshold=int(bulk_threshold),
        bulk_query_threshold=int(bulk_query_threshold),
        write_step_records=int(write_step),
        former_customer_filter=str(former_filter),
        write_allowlist=allowlist,
        renewal_types=renewal_types,
        expansion_types=expansion_types,
        roles=roles,
        fields=fields,
    )


def _usage(reader: _Reader, base: Path) -> UsageConfig:
    source = reader.text("source", "csv", ("csv", "parquet", "sheets", "bigquery"))
    path_text = reader.text("path", _REQUIRED if source in ("csv", "parquet") else None)
    spreadsheet_id = reader.text("spreadsheet_id", _REQUIRED if source == "sheets" else None)
    worksheet = reader.text("worksheet", "usage")
    credentials = reader.text("credentials_file")
    account_key = reader.text("account_key", "salesforce_id", ("salesforce_id", "external_key"))
    on_bad = reader.text("on_bad_rows", "skip", ("skip", "stop"))
    monthly = str(reader.text("monthly_feature", "payslips_sent"))
    seasonal = str(reader.text("seasonal_feature", "year_end_adjustments"))
    for key, name in (("monthly_feature", monthly), ("seasonal_feature", seasonal)):
        if name and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            reader.problems.append(
                f"usage.{key}: {name!r} is not a column name (letters, digits, _)"
            )
    if not monthly:
        reader.problems.append(
            "usage.monthly_feature: name the usage column of the feature customers use every month"
        )
    raw_columns = reader.get("columns", (dict,), {}, "a table of metric = your column name")
    metrics = tuple(dict.fromkeys([*CORE_METRICS, monthly, *([seasonal] if seasonal else [])]))
    columns = {str(k): str(v) for k, v in raw_columns.items()}
    unknown = sorted(set(columns) - set(metrics))
    if unknown:
        reader.problems.append(
            f"usage.columns: {', '.join(unknown)} is not a usage metric; the metrics are "
            f"{', '.join(metrics)}"
        )
    raw_months = reader.get("season_months", (list,), [11, 12], "a list of months (1-12)")
    months = [m for m in raw_months if isinstance(m, int) and not isinstance(m, bool)]
    if len(months) != len(raw_months) or not all(1 <= m <= 12 for m in months):
        reader.problems.append(
            f"usage.season_months: {raw_months!r} is not a list of months 1-12 such as [11, 12]"
        )
    elif len(set(months)) != len(months) or len(months) > 11:
        reader.problems.append("usage.season_months: each month once, and not the whole year")
    bigquery = (
        _usage_bigquery(reader.sub("bigquery"), base, metrics, columns)
        if source == "bigquery"
        else None
    )
    if source != "bigquery" and "bigquery" in reader.table:
        reader.problems.append('usage.bigquery: set only with usage.source = "bigquery"')
    return UsageConfig(
        source=str(source),
        path=_resolve(base, path_text or "."),
        account_key=str(account_key),
        on_bad_rows=str(on_bad),
        monthly_feature=monthly,
        seasonal_feature=seasonal or None,
        season_months=tuple(months),
        spreadsheet_id=spreadsheet_id,
        worksheet=str(worksheet),
        credentials_file=_resolve(base, credentials) if credentials else None,
        bigquery=bigquery,
        columns=columns,
    )


USAGE_AGGREGATES = {"seats": "max", "active_users": "max"}  # the rest are summed


def _usage_bigquery(
    reader: _Reader, base: Path, metrics: tuple[str, ...], renamed: dict[str, str]
) -> BigQueryUsage:
    table = str(reader.text("table", _REQUIRED) or "")
    columns = {metric: renamed.get(metric, metric) for metric in metrics}
    raw_aggregate = reader.get("aggregate", (dict,), {}, "a table of metric = sum|max|avg|last")
    aggregate = {**USAGE_AGGREGATES, **{str(k): str(v) for k, v in raw_aggregate.items()}}
    for metric, how in aggregate.items():
        if how not in ("sum", "max", "avg", "last") or metric not in metrics:
            reader.problems.append(
                f"usage.bigquery.aggregate.{metric}: {how!r}; use sum, max, avg or last for one "
                f"of {', '.join(metrics)}"
            )
    credentials = reader.text("credentials_file")
    settings = BigQueryUsage(
        table=table,
        key_column=str(reader.text("key_column", "account_id")),
        date_column=str(reader.text("date_column", "day")),
        columns=columns,
        aggregate=aggregate,
        months=int(reader.number("months", 27, 13, 120)),
        project=reader.text("project"),
        location=reader.text("location"),
        credentials_file=_resolve(base, credentials) if credentials else None,
        maximum_bytes_billed=int(reader.number("maximum_bytes_billed", 10_000_000_000, 10_000_000)),
    )
    reader.finish()
    return settings


def _health(reader: _Reader) -> HealthConfig:
    measures: list[Measure] = []
    raw_measures = reader.get("measures", (list,), None, "an array of [[health.measures]] tables")
    if raw_measures is None:
        measures = list(DEFAULT_MEASURES)
    for index, item in enumerate(raw_measures or []):
        measure = _measure(_Reader(item, f"health.measures[{index}]", reader.problems))
        if measure is not None:
            measures.append(measure)
    if raw_measures is not None and not measures:
        reader.problems.append("health.measures: at least one measure is needed")
    grades_reader = reader.sub("grades")
    grades: list[tuple[str, float]] = []
    for grade in list(grades_reader.table):
        value = grades_reader.number(grade, _REQUIRED, 0, 100)
        if value is not None:
            grades.append((grade, float(value)))
    if not grades:
        grades = [("A", 80.0), ("B", 60.0), ("C", 40.0), ("D", 0.0)]
    grades.sort(key=lambda g: -g[1])
    if grades[-1][1] != 0:
        reader.problems.append("health.grades: the lowest grade must start at 0 (e.g. D = 0)")
    if len({g[1] for g in grades}) != len(grades):
        reader.problems.append("health.grades: two grades share the same minimum score")
    trend = reader.number("trend_threshold", 5, 0, 100)
    return HealthConfig(tuple(measures), tuple(grades), float(trend))


PRIORITIES = ("High", "Normal", "Low")
_RULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _measure(sub: _Reader) -> Measure | None:
    name = sub.text("name", _REQUIRED)
    weight = sub.number("weight", _REQUIRED, 0)
    bad = sub.number("bad", None)
    good = sub.number("good", None)
    raw_bands = sub.get("bands", (list,), None, "a list of [threshold, share] pairs")
    direction = sub.text("direction", "higher", ("higher", "lower"))
    raw_values = sub.get("values", (dict,), None, "a table of text = share")
    missing = sub.text("missing", "skip", ("skip", "neutral", "worst"))
    label = sub.get("label", (str, dict), None, 'text, or { ja = "...", en = "..." }')
    sub.finish()
    where = sub.prefix
    given = [
        k
        for k, v in (
            ("bad/good", bad if good is None else good),
            ("bands", raw_bands),
            ("values", raw_values),
        )
        if v is not None
    ]
    if len(given) != 1:
        sub.problems.append(
            f"{where}: give one way to scale it: bad and good (linear), bands, or values"
        )
        return None
    bands: list[tuple[float, float]] = []
    for pair in raw_bands or []:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
            and 0 <= pair[1] <= 1
        ):
            sub.problems.append(
                f"{where}.bands: {pair!r} is not [threshold, share] with a share from 0 to 1"
            )
            return None
        bands.append((float(pair[0]), float(pair[1])))
    values: list[tuple[str, float]] = []
    for text, share in (raw_values or {}).items():
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
            sub.problems.append(f"{where}.values.{text}: expected a share from 0 to 1")
            return None
        values.append((str(text), float(share)))
    if raw_bands is None and raw_values is None:
        if bad is None or good is None:
            sub.problems.append(f"{where}: a linear measure needs both bad and good")
            return None
        if bad == good:
            sub.problems.append(f"{where}: bad and good must differ")
            return None
    labels: tuple[tuple[str, str], ...] = ()
    if isinstance(label, str):
        labels = (("ja", label), ("en", label))
    elif isinstance(label, dict):
        labels = tuple((str(k), str(v)) for k, v in label.items())
    if name is None or weight is None:
        return None
    return Measure(
        name=str(name),
        weight=float(weight),
        bad=float(bad if bad is not None else 0.0),
        good=float(good if good is not None else 1.0),
        bands=tuple(bands),
        direction=str(direction),
        values=tuple(values),
        missing=str(missing),
        label=labels,
    )


def _tasks(reader: _Reader, phase_settings: PhaseSettings) -> TaskSettings:
    enabled = reader.flag("enabled", True)
    if "grades" in reader.table:
        reader.seen.add("grades")
        reader.problems.append(
            "tasks.grades: replaced by task rules. The reonboard preset creates a Task for "
            'grade D; for other grades add a [[tasks.rule]] with when = \'grade in ["C", "D"]\' '
            "(see config.example.toml), then delete tasks.grades"
        )
    defaults = {
        "due_in_business_days": int(reader.number("due_in_business_days", 5, 0, 60)),
        "priority": str(reader.text("priority", "Normal", PRIORITIES)),
        "auto_close": reader.flag("auto_close", True),
        "cooldown_days": int(reader.number("cooldown_days", 30, 0, 730)),
    }
    owner = reader.text("default_owner_id")
    max_per_run = reader.number("max_per_run", 200, 0)
    max_per_owner = reader.number("max_per_owner", 0, 0)
    closed_status = reader.text("closed_status", "Completed")
    presets = preset_rules(phase_settings)
    chosen = _text_list(reader, "presets", tuple(presets))
    for name in chosen:
        if name not in presets:
            reader.problems.append(
                f"tasks.presets: {name!r} is not a preset; the presets are: {', '.join(presets)}"
            )
    definitions = {name: presets[name] for name in chosen if name in presets}
    raw_rules = reader.get("rule", (list,), [], "an array of [[tasks.rule]] tables")
    for index, item in enumerate(raw_rules):
        parsed = _task_rule(_Reader(item, f"tasks.rule[{index}]", reader.problems))
        if parsed is not None:
            definitions[parsed[0]] = parsed[1]  # a rule named like a preset replaces it
    rules = []
    for name, raw in definitions.items():
        try:
            rule = build_rule(name, raw, defaults)
        except ExpressionError as error:
            reader.problems.append(str(error))
            continue
        if rule.trigger == "edge" and not rule.when.names & set(STORED_OUTPUTS):
            reader.problems.append(
                f"tasks.{name}.trigger: an edge trigger compares with the last run, which "
                f"cs-sync knows only for {', '.join(STORED_OUTPUTS)}; this condition names "
                'none of them, so use trigger = "level" with a cooldown_days'
            )
        rules.append(rule)
    return TaskSettings(
        enabled=bool(enabled),
        default_owner_id=owner,
        max_per_run=int(max_per_run),
        max_per_owner=int(max_per_owner),
        closed_status=str(closed_status),
        rules=tuple(rules),
    )


def _task_rule(sub: _Reader) -> tuple[str, dict[str, Any]] | None:
    name = sub.text("name", _REQUIRED)
    raw: dict[str, Any] = {"when": sub.text("when", _REQUIRED)}
    for key in ("label", "subject", "description"):
        value = sub.get(
            key,
            (str, dict),
            _REQUIRED if key != "label" else None,
            'text, or { ja = "...", en = "..." }',
        )
        if isinstance(value, dict) and not all(
            k in ("ja", "en") and isinstance(v, str) for k, v in value.items()
        ):
            sub.problems.append(f'{sub.key(key)}: expected {{ ja = "...", en = "..." }}')
            value = None
        if value is not None:
            raw[key] = value
    raw["trigger"] = sub.text("trigger", "level", ("level", "edge"))
    for key, low, high in (("cooldown_days", 0, 730), ("due_in_business_days", 0, 60)):
        value = sub.number(key, None, low, high)
        if value is not None:
            raw[key] = int(value)
    segments = sub.get("segments", (list,), None, 'a list such as ["High Touch"]')
    if segments is not None:
        raw["segments"] = tuple(str(v) for v in segments)
    priority = sub.text("priority", None, PRIORITIES)
    if priority is not None:
        raw["priority"] = priority
    if "auto_close" in sub.table:
        raw["auto_close"] = sub.flag("auto_close", True)
    sub.finish()
    if name is not None and not _RULE_NAME.fullmatch(name):
        sub.problems.append(
            f"{sub.key('name')}: {name!r} must be lower case letters, digits and _ "
            "(at most 40; it becomes part of each Task's key)"
        )
        return None
    if name is None or raw["when"] is None or "subject" not in raw or "description" not in raw:
        return None
    return str(name), raw


def _phases(reader: _Reader) -> PhasesConfig:
    settings = _settings(
        reader,
        PhaseSettings(),
        {
            "onboarding_active_ratio": (0.05, 1),
            "onboarding_window_months": (1, 36),
            "renewal_window_days": (1, 366),
            "dormant_after_months": (1, 12),
            "self_running_by_month": (1, 120),
            "advocate_min_months": (0, 120),
        },
    )
    custom = reader.get("phase", (list,), None, "an array of [[phases.phase]] tables")
    preset = reader.text("preset", "custom" if custom else "lifecycle", (*PRESETS, "custom"))
    if custom and preset != "custom":
        reader.problems.append(
            f"phases.preset: {preset!r} and a [[phases.phase]] list were both given; the list "
            'replaces the preset, so delete preset (or set it to "custom")'
        )
    if preset == "custom" and not custom:
        reader.problems.append('phases.preset: "custom" needs a [[phases.phase]] list')
    if custom:
        rows = _custom_phases(reader, custom)
    else:
        rows = PRESETS[preset if preset in PRESETS else "lifecycle"](settings)
    phases = []
    for row in rows:
        try:
            phases.extend(build_phases([row]))
        except ExpressionError as error:
            reader.problems.append(str(error))
    return PhasesConfig("custom" if custom else str(preset), settings, tuple(phases))


def _custom_phases(
    reader: _Reader, items: list[Any] | None
) -> list[tuple[str, str, int | None, int | None]]:
    rows: list[tuple[str, str, int | None, int | None]] = []
    for index, item in enumerate(items or []):
        sub = _Reader(item, f"phases.phase[{index}]", reader.problems)
        name = sub.text("name", _REQUIRED)
        when = sub.text("when", "true")
        step = sub.get("step", (int,), None, "a whole number (1 = the first step)")
        expected = sub.get("expected_by_month", (int,), None, "a whole number of months")
        sub.finish()
        if not name or len(name) > 255:
            continue
        if step is not None and step < 1:
            reader.problems.append(f"phases.phase[{index}].step: {step} is below 1")
        if expected is not None and step is None:
            reader.problems.append(
                f"phases.phase[{index}].expected_by_month: only a step (a phase with "
                "step = N) can be expected by a month; overlays have none"
            )
        rows.append((str(name), str(when), step, expected))
    names = [row[0] for row in rows]
    for name in sorted({n for n in names if names.count(n) > 1}):
        reader.problems.append(f"phases.phase: the name {name!r} is used twice")
    steps = [row[2] for row in rows if row[2] is not None]
    if rows and not steps:
        reader.problems.append(
            "phases.phase: at least one phase needs a step (step = 1 for the first)"
        )
    for step in sorted({n for n in steps if steps.count(n) > 1}):
        reader.problems.append(f"phases.phase: two phases have step = {step}")
    return rows


def _features(reader: _Reader, items: list[Any] | None) -> tuple[FeatureDefinition, ...]:
    definitions: list[FeatureDefinition] = []
    for index, item in enumerate(items or []):
        sub = _Reader(item, f"features[{index}]", reader.problems)
        name = sub.text("name", _REQUIRED)
        text = sub.text("expression", _REQUIRED)
        sub.finish()
        if name is None or text is None:
            continue
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            reader.problems.append(
                f"features[{index}].name: {name!r} must be lower case letters, digits and "
                "_ (it becomes a column name in expressions)"
            )
            continue
        if any(d.name == name for d in definitions):
            reader.problems.append(f"features[{index}].name: {name!r} is defined twice")
            continue
        try:
            definitions.append(
                FeatureDefinition(name, compile_expression(f"features.{name}", text))
            )
        except ExpressionError as error:
            reader.problems.append(str(error))
    return tuple(definitions)


def _renewal(reader: _Reader) -> RenewalConfig:
    settings = _settings(
        reader,
        RenewalSettings(),
        {
            "plan_days": (1, 730),
            "default_approval_lead_days": (0, 365),
            "quote_days": (0, 180),
            "proposal_days": (0, 180),
            "value_review_days": (0, 180),
        },
    )
    axes: list[Axis] = []
    for name, default_levels in DEFAULT_AXES:
        sub = reader.sub(name)
        levels = tuple(sub.table.items()) if sub.table else default_levels
        for level, text in levels:
            sub.seen.add(level)
            if not isinstance(text, str):
                reader.problems.append(
                    f"renewal.{name}.{level}: expected a condition (an expression in quotes)"
                )
        try:
            axes.extend(build_axes(((name, tuple((k, str(v)) for k, v in levels)),)))
        except ExpressionError as error:
            reader.problems.append(str(error))
    raw = reader.get("strategy", (list,), None, "an array of [[renewal.strategy]] tables")
    rows: list[tuple[str, str]] = []
    for index, item in enumerate(raw or []):
        sub = _Reader(item, f"renewal.strategy[{index}]", reader.problems)
        name = sub.text("name", _REQUIRED)
        when = sub.text("when", "true")
        sub.finish()
        if name:
            rows.append((str(name), str(when)))
    strategies: list[Strategy] = []
    for row in rows or list(DEFAULT_STRATEGIES):
        try:
            strategies.extend(build_strategies((row,)))
        except ExpressionError as error:
            reader.problems.append(str(error))
    return RenewalConfig(settings, tuple(axes), tuple(strategies))


def _check_columns(
    health: HealthConfig,
    features: tuple[FeatureDefinition, ...],
    phases: PhasesConfig,
    renewal: RenewalConfig,
    tasks: TaskSettings,
    problems: list[str],
) -> None:
    """Every column an expression names exists: a feature sees the built-in features and
    the admin features above it; a phase condition also sees the health results; a renewal
    axis also sees the phase; a strategy also sees the axes."""
    known = [*ACCOUNT_INPUTS, *FEATURE_COLUMNS]
    admin = [d.name for d in features]
    for index, measure in enumerate(health.measures):
        if measure.name not in known + admin:
            problems.append(
                f"health.measures[{index}].name: {measure.name!r} is not a feature; the "
                f"features are: {', '.join(sorted(known + admin))}"
            )
    for definition in features:
        if definition.name in known:
            problems.append(
                f"features.{definition.name}: a built-in feature has this name; pick another"
            )
            continue
        _check(known, [definition.expression], problems)
        known.append(definition.name)
    known += HEALTH_COLUMNS
    _check(known, [p.when for p in phases.phases], problems)
    known += PHASE_COLUMNS
    _check(known, [e for axis in renewal.axes for _, e in axis.levels], problems)
    known += AXIS_NAMES
    _check(known, [s.when for s in renewal.strategies], problems)
    known += [c for c in RENEWAL_COLUMNS if c not in known]
    _check(known, [r.when for r in tasks.rules], problems)
    for rule in tasks.rules:
        for template in (*rule.subject.values(), *rule.description.values()):
            unknown = sorted(template.names - set(known))
            if unknown:
                problems.append(
                    f"{template.rule}: unknown field {{{unknown[0]}}}; the fields are the "
                    f"columns: {', '.join(sorted(known))}"
                )


def _check(known: list[str], expressions: list[Expression], problems: list[str]) -> None:
    for expression in expressions:
        try:
            expression.check_columns(known)
        except ExpressionError as error:
            problems.append(str(error))


def _settings(reader: _Reader, defaults: Any, ranges: dict[str, tuple[float, float]]) -> Any:
    """A settings dataclass read from its table: numbers within `ranges`, texts as given,
    each key defaulting to the dataclass's own value."""
    values: dict[str, Any] = {}
    for name in defaults.__dataclass_fields__:
        default = getattr(defaults, name)
        if name in ranges:
            low, high = ranges[name]
            values[name] = type(default)(reader.number(name, default, low, high))
        elif isinstance(default, str):
            values[name] = str(reader.text(name, default))
        else:  # a new numeric setting needs its allowed range here
            raise TypeError(f"{type(defaults).__name__}.{name}: no range to read it with")
    return type(defaults)(**values)


def _history(reader: _Reader, base: Path) -> HistoryConfig:
    backend = str(reader.text("backend", "duckdb", ("duckdb", "bigquery")))
    path = reader.text("path", "cs-sync-history.duckdb")
    project = reader.text("project")
    dataset = reader.text("dataset")
    location = reader.text("location")
    credentials = reader.text("credentials_file")
    limit = reader.number("maximum_bytes_billed", 10_000_000_000, 10_000_000)
    if backend == "bigquery":
        for name, value in (("project", project), ("dataset", dataset)):
            if not value:
                reader.problems.append(
                    f'history.{name}: missing; backend = "bigquery" needs the project and '
                    "dataset that hold cs-sync's history tables"
                )
        if dataset and not re.fullmatch(r"[A-Za-z0-9_]{1,1024}", dataset):
            reader.problems.append(
                f"history.dataset: {dataset!r} is not a dataset id (letters, digits, _)"
            )
    return HistoryConfig(
        path=_resolve(base, path) if path and backend == "duckdb" else None,
        backend=backend,
        project=project,
        dataset=dataset,
        location=location,
        credentials_file=_resolve(base, credentials) if credentials else None,
        maximum_bytes_billed=int(limit),
    )


def _backtest(reader: _Reader, grades: list[str]) -> BacktestSettings:
    defaults = BacktestSettings()
    churn = _text_list(reader, "churn", defaults.churn)
    for kind in churn:
        if kind not in CHURN_EVENTS:
            reader.problems.append(
                f"backtest.churn: {kind!r} is not one of {', '.join(CHURN_EVENTS)}"
            )
    at_risk = _text_list(reader, "at_risk_grades", ())
    for grade in at_risk:
        if grades and grade not in grades:
            reader.problems.append(
                f"backtest.at_risk_grades: {grade!r} is not a grade in health.grades "
                f"({', '.join(grades)})"
            )
    return BacktestSettings(
        horizon_days=int(reader.number("horizon_days", defaults.horizon_days, 7, 1095)),
        months=int(reader.number("months", defaults.months, 1, 120)),
        churn=tuple(k for k in churn if k in CHURN_EVENTS) or defaults.churn,
        at_risk_grades=at_risk,
        alert_window_days=int(
            reader.number("alert_window_days", defaults.alert_window_days, 1, 365)
        ),
    )


def _worker(reader: _Reader, base: Path, run_timezone: str, problems: list[str]) -> WorkerConfig:
    schedule = str(reader.text("schedule", "0 7 * * 1-5"))
    if not croniter.is_valid(schedule):
        problems.append(
            f"worker.schedule: {schedule!r} is not a cron expression (five fields: minute hour "
            'day-of-month month day-of-week, e.g. "0 7 * * 1-5" for 07:00 on weekdays)'
        )
    timezone = str(reader.text("timezone", run_timezone))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f'worker.timezone: {timezone!r} is not a time zone name such as "Asia/Tokyo"'
        )
    return WorkerConfig(
        schedule=schedule,
        timezone=timezone,
        lock_file=_resolve(base, str(reader.text("lock_file", "cs-sync.lock"))),
        status_file=_resolve(base, str(reader.text("status_file", "cs-sync-status.json"))),
        json_logs=reader.flag("json_logs", False),
    )


def load_config(path: str | Path) -> Config:
    """Load and validate; raises ConfigError listing every problem found."""
    config_path = Path(path)
    try:
        text = config_path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            str(config_path),
            [f"cannot read the file ({exc.strerror}); copy config.example.toml and edit it"],
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(config_path), [f"not valid TOML: {exc}"]) from None
    return parse_config(data, config_path)


def parse_config(data: dict[str, Any], config_path: Path) -> Config:
    problems: list[str] = []
    base = config_path.resolve().parent
    root = _Reader(data, "", problems)
    run = root.sub("run")
    language = run.text("language", "ja", ("ja", "en"))
    timezone = run.text("timezone", "Asia/Tokyo")
    holiday_country = run.text("holiday_country", "JP")
    if holiday_country:
        import holidays

        if holiday_country not in holidays.list_supported_countries():
            problems.append(
                f"run.holiday_country: {holiday_country!r} is not a country code "
                'the holidays package knows (ISO 3166 alpha-2, e.g. "JP"); '
                'use "" for none'
            )
            holiday_country = None
    company_closed = _text_list(run, "company_closed", YEAR_END_BREAK)
    for text in company_closed:
        if not _month_day(text):
            problems.append(f'run.company_closed: {text!r} is not a month-day such as "12-29"')
    run.finish()
    sf_reader = root.sub("salesforce")
    salesforce = _salesforce(sf_reader, base)
    sf_reader.finish()
    usage_reader = root.sub("usage")
    usage = _usage(usage_reader, base)
    usage_reader.finish()
    health_reader = root.sub("health")
    health = _health(health_reader)
    health_reader.finish()
    phases_reader = root.sub("phases")
    phases = _phases(phases_reader)
    phases_reader.finish()
    features = _features(
        root, root.get("features", (list,), None, "an array of [[features]] tables")
    )
    renewal_reader = root.sub("renewal")
    renewal = _renewal(renewal_reader)
    renewal_reader.finish()
    tasks_reader = root.sub("tasks")
    tasks = _tasks(tasks_reader, phases.settings)
    tasks_reader.finish()
    _check_columns(health, features, phases, renewal, tasks, problems)
    dash_reader = root.sub("dashboard")
    local_dir = dash_reader.text("local_dir", "dashboard")
    spreadsheet_id = dash_reader.text("spreadsheet_id")
    if spreadsheet_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{10,}", spreadsheet_id):
        problems.append(
            f"dashboard.spreadsheet_id: {spreadsheet_id!r} is not a spreadsheet id (the part "
            "of its address between /d/ and /edit)"
        )
    dash_credentials = dash_reader.text("credentials_file")
    template = dash_reader.text("looker_template_id")
    dash_reader.finish()
    history_reader = root.sub("history")
    history = _history(history_reader, base)
    history_reader.finish()
    brakes_reader = root.sub("brakes")
    brakes = _settings(
        brakes_reader,
        BrakesConfig(),
        {
            "max_grade_change_share": (0.0, 1.0),
            "max_phase_change_share": (0.0, 1.0),
            "max_new_tasks": (0, 1_000_000),
            "min_accounts": (0, 1_000_000),
        },
    )
    brakes_reader.finish()
    backtest_reader = root.sub("backtest")
    backtest = _backtest(backtest_reader, [g for g, _ in health.grades])
    backtest_reader.finish()
    worker_reader = root.sub("worker")
    worker = _worker(worker_reader, base, str(timezone), problems)
    worker_reader.finish()
    sandbox_reader = root.sub("sandbox")
    database = sandbox_reader.text("database")
    sandbox_reader.finish()
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f'run.timezone: {timezone!r} is not a time zone name such as "Asia/Tokyo"')
    root.finish()
    if problems:
        raise ConfigError(str(config_path), problems)
    return Config(
        path=config_path,
        language=str(language),
        timezone=str(timezone),
        salesforce=salesforce,
        usage=usage,
        health=health,
        tasks=tasks,
        dashboard=DashboardConfig(
            _resolve(base, local_dir) if local_dir else None,
            spreadsheet_id or None,
            _resolve(base, dash_credentials) if dash_credentials else None,
            template or None,
        ),
        sandbox=SandboxConfig(_resolve(base, database) if database else None),
        raw=data,
        holiday_country=holiday_country or None,
        company_closed=company_closed,
        phases=phases,
        features=features,
        renewal=renewal,
        history=history,
        brakes=brakes,
        worker=worker,
        backtest=backtest,
    )
