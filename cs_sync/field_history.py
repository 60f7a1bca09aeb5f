"""Field History Tracking: the past values of the fields a backfill or a backtest scores.

Salesforce writes a row for each change of a field with history tracking on (AccountHistory,
OpportunityFieldHistory: which field, the old and the new value, when) and keeps them 18
months. Read once, they give a field's value on any past date: the old value of the first
change after that date began, or today's value when nothing changed since. A field without
history keeps today's value on every date; the backtest says so (cs_sync/backtest.py).
The history is read by extract_signals.read_field_history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from cs_sync.config import Config

# The object, its history object, the field naming the record, the table's id column.
HISTORY_OBJECTS = {
    "Account": ("AccountHistory", "AccountId", "account_id"),
    "Opportunity": ("OpportunityFieldHistory", "OpportunityId", "opportunity_id"),
}
# Account columns that, without history, read today's value on every past date ([salesforce.
# fields] names their API fields; the team's own inputs join them). ARR has its own timeline,
# the renewal date comes from the opportunities, cs-sync's outputs from the history store.
TODAY_VALUED = ("seats", "segment", "budget_status", "sentiment", "approval_lead_days")
OPPORTUNITY_TRACKED = {"stage": "StageName", "amount": "Amount"}
HISTORY_COLUMNS = ["object", "record_id", "column", "changed_at", "old", "new"]


@dataclass
class FieldHistory:
    """The tracked changes read, oldest first, and the first change seen per column."""

    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))
    since: dict[str, date] = field(default_factory=dict)  # column -> its first change read
    problems: list[str] = field(default_factory=list)  # history objects that could not be read

    def columns(self) -> frozenset[str]:
        """The columns whose past values come from their history."""
        return frozenset(self.since)


def tracked_columns(config: Config) -> dict[str, dict[str, str]]:
    """Per object, the table columns worth their history → their API field names."""
    fields = config.salesforce.fields
    account = {column: str(getattr(fields, column)) for column in TODAY_VALUED}
    return {"Account": account | dict(fields.own_inputs()), "Opportunity": OPPORTUNITY_TRACKED}


def values_on(
    table: pd.DataFrame, history: FieldHistory | None, sobject: str, day: date
) -> pd.DataFrame:
    """`table` (accounts or opportunities, as read today) with each tracked column as it
    stood when `day` began: the old value of the first change from that day on."""
    if history is None or history.changes.empty:
        return table
    id_column = HISTORY_OBJECTS[sobject][2]
    changes = history.changes
    later = changes[(changes["object"] == sobject) & (changes["changed_at"] >= pd.Timestamp(day))]
    if later.empty:
        return table
    first = later.drop_duplicates(["record_id", "column"], keep="first")  # sorted by time
    table = table.copy()
    for column, rows in first.groupby("column", sort=False):
        if column not in table:
            continue
        before = pd.Series(rows["old"].to_numpy(), index=rows["record_id"].to_numpy())
        ids = table[id_column]
        hit = ids.isin(before.index).to_numpy()
        values = table[column].astype(object)
        values[hit] = ids[hit].map(before).to_numpy()
        table[column] = _as_dtype(values, table[column])
    return table


def _as_dtype(values: pd.Series, like: pd.Series) -> pd.Series:
    """Values back in the column's own type (a number column stays numeric)."""
    if pd.api.types.is_bool_dtype(like):
        return values.fillna(False).astype(bool)
    if pd.api.types.is_datetime64_any_dtype(like):
        return pd.to_datetime(values, errors="coerce")
    if pd.api.types.is_numeric_dtype(like):  # a Bulk job's history values come as text
        numbers = pd.to_numeric(values, errors="coerce")
        return numbers if numbers.isna().any() else numbers.astype(like.dtype)
    return values
