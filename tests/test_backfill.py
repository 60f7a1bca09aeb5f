"""Backfill: dates, the as-of view of the records, and resumable runs against the sandbox."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.backfill import as_of_view, backfill_dates, run_backfill
from cs_sync.cli import main
from cs_sync.config import load_config
from cs_sync.connectors.history_store import HistoryStore
from cs_sync.demo import prepare_demo
from cs_sync.errors import CsSyncError
from cs_sync.extract import Extracted
from cs_sync.revenue import arr_timeline
from tests.conftest import AS_OF, login, served


def test_weekly_and_monthly_dates() -> None:
    weeks = backfill_dates(date(2026, 1, 5), date(2026, 2, 1), "week")
    assert weeks == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19), date(2026, 1, 26)]
    months = backfill_dates(date(2025, 11, 30), date(2026, 3, 30), "month")
    assert months == [
        date(2025, 11, 30),
        date(2025, 12, 30),
        date(2026, 1, 30),
        date(2026, 2, 28),  # clamped to the month's end
        date(2026, 3, 30),
    ]
    assert backfill_dates(date(2026, 1, 1), date(2026, 1, 1), "week") == [date(2026, 1, 1)]
    with pytest.raises(CsSyncError, match="after --until"):
        backfill_dates(date(2026, 2, 1), date(2026, 1, 1), "week")
    with pytest.raises(CsSyncError, match="--every"):
        backfill_dates(date(2026, 1, 1), date(2026, 2, 1), "day")


def extracted() -> Extracted:
    accounts = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "arr": [150.0, 80.0, 200.0, 50.0],
            "contract_start": ["2024-04-01", "2026-06-01", "2023-01-01", None],
            "renewal_date": ["2027-04-01", "2027-06-01", "2027-02-28", "2026-12-31"],
            "override_grade": ["A", None, None, None],
            "override_reason": ["x", None, None, None],
            "override_expiry": ["2027-01-01", None, None, None],
            "prev_score": [90.0, 80.0, 70.0, 60.0],
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3"],
            "account_id": ["A", "C", "A"],
            "type": ["Renewal", "Renewal", "Upsell"],
            "stage": ["Closed Won", "Negotiation", "Closed Won"],
            "close_date": ["2026-04-01", "2027-02-28", "2026-05-01"],
            "amount": [100.0, 200.0, 50.0],
            "is_closed": [True, False, True],
            "is_won": [True, False, True],
        }
    )
    empty = pd.DataFrame(columns=["task_id"])
    return Extracted(accounts, pd.DataFrame(), empty, opportunities, pd.DataFrame())


def view_on(day: date) -> Extracted:
    book = extracted()
    timeline = arr_timeline(
        book.opportunities, book.accounts, ("Renewal",), ("Upsell",), ("New Business",)
    )
    return as_of_view(book, day, None, ("Renewal",), timeline)


def test_the_records_as_they_stood() -> None:
    view = view_on(date(2026, 1, 15))
    accounts = view.accounts.set_index("account_id")
    assert list(accounts.index) == ["A", "C", "D"]  # B's contract had not started
    # A: the renewal won in April 2026 was still ahead, so it was open and the renewal date
    assert accounts.loc["A", "renewal_date"] == "2026-04-01"
    won = view.opportunities.set_index("opportunity_id").loc["o1"]
    assert (won["is_closed"], won["is_won"], won["stage"]) == (False, False, None)
    # C: its open renewal; D: no opportunity, the renewal date rolled back a year
    assert accounts.loc["C", "renewal_date"] == "2027-02-28"
    assert accounts.loc["D", "renewal_date"] == "2026-12-31"
    assert accounts["override_grade"].isna().all()
    assert accounts["prev_score"].isna().all()  # no previous date: no previous values
    # ARR as the opportunities tell it: A before its upsell (renewing at the same 100), C and
    # D without a closed opportunity keep their ARR field
    assert accounts["arr"].to_dict() == {"A": 100.0, "C": 200.0, "D": 50.0}
    assert view_on(date(2026, 5, 2)).accounts.set_index("account_id").loc["A", "arr"] == 150
    later = view_on(date(2025, 12, 31))
    assert later.accounts.set_index("account_id").loc["D", "renewal_date"] == "2026-12-31"
    earlier = view_on(date(2025, 12, 30))
    assert earlier.accounts.set_index("account_id").loc["D", "renewal_date"] == "2025-12-31"


def history(path: Path) -> pd.DataFrame:
    with HistoryStore(path) as store:
        frame = pd.concat([store.snapshot(day) for day in store.dates()], ignore_index=True)
        kpis = store.kpis()
    return frame, kpis


def test_an_interrupted_backfill_resumes_to_the_same_history(tmp_path: Path) -> None:
    folder = prepare_demo(tmp_path / "demo", 60, AS_OF, port=0)
    dates = backfill_dates(date(2026, 5, 4), AS_OF, "week")
    with served(folder):
        config = load_config(folder.config_path)
        whole = run_backfill(config, dates, AS_OF, progress=False)
        assert whole.status == "ok" and whole.dates_written == len(dates) == 30
        reference = history(config.history.path)
        config.history.path.unlink()

        asked = []

        def stop_after_eleven() -> bool:
            asked.append(1)
            return len(asked) > 11

        cut = run_backfill(config, dates, AS_OF, progress=False, stop_requested=stop_after_eleven)
        assert cut.status == "interrupted" and cut.exit_code == 1 and cut.dates_written == 11
        assert "run the same command again" in cut.errors[-1].message
        resumed = run_backfill(config, dates, AS_OF, progress=False)
        assert (resumed.dates_skipped, resumed.dates_written) == (11, 19)
    accounts, kpis = history(config.history.path)
    pd.testing.assert_frame_equal(accounts, reference[0])
    pd.testing.assert_frame_equal(kpis, reference[1])
    assert accounts["phase_change"].eq("up").any()  # dates chained: moves between dates


def test_cli_backfill_writes_salesforce_once_and_keeps_real_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = prepare_demo(tmp_path / "demo", 40, AS_OF, port=0)
    config = str(folder.config_path)
    with served(folder) as sandbox:
        assert main(["run", "--config", config, "--as-of", "2026-11-02", "--json"]) == 0
        capsys.readouterr()
        args = ["backfill", "--config", config, "--since", "2026-10-05", "--until", "2026-11-23"]
        assert main([*args, "--dry-run", "--json"]) == 0
        dry = json.loads(capsys.readouterr().out)
        assert dry["dates"] == 8 and dry["dates_written"] == 7 and dry["dates_skipped"] == 1
        with HistoryStore(load_config(config).history.path) as store:
            assert store.dates() == [date(2026, 11, 2)]  # the dry run wrote nothing
        sf = login(sandbox)
        sf.query("SELECT Id FROM Account")  # (a call, so the counts below are the backfill's)
        assert main([*args, "--write-salesforce", "--json"]) == 0
        done = json.loads(capsys.readouterr().out)
        assert done["status"] == "ok" and done["dates_written"] == 7
        assert done["salesforce"]["tasks_created"] == 0
        blank = sf.query(
            "SELECT Id FROM Account WHERE Type = 'Customer - Direct' AND CS_Health_Score__c = null"
        )
        assert blank["totalSize"] == 0
        assert main([*args, "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert (again["dates_written"], again["dates_skipped"]) == (0, 8)
    with HistoryStore(load_config(config).history.path) as store:
        runs = store.runs()
        assert len(store.dates()) == 8
        assert set(runs["kind"]) == {"run", "backfill"}
        # the daily run's own snapshot of 2026-11-02 is kept, not replaced by a reconstruction
        kept = runs[runs["as_of"] == pd.Timestamp("2026-11-02")]
        assert kept["kind"].tolist() == ["run"]


def test_former_customers_until_their_contract_ended() -> None:
    book = extracted()
    book.accounts["former"] = False
    book.accounts["arr"] = [100.0, 200.0, 300.0, 400.0]
    gone = {
        "account_id": "E",
        "contract_start": "2023-03-01",
        "renewal_date": "2026-03-01",  # the end of its last term
        "arr": 0.0,  # Salesforce keeps 0 after it left
        "former": True,
    }
    book.accounts = pd.concat([book.accounts, pd.DataFrame([gone])], ignore_index=True)
    lost_and_won = pd.DataFrame(
        {
            "opportunity_id": ["o3", "o4", "o5"],
            "account_id": ["E", "E", "E"],
            "type": ["Renewal"] * 3,
            "stage": ["Closed Won", "Closed Won", "Closed Lost"],
            "close_date": ["2024-03-01", "2025-02-25", "2026-02-20"],
            "amount": [300.0, 350.0, 360.0],
            "is_closed": [True, True, True],
            "is_won": [True, True, False],
        }
    )
    book.opportunities = pd.concat([book.opportunities, lost_and_won], ignore_index=True)
    timeline = arr_timeline(book.opportunities, book.accounts, ("Renewal",), (), ())
    before = as_of_view(book, date(2026, 1, 15), None, ("Renewal",), timeline).accounts
    row = before.set_index("account_id").loc["E"]
    assert row["arr"] == 350.0  # the last renewal won by then
    assert row["renewal_date"] == "2026-02-20"  # the renewal that was then ahead (and lost)
    assert before.set_index("account_id").loc["A", "arr"] == 100.0  # before its renewal
    after = as_of_view(book, date(2026, 3, 1), None, ("Renewal",), timeline).accounts
    assert "E" not in set(after["account_id"])


def test_a_year_backfilled_refreshes_the_dashboard_with_the_upsells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A monthly backfill of one year, as the README tells admins: when it ends the local
    dashboard is refreshed, the months it covers are figured from the history, and each
    date's ARR is the ARR of that date, so NRR counts the upsells won (it is not GRR)."""
    folder = prepare_demo(tmp_path / "demo", 120, AS_OF, port=0)
    config = str(folder.config_path)
    with served(folder):
        args = ["backfill", "--config", config, "--since", "2025-11-24", "--every", "month"]
        assert main([*args, "--until", "2026-11-24", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["status"] == "ok" and done["dates_written"] == 13
    page = Path(done["dashboard"])
    periods = pd.read_csv(page.parent / "kpi_periods.csv")
    months = periods[(periods["grain"] == "month") & (periods["basis"] == "history")]
    assert len(months["period"].unique()) >= 11  # every month the backfill's dates bracket
    year = periods[(periods["grain"] == "ttm") | (periods["grain"] == "fiscal_year")]
    nrr = year[year["metric"] == "nrr"].set_index("period")["value"]
    grr = year[year["metric"] == "grr"].set_index("period")["value"]
    assert (nrr > grr).any()  # the seed's upsells, in the twelve-month figures
    history_months = months.pivot_table(index="period", columns="metric", values="value")
    assert (history_months["expansion_arr"] > 0).any()  # seen by the history's snapshots
    assert "NRR・アップセル・解約" in page.read_text("utf-8")  # the demo runs in Japanese
    # since when each account is in its phase, as the backfilled dates tell it
    days = pd.read_csv(page.parent / "accounts.csv")["days_in_phase"]
    assert days.notna().all() and days.between(0, 365).all() and (days > 0).any()
    assert "現在のフェーズの日数" in page.read_text("utf-8")
