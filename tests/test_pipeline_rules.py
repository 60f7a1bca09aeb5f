"""The pure middle of a run on hand-made tables: features, admin features, health and phase."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.book_reads import (
    ACCOUNT_COLUMNS,
    CONTACT_ROLE_COLUMNS,
    OPPORTUNITY_COLUMNS,
    TASK_COLUMNS,
)
from cs_sync.config import load_config
from cs_sync.errors import ConfigError
from cs_sync.extract import Extracted
from cs_sync.rules.features import ACCOUNT_INPUTS, FEATURE_COLUMNS
from cs_sync.rules.health import HEALTH_COLUMNS
from cs_sync.score import score_accounts

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 24)


def extracted() -> Extracted:
    accounts = pd.DataFrame(
        [
            {
                **dict.fromkeys(ACCOUNT_COLUMNS),
                "account_id": f"001A0000000000{n}AAA",
                "name": name,
                "arr": arr,
                "seats": 100,
                "contract_start": "2025-01-10",
                "renewal_date": renewal,
                "segment": "High Touch",
                "sentiment": "Positive",
            }
            for n, (name, arr, renewal) in enumerate(
                [("Acme", 1_200_000, "2027-01-10"), ("Globex", 600_000, "2027-06-10")]
            )
        ]
    )
    months = pd.date_range("2026-01-01", "2026-10-01", freq="MS")
    usage = pd.DataFrame(
        [
            {
                "account_id": account,
                "month": month,
                "seats": 100,
                "active_users": active,
                "logins": active * 10,
                "payslips_sent": active,
            }
            for account, active in [
                (accounts["account_id"][0], 85),
                (accounts["account_id"][1], 30),
            ]
            for month in months
        ]
    )
    empty_tasks = pd.DataFrame(columns=TASK_COLUMNS)
    opportunities = pd.DataFrame(columns=OPPORTUNITY_COLUMNS)
    roles = pd.DataFrame(columns=CONTACT_ROLE_COLUMNS)
    return Extracted(accounts, usage, empty_tasks, opportunities, roles)


def config_with(tmp_path: Path, extra: str = "", drop: str = ""):  # type: ignore[no-untyped-def]
    text = (ROOT / "config.example.toml").read_text("utf-8")
    text = (text.replace(drop, "") if drop else text) + extra
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path / "config.toml")


def test_every_column_the_example_config_lists_is_there(tmp_path: Path) -> None:
    text = (ROOT / "config.example.toml").read_text("utf-8")
    block = text.split("Columns available:")[1].split("# [[features]]")[0]
    listed = re.findall(r"\b([a-z_]+)\b", re.sub(r"\([^)]*\)", "", block))
    scored = score_accounts(extracted(), config_with(tmp_path), AS_OF)
    assert len(listed) > 20
    assert sorted(set(listed) - set(scored.columns)) == []


def test_admin_features_feed_admin_phases(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """
[[features]]
name = "arr_per_seat"
expression = "arr / max(seats, 1)"

[[phases.phase]]
name = "Key account"
when = "arr_per_seat >= 10000 and active_ratio >= 0.8"
step = 2

[[phases.phase]]
name = "Other"
step = 1
""",
        drop='preset = "lifecycle"',
    )
    scored = score_accounts(extracted(), config, AS_OF)
    assert scored["arr_per_seat"].tolist() == [12000.0, 6000.0]
    assert scored["phase"].tolist() == ["Key account", "Other"]


def test_an_unknown_column_is_caught_when_the_config_loads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(tmp_path, '\n[[features]]\nname = "per_seat"\nexpression = "arr / seets"\n')
    text = "\n".join(raised.value.problems)
    assert text.startswith("features.per_seat: unknown column 'seets'; the columns are: ")
    assert "active_ratio" in text
    assert text.endswith("    arr / seets\n          ^")


def test_phase_conditions_see_health_but_features_do_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(tmp_path, '\n[[features]]\nname = "top"\nexpression = \'grade == "A"\'\n')
    assert "features.top: unknown column 'grade'" in raised.value.problems[0]


def test_a_feature_may_not_shadow_a_built_in_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="features.arr: a built-in feature has this name"):
        config_with(tmp_path, '\n[[features]]\nname = "arr"\nexpression = "1"\n')


def test_a_type_mistake_found_on_the_data_stops_the_run_with_the_rule_name(
    tmp_path: Path,
) -> None:
    config = config_with(tmp_path, '\n[[features]]\nname = "odd"\nexpression = "segment * 2"\n')
    with pytest.raises(ConfigError) as raised:
        score_accounts(extracted(), config, AS_OF)
    assert raised.value.problems[0].startswith(
        "features.odd: cannot evaluate this part: text such as 'High Touch' is not a number"
    )


def test_the_columns_config_is_checked_against_are_the_real_ones(tmp_path: Path) -> None:
    scored = score_accounts(extracted(), config_with(tmp_path), AS_OF)
    promised = {*ACCOUNT_INPUTS, *FEATURE_COLUMNS, *HEALTH_COLUMNS}
    assert sorted(promised - set(scored.columns)) == []


def test_busy_months_that_are_no_months_are_reported_by_account(tmp_path: Path) -> None:
    """The plan uses the months it can read, and the run names each account whose busy
    months hold something else, with the field and the fix."""
    from cs_sync.score import compute_plan

    data = extracted()
    data.accounts.loc[0, "busy_months"] = "3月と12月"
    data.accounts.loc[1, "busy_months"] = "３月・１２月"
    plan = compute_plan(data, config_with(tmp_path), AS_OF)
    found = [p for p in plan.problems if p.kind == "busy_months"]
    assert [p.record for p in found] == [data.accounts.loc[0, "account_id"]]
    assert "CS_Busy_Months__c = '3月と12月': '3月と12月' is not a month" in found[0].message


def test_the_phase_clock_can_start_at_go_live(tmp_path: Path) -> None:
    """With phases.clock_start on a go-live date field, an account signed long ago but live
    for a month is not behind schedule; by its contract start it is."""
    data = extracted()
    data.accounts["go_live"] = (pd.Timestamp(AS_OF) - pd.Timedelta(days=20)).date().isoformat()
    by_contract = score_accounts(data, config_with(tmp_path), AS_OF)
    text = (ROOT / "config.example.toml").read_text("utf-8")
    text = text.replace("[salesforce.fields]\n", '[salesforce.fields]\ngo_live = "GoLive__c"\n', 1)
    text = text.replace('clock_start = "contract_start"', 'clock_start = "go_live"', 1)
    (tmp_path / "go_live.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "go_live.toml")
    by_go_live = score_accounts(data, config, AS_OF)
    assert by_contract["phase_delayed"].any()
    assert not by_go_live["phase_delayed"].any()
    assert (by_go_live["phase_clock_months"] == 0).all()


def test_usage_kept_in_32_bits_gives_the_same_features_as_the_rows_read() -> None:
    """extract keeps usage lean (rules_usage: 32-bit metrics, no key or line numbers); every
    feature, the admin's metric features too, is what the rows as read give."""
    import numpy as np

    from cs_sync.extract import rules_usage
    from cs_sync.rules.features import FeatureSettings, build_features
    from cs_sync.rules.usage_metrics import MetricFeature

    rng = np.random.default_rng(3)
    ids = [f"001A{n:011d}AAA" for n in range(400)]
    months = pd.date_range("2024-06-01", "2026-11-01", freq="MS")
    rows = pd.DataFrame(
        [(a, m) for a in ids for m in months if rng.random() < 0.9], columns=["account_id", "month"]
    )
    size = len(rows)
    rows.insert(0, "account_key", rows["account_id"].str.lower())
    rows["line"] = np.arange(2, size + 2)
    for column, high in [("seats", 500), ("active_users", 500), ("logins", 20_000_000)]:
        rows[column] = rng.integers(0, high, size).astype(np.float64)
    rows["payslips_sent"] = np.where(rng.random(size) < 0.05, np.nan, rng.integers(0, 300, size))
    rows["year_end_adjustments"] = rng.integers(0, 50, size) * (rows["month"].dt.month >= 11)
    rows["hours"] = rng.uniform(0, 90, size).round(2)  # decimals
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "contract_start": rng.choice(["2023-02-01", "2025-03-15", "2026-04-01"], len(ids)),
            "renewal_date": "2027-05-01",
        }
    )
    settings = FeatureSettings(
        metric_features=(
            MetricFeature("hours_trend", "hours", "trend", months=3),
            MetricFeature("hours_level", "hours", "months_to_level", level=40.5),
            MetricFeature("logins_total", "logins", "total", months=6),
            MetricFeature("hours_season", "hours", "season_change", season=(3, 4)),
        )
    )
    lean = rules_usage(rows.copy())  # it takes the columns out of what it is given
    assert list(lean.columns) == [
        "account_id",
        "month",
        "seats",
        "active_users",
        "logins",
        "payslips_sent",
        "year_end_adjustments",
        "hours",
    ]
    assert all(lean[c].dtype == np.float32 for c in lean.columns[2:])
    pd.testing.assert_frame_equal(
        build_features(accounts, lean, AS_OF, settings),
        build_features(accounts, rows, AS_OF, settings),
    )


def test_usage_of_keys_no_account_has_is_reported_and_left_out() -> None:
    """A key with usage in the last complete month that no account read has is a problem
    naming its first line; a key with only older usage (a former customer) is left out
    quietly; the rows kept are the accounts' own, as the rules keep them."""
    from cs_sync.extract import join_usage

    accounts = pd.DataFrame({"account_id": ["001A", "001B"], "external_key": ["a", None]})
    usage = pd.DataFrame(
        {
            "account_key": ["001A", "001C", "001A", "001C", "001D"],
            "month": pd.to_datetime(
                ["2026-09-01", "2026-09-01", "2026-10-01", "2026-10-01"] + ["2025-01-01"]
            ),
            "line": [2, 3, 4, 5, 6],
            "logins": [10.0, 11.0, 12.0, 13.0, 14.0],
        }
    )
    kept, problems = join_usage(accounts, usage.copy(), "salesforce_id", "usage.csv", AS_OF)
    assert [(p.kind, p.record) for p in problems] == [("usage_unknown_account", "001C")]
    assert "usage.csv line 5: usage for 2026-10" in problems[0].message
    assert kept.to_dict("list") == {
        "account_id": ["001A", "001A"],
        "month": [pd.Timestamp("2026-09-01"), pd.Timestamp("2026-10-01")],
        "logins": [10.0, 12.0],
    }
    assert kept["logins"].dtype == "float32"
    # a code a row into the accounts' own id strings, not a string a row
    assert isinstance(kept["account_id"].dtype, pd.CategoricalDtype)
    assert list(kept["account_id"].cat.categories) == ["001A"]
    assert kept["account_id"].cat.categories[0] is accounts["account_id"].iloc[0]
    none, problems = join_usage(accounts.iloc[0:0], usage, "salesforce_id", "usage.csv", AS_OF)
    assert none.empty and [p.record for p in problems] == ["001A", "001C"]
