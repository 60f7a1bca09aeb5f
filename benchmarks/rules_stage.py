"""The rules stage at scale: features, health, phase, renewal, tasks and playbooks for N accounts.

    python -m benchmarks.rules_stage --accounts 100000 1000000

Inputs are generated in memory first (13 months of usage per account with two metrics of the
team's own, a renewal opportunity, two contact roles, three CSM touches and a support case
each, and two Account fields of the team's own), shaped as `extract` returns them; the score
has 20 measures over every kind of signal (usage, features of own metrics, activity, cases,
own fields, a text field) plus a High Touch scorecard. Then each step of the pure middle is
timed, and the process's resident memory is sampled every 5 ms while it runs. Each
size runs in a fresh process, so memory figures do not carry over; the last line compares the
time per account across sizes (1.0 = linear). The target for 1,000,000 accounts is under 10 s
and under 2 GiB for the whole stage.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cs_sync.book_reads import ACCOUNT_COLUMNS, TASK_COLUMNS
from cs_sync.config import Config, load_config
from cs_sync.extract import Extracted, rules_usage
from cs_sync.rules.arrays import shared_texts
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.health import score_health
from cs_sync.rules.health_reasons import metric_shapes
from cs_sync.rules.phases import assign_phases
from cs_sync.rules.playbooks import plan_playbooks, render_steps
from cs_sync.rules.renewal import assign_renewal
from cs_sync.rules.tasks import new_tasks, wanted_pairs
from cs_sync.score import account_features

AS_OF = date(2026, 11, 24)
ROOT = Path(__file__).resolve().parents[1]
PAGE = 4096


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakMemory:
    """Samples resident memory in a thread while the block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __enter__(self) -> PeakMemory:
        self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def texts(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)


def synthetic_book(accounts: int, seed: int = 7) -> Extracted:
    rng = np.random.default_rng(seed)
    ids = np.array([f"001{n:012d}AAA" for n in range(accounts)], dtype=object)
    # texts drawn from one object per distinct value, as pandas' CSV parser gives them
    days = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(1400), "D")
    day = rng.integers(0, 1400, accounts)
    starts = np.array(days.strftime("%Y-%m-%d"), dtype=object)[day]
    renewals = np.array((days + pd.DateOffset(years=6)).strftime("%Y-%m-%d"), dtype=object)[day]
    seats = rng.integers(5, 500, accounts)
    # built from its columns at once, as book_reads.accounts_from does
    columns = {
        "account_id": ids,
        "name": ids,
        "owner_id": "005000000000001AAA",
        "owner_active": rng.random(accounts) > 0.05,
        "sub_csm_id": "005000000000002AAA",
        "sub_csm_active": True,
        "arr": seats * 12_000.0,
        "seats": seats.astype(float),
        "contract_start": starts,
        "renewal_date": renewals,
        "segment": rng.choice(texts(["High Touch", "Low Touch", "Tech Touch"]), accounts),
        "budget_status": rng.choice(texts(["Secured", "Planned", "Unknown", "Cut"]), accounts),
        "sentiment": rng.choice(texts(["Positive", "Neutral", "Negative"]), accounts),
        "busy_months": rng.choice(texts(["3", "3,12", "", "4,9", "12"]), accounts),
        "approval_lead_days": rng.choice([14.0, 30.0, 60.0], accounts),
        "prev_score": rng.uniform(0, 100, accounts).round(1),
        "prev_trend": "Flat",
        "nps": np.where(rng.random(accounts) < 0.7, rng.integers(-100, 101, accounts), np.nan),
        "risk_flag": rng.random(accounts) < 0.1,
    }
    frame = pd.DataFrame(
        {column: columns.get(column) for column in [*ACCOUNT_COLUMNS, "nps", "risk_flag"]},
        index=range(accounts),
    )

    months = pd.date_range("2025-10-01", "2026-10-01", freq="MS")
    level = rng.uniform(0.1, 1.0, accounts)
    rows = accounts * len(months)
    account_of_row = np.repeat(np.arange(accounts), len(months))
    ratio = np.clip(level[account_of_row] * rng.uniform(0.85, 1.1, rows), 0, 1)
    active = (ratio * seats[account_of_row]).astype(np.int64)
    usage = rules_usage(  # as extract keeps it
        pd.DataFrame(
            {
                "account_id": ids[account_of_row],
                "month": np.tile(months.to_numpy(), accounts),
                "seats": seats[account_of_row],
                "active_users": active,
                "logins": active * 10,
                "payslips_sent": np.where(rng.random(rows) < 0.9, active, 0),
                "year_end_adjustments": np.where(
                    np.tile(months.month.isin([11, 12]), accounts), active, 0
                ),
                "surveys_run": rng.integers(0, 3, rows),
                "candidate_requests": rng.integers(0, 5, rows),
            }
        )
    )
    touches = np.repeat(ids, 3)
    activities = pd.DataFrame(
        {
            "account_id": touches,
            "day": (pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(1, 180, len(touches)), "D")),
            "meeting": rng.random(len(touches)) < 0.4,
        }
    )
    created = pd.Timestamp(AS_OF, tz="UTC") - pd.to_timedelta(rng.integers(0, 60, accounts), "D")
    cases = pd.DataFrame(
        {
            "account_id": ids,
            "created": created,
            "closed": pd.NaT,
            "is_closed": rng.random(accounts) < 0.5,
            "high": rng.random(accounts) < 0.2,
            "escalated": rng.random(accounts) < 0.05,
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ids,
            "account_id": ids,
            "type": "Renewal",
            "stage": "Value Review",
            "close_date": frame["renewal_date"],
            "amount": frame["arr"],
            "is_closed": False,
            "is_won": False,
        }
    )
    roles = pd.DataFrame(
        {
            "account_id": np.repeat(ids, 2),
            "contact_id": np.repeat(ids, 2),
            "role": np.tile(texts(["Economic Buyer", "Champion"]), accounts),
        }
    )
    empty_tasks = pd.DataFrame(columns=TASK_COLUMNS)
    return Extracted(  # repeated texts shared, as extract returns them
        shared_texts(frame),
        usage,
        empty_tasks,
        shared_texts(opportunities),
        shared_texts(roles),
        activities=activities,
        cases=cases,
    )


def run_stage(book: Extracted, config: Config) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    features = account_features(book, config, AS_OF)
    timings["features"] = time.perf_counter() - started

    mark = time.perf_counter()
    shapes = metric_shapes(d.metric for d in config.features if d.metric)
    scored = score_health(features, config.health, AS_OF, config.language, shapes)
    del features  # as in score.health_of: the scored table is a copy with more columns
    timings["health"] = time.perf_counter() - mark

    mark = time.perf_counter()
    scored = scored.join(assign_phases(scored, config.phases.phases))
    timings["phase"] = time.perf_counter() - mark

    mark = time.perf_counter()
    closed = closed_days(config.holiday_country, config.company_closed, range(2026, 2028))
    renewal = config.renewal
    scored = scored.join(
        assign_renewal(
            scored,
            renewal.axes,
            renewal.strategies,
            renewal.settings,
            AS_OF,
            config.language,
            closed,
        )
    )
    timings["renewal"] = time.perf_counter() - mark

    mark = time.perf_counter()
    scored = scored.reset_index(drop=True)
    wanted = wanted_pairs(scored, config.tasks)
    playbooks = plan_playbooks(
        scored, book.tasks, config.playbooks, AS_OF, config.language, closed, None
    )
    made = new_tasks(
        wanted,
        scored,
        book.tasks,
        config.tasks,
        AS_OF,
        config.language,
        closed,
        playbooks.steps,
        lambda chosen: render_steps(chosen, scored, config.playbooks, config.language),
    )
    timings["tasks"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    timings["tasks_wanted"] = float(len(wanted))
    timings["tasks_created"] = float(len(made.tasks))
    return timings


SIGNALS = """
[[features]]
name = "surveys_3m"
metric = "surveys_run"
function = "total"
[[features]]
name = "requests_trend"
metric = "candidate_requests"
function = "trend"
months = 3
[[features]]
name = "requests_without"
metric = "candidate_requests"
function = "months_without"
[[features]]
name = "first_request"
metric = "candidate_requests"
function = "months_to_level"
level = 3
[[features]]
name = "requests_season"
metric = "candidate_requests"
function = "season_change"
season = [3, 4]
[[features]]
name = "requests_avg"
metric = "candidate_requests"
function = "average"
months = 6
"""
MEASURES = [  # name, bad, good: with the four default measures, 20
    ("surveys_3m", 0, 3),
    ("requests_trend", 0.5, 1),
    ("requests_without", 3, 0),
    ("first_request", 6, 1),
    ("requests_season", 0.5, 1),
    ("requests_avg", 0, 3),
    ("days_since_meeting", 120, 30),
    ("meetings_90d", 0, 3),
    ("days_since_touch", 60, 7),
    ("touches_90d", 0, 6),
    ("open_cases", 3, 0),
    ("recent_cases", 4, 0),
    ("high_priority_cases", 2, 0),
    ("escalated_cases", 1, 0),
    ("nps", -50, 50),
]


def signals_config(folder: Path) -> Config:
    """config.example.toml with the team's own signals: 20 measures and a scorecard."""
    text = (ROOT / "config.example.toml").read_text("utf-8")
    text = text.replace(
        "[salesforce.fields]\n", '[salesforce.fields]\nnps = "NPS__c"\nrisk_flag = "Risk__c"\n'
    ).replace("metrics = []", 'metrics = ["surveys_run", "candidate_requests"]')
    rows = [f'name = "{n}"\nweight = 5\nbad = {b}\ngood = {g}' for n, b, g in MEASURES]
    rows.append(
        'name = "budget_status"\nweight = 5\nvalues = { Secured = 1.0, Planned = 0.7, '
        "Unknown = 0.4, Cut = 0 }"
    )
    text += SIGNALS + "".join(f"\n[[health.measures]]\n{row}\n" for row in rows)
    text += '\n[[health.scorecards]]\nname = "high_touch"\nsegments = ["High Touch"]\n'
    text += "".join(f"\n[[health.scorecards.measures]]\n{row}\n" for row in rows[6:])
    path = folder / "signals.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    assert len(config.health.measures) == 20, len(config.health.measures)
    return config


def measure(accounts: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        config = signals_config(Path(folder))
    started = time.perf_counter()
    book = synthetic_book(accounts)
    generated = time.perf_counter() - started
    before = _rss()
    with PeakMemory() as memory:
        timings = run_stage(book, config)
    return {
        **timings,
        "accounts": accounts,
        "usage_rows": len(book.usage),
        "generated_s": generated,
        "inputs_gib": before / 1024**3,
        "peak_gib": memory.peak / 1024**3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    results = []
    for accounts in args.accounts:
        child = subprocess.run(  # noqa: S603 - our own module, a number argument
            [sys.executable, "-m", "benchmarks.rules_stage", "--one", str(accounts)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        result = json.loads(child.stdout)
        results.append(result)
        print(
            f"{accounts:>9,} accounts, {int(result['usage_rows']):,} usage rows: "
            + " · ".join(f"{step} {result[step]:.2f} s" for step in STEPS)
        )
        print(
            f"{'':>10}tasks wanted {int(result['tasks_wanted']):,}, created "
            f"{int(result['tasks_created']):,} (the caps); memory "
            f"{result['inputs_gib']:.2f} GiB with the inputs, peak {result['peak_gib']:.2f} GiB "
            f"during the stage (+{result['peak_gib'] - result['inputs_gib']:.2f} GiB)"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        ratio = (large["total"] / large["accounts"]) / (small["total"] / small["accounts"])
        print(
            f"time per account, {int(large['accounts']):,} vs {int(small['accounts']):,}: "
            f"{ratio:.2f}x"
        )


STEPS = ("features", "health", "phase", "renewal", "tasks", "total")

if __name__ == "__main__":
    main()
