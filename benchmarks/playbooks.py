"""Playbooks at scale: planning the steps of five running playbooks for every account.

    python -m benchmarks.playbooks --accounts 100000

The book is generated in memory as the rules stage hands it on (one row per account with the
columns the playbooks read). Five playbooks run for every account: two dated from the day they
started (started ten days ago, their first steps done), two from the renewal date (one with
its steps on the plan's own date columns) and one from the contract start, four steps each.
The cs-sync Tasks read back are the steps earlier runs made. Timed: the plan of the steps
due now (dates, busy months, owners, keys checked against the Tasks read, templates
rendered for those the caps let through); then a run with every step due now among the
Tasks read, which must want nothing (only what changed is written). The target for 100,000
accounts is under 10 s.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from benchmarks.rules_stage import PeakMemory
from cs_sync.book_reads import TASK_COLUMNS
from cs_sync.config_playbooks import PlaybookRow, PlaybooksFile, compile_playbooks
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.playbooks import plan_playbooks, render_steps
from cs_sync.rules.tasks import TaskSettings, new_tasks

AS_OF = date(2026, 11, 24)
DATES = ("contract_start", "renewal_anchor", "plan_proposal", "plan_quote")


def book(accounts: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.array([f"001{n:012d}AAA" for n in range(accounts)], dtype=object)
    renewal = pd.Timestamp(AS_OF) + pd.to_timedelta(rng.integers(10, 170, accounts), "D")
    return pd.DataFrame(
        {
            "account_id": ids,
            "name": [f"株式会社{n}" for n in range(accounts)],
            "segment": rng.choice(["High Touch", "Low Touch"], accounts),
            "arr": rng.integers(300_000, 20_000_000, accounts).astype(float),
            "owner_id": rng.choice([f"005{n:012d}" for n in range(40)], accounts),
            "owner_active": rng.random(accounts) > 0.05,
            "sub_csm_id": rng.choice([f"005{n:012d}" for n in range(40)], accounts),
            "sub_csm_active": True,
            "grade": rng.choice(["A", "B", "C", "D"], accounts),
            "phase_delayed": rng.random(accounts) < 0.3,
            "busy_mask": rng.choice([0, 1 << 2, (1 << 2) | (1 << 11)], accounts),
            "contract_start": pd.Timestamp(AS_OF)
            - pd.to_timedelta(rng.integers(0, 60, accounts), "D"),
            "renewal_anchor": renewal,
            "plan_proposal": renewal - pd.Timedelta(days=60),
            "plan_quote": renewal - pd.Timedelta(days=40),
            "renewal_steps_done": rng.integers(0, 3, accounts),
        }
    )


def playbooks() -> PlaybooksFile:
    def steps(days: list[int], dates: list[str] | None = None) -> list[dict[str, object]]:
        return [
            {
                "name": f"s{i}",
                "days": day,
                **({"date": dates[i]} if dates and dates[i] else {}),
                "owner": "sub_csm" if i == 3 else "csm",
                "subject": "{playbook}: {name} ({grade})",
                "description": "due {step_due}, ARR {arr:,.0f}",
            }
            for i, day in enumerate(days)
        ]

    rows = [
        {"name": "start_a", "when": "true", "steps": steps([0, 5, 10, 20])},
        {"name": "start_b", "when": "phase_delayed or true", "steps": steps([0, 3, 8, 30])},
        {
            "name": "renewal_a",
            "when": "true",
            "anchor": "renewal_anchor",
            "steps": steps([-120, -90, -60, -30]),
        },
        {
            "name": "renewal_b",
            "when": "true",
            "anchor": "renewal_anchor",
            "steps": steps([0, 0, 0, -20], ["plan_proposal", "plan_quote", "", ""]),
        },
        {
            "name": "kickoff",
            "when": "true",
            "anchor": "contract_start",
            "steps": steps([3, 14, 30, 60]),
        },
    ]
    return PlaybooksFile(presets=(), playbook=tuple(PlaybookRow(**row) for row in rows))  # type: ignore[arg-type]


def earlier_steps(scored: pd.DataFrame) -> pd.DataFrame:
    """The steps runs before made: the start-dated playbooks began ten days ago and their
    first two steps are done."""
    start = (AS_OF - timedelta(days=10)).isoformat()
    frames = []
    for name in ("start_a", "start_b"):
        for step in ("s0", "s1"):
            keys = f"cs-sync:{name}/{step}:" + scored["account_id"] + f":{start}"
            frames.append(
                pd.DataFrame(
                    {
                        "task_id": "00T" + keys.str[-22:],
                        "key": keys,
                        "rule": f"{name}/{step}",
                        "account_id": scored["account_id"],
                        "is_closed": True,
                        "description": "",
                    }
                )
            )
    return pd.concat(frames, ignore_index=True).reindex(columns=TASK_COLUMNS)


def measure(accounts: int) -> None:
    scored = book(accounts)
    problems: list[str] = []
    known = [*scored.columns, "prev_grade"]
    settings = compile_playbooks(playbooks(), known, set(DATES), problems)
    assert not problems, problems
    closed = closed_days("JP", ("12-29", "12-30", "12-31", "01-02", "01-03"), range(2026, 2028))
    existing = earlier_steps(scored)
    wanted = pd.DataFrame(
        {"rule": pd.Series(dtype=object), "account_id": pd.Series(dtype=object), "row": []}
    )

    def one_run(tasks: pd.DataFrame, limits: TaskSettings) -> tuple[pd.DataFrame, int, float]:
        began = time.perf_counter()
        made = plan_playbooks(scored, tasks, settings, AS_OF, "ja", closed, None)
        created = new_tasks(
            wanted,
            scored,
            tasks,
            limits,
            AS_OF,
            "ja",
            closed,
            made.steps,
            lambda chosen: render_steps(chosen, scored, settings, "ja"),
        )
        return created.tasks, len(made.steps), time.perf_counter() - began

    with PeakMemory() as memory:
        # a first run: every step due now is wanted, the default caps let 200 through
        first, wanted_now, first_s = one_run(existing, TaskSettings())
        # the steady state: every step due now exists (done or open); a run wants none
        made = plan_playbooks(scored, existing, settings, AS_OF, "ja", closed, None).steps
        read_back = pd.concat(
            [existing, made.assign(task_id="00T", is_closed=False).reindex(columns=TASK_COLUMNS)],
            ignore_index=True,
        )
        steady, _, steady_s = one_run(read_back, TaskSettings())
    print(
        f"{accounts:,} accounts, 5 playbooks running each: first run {wanted_now:,} steps "
        f"wanted, {len(first):,} created under the caps, {first_s:.2f} s; with "
        f"{len(read_back):,} steps read back, a run wants {len(steady):,} in {steady_s:.2f} s; "
        f"peak memory {memory.peak / 2**30:.2f} GiB"
    )
    assert len(steady) == 0, "a rerun must want no step it made"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    for accounts in args.accounts:
        measure(accounts)


if __name__ == "__main__":
    main()
