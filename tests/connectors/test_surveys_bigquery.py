"""Survey answers from a BigQuery table, with the SQL cs-sync writes executed (transpiled to
DuckDB by the stand-in client): each contact's latest answer up to the run date, days in the
run's time zone, the window's bounds, every answer for a backfill, bad rows and columns
named by their setting."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

pytest.importorskip("google.cloud.bigquery")
pytest.importorskip("sqlglot")

from cs_sync.connectors.surveys_bigquery import read_surveys_bigquery, survey_query  # noqa: E402
from cs_sync.connectors.usage_settings import SurveysBigQuery  # noqa: E402
from cs_sync.errors import ConfigError  # noqa: E402
from cs_sync.rules.surveys import survey_features  # noqa: E402
from cs_sync.sfid import to18  # noqa: E402
from tests.bigquery_standin import DuckBigQuery  # noqa: E402

AS_OF = date(2026, 11, 24)
TABLE = "acme-cs.feedback.nps_answers"
TOKYO = ZoneInfo("Asia/Tokyo")
ACCOUNT = to18("001000000000001")
OTHER = to18("001000000000002")
COLUMNS = {"account": "STRING", "person": "STRING", "answered_at": "TIMESTAMP", "nps": "INT64"}
SETTINGS = SurveysBigQuery(
    table=TABLE,
    account_column="account",
    contact_column="person",
    date_column="answered_at",
    score_column="nps",
)


def tokyo(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TOKYO)  # type: ignore[misc]


ANSWERS: list[tuple[Any, ...]] = [
    (ACCOUNT, "c1", tokyo(2026, 6, 1, 12), 3),
    (ACCOUNT, "c1", tokyo(2026, 10, 1, 0, 30), 9),  # 30 September in UTC: October in Tokyo
    (ACCOUNT, "c2", tokyo(2026, 11, 20, 9), 5),
    (ACCOUNT, "c2", tokyo(2026, 11, 25, 0, 10), 10),  # after the run date: not yet
    (ACCOUNT, "c3", tokyo(2026, 3, 3, 9), 10),
    (ACCOUNT, "c3", tokyo(2026, 9, 9, 9), None),  # asked, no answer: the earlier one counts
    (OTHER, "c4", tokyo(2024, 5, 5, 9), 0),  # long before the window
]


def read(
    rows: list[tuple[Any, ...]], since: date | None = None, columns: dict[str, str] = COLUMNS
) -> tuple[pd.DataFrame, list[str], DuckBigQuery]:
    client = DuckBigQuery()
    client.add_table(TABLE, columns, rows)
    answers, bad = read_surveys_bigquery(
        SETTINGS, None, "nps", 12, AS_OF, since, "Asia/Tokyo", client=client
    )
    return answers, bad, client


def as_rows(answers: pd.DataFrame) -> list[tuple[str, str, str, float]]:
    return [
        (r.account_id, r.contact_id, f"{r.day:%Y-%m-%d}", float(r.score))
        for r in answers.itertuples()
    ]


def test_a_run_reads_each_contacts_latest_answer_up_to_the_run_date() -> None:
    answers, bad, client = read(ANSWERS)
    assert bad == []
    assert as_rows(answers) == [
        (ACCOUNT, "c1", "2026-10-01", 9.0),
        (ACCOUNT, "c2", "2026-11-20", 5.0),
        (ACCOUNT, "c3", "2026-03-03", 10.0),
    ]
    assert "GROUP BY" in client.queries[0]  # worked out in BigQuery: a row per contact
    features = survey_features(pd.DataFrame({"account_id": [ACCOUNT]}), answers, AS_OF, 12)
    # promoters c1 and c3, detractor c2: (2 - 1) / 3
    assert features.loc[ACCOUNT, "survey_score"] == pytest.approx(100 / 3)
    assert features.loc[ACCOUNT, "days_since_survey"] == 4


def test_a_backfill_reads_every_answer_of_its_earliest_window() -> None:
    answers, bad, client = read(ANSWERS, since=date(2025, 11, 24))
    assert bad == []
    assert as_rows(answers)[:2] == [
        (ACCOUNT, "c1", "2026-06-01", 3.0),
        (ACCOUNT, "c1", "2026-10-01", 9.0),
    ]
    assert (OTHER, "c4", "2024-05-05", 0.0) not in as_rows(answers)
    assert "GROUP BY" not in client.queries[0]
    # scored as of 2026-07-01, c1 counts by the answer it had given by then
    july = survey_features(pd.DataFrame({"account_id": [ACCOUNT]}), answers, date(2026, 7, 1), 12)
    assert july.loc[ACCOUNT, "detractor_share"] == pytest.approx(1 / 2)  # c1 (3), c3 (10)


def test_a_score_off_the_scale_is_named_by_row_and_left_out() -> None:
    answers, bad, _ = read([(ACCOUNT, "c1", tokyo(2026, 11, 1, 9), 11), *ANSWERS[2:3]])
    assert bad == ["row 1, score: '11' is not a NPS score (0-10)"]
    assert as_rows(answers) == [(ACCOUNT, "c2", "2026-11-20", 5.0)]


def test_a_date_column_of_dates_reads_the_same_days() -> None:
    rows = [(ACCOUNT, "c1", date(2026, 11, 24), 8)]
    answers, _, _ = read(rows, columns={**COLUMNS, "answered_at": "DATE"})
    assert as_rows(answers) == [(ACCOUNT, "c1", "2026-11-24", 8.0)]


def test_a_column_the_table_lacks_is_named_by_its_setting() -> None:
    columns = {"account": "STRING", "person": "STRING", "answered_at": "DATE", "score": "INT64"}
    with pytest.raises(ConfigError) as raised:
        read([], columns=columns)
    assert "surveys.bigquery.score_column = 'nps'" in str(raised.value)
    assert TABLE in str(raised.value)


def test_names_that_are_no_identifiers_never_reach_the_sql() -> None:
    bad = SETTINGS.model_copy(update={"score_column": "nps; DROP TABLE x"})
    with pytest.raises(ConfigError, match="surveys.bigquery.score_column"):
        survey_query(bad, "DATE", latest_only=True)
