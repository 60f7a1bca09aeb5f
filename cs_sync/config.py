"""The one TOML configuration file, loaded into one validated, typed object.

Each table is a pydantic model declared by the layer that uses it (rules/, connectors/, or
here for the app's own: run, brakes, worker, sandbox), with its defaults and a description of
every key; `cs-sync config schema` prints them as JSON Schema. Every problem is collected and
reported at once, with its key path and line: type errors, cross-key checks, and the checks
that need several tables (expressions compiled, the columns they name). Secrets are never
read from the TOML itself: the file names an environment variable (`*_env`) or a file.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from cs_sync.config_alerts import AlertsConfig, alert_problems
from cs_sync.config_playbooks import PlaybooksFile
from cs_sync.config_report import Loc, problems_of, sentences
from cs_sync.config_rules import (
    FeatureDefinition,
    FeatureRow,
    PhasesConfig,
    PhasesFile,
    RenewalConfig,
    RenewalFile,
    TasksFile,
    compile_rules,
)
from cs_sync.connectors.output_settings import DashboardConfig, HistoryConfig
from cs_sync.connectors.settings import SalesforceConfig
from cs_sync.connectors.usage_settings import (
    USAGE_SOURCES,
    SurveysConfig,
    UsageConfig,
    metrics_of,
)
from cs_sync.errors import ConfigError
from cs_sync.rules.backtest import BacktestSettings
from cs_sync.rules.health import HealthConfig
from cs_sync.rules.playbooks import PlaybookSettings
from cs_sync.rules.tasks import TaskSettings
from cs_sync.settings import Between, ConfigPath, OptionalPath, Settings, Texts
from cs_sync.targets import target_problems

# 年末年始: most Japanese companies close from Dec 29 to Jan 3 (Jan 1 is a public holiday).
YEAR_END_BREAK = ("12-29", "12-30", "12-31", "01-02", "01-03")


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'{name!r} is not a time zone name such as "Asia/Tokyo"') from None
    return name


def _country(code: str) -> str:
    import holidays

    if code and code not in holidays.list_supported_countries():
        raise ValueError(
            f"{code!r} is not a country code the holidays package knows (ISO 3166 alpha-2, "
            'e.g. "JP"); use "" for none'
        )
    return code


def _month_days(days: tuple[str, ...]) -> tuple[str, ...]:
    for text in days:
        match = re.fullmatch(r"(\d\d)-(\d\d)", text)
        try:
            date(2024, int(match.group(1)), int(match.group(2))) if match else date(1, 13, 1)
        except ValueError:
            raise ValueError(f'{text!r} is not a month-day such as "12-29"') from None
    return days


def _cron(text: str) -> str:
    if not croniter.is_valid(text):
        raise ValueError(
            f"{text!r} is not a cron expression (five fields: minute hour day-of-month month "
            'day-of-week, e.g. "0 7 * * 1-5" for 07:00 on weekdays)'
        )
    return text


TimeZone = Annotated[str, AfterValidator(_time_zone)]


class RunConfig(Settings):
    """[run]: the language of the texts cs-sync writes, and what "today" and a business day
    are."""

    language: Literal["ja", "en"] = "ja"
    """Language of health reasons and task text."""
    timezone: TimeZone = "Asia/Tokyo"
    """Time zone that decides "today" for a run (an IANA name)."""
    holiday_country: Annotated[str, AfterValidator(_country)] = "JP"
    """Public holidays skipped by business-day counts (ISO code; "" for none)."""
    company_closed: Annotated[Texts, AfterValidator(_month_days)] = YEAR_END_BREAK
    """The company's own closed days, MM-DD every year (default: the Japanese year-end
    break)."""
    fiscal_year_start_month: Annotated[int, Between(1, 12)] = 4
    """The month your fiscal year starts (4: April, as most Japanese companies): the
    dashboard's fiscal quarters and years (FY2026 = April 2026 to March 2027)."""


class BrakesConfig(Settings):
    """[brakes]: refuse to apply a plan that changes too much at once (exit 4) unless
    --force."""

    max_grade_change_share: Annotated[float, Between(0.0, 1.0)] = 0.25
    """Largest share of the accounts that already had a grade allowed to change grade."""
    max_phase_change_share: Annotated[float, Between(0.0, 1.0)] = 0.25
    """Largest share of the accounts that already had a phase allowed to change phase."""
    max_new_tasks: Annotated[int, Between(0, 1_000_000)] = 500
    """Most new Tasks one run may create (after tasks.max_per_run and max_per_owner)."""
    min_accounts: Annotated[int, Between(0, 1_000_000)] = 10
    """The share brakes fire only when at least this many accounts change."""


class WorkerConfig(Settings):
    """[worker]: when `cs-sync worker` runs, and the files it shares with other processes."""

    schedule: Annotated[str, AfterValidator(_cron)] = "0 7 * * 1-5"
    """Cron schedule: minute hour day-of-month month day-of-week."""
    timezone: TimeZone | None = None
    """The schedule's time zone (default: run.timezone, filled in when the file is loaded)."""
    lock_file: ConfigPath = Field(Path("cs-sync.lock"), validate_default=True)
    """Held while a run writes; a second run started meanwhile is skipped (exit 5)."""
    status_file: ConfigPath = Field(Path("cs-sync-status.json"), validate_default=True)
    """The worker's state for a monitor, replaced whole."""
    json_logs: bool = False
    """One JSON object a log line on stderr (same as --json-logs)."""


class LocalCopyConfig(Settings):
    """[local_copy]: the Salesforce records a run reads, kept in a local file and brought up
    to date each run with only what changed (SystemModstamp), with a full read now and
    then."""

    path: OptionalPath = Field("cs-sync-copy.duckdb", validate_default=True)
    """The copy's DuckDB file ("": no copy, every run reads every record). It also keeps
    what the dashboard's Sheets tabs and the BigQuery history's tables hold, so a run sends
    them only what changed, and the usage source's last read, so an unchanged file, Sheets
    tab or BigQuery table is not read again. Keep it on storage that survives between runs;
    deleting it only makes the next run read and write whole."""
    full_read_hours: Annotated[float, Between(1, 24 * 31)] = 24
    """A run reads every record again when the last full read is this old (and with
    `cs-sync run --full`): it catches what no SystemModstamp shows, such as a change of a
    record the account filter reaches through a parent."""
    overlap_s: Annotated[int, Between(0, 3600)] = 300
    """How far before its watermark a read of changes looks: a transaction that committed
    after the last run read, with an earlier SystemModstamp, is still seen."""


class SandboxConfig(Settings):
    """[sandbox]: only for the local stand-in of Salesforce and Google used by the demo and
    the tests. With `url` set, every Salesforce and Google call goes there."""

    url: str | None = None
    """The sandbox's address, e.g. "http://127.0.0.1:8765"; unset: the real services."""
    database: OptionalPath = None
    """The database file `cs-sync sandbox serve` serves."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        url = data.get("url")
        if isinstance(url, str) and not re.fullmatch(
            r"http://(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+/?", url
        ):
            return [f'url: {url!r} is not a loopback address such as "http://127.0.0.1:8765"']
        return []


class ConfigFile(Settings):
    """The whole configuration file. Paths are relative to the file."""

    run: RunConfig = RunConfig()
    """The language cs-sync writes in, the time zone of "today", and business days."""
    salesforce: SalesforceConfig
    """The org: how cs-sync logs in, what it reads and which fields it writes."""
    usage: UsageConfig
    """Where product usage comes from (a file, a Google Sheets tab or BigQuery)."""
    surveys: SurveysConfig = SurveysConfig()
    """NPS or CSAT answers per contact (a Contact field or a CSV file)."""
    health: HealthConfig = HealthConfig()
    """The health score's measures, the grades and the at-risk grades."""
    phases: PhasesFile = PhasesFile()
    """The lifecycle phase: a preset or your own phases."""
    features: Annotated[tuple[FeatureRow, ...], Field(strict=False)] = ()
    """Your own features: columns computed from the others ([[features]])."""
    renewal: RenewalFile = RenewalFile()
    """The renewal strategy and the plan counted back from the renewal date."""
    tasks: TasksFile = TasksFile()
    """Follow-up Tasks: the presets, your own rules and the caps."""
    playbooks: PlaybooksFile = PlaybooksFile()
    """Playbooks: sequences of dated steps (renewal plans per strategy, phase delays)."""
    alerts: AlertsConfig = AlertsConfig()
    """Alerts: grade drops, renewals at risk, sponsors leaving and failed runs, posted to
    Slack, Microsoft Teams or the Account's Chatter feed."""
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    """The KPI dashboard: local files and a Google Sheets spreadsheet."""
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    """Where each run's snapshot is kept: a DuckDB file or BigQuery."""
    brakes: BrakesConfig = BrakesConfig()
    """When `cs-sync run` refuses to write because too much would change at once."""
    backtest: BacktestSettings = BacktestSettings()
    """`cs-sync backtest`: past dates, what counts as churn, the alert judged."""
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    """`cs-sync worker`: the schedule, the lock and the status file."""
    local_copy: LocalCopyConfig = Field(default_factory=LocalCopyConfig)
    """The local copy of the records a run reads, kept current by reading what changed."""
    sandbox: SandboxConfig = SandboxConfig()
    """Only for the local sandbox of the demo and the tests."""


# ---------------------------------------------------------------- the loaded configuration
@dataclass(frozen=True)
class Config:
    """The validated file, with its expressions compiled into the rules' own objects."""

    path: Path
    file: ConfigFile
    phases: PhasesConfig
    renewal: RenewalConfig
    tasks: TaskSettings
    features: tuple[FeatureDefinition, ...] = ()
    playbooks: PlaybookSettings = field(default_factory=PlaybookSettings)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def names_any(self, columns: tuple[str, ...]) -> bool:
        """Whether a measure, a feature or a condition names one of `columns` (so the records
        they come from are worth reading)."""
        wanted = set(columns)
        if any(m.name in wanted for m in self.health.every_measure()):
            return True
        expressions = [d.expression for d in self.features if d.expression is not None]
        expressions += [p.when for p in self.phases.phases]
        expressions += [e for axis in self.renewal.axes for _, e in axis.levels]
        expressions += [s.when for s in self.renewal.strategies]
        expressions += [r.when for r in self.tasks.rules]
        expressions += [p.when for p in self.playbooks.playbooks]
        templates = [
            t for r in self.tasks.rules for t in (*r.subject.values(), *r.description.values())
        ]
        templates += [
            t
            for p in self.playbooks.playbooks
            for s in p.steps
            for t in (*s.subject.values(), *s.description.values())
        ]
        return any(wanted & e.names for e in expressions) or any(
            wanted & t.names for t in templates
        )

    @property
    def language(self) -> str:
        return self.file.run.language

    @property
    def timezone(self) -> str:
        return self.file.run.timezone

    @property
    def fiscal_start(self) -> int:
        """The month the fiscal year starts (run.fiscal_year_start_month)."""
        return self.file.run.fiscal_year_start_month

    @property
    def holiday_country(self) -> str | None:
        return self.file.run.holiday_country or None

    @property
    def company_closed(self) -> tuple[str, ...]:
        return self.file.run.company_closed

    @property
    def salesforce(self) -> SalesforceConfig:
        return self.file.salesforce

    @property
    def usage(self) -> UsageConfig:
        return self.file.usage

    @property
    def surveys(self) -> SurveysConfig:
        return self.file.surveys

    @property
    def health(self) -> HealthConfig:
        return self.file.health

    @property
    def dashboard(self) -> DashboardConfig:
        return self.file.dashboard

    @property
    def history(self) -> HistoryConfig:
        return self.file.history

    @property
    def alerts(self) -> AlertsConfig:
        return self.file.alerts

    @property
    def brakes(self) -> BrakesConfig:
        return self.file.brakes

    @property
    def backtest(self) -> BacktestSettings:
        return self.file.backtest

    @property
    def local_copy(self) -> LocalCopyConfig:
        return self.file.local_copy

    @property
    def worker(self) -> WorkerConfig:
        return self.file.worker

    @property
    def sandbox(self) -> SandboxConfig:
        return self.file.sandbox

    def replace_sections(self, **sections: Any) -> Config:
        """A copy with whole tables replaced (tests, benchmarks and doctor's lenient read)."""
        return Config(
            self.path,
            self.file.model_copy(update=sections),
            self.phases,
            self.renewal,
            self.tasks,
            self.features,
            self.playbooks,
            self.raw,
        )

    @property
    def version_hash(self) -> str:
        """A short hash of the whole configuration, stored with every history row, so that
        a score can be traced to the rules that made it."""
        canonical = json.dumps(self.raw, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def config_schema() -> dict[str, Any]:
    """The configuration file's JSON Schema (for editors that validate TOML as it is typed)."""
    schema = ConfigFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cs-sync configuration"
    return schema


@cache
def _section_types() -> dict[str, TypeAdapter[Any]]:
    hints = get_type_hints(ConfigFile, include_extras=True)
    return {name: TypeAdapter(hints[name]) for name in ConfigFile.model_fields}


def _usage_error(error: dict[str, Any]) -> dict[str, Any]:
    """A [usage] error without the source's tag in its location; an unknown source named."""
    if error["type"] == "usage_source":
        given = error["input"].get("source") if isinstance(error["input"], dict) else None
        sources = ", ".join(repr(s) for s in USAGE_SOURCES)
        message = f"source: {given!r} is not one of {sources}"
        return {"type": "value_error", "loc": (), "ctx": {"error": message}}
    return {**error, "loc": error["loc"][1:]}


def _unknown_metrics(
    features: tuple[FeatureDefinition, ...], metrics: tuple[str, ...]
) -> list[str]:
    return [
        f"features.{d.name}.metric: {d.metric.metric!r} is not a usage metric; declare it in "
        f"usage.metrics (the metrics read now: {', '.join(metrics)})"
        for d in features
        if d.metric is not None and d.metric.metric not in metrics
    ]


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
    return parse_config(data, config_path, text)


def parse_config(data: dict[str, Any], config_path: Path, text: str = "") -> Config:
    """Validate each table (so that one table's mistakes do not hide another's), then the
    checks across tables; every problem in one ConfigError."""
    context = {"base": config_path.resolve().parent}
    found: list[tuple[Loc, str]] = []
    sections: dict[str, Any] = {}
    for name, adapter in _section_types().items():
        value = data.get(name, [] if name == "features" else {})
        try:
            sections[name] = adapter.validate_python(value, context=context)
        except ValidationError as error:
            errors: list[Any] = list(error.errors(include_url=False))
            if name == "usage":  # the first step of a usage error is the source's tag
                errors = [_usage_error(e) for e in errors]
            found += problems_of(errors, (name,))
    for name in data:
        if name not in ConfigFile.model_fields:
            found += problems_of([{"type": "extra_forbidden", "loc": (name,)}], ())
    problems = sentences(found, text)
    compiled = compile_rules(sections, data, context, problems)
    usage = data.get("usage")
    if isinstance(usage, dict):
        problems += _unknown_metrics(compiled[3], tuple(metrics_of(usage)))
    problems += target_problems(data.get("dashboard"))
    if "history" in sections and "health" in sections:
        grades = [g for g, _ in sections["health"].grades]
        problems += alert_problems(data, sections["history"].enabled, grades)
    if problems:
        raise ConfigError(str(config_path), problems)
    worker = sections["worker"]  # the schedule's time zone defaults to the run's
    sections["worker"] = worker.model_copy(
        update={"timezone": worker.timezone or sections["run"].timezone}
    )
    file = ConfigFile.model_construct(**sections)
    return Config(config_path, file, *compiled, raw=data)
