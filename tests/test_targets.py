"""KPI targets against the actuals, worked by hand: this fiscal year so far and the last one,
the twelve months, the run's own KPIs; targets as teams write them, and the ones that name
no KPI refused with the list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cs_sync.config import load_config
from cs_sync.connectors.output_settings import KpiTarget
from cs_sync.errors import ConfigError
from cs_sync.revenue import period_kpis, periods
from cs_sync.targets import target_table
from tests.test_config import MINIMAL, write
from tests.test_revenue import AS_OF, timeline


def table(*targets: KpiTarget, day: pd.DataFrame | None = None) -> pd.DataFrame:
    by_period = period_kpis(timeline(), periods(AS_OF))
    day = day if day is not None else pd.DataFrame(columns=["date", "metric", "dimension", "value"])
    return target_table(targets, by_period, day, AS_OF)


def test_nrr_this_fiscal_year_and_the_last() -> None:
    found = table(KpiTarget.model_validate({"metric": "nrr", "at_least": "110%"}))
    rows = found.set_index("period")
    assert list(rows.index) == ["FY2025", "FY2026"]  # the last complete one, then this one
    assert rows.loc["FY2025", "actual"] == pytest.approx(1.15)
    assert rows.loc["FY2025", "gap"] == pytest.approx(0.05) and rows.loc["FY2025", "met"]
    assert not rows.loc["FY2026", "complete"] and not rows.loc["FY2026", "met"]
    assert rows.loc["FY2026", "gap"] == pytest.approx(4_000_000 / 4_600_000 - 1.1)


def test_churn_at_most_over_twelve_months() -> None:
    target = KpiTarget.model_validate(
        {"metric": "logo_churn_rate", "period": "ttm", "at_most": "１０％"}  # full-width
    )
    row = table(target).iloc[0]
    assert (row["period"], row["target"]) == ("TTM 2026-05", pytest.approx(0.10))
    assert row["actual"] == pytest.approx(1 / 5) and not row["met"]


def test_a_days_kpi_and_one_with_no_value_yet() -> None:
    day = pd.DataFrame(
        {
            "date": ["2026-06-30"],
            "metric": ["onboarding_completion_rate"],
            "dimension": ["all"],
            "value": [0.85],
        }
    )
    found = table(
        KpiTarget.model_validate(
            {"metric": "onboarding_completion_rate", "period": "day", "at_least": 0.8}
        ),
        KpiTarget.model_validate({"metric": "tasks_overdue", "period": "day", "at_most": 5}),
        day=day,
    )
    onboarding, overdue = found.iloc[0], found.iloc[1]
    assert onboarding["met"] and onboarding["gap"] == pytest.approx(0.05)
    assert pd.isna(overdue["actual"]) and overdue["met"] is None  # not known: neither


def test_targets_as_written_in_the_config(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[[dashboard.targets]]\nmetric = "nrr"\nat_least = "110%"\n'
        '\n[[dashboard.targets]]\nmetric = "onboarding_completion_rate"\nperiod = "day"\n'
        "at_least = 0.8\n"
    )
    config = load_config(write(tmp_path, text))
    assert [t.at_least for t in config.dashboard.targets] == [pytest.approx(1.1), 0.8]
    wrong = MINIMAL + (
        '\n[[dashboard.targets]]\nmetric = "nps"\nperiod = "quarter"\nat_least = 1\n'
        '\n[[dashboard.targets]]\nmetric = "nrr"\nperiod = "day"\nat_least = 1\nat_most = 2\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, wrong))
    found = str(raised.value)
    assert "dashboard.targets[0].metric: 'nps' is no KPI by quarter; use one of nrr, grr" in found
    assert "give one of at_least or at_most" in found
