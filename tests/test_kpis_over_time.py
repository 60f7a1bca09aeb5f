"""NRR, GRR, churn, expansion, contraction and renewal rate from the history, worked by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cs_sync.kpis import arr_movements, phase_moves
from cs_sync.revenue import history_movements, kpi_dates, periods
from cs_sync.rules.phases import PhaseSettings, build_phases, lifecycle_preset


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
PHASES = build_phases(lifecycle_preset(PhaseSettings()))  # Dormant, Renewal window overlays


def test_one_month_by_hand() -> None:
    start = snapshot("2026-10-01", OCTOBER_1).set_index("account_id")
    end = snapshot("2026-10-31", OCTOBER_31).set_index("account_id")
    moves = arr_movements(start, end)
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
    phases = phase_moves(start, end, PHASES)
    assert (phases[("phase_ups", "all")], phases[("phase_downs", "all")]) == (1, 1)  # A; D


def test_overlays_are_no_move_up_or_down() -> None:
    """Advocate to Dormant is not a move up, entering the renewal window is no move at all:
    each is counted apart as an entry into its overlay."""
    start = snapshot(
        "2026-10-01",
        {
            "A": (100.0, "Advocate", None),
            "B": (100.0, "Adoption", None),
            "C": (100.0, "Dormant", None),
            "D": (100.0, "Onboarding", None),
        },
    ).set_index("account_id")
    end = snapshot(
        "2026-10-31",
        {
            "A": (100.0, "Dormant", None),
            "B": (100.0, "Renewal window", None),
            "C": (100.0, "Self-running", None),  # out of an overlay: not a move either
            "D": (100.0, "Adoption", None),  # the only move up
        },
    ).set_index("account_id")
    moves = phase_moves(start, end, PHASES)
    assert (moves[("phase_ups", "all")], moves[("phase_downs", "all")]) == (1, 0)
    assert moves[("overlay_entries", "Dormant")] == 1
    assert moves[("overlay_entries", "Renewal window")] == 1


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
    moves = history_movements(history, periods(date(2026, 11, 25)), PHASES)
    assert moves[("month", "2026-10")][("nrr", "all")] == pytest.approx(0.66)
    assert moves[("month", "2026-10")][("phase_ups", "all")] == 1
    # the twelve months to 31 October open with the 2025-10-01 snapshot: same cohort
    assert moves[("ttm", "TTM 2026-10")][("grr", "all")] == pytest.approx(0.60)
    # November so far has a snapshot within it; September has none
    months = {label for grain, label in moves if grain == "month"}
    assert months == {"2026-10", "2026-11"}


def test_no_history_no_rows() -> None:
    assert history_movements(pd.DataFrame(), periods(date(2026, 11, 25))) == {}


def test_tasks_per_csm_and_onboarding_by_hand() -> None:
    from cs_sync.kpis import onboarding_kpis, task_kpis

    new = pd.DataFrame({"owner_id": ["005A", "005A", "005B"]})
    read = pd.DataFrame(
        {
            "owner_id": ["005A", "005A", "005B", "005B"],
            "is_closed": [False, False, False, True],
            "activity_date": ["2026-11-20", "2026-12-01", "2026-11-01", "2026-10-01"],
        }
    )
    table = task_kpis(new, read, date(2026, 11, 24))
    found = {(r.metric, r.dimension): r.value for r in table.itertuples()}
    named = task_kpis(new, read, date(2026, 11, 24), {"005A": "佐藤 花子"})
    assert ("tasks_created", "佐藤 花子") in set(
        zip(named["metric"], named["dimension"], strict=True)
    )
    assert found[("tasks_created", "005A")] == 2 and found[("tasks_created", "005B")] == 1
    assert found[("tasks_open", "005A")] == 2 and found[("tasks_open", "all")] == 3
    assert found[("tasks_overdue", "005A")] == 1 and found[("tasks_overdue", "005B")] == 1
    assert ("tasks_open", "005B") in found and found[("tasks_overdue", "all")] == 2
    # window 3 months; cohort: windows that ended in the last 12 months (3 <= months < 15)
    scored = pd.DataFrame(
        {
            "months_since_start": [2, 4, 6, 10, 20],
            "onboarded": [True, True, True, False, True],
            "onboarded_after_months": [1, 2, 5, None, 1],
        }
    )
    rows = onboarding_kpis(scored, 3, date(2026, 11, 24)).set_index("metric")["value"]
    assert rows["onboarding_cohort"] == 3  # 4, 6 and 10 months in
    assert rows["onboarding_completed_in_window"] == 1  # only the one done in 2 months
    assert rows["onboarding_completion_rate"] == pytest.approx(1 / 3)


def test_reading_only_the_boundary_snapshots_gives_the_same_kpis() -> None:
    days = pd.date_range("2025-01-01", "2026-11-20", freq="7D")
    rng = np.random.default_rng(3)
    frames = []
    for day in days:
        arr = rng.choice([0.0, 100.0, 150.0, 200.0], size=30, p=[0.1, 0.3, 0.3, 0.3])
        frames.append(
            pd.DataFrame(
                {
                    "as_of": day,
                    "account_id": [f"a{i}" for i in range(30)],
                    "arr": arr,
                    "phase": rng.choice([p.name for p in PHASES], size=30),
                    "renewal_date": None,
                }
            )
        )
    history = pd.concat(frames, ignore_index=True)
    shown = periods(date(2026, 11, 25))
    full = history_movements(history, shown, PHASES)
    needed = kpi_dates(list(days.date), shown)
    assert len(needed) < len(days) / 2
    part = history_movements(history[history["as_of"].isin(pd.to_datetime(needed))], shown, PHASES)
    assert part == full
    assert {grain for grain, _ in full} == {"month", "quarter", "fiscal_year", "ttm"}


def test_health_tab_dates_fit_the_book() -> None:
    from cs_sync.connectors.sheet_tabs import health_tab_dates, tab_cells

    days = list(pd.date_range("2025-01-01", "2026-11-20", freq="D").date)
    small, note = health_tab_dates(days, accounts=50, columns=10)
    assert date(2026, 11, 20) in small and date(2026, 10, 16) in small  # the last 35 days
    assert date(2025, 3, 1) in small and date(2025, 3, 2) not in small  # firsts of months
    assert note is None
    large, _ = health_tab_dates(days, accounts=200_000, columns=10)
    # 8M cells / 2 (a staging copy beside the tab) / 10 columns / 200,000 accounts = 2 dates
    assert large == [date(2026, 11, 19), date(2026, 11, 20)]
    # the accounts tab takes its room first (39 columns): 50,000 accounts leave 4 dates of 4
    beside, _ = health_tab_dates(days, 50_000, 10, tab_cells(50_000, 39))
    assert beside == [
        date(2026, 11, 17),
        date(2026, 11, 18),
        date(2026, 11, 19),
        date(2026, 11, 20),
    ]
    # an accounts tab too large to fit at all is left out, and takes no room
    assert health_tab_dates(days, 200_000, 10, tab_cells(200_000, 39)) == (large, None)


def test_the_health_tab_shows_no_date_when_one_does_not_fit_beside_the_accounts() -> None:
    """At 87,000 scored accounts (a 100,000-account book) the accounts tab takes 3.4 of the
    4 million cells the tabs have: one date of the health tab (0.87 million) does not fit
    beside it, so the tab shows none and the run warns, naming the fix."""
    from cs_sync.connectors.sheet_tabs import health_tab_dates, tab_cells

    days = list(pd.date_range("2026-11-01", "2026-11-20", freq="D").date)
    shown, note = health_tab_dates(days, 87_000, 10, tab_cells(87_000, 39))
    assert shown == [] and note is not None
    assert "one date of 87,000 accounts (0.9 million cells)" in note
    assert 'sheets_leave_out = ["accounts"]' in note
    assert health_tab_dates(days, 87_000, 10)[0][-1] == date(2026, 11, 20)  # accounts left out
    # at a million accounts one date passes the room even alone: the fix is to leave it out
    _, alone = health_tab_dates(days, 870_000, 10, tab_cells(870_000, 39))
    assert alone is not None and 'sheets_leave_out = ["health_history"]' in alone


def test_owner_labels_name_the_csm_and_tell_namesakes_apart() -> None:
    from cs_sync.kpis import owner_labels

    labels = owner_labels(
        [
            (
                pd.Series(["005A", "005B", "005C"]),
                pd.Series(["佐藤 花子", "鈴木 一郎", "佐藤 花子"]),
            ),
            (pd.Series(["005D", None]), pd.Series([None, "x"])),
        ]
    )
    assert labels["005B"] == "鈴木 一郎"
    assert labels["005A"] == "佐藤 花子 (005A)" and labels["005C"] == "佐藤 花子 (005C)"
    assert "005D" not in labels  # no name read: the id is used as it is
