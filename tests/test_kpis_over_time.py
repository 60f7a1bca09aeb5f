"""NRR, GRR, churn, expansion, contraction and renewal rate from the history, worked by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cs_sync.kpis import arr_movements, monthly_kpis


def snapshot(day: str, rows: dict[str, tuple[float, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "as_of": pd.Timestamp(day),
                "account_id": a,
                "arr": arr,
                "phase": phase,
                "renewal_date": renewal,
            }
            for a, (arr, phase, renewal) in rows.items()
        ]
    )


# 1 October: four paying accounts, 1,000 in all. By 31 October: A expanded 100 -> 160,
# B churned (gone from the snapshot) 300, C contracted 400 -> 300, D unchanged 200,
# and E is new (50): not in the cohort.
OCTOBER_1 = {
    "A": (100.0, "Adoption", "2027-03-01"),
    "B": (300.0, "Onboarding", "2026-10-15"),
    "C": (400.0, "Adoption", "2026-10-20"),
    "D": (200.0, "Self-running", "2027-06-01"),
}
OCTOBER_31 = {
    "A": (160.0, "Self-running", "2027-03-01"),
    "C": (300.0, "Adoption", "2027-10-20"),
    "D": (200.0, "Adoption", "2027-06-01"),
    "E": (50.0, "Onboarding", "2027-10-01"),
}
PHASES = ["Onboarding", "Adoption", "Self-running", "Advocate"]


def test_one_month_by_hand() -> None:
    start = snapshot("2026-10-01", OCTOBER_1).set_index("account_id")
    end = snapshot("2026-10-31", OCTOBER_31).set_index("account_id")
    moves = arr_movements(start, end, PHASES)
    assert moves["starting_arr"] == 1000 and moves["starting_accounts"] == 4
    assert (moves["expansion_arr"], moves["contraction_arr"], moves["churned_arr"]) == (
        60,
        100,
        300,
    )
    assert moves["nrr"] == pytest.approx((1000 + 60 - 100 - 300) / 1000)  # 0.66
    assert moves["grr"] == pytest.approx((1000 - 100 - 300) / 1000)  # 0.60
    assert moves["revenue_churn_rate"] == pytest.approx(0.40)
    assert moves["logo_churn_rate"] == pytest.approx(1 / 4)  # E, new, is not counted
    # B and C were due to renew in October: C renewed, B did not
    assert (moves["renewals_due"], moves["renewal_rate"]) == (2, 0.5)
    assert (moves["phase_ups"], moves["phase_downs"]) == (1, 1)  # A up; D down


def test_grr_never_above_one_even_when_expansion_covers_churn() -> None:
    start = snapshot("2026-10-01", {"A": (100.0, "Adoption", None), "B": (100.0, "x", None)})
    end = snapshot("2026-10-31", {"A": (400.0, "Adoption", None)})
    moves = arr_movements(start.set_index("account_id"), end.set_index("account_id"))
    assert moves["nrr"] == pytest.approx(2.0) and moves["grr"] == pytest.approx(0.5)


def test_monthly_and_trailing_twelve_months() -> None:
    history = pd.concat(
        [
            snapshot("2025-10-01", {k: v for k, v in OCTOBER_1.items()}),
            snapshot("2026-10-01", OCTOBER_1),
            snapshot("2026-10-31", OCTOBER_31),
            snapshot("2026-11-20", OCTOBER_31),
        ],
        ignore_index=True,
    )
    table = monthly_kpis(history, date(2026, 11, 25), PHASES)
    october = table[table["period"] == "2026-10-01"].set_index(["dimension", "metric"])["value"]
    assert october[("month", "nrr")] == pytest.approx(0.66)
    assert october[("month", "revenue_churn_annualised")] == pytest.approx(1 - 0.6**12)
    # the twelve months to 31 October open with the 2025-10-01 snapshot: same cohort
    assert october[("ttm", "grr")] == pytest.approx(0.60)
    # November is not complete on the 25th; September has no snapshot inside it
    assert set(table["period"]) == {"2026-10-01"}


def test_no_history_no_rows() -> None:
    assert monthly_kpis(pd.DataFrame(), date(2026, 11, 25)).empty
