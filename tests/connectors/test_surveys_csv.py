"""Survey answers from a CSV file: bad rows named by line and column, the rest used."""

from __future__ import annotations

from pathlib import Path

import pytest

from cs_sync.connectors.surveys_csv import read_survey_csv
from cs_sync.errors import InputError

ID = "0015g00000000GpAAI"


def test_rows_are_checked_and_bad_ones_named(tmp_path: Path) -> None:
    path = tmp_path / "nps.csv"
    path.write_bytes(
        (
            "account_id,contact_id,answered,score\n"
            f"{ID},c1,2026-10-01,9\n"
            f"{ID[:15]},c2,2026-10-02,11\n"
            "not-an-id,c3,2026-10-03,5\n"
            f"{ID},c4,昨日,5\n"
        ).encode("cp932")
    )
    answers, problems = read_survey_csv(path, "nps")
    assert answers[["account_id", "contact_id", "score"]].values.tolist() == [[ID, "c1", 9]]
    assert problems == [
        "line 4, account_id: 'not-an-id' is not a Salesforce id",
        "line 5, answered: '昨日' is not a date (YYYY-MM-DD)",
        "line 3, score: '11' is not a NPS score (0-10)",
    ]


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nps.csv"
    path.write_text("account_id,contact,answered,score\n", "utf-8")
    with pytest.raises(InputError, match="missing column\\(s\\) contact_id"):
        read_survey_csv(path, "nps")
