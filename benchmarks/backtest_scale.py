"""The backtest at scale: N accounts scored on 52 monthly dates, then the report with 1,000
resamplings of the accounts, the per-measure table, the lead time and the fit.

    python -m benchmarks.backtest_scale --accounts 100000

The book is generated in memory, shaped as `extract` returns it (with former customers): each
account has a hidden health that sets its usage; about one in four churns on a date of the
period (a renewal closed lost, the account left as a former customer), its usage fading in
the six months before. The score is the rules-stage benchmark's 20 measures. Times the whole
`run_backtest` (observe, outcomes, report, fit) and samples the process's resident memory.
The target: 100,000 accounts under 2 minutes and 4 GiB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.rules_stage import PeakMemory, _rss, signals_config, synthetic_book
from cs_sync.backtest import run_backtest
from cs_sync.extract import Extracted

TODAY = date(2026, 11, 24)
DATES = 52
MONTHS = DATES + 10  # usage history before the first date, for trends and seasons


def churning_book(accounts: int, seed: int = 11) -> Extracted:
    """The rules-stage book with five years of usage that follows a hidden health, and the
    accounts that churned in the period as former customers with a lost renewal."""
    book = synthetic_book(accounts, seed)
    rng = np.random.default_rng(seed)
    health = rng.normal(size=accounts)
    churns = rng.random(accounts) < 1 / (1 + np.exp(1.2 + 1.3 * health))
    months = pd.date_range(end=pd.Timestamp(TODAY).replace(day=1), periods=MONTHS, freq="MS")
    churn_month = np.where(churns, rng.integers(6, MONTHS - 1, accounts), MONTHS + 1)
    ids = book.accounts["account_id"].to_numpy()
    seats = book.accounts["seats"].to_numpy(dtype=np.int64)
    index = np.repeat(np.arange(accounts), MONTHS)
    month_no = np.tile(np.arange(MONTHS), accounts)
    before = churn_month[index] - month_no  # months until the account leaves
    level = 1 / (1 + np.exp(-(0.8 + health[index])))
    fade = np.clip(before / 6, 0, 1)
    ratio = np.clip(level * fade * rng.uniform(0.85, 1.1, len(index)), 0, 1)
    alive = before > 0
    active = (ratio * seats[index]).astype(np.int64)
    usage = pd.DataFrame(
        {
            "account_id": ids[index],
            "month": months.to_numpy()[month_no],
            "seats": seats[index],
            "active_users": active,
            "logins": active * 10,
            "payslips_sent": np.where(rng.random(len(index)) < 0.9, active, 0),
            "year_end_adjustments": np.where(months.month.isin([11, 12])[month_no], active, 0),
            "surveys_run": rng.integers(0, 3, len(index)),
            "candidate_requests": rng.integers(0, 5, len(index)),
        }
    )[alive]
    start = months[0] - pd.DateOffset(years=1)
    left_on = months.to_numpy()[np.minimum(churn_month, MONTHS - 1)]
    frame = book.accounts.copy()
    frame["contract_start"] = start.strftime("%Y-%m-%d")
    frame["former"] = churns
    renewal = pd.to_datetime(frame["renewal_date"])
    frame["renewal_date"] = np.where(
        churns, pd.DatetimeIndex(left_on).strftime("%Y-%m-%d"), renewal.dt.strftime("%Y-%m-%d")
    )
    lost = pd.DataFrame(
        {
            "opportunity_id": [f"006{n:012d}LST" for n in np.flatnonzero(churns)],
            "account_id": ids[churns],
            "type": "Renewal",
            "stage": "Closed Lost",
            "close_date": pd.DatetimeIndex(left_on[churns]).strftime("%Y-%m-%d"),
            "amount": frame["arr"].to_numpy()[churns],
            "is_closed": True,
            "is_won": False,
        }
    )
    opportunities = pd.concat([book.opportunities, lost], ignore_index=True)
    return replace(book, accounts=frame, usage=usage, opportunities=opportunities)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = signals_config(Path(folder))
        settings = config.backtest.model_copy(update={"months": DATES})
        book = churning_book(args.accounts)
        before = _rss()
        started = time.perf_counter()
        with PeakMemory() as memory:
            result = run_backtest(
                config, TODAY, settings, extracted=book, fit=Path(folder) / "fitted.toml"
            )
        took = time.perf_counter() - started
    report = result.base.report
    low, high = report["intervals"]["auc"] or (float("nan"), float("nan"))
    fit = result.fit
    print(
        f"{args.accounts:,} accounts x {len(result.dates)} dates: {report['observations']:,} "
        f"observations, {report['churned_accounts']:,} churned accounts; AUC "
        f"{report['auc']:.3f} ({low:.3f}-{high:.3f}), trend {report['trend']['verdict']}, "
        f"{len(report['measures'])} measures judged"
    )
    if fit is not None:
        dropped = sum(1 for w in fit.weights if not w["fitted"])
        print(
            f"fit on {fit.observations:,} observations: held-out AUC {fit.cv_auc:.3f} vs "
            f"configured {fit.configured_cv_auc:.3f}; {dropped} measure(s) dropped"
        )
    print(
        f"took {took:.1f} s; memory {before / 1024**3:.2f} GiB with the inputs, peak "
        f"{memory.peak / 1024**3:.2f} GiB"
    )


if __name__ == "__main__":
    main()
