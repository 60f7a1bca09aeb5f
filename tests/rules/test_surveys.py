"""Survey answers rolled up to the account: each contact once, by its latest answer."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cs_sync.rules.surveys import survey_features

AS_OF = date(2026, 11, 24)
ACCOUNTS = pd.DataFrame({"account_id": ["a", "b", "c"]})


def answers(*rows: tuple[str, str, str | None, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "contact_id", "day", "score"])


def test_nps_from_each_contacts_latest_answer() -> None:
    found = survey_features(
        ACCOUNTS,
        answers(
            ("a", "p1", "2026-10-01", 10),  # promoter
            ("a", "p2", "2026-03-01", 3),  # was a detractor...
            ("a", "p2", "2026-09-01", 7),  # ...now passive: the latest answer counts
            ("a", "p3", "2026-11-01", 5),  # detractor
            ("a", "p4", "2025-01-01", 0),  # too old to count
            ("a", "p5", "2026-12-01", 0),  # after the run date
            ("b", "q1", None, 9),  # no date kept: counts
        ),
        AS_OF,
        months=12,
    )
    assert found.loc["a", "survey_score"] == pytest.approx(0.0)  # 1/3 promoters - 1/3 detractors
    assert found.loc["a", "detractor_share"] == pytest.approx(1 / 3)
    assert found.loc["a", "survey_contacts"] == 3
    assert found.loc["a", "days_since_survey"] == 23
    assert found.loc["b", ["survey_score", "detractor_share", "survey_contacts"]].tolist() == [
        100.0,
        0.0,
        1.0,
    ]
    # nobody answered: no score (missing data), and no contact counted
    assert np.isnan(found.loc["c", "survey_score"]) and found.loc["c", "survey_contacts"] == 0


def test_csat_counts_the_satisfied() -> None:
    found = survey_features(
        ACCOUNTS,
        answers(("a", "x", "2026-11-01", 5), ("a", "y", "2026-11-01", 2)),
        AS_OF,
        12,
        "csat",
    )
    assert found.loc["a", ["survey_score", "detractor_share"]].tolist() == [50.0, 0.5]


def test_surveys_not_read_are_missing_data() -> None:
    assert survey_features(ACCOUNTS, None, AS_OF, 12).isna().all().all()
