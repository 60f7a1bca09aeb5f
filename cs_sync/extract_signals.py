"""Extract the signals beyond usage: CSM activity (completed Tasks, past Events), support
Cases and survey answers (a Contact field, a CSV file or a Sheets tab), one query per object,
each record reduced to what the rules count; and what `doctor` says of their settings. For a
backfill or a backtest, the tracked fields' history too (cs_sync/field_history.py).

The picklist values and fields named in config are checked against the org's describe first,
so a value or field the org does not have is named by its setting instead of silently
matching nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, timedelta
from functools import partial

import pandas as pd

from cs_sync.config import Config
from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.connectors.surveys_csv import read_survey_csv, validate_answers
from cs_sync.errors import CsSyncError, SetupError, TransientError
from cs_sync.field_history import (
    HISTORY_COLUMNS,
    HISTORY_OBJECTS,
    FieldHistory,
    tracked_columns,
)
from cs_sync.incremental import CopiedObject
from cs_sync.plan import Problem
from cs_sync.rules.activity import ACTIVITY_COLUMNS as ACTIVITY_FEATURES
from cs_sync.rules.activity import CASE_COLUMNS as CASE_FEATURES
from cs_sync.rules.arrays import owned, owned_columns
from cs_sync.rules.surveys import SURVEY_COLUMNS as SURVEY_FEATURES
from cs_sync.sfid import canonical_ids, try_to18

ACTIVITY_COLUMNS = ["account_id", "day", "meeting"]
CASE_FIELDS = {
    "AccountId": "reference",
    "CreatedDate": "datetime",
    "ClosedDate": "datetime",
    "IsClosed": "boolean",
    "Priority": "picklist",
    "Status": "picklist",
    "IsEscalated": "boolean",
}
CASE_COLUMNS = ["account_id", "created", "closed", "is_closed", "high", "escalated"]


def check_values(
    client: SalesforceClient, config: Config, sobject: str, field: str, setting: str
) -> None:
    """Every value of `setting` is one of the org's values of sobject.field."""
    wanted = _setting(config, setting)
    if not wanted:
        return
    described = client.described_fields(sobject).get(field.lower())
    if described is None:
        raise SetupError(
            f"salesforce.{setting}: the integration user cannot see {sobject}.{field}; grant "
            f"Read on {sobject} to the integration user, or set salesforce.{setting.split('.')[0]}"
            ".enabled = false"
        )
    values = [str(v["value"]) for v in described.get("picklistValues") or []]
    unknown = [v for v in wanted if v not in values]
    if unknown:
        raise SetupError(
            f"salesforce.{setting} = {list(wanted)!r}: {', '.join(map(repr, unknown))} is not a "
            f"{sobject}.{field} value in this org (its values: {', '.join(values)}). Fix it "
            f"in {config.path}"
        )


def described_objects(config: Config) -> list[str]:
    """The objects whose describe the signals' checks read (their picklist values and
    fields), so that a run can ask for them all at once."""
    wanted = []
    if config.salesforce.activity.enabled and config.names_any(ACTIVITY_FEATURES):
        wanted += ["Event"] if config.salesforce.activity.meeting_types else []
        wanted += ["Task"] if config.salesforce.activity.task_types else []
    if config.salesforce.cases.enabled and config.names_any(CASE_FEATURES):
        wanted.append("Case")
    if config.surveys.source == "contact_field" and config.names_any(SURVEY_FEATURES):
        wanted.append("Contact")
    return wanted


def _setting(config: Config, setting: str) -> tuple[str, ...]:
    table, key = setting.split(".")
    return tuple(getattr(getattr(config.salesforce, table), key))


def _window_start(days: int, as_of: date, since: date | None) -> date:
    """The first day a signal's window reaches back to: `days` before the run date, or before
    `since`, the earliest date a backfill scores."""
    return min(since or as_of, as_of) - timedelta(days=days)


def _dated_from(rows: pd.DataFrame, start: date) -> pd.Series:
    return rows["AccountId"].notna() & (rows["ActivityDate"].fillna("") >= start.isoformat())


def _dated_by(rows: pd.DataFrame, as_of: date) -> pd.Series:
    return rows["ActivityDate"].fillna("9999") <= as_of.isoformat()


def _completed(rows: pd.DataFrame, start: date, key: str, types: tuple[str, ...]) -> pd.Series:
    kept = _dated_from(rows, start) & rows["IsClosed"].astype(bool) & rows[key].isna()
    if types:
        wanted = {t.lower() for t in types}
        kept &= rows["Type"].fillna("").astype(str).str.lower().isin(wanted)
    return kept


def activity_reads(
    client: SalesforceClient, config: Config, as_of: date, since: date | None = None
) -> list[CopiedObject]:
    """Touches on each account within salesforce.activity.days of the run date (or of
    `since`): completed Tasks (not cs-sync's own follow-ups) and Events, dated up to the run
    date (kept from the window's start on, seen up to the run date: a meeting booked for next
    week enters the window without a change of its own). Read only when a measure or
    condition names an activity feature."""
    settings = config.salesforce.activity
    if not settings.enabled or not config.names_any(ACTIVITY_FEATURES):
        return []
    check_values(client, config, "Event", "Type", "activity.meeting_types")
    check_values(client, config, "Task", "Type", "activity.task_types")
    start = _window_start(settings.days, as_of, since)
    key = config.salesforce.fields.task_key
    types = tuple(settings.task_types)
    seen_by = partial(_dated_by, as_of=as_of)
    tasks = CopiedObject(
        name="activity_tasks",
        sobject="Task",
        what="completed Tasks",
        columns={
            "Id": "id",
            "AccountId": "reference",
            "ActivityDate": "date",
            "IsClosed": "boolean",
            key: "string",
            **({"Type": "picklist"} if types else {}),
        },
        condition=soql(
            "IsClosed = true AND AccountId != null AND ActivityDate >= {start} AND "
            + f"{key} = null"
            + (" AND Type IN {types}" if types else ""),
            start=start,
            types=list(types),
        ),
        changes="",
        keep=partial(_completed, start=start, key=key, types=types),
        view=seen_by,
        as_of_bound=True,
        settings=(settings.days, types),
    )
    events = CopiedObject(
        name="events",
        sobject="Event",
        what="Events",
        columns={"Id": "id", "AccountId": "reference", "ActivityDate": "date", "Type": "picklist"},
        condition=soql("AccountId != null AND ActivityDate >= {start}", start=start),
        changes="",
        keep=partial(_dated_from, start=start),
        view=seen_by,
        as_of_bound=True,
        settings=(settings.days,),
    )
    return [tasks, events]


def activity_from(tasks: pd.DataFrame, events: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The activity table the rules count: a row per touch, meetings marked."""
    meeting_types = set(config.salesforce.activity.meeting_types)
    meeting = (
        events["Type"].isin(meeting_types)
        if meeting_types
        else pd.Series(True, index=events.index, dtype=bool)
    )
    frame = pd.DataFrame(
        {
            "account_id": [*tasks["AccountId"], *events["AccountId"]],
            "day": [*tasks["ActivityDate"], *events["ActivityDate"]],
            "meeting": [False] * len(tasks) + list(meeting),
        },
        columns=ACTIVITY_COLUMNS,
    )
    frame["account_id"] = canonical_ids(frame["account_id"])
    return frame


def _case_kept(rows: pd.DataFrame, start: date) -> pd.Series:
    moment = pd.Timestamp(start.isoformat(), tz=UTC)
    created = pd.to_datetime(rows["CreatedDate"], utc=True, errors="coerce") >= moment
    closed = pd.to_datetime(rows["ClosedDate"], utc=True, errors="coerce") >= moment
    return rows["AccountId"].notna() & (~rows["IsClosed"].astype(bool) | created | closed)


def case_reads(
    client: SalesforceClient, config: Config, as_of: date, since: date | None = None
) -> list[CopiedObject]:
    """Open Cases, and the Cases opened or closed within salesforce.cases.days of the run
    date (or of `since`); read only when a measure or condition names a case feature."""
    settings = config.salesforce.cases
    if not settings.enabled or not config.names_any(CASE_FEATURES):
        return []
    check_values(client, config, "Case", "Priority", "cases.high_priorities")
    check_values(client, config, "Case", "Status", "cases.escalated_statuses")
    start = _window_start(settings.days, as_of, since)
    moment = f"{start.isoformat()}T00:00:00Z"
    return [
        CopiedObject(
            name="cases",
            sobject="Case",
            what="Cases",
            columns={"Id": "id", **CASE_FIELDS},
            condition=f"AccountId != null AND (IsClosed = false OR CreatedDate >= {moment} "
            f"OR ClosedDate >= {moment})",
            changes="",
            keep=partial(_case_kept, start=start),
            as_of_bound=True,
            settings=(settings.days,),
        )
    ]


def cases_from(rows: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The case table the rules count: when each was opened and closed, high or escalated."""
    settings = config.salesforce.cases
    high, escalated = set(settings.high_priorities), set(settings.escalated_statuses)
    return pd.DataFrame(
        {
            "account_id": canonical_ids(rows["AccountId"]),
            **owned_columns(rows, created="CreatedDate", closed="ClosedDate", is_closed="IsClosed"),
            "high": rows["Priority"].isin(high).to_numpy(),
            "escalated": (rows["IsEscalated"] | rows["Status"].isin(escalated)).to_numpy(),
        },
        columns=CASE_COLUMNS,
    )


SURVEY_COLUMNS = ["account_id", "contact_id", "day", "score"]


def check_survey_fields(client: SalesforceClient, config: Config) -> list[str]:
    """The Contact fields surveys.contact_field and date_field, each visible to the
    integration user (else a SetupError naming the setting)."""
    surveys = config.surveys
    seen = client.described_fields("Contact")
    named = [(k, getattr(surveys, k)) for k in ("contact_field", "date_field")]
    for key, name in named:
        if name and name.lower() not in seen:
            raise SetupError(
                f"surveys.{key} = {name!r}: Contact has no such field that the integration "
                f"user can see. Correct it in {config.path}, or grant the integration user "
                "Read on it in a permission set"
            )
    return [name for _, name in named if name]


def signal_checks(client: SalesforceClient, config: Config) -> list[tuple[str, str | None]]:
    """What `doctor` says of the signals beyond usage: (name, None when fine, else what is
    wrong), for each one the configuration reads."""
    checks: list[tuple[str, list[tuple[str, str, str]]]] = []
    if config.salesforce.activity.enabled and config.names_any(ACTIVITY_FEATURES):
        checks.append(
            (
                "activity (Task, Event)",
                [
                    ("Event", "Type", "activity.meeting_types"),
                    ("Task", "Type", "activity.task_types"),
                ],
            )
        )
    if config.salesforce.cases.enabled and config.names_any(CASE_FEATURES):
        checks.append(
            (
                "support cases (Case)",
                [
                    ("Case", "Priority", "cases.high_priorities"),
                    ("Case", "Status", "cases.escalated_statuses"),
                ],
            )
        )
    found: list[tuple[str, str | None]] = []
    for name, values in checks:
        try:
            for sobject, field, setting in values:
                check_values(client, config, sobject, field, setting)
            found.append((name, None))
        except SetupError as error:
            found.append((name, str(error)))
    if config.surveys.source == "contact_field" and config.names_any(SURVEY_FEATURES):
        try:
            check_survey_fields(client, config)
            found.append(("surveys (Contact)", None))
        except SetupError as error:
            found.append(("surveys (Contact)", str(error)))
    return found


def _survey_rows(
    config: Config, as_of: date, since: date | None
) -> tuple[pd.DataFrame, list[str], str]:
    """Answers from the survey file, tab or table: the good rows, the bad ones, and the
    source."""
    surveys = config.surveys
    if surveys.source == "csv":
        assert surveys.path is not None  # checked when the config loads
        return (*read_survey_csv(surveys.path, surveys.scale), f"survey file {surveys.path}")
    if surveys.source == "bigquery":
        from cs_sync.connectors.surveys_bigquery import read_surveys_bigquery

        assert surveys.bigquery is not None  # checked when the config loads
        answers, bad = read_surveys_bigquery(
            surveys.bigquery,
            surveys.credentials_file,
            surveys.scale,
            surveys.months,
            as_of,
            since,
            config.timezone,
        )
        return answers, bad, f"survey query on {surveys.bigquery.table}"
    from cs_sync.connectors.google_calls import sheets_client
    from cs_sync.connectors.usage_sheets import read_tab

    client = sheets_client(
        surveys.credentials_file, config.sandbox.url, None, "surveys.credentials_file"
    )
    source = f"survey sheet {surveys.spreadsheet_id} tab {surveys.worksheet!r}"
    raw = read_tab(
        client,
        str(surveys.spreadsheet_id),
        surveys.worksheet,
        source,
        "surveys",
        "account_id, contact_id, answered and score, then one row per answer",
    )
    return (*validate_answers(raw, source, surveys.scale), source)


def read_surveys(
    config: Config, as_of: date, since: date | None = None
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Survey answers per contact from a file, tab or table (surveys.source), read only when a
    measure or condition names a survey feature; None when not read (or when they are on
    Contact: see survey_reads). Bad rows of a file, tab or table come back
    as problems. `since`: a backfill's earliest date (a table is then read back to its
    window)."""
    surveys = config.surveys
    if surveys.source not in ("csv", "sheets", "bigquery") or not config.names_any(SURVEY_FEATURES):
        return None, []  # none, or on Contact: read with the book (survey_reads)
    answers, bad, source = _survey_rows(config, as_of, since)
    return answers, [Problem("survey_row", None, f"{source} {line}; row left out") for line in bad]


def survey_reads(client: SalesforceClient, config: Config) -> list[CopiedObject]:
    """Survey answers kept on Contact (surveys.source = "contact_field"), read only when a
    measure or condition names a survey feature."""
    surveys = config.surveys
    if surveys.source != "contact_field" or not config.names_any(SURVEY_FEATURES):
        return []
    check_survey_fields(client, config)
    described = client.described_fields("Contact")
    score, day = str(surveys.contact_field), surveys.date_field or ""
    columns = {"Id": "id", "AccountId": "reference"} | {
        name: str(described[name.lower()]["type"]) for name in (score, day) if name
    }
    return [
        CopiedObject(
            name="survey_answers",
            sobject="Contact",
            what="survey answers on Contact",
            columns=columns,
            condition=f"AccountId != null AND {score} != null",
            changes="",
            keep=lambda rows: rows["AccountId"].notna() & rows[score].notna(),
        )
    ]


def surveys_from(rows: pd.DataFrame, config: Config) -> pd.DataFrame:
    score, day = str(config.surveys.contact_field), config.surveys.date_field or ""
    return pd.DataFrame(
        {
            "account_id": canonical_ids(rows["AccountId"]),
            "day": owned(rows[day]) if day else None,
            **owned_columns(rows, contact_id="Id", score=score),
        },
        columns=SURVEY_COLUMNS,
    )


# ---------------------------------------------------------------- field history


def read_field_history(
    client: SalesforceClient,
    config: Config,
    since: date,
    shape: dict[str, Callable[[pd.Series], pd.Series]] | None = None,
) -> FieldHistory:
    """Every change since `since` to the tracked columns' fields, values shaped as the
    columns read today (`shape`: column → a function of a Series, from the extract). An
    object whose history cannot be read is named in `problems`; its fields keep today's
    values."""
    frames, problems = [], []
    for sobject, (history, reference, _) in HISTORY_OBJECTS.items():
        columns = tracked_columns(config)[sobject]
        by_name = {name.lower(): column for column, name in columns.items()}
        query = soql(
            f"SELECT {reference}, Field, OldValue, NewValue, CreatedDate FROM {history} "
            f"WHERE Field IN {{names}} AND CreatedDate >= {since.isoformat()}T00:00:00Z "
            "ORDER BY CreatedDate",
            names=sorted(set(columns.values())),
        )
        try:
            # values as text from a Bulk job, typed by shape; numbers by values_on
            records = list(client.query(query, f"{sobject} field history", {}))
        except TransientError:
            raise
        except CsSyncError as error:
            problems.append(f"{history} could not be read ({error})")
            continue
        rows = [
            (
                sobject,
                try_to18(str(r.get(reference))) or r.get(reference),
                by_name.get(str(r.get("Field")).lower()),
                r.get("CreatedDate"),
                r.get("OldValue"),
                r.get("NewValue"),
            )
            for r in records
        ]
        frames.append(pd.DataFrame(rows, columns=HISTORY_COLUMNS))
    changes = pd.concat(frames, ignore_index=True) if frames else FieldHistory().changes
    changes = changes[changes["column"].notna()].copy()
    changes["changed_at"] = pd.to_datetime(
        changes["changed_at"], utc=True, format="ISO8601"
    ).dt.tz_localize(None)
    for column, shaper in (shape or {}).items():
        rows = (changes["column"] == column).to_numpy()
        if rows.any():
            for side in ("old", "new"):
                shaped = shaper(changes.loc[rows, side].reset_index(drop=True))
                changes.loc[rows, side] = pd.Series(shaped.to_numpy(), dtype=object).to_numpy()
    changes = changes.sort_values("changed_at", kind="stable").reset_index(drop=True)
    first = changes.groupby("column")["changed_at"].min()
    return FieldHistory(
        changes, {str(c): pd.Timestamp(t).date() for c, t in first.items()}, problems
    )
