"""Tracked fields read as they stood: the history rows turned into a field's value on a past
date (pure), and the same through the sandbox's AccountHistory over HTTP, as the backfill and
the backtest read it."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from cs_sync.backfill import as_of_view
from cs_sync.backtest import no_history
from cs_sync.config import load_config
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import build_session
from cs_sync.demo import DemoFolder
from cs_sync.extract import extract
from cs_sync.field_history import HISTORY_COLUMNS, FieldHistory, values_on
from cs_sync.sandbox.server import Sandbox
from cs_sync.score import timeline_of
from tests.conftest import AS_OF


def _history(*rows: tuple[str, str, str, str, object, object]) -> FieldHistory:
    changes = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    changes["changed_at"] = pd.to_datetime(changes["changed_at"])
    changes = changes.sort_values("changed_at").reset_index(drop=True)
    first = changes.groupby("column")["changed_at"].min()
    return FieldHistory(changes, {c: t.date() for c, t in first.items()})


HISTORY = _history(
    ("Account", "A", "sentiment", "2026-03-10 09:00", "Positive", "Neutral"),
    ("Account", "A", "sentiment", "2026-06-01 09:00", "Neutral", "Negative"),
    ("Account", "A", "seats", "2026-05-01 00:00", 40.0, 50.0),
    ("Opportunity", "A", "stage", "2026-02-01 00:00", "Prospecting", "Closed Won"),
)
ACCOUNTS = pd.DataFrame(
    {"account_id": ["A", "B"], "sentiment": ["Negative", "Positive"], "seats": [50.0, 20.0]}
)


def _on(day: date) -> dict[str, list[object]]:
    view = values_on(ACCOUNTS, HISTORY, "Account", day)
    return {"sentiment": view["sentiment"].tolist(), "seats": view["seats"].tolist()}


def test_a_field_reads_the_value_it_held_when_the_day_began() -> None:
    assert _on(date(2026, 3, 1)) == {"sentiment": ["Positive", "Positive"], "seats": [40.0, 20.0]}
    # a change made during the day is not yet seen that day: no leak from later that day
    assert _on(date(2026, 3, 10))["sentiment"] == ["Positive", "Positive"]
    assert _on(date(2026, 3, 11))["sentiment"] == ["Neutral", "Positive"]
    assert _on(date(2026, 5, 15)) == {"sentiment": ["Neutral", "Positive"], "seats": [50.0, 20.0]}
    assert _on(date(2026, 7, 1))["sentiment"] == ["Negative", "Positive"]  # today's value


def test_values_keep_their_column_type_and_the_table_is_not_changed() -> None:
    view = values_on(ACCOUNTS, HISTORY, "Account", date(2026, 1, 1))
    assert view["seats"].dtype == ACCOUNTS["seats"].dtype == "float64"
    assert ACCOUNTS["sentiment"].tolist() == ["Negative", "Positive"]  # a copy was changed
    assert values_on(ACCOUNTS, None, "Account", date(2026, 1, 1)) is ACCOUNTS  # no history
    # an opportunity's changes stay with the opportunities
    opportunities = pd.DataFrame({"opportunity_id": ["A"], "stage": ["Closed Won"]})
    assert values_on(opportunities, HISTORY, "Opportunity", date(2026, 1, 1))["stage"].tolist() == [
        "Prospecting"
    ]


def test_the_backfill_reads_tracked_fields_from_account_history(
    demo40: tuple[DemoFolder, Sandbox],
) -> None:
    folder, _ = demo40
    config = load_config(folder.config_path)
    client = connect(config.salesforce, build_session(config.sandbox.url))
    since = AS_OF - timedelta(days=365)
    extracted = extract(client, config, AS_OF, include_former=True, since=since)
    history = extracted.field_history
    assert history is not None and history.columns() == {"sentiment", "budget_status"}
    changes = history.changes
    assert (changes["changed_at"] >= pd.Timestamp(since)).all()
    # accounts whose sentiment changed once, and that were customers around the change
    sentiment = changes[changes["column"] == "sentiment"]
    once = sentiment.drop_duplicates("record_id", keep=False)
    timeline = timeline_of(extracted, config)
    checked = 0
    for change in once.itertuples():
        day = change.changed_at.date()
        views = [
            as_of_view(
                extracted, d, None, config.salesforce.renewal_types, timeline
            ).accounts.set_index("account_id")
            for d in (day, day + timedelta(days=1))
        ]
        if not all(change.record_id in view.index for view in views):
            continue
        assert views[0].loc[change.record_id, "sentiment"] == change.old
        assert views[1].loc[change.record_id, "sentiment"] == change.new
        checked += 1
    assert checked >= 3
    # seats have no history: the backtest flags them, and no longer sentiment
    flagged = no_history(config, history.columns())
    assert "seats" in flagged and "sentiment" not in flagged and "budget_status" not in flagged
    assert "sentiment" in no_history(config)


def test_values_read_as_text_by_a_bulk_job_are_typed_like_todays() -> None:
    """A large history comes from a Bulk job as CSV text: numbers and checkboxes must read
    as today's values do ("false" is not a true flag)."""
    from cs_sync.book_reads import typed

    text = _history(("Account", "A", "seats", "2026-05-01 00:00", "40.0", "50.0"))
    view = values_on(ACCOUNTS, text, "Account", date(2026, 1, 1))
    assert view["seats"].tolist() == [40.0, 20.0] and view["seats"].dtype == "float64"
    flags = pd.Series(["false", "true", "", None, True, False], dtype=object)
    assert typed(flags, "boolean").tolist() == [False, True, False, False, True, False]
