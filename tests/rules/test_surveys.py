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


def _by_the_texts(
    accounts: pd.DataFrame, found: pd.DataFrame, months: int, scale: str
) -> pd.DataFrame:
    """The rollup said plainly on the texts (as survey_features once was): the reference the
    version on codes and positions is held to."""
    index = pd.Index(accounts["account_id"])
    today = pd.Timestamp(AS_OF)
    day = pd.to_datetime(found["day"], errors="coerce")
    oldest = today - pd.DateOffset(months=months)
    kept = found.assign(day=day)[day.isna() | ((day <= today) & (day > oldest))]
    kept = kept[kept["account_id"].isin(index)]
    latest = kept.sort_values("day", na_position="first", kind="stable").drop_duplicates(
        ["account_id", "contact_id"], keep="last"
    )
    promoter_from, detractor_to = {"nps": (9, 6), "csat": (4, 2)}[scale]
    score = pd.to_numeric(latest["score"], errors="coerce")
    grouped = latest.assign(
        promoter=score >= promoter_from, detractor=score <= detractor_to
    ).groupby("account_id")
    count = grouped.size().reindex(index)
    promoters = grouped["promoter"].sum().reindex(index)
    detractors = grouped["detractor"].sum().reindex(index)
    net = promoters - detractors if scale == "nps" else promoters
    newest = grouped["day"].max().reindex(index)
    return pd.DataFrame(
        {
            "survey_score": 100 * net / count,
            "detractor_share": detractors / count,
            "survey_contacts": count.fillna(0).astype(float),
            "days_since_survey": (today - newest).dt.days.astype(float),
        },
        index=index,
    )


@pytest.mark.parametrize("scale", ["nps", "csat"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_rollup_on_codes_is_the_rollup_on_the_texts(scale: str, seed: int) -> None:
    """Contacts answering more than once (on one day too), answers without a date, a score or
    a contact, out of the window or of an account not read, accounts nobody answered for."""
    rng = np.random.default_rng(seed)
    rows = 3_000
    days = pd.date_range("2025-06-01", "2026-12-31", freq="D").strftime("%Y-%m-%d")
    found = pd.DataFrame(
        {
            "account_id": rng.choice([f"001{n:03d}" for n in range(120)], rows),
            "contact_id": rng.choice([f"003{n:03d}" for n in range(40)], rows).astype(object),
            "day": rng.choice(days[::30], rows).astype(object),
            "score": rng.integers(0, 11, rows).astype(float),
        }
    )
    found.loc[rng.random(rows) < 0.05, "day"] = None
    found.loc[rng.random(rows) < 0.03, "score"] = np.nan
    found.loc[rng.random(rows) < 0.02, "contact_id"] = None
    accounts = pd.DataFrame({"account_id": [f"001{n:03d}" for n in range(10, 130)]})
    expected = _by_the_texts(accounts, found, 12, scale)
    pd.testing.assert_frame_equal(survey_features(accounts, found, AS_OF, 12, scale), expected)
