"""CSM activity and support cases per account: days since, counts in windows, and what a
past date of a backfill sees."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_sync.rules.activity import activity_features, case_features

AS_OF = date(2026, 11, 24)
ACCOUNTS = pd.DataFrame({"account_id": ["a", "b", "c"]})


def test_days_since_and_counts_of_meetings_and_touches() -> None:
    activities = pd.DataFrame(
        [
            ("a", "2026-11-10", True),  # a meeting 14 days ago
            ("a", "2026-11-20", False),  # a call 4 days ago
            ("a", "2026-07-01", True),  # outside 90 days, inside the window
            ("a", "2026-12-10", True),  # booked for next month: not a touch yet
            ("b", "2026-11-23", False),  # a call, no meeting
        ],
        columns=["account_id", "day", "meeting"],
    )
    found = activity_features(ACCOUNTS, activities, AS_OF, 180)
    assert found.loc["a"].tolist() == [14, 1, 4, 2]
    # b: no meeting in the window counts as the whole window; c: nothing at all
    assert found.loc["b"].tolist() == [180, 0, 1, 1]
    assert found.loc["c"].tolist() == [180, 0, 180, 0]


def test_activity_not_read_is_missing_data_not_zero() -> None:
    found = activity_features(ACCOUNTS, None, AS_OF, 180)
    assert found.isna().all().all()
    assert case_features(ACCOUNTS, None, AS_OF, 30).isna().all().all()


def test_cases_open_recent_high_priority_and_escalated() -> None:
    cases = pd.DataFrame(
        [
            ("a", "2026-11-20T01:00:00.000+0000", None, False, True, False),
            ("a", "2026-06-01T01:00:00.000+0000", None, False, False, True),  # old, still open
            ("a", "2026-11-01T01:00:00.000+0000", "2026-11-05T01:00:00.000+0000", True, True, True),
            (
                "b",
                "2026-09-01T01:00:00.000+0000",
                "2026-09-02T01:00:00.000+0000",
                True,
                True,
                False,
            ),
        ],
        columns=["account_id", "created", "closed", "is_closed", "high", "escalated"],
    )
    found = case_features(ACCOUNTS, cases, AS_OF, 30)
    assert found.loc["a"].tolist() == [2, 2, 2, 1]  # open, recent, high, escalated
    assert found.loc["b"].tolist() == [0, 0, 0, 0]
    # on 2026-11-03 the case closed on 11-05 was still open, and the one of 11-20 not yet made
    past = case_features(ACCOUNTS, cases, date(2026, 11, 3), 30)
    assert past.loc["a"].tolist() == [2, 1, 1, 1]
    assert not np.isnan(past.to_numpy()).any()
