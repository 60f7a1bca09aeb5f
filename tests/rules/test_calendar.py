"""Month numbers of days, through the table of distinct days, as numpy's calendar gives them."""

from __future__ import annotations

import numpy as np
import pytest

from cs_sync.rules.calendar import month_numbers, workable


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


def _one_at_a_time(day: np.datetime64, busy: int, holidays: np.ndarray, later: bool) -> str:
    """The rule for one date, walked day by day: the nearest business day (not a weekend or
    holiday) outside the busy months, before them (or with `later`, after them)."""
    step = np.timedelta64(1 if later else -1, "D")
    while True:
        month = int(str(day)[5:7]) - 1
        business = bool(np.is_busday(day, holidays=holidays))
        if business and not (busy >> month) & 1:
            return str(day)
        day = day + step


@pytest.mark.parametrize("later", [False, True])
def test_dates_leave_busy_months_and_closed_days_row_by_row(later: bool) -> None:
    """The rows moved out of a busy month are checked again on their own (a row that lands
    in another busy month moves on); every row ends where walking day by day would."""
    rng = np.random.default_rng(5)
    days = np.datetime64("2026-01-01") + rng.integers(0, 730, 400).astype("timedelta64[D]")
    busy = rng.choice([0, 1 << 2, (1 << 1) | (1 << 2), (1 << 11) | 1, 0b111111000000], 400)
    holidays = np.array(["2026-03-20", "2026-04-29", "2027-01-01", "2027-02-01"], "datetime64[D]")
    found = workable(days.copy(), busy, holidays, later=later)
    expected = [_one_at_a_time(d, int(b), holidays, later) for d, b in zip(days, busy, strict=True)]
    assert [str(day) for day in found] == expected
