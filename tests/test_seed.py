"""The sample book: deterministic, realistic, and churn that usage foretells."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cs_sync.sandbox.store import OrgStore
from cs_sync.sfid import to18
from tests.conftest import AS_OF, seed_database


def _book(folder: Path, accounts: int) -> tuple[list[dict], pd.DataFrame]:
    database, usage = seed_database(folder, accounts)
    store = OrgStore(database)
    rows = store.all("Account")
    store.close()
    strip = [
        {
            k: v
            for k, v in r.items()
            if k not in ("CreatedDate", "LastModifiedDate", "SystemModstamp")
        }
        for r in rows
    ]
    return strip, pd.read_csv(usage, dtype={"account_id": str})


def test_same_size_and_day_give_the_same_book(tmp_path: Path) -> None:
    first, usage_a = _book(tmp_path / "a", 80)
    second, usage_b = _book(tmp_path / "b", 80)
    assert first == second
    pd.testing.assert_frame_equal(usage_a, usage_b)


def test_book_shape(tmp_path: Path) -> None:
    accounts, usage = _book(tmp_path, 200)
    frame = pd.DataFrame(accounts)
    assert len(frame) == 200 and frame["Name"].is_unique
    assert set(frame["CS_Segment__c"]) == {"High Touch", "Low Touch", "Tech Touch"}
    assert 0.05 < (frame["Type"] == "Former Customer").mean() < 0.25
    months = pd.to_datetime(usage["month"])
    assert months.max() == pd.Timestamp("2026-10-01")  # the last complete month
    assert (months.max().to_period("M") - months.min().to_period("M")).n >= 24
    assert set(
        usage.loc[
            months.dt.month.isin([11, 12]) & (usage["year_end_adjustments"] > 0), "month"
        ].str[-2:]
    ) <= {"11", "12"}
    assert (usage["year_end_adjustments"] > 0).any()
    assert usage["account_id"].str.len().isin([15, 18]).all()


def test_churned_accounts_fade_before_they_leave(tmp_path: Path) -> None:
    accounts, usage = _book(tmp_path, 200)
    frame = pd.DataFrame(accounts)
    churned = set(frame.loc[frame["Type"] == "Former Customer", "Id"])
    usage["id18"] = usage["account_id"].map(to18)
    usage["ratio"] = usage["active_users"] / usage["seats"]
    fades = []
    for _, rows in usage[usage["id18"].isin(churned)].groupby("id18"):
        rows = rows.sort_values("month")
        if len(rows) >= 12:
            before = rows["ratio"].iloc[:-6].median()
            fades.append(rows["ratio"].tail(2).mean() < 0.7 * before)
    assert len(fades) >= 10 and all(fades)
    staying = usage[~usage["id18"].isin(churned)]
    assert staying.groupby("id18")["ratio"].last().median() > 0.6


def test_names_stay_unique_past_every_combination() -> None:
    from cs_sync.sandbox.seed import _BookBuilder

    builder = _BookBuilder(OrgStore(":memory:"), 4000, AS_OF, seed=7)
    names = [builder._company_name() for _ in range(4000)]
    assert len(set(names)) == 4000
