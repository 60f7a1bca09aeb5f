"""Month numbers of days, through the table of distinct days, as numpy's calendar gives them."""

from __future__ import annotations

import numpy as np
import pytest

from cs_sync.rules.calendar import month_numbers


@pytest.mark.parametrize(
    "days",
    [
        pytest.param(["2026-01-31", "2026-02-01", "2024-02-29", "2026-12-31"], id="month-ends"),
        pytest.param(["1969-12-31", "1970-01-01", "1901-03-15"], id="before-1970"),
        pytest.param(["0800-06-01", "2026-06-01"], id="centuries-apart"),
    ],
)
def test_month_numbers_match_the_calendar(days: list[str]) -> None:
    values = np.array(days, dtype="datetime64[D]")
    expected = values.astype("datetime64[M]").astype(np.int64)
    assert month_numbers(values).tolist() == expected.tolist()


def test_a_missing_day_does_not_disturb_the_others() -> None:
    values = np.array(["2026-03-10", "NaT", "2025-11-30"], dtype="datetime64[D]")
    got = month_numbers(values)
    assert [got[0], got[2]] == [(2026 - 1970) * 12 + 2, (2025 - 1970) * 12 + 10]
