"""Each CSM's book, as a manager reviews it CSM by CSM: accounts and ARR, the grade mix, the
accounts behind schedule and the renewal ARR at risk, cs-sync's Tasks (created over the last
30 days, as Salesforce holds them, however many runs made them; open and overdue now), and
the playbooks (running and started, by playbook; their steps open, overdue and done).
One long table (csm, metric, dimension, value), so that its columns never change whatever
the grades are called."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from cs_sync.kpis import owner_labels

CSM_COLUMNS = ["csm", "metric", "dimension", "value"]
TASK_WINDOW_DAYS = 30
AT_RISK_WITHIN_DAYS = 120


def csm_labels(accounts: pd.DataFrame, tasks: pd.DataFrame) -> dict[str, str]:
    """User id -> the name managers know each CSM by (owners, sub CSMs, Task owners)."""
    pairs = [
        (accounts[ids], accounts[names])
        for ids, names in (("owner_id", "owner_name"), ("sub_csm_id", "sub_csm_name"))
        if ids in accounts and names in accounts
    ]
    if "owner_id" in tasks and "owner_name" in tasks:
        pairs.append((tasks["owner_id"], tasks["owner_name"]))
    return owner_labels(pairs)


def csm_table(
    scored: pd.DataFrame,
    grades: list[str],
    at_risk: tuple[str, ...],
    labels: dict[str, str],
    day: pd.DataFrame,
    tasks: pd.DataFrame,
    new_tasks: pd.DataFrame,
    as_of: date,
    playbooks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`scored`: today's accounts (owner_id, arr, grade, phase_delayed, days_to_renewal);
    `day`: the run's KPI rows (Tasks open and overdue by CSM); `tasks`: cs-sync's Tasks read
    (owner_id, created_date: every one created in the last 30 days, see book_reads.task_read);
    `new_tasks`: those this run created (owner_id); `playbooks`: the running instances
    (playbook, account_id, started)."""
    rows: list[tuple[str, str, str, float]] = []
    owners = scored["owner_id"].map(lambda user: labels.get(user, str(user)))
    arr = pd.to_numeric(scored["arr"], errors="coerce").fillna(0.0)
    days = pd.to_numeric(scored["days_to_renewal"], errors="coerce")
    risky = days.between(0, AT_RISK_WITHIN_DAYS) & scored["grade"].isin(at_risk)
    delayed = scored["phase_delayed"].fillna(False).astype(bool)
    # grouped by its grade alone: grouping the whole table sorted a copy of every column
    for csm, book in scored[["grade"]].groupby(owners, sort=True):
        mine = book.index
        rows.append((str(csm), "accounts", "all", float(len(book))))
        rows.append((str(csm), "arr", "all", float(arr[mine].sum())))
        for grade in grades:
            rows.append(
                (str(csm), "accounts_by_grade", grade, float((book["grade"] == grade).sum()))
            )
        rows.append((str(csm), "accounts_by_grade", "none", float(book["grade"].isna().sum())))
        rows.append((str(csm), "phase_delayed", "all", float(delayed[mine].sum())))
        rows.append(
            (
                str(csm),
                f"renewal_arr_at_risk_{AT_RISK_WITHIN_DAYS}d",
                "all",
                float(arr[mine][risky[mine]].sum()),
            )
        )
    for metric in ("tasks_open", "tasks_overdue"):
        found = day[(day["metric"] == metric) & (day["dimension"] != "all")]
        rows += [(str(r.dimension), metric, "all", float(r.value)) for r in found.itertuples()]
    since = pd.Timestamp(as_of - timedelta(days=TASK_WINDOW_DAYS))
    creators = list(new_tasks["owner_id"]) if "owner_id" in new_tasks else []
    if len(tasks) and "created_date" in tasks:
        made = pd.to_datetime(tasks["created_date"], errors="coerce", utc=True)
        creators += list(tasks.loc[made.dt.tz_localize(None) > since, "owner_id"])
    named = pd.Series([labels.get(user, str(user)) for user in creators], dtype=object)
    for csm, count in named.value_counts().sort_index().items():
        rows.append((str(csm), f"tasks_created_{TASK_WINDOW_DAYS}d", "all", float(count)))
    rows += _playbook_rows(scored, owners, tasks, labels, as_of, playbooks)
    table = pd.DataFrame(rows, columns=CSM_COLUMNS)
    return table.sort_values(["csm", "metric", "dimension"], ignore_index=True)


def _playbook_rows(
    scored: pd.DataFrame,
    owners: pd.Series,
    tasks: pd.DataFrame,
    labels: dict[str, str],
    as_of: date,
    playbooks: pd.DataFrame | None,
) -> list[tuple[str, str, str, float]]:
    """Per CSM (the account's owner): playbooks running and started this run, by playbook;
    per step owner: steps open, overdue and done (closed, as far back as steps are read), as
    Salesforce held them when the run began (as tasks_open and tasks_overdue count)."""
    rows: list[tuple[str, str, str, float]] = []
    if playbooks is not None and len(playbooks):
        owner_of = dict(zip(scored["account_id"], owners, strict=True))
        running = playbooks.assign(csm=playbooks["account_id"].map(owner_of))
        for (csm, name), group in running.groupby(["csm", "playbook"], sort=True):
            rows.append((str(csm), "playbooks_running", str(name), float(len(group))))
            started = float(group["started"].astype(bool).sum())
            if started:
                rows.append((str(csm), "playbooks_started", str(name), started))
    steps = _steps_of(tasks)  # as read before the run, like tasks_open and tasks_overdue
    if len(steps):
        closed = steps["is_closed"].astype(bool)
        due = pd.to_datetime(steps["activity_date"], errors="coerce")
        late = ~closed & (due < pd.Timestamp(as_of))
        for metric, chosen in (
            ("playbook_steps_open", ~closed),
            ("playbook_steps_overdue", late),
            ("playbook_steps_done", closed),
        ):
            owners = steps.loc[chosen, "owner_id"]
            named = pd.Series([labels.get(u, str(u)) for u in owners], dtype=object)
            for csm, count in named.value_counts().sort_index().items():
                rows.append((str(csm), metric, "all", float(count)))
    return rows


def _steps_of(tasks: pd.DataFrame) -> pd.DataFrame:
    """The playbook steps among cs-sync's Tasks (their rule is <playbook>/<step>)."""
    if "rule" not in tasks or tasks.empty:
        return tasks.iloc[0:0]
    return tasks[tasks["rule"].astype(str).str.contains("/", regex=False)]


TASK_LIST_COLUMNS = [
    "key",
    "rule",
    "account_id",
    "owner_id",
    "due_date",
    "is_closed",
    "created_date",
    "created_this_run",
]


def recent_tasks(tasks: pd.DataFrame, new_tasks: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """cs-sync's Tasks of the last 30 days and every open one, this run's included: what the
    dashboard lists, so that a rerun that creates nothing does not empty it."""
    since = pd.Timestamp(as_of - timedelta(days=TASK_WINDOW_DAYS))
    read = tasks.copy()
    if len(read) and "created_date" in read:
        made = pd.to_datetime(read["created_date"], errors="coerce", utc=True).dt.tz_localize(None)
        read = read[(made > since) | ~read["is_closed"].astype(bool)]
    before = read.rename(columns={"activity_date": "due_date"}).reindex(columns=TASK_LIST_COLUMNS)
    before["created_this_run"] = False
    made_now = new_tasks.reindex(columns=TASK_LIST_COLUMNS)
    made_now["is_closed"] = False
    made_now["created_date"] = as_of.isoformat()
    made_now["created_this_run"] = True
    frames = [f for f in (made_now, before) if len(f)]
    if not frames:
        return pd.DataFrame(columns=TASK_LIST_COLUMNS)
    return pd.concat(frames, ignore_index=True)
