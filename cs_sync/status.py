"""`cs-sync status`: is the sync healthy? For a monitor (exit code) and for people (text).

Reads the last runs from the history store (every `run`, scheduled or not, records one) and,
when a worker runs, its status file. Healthy means: the last run ended ok (or partial, which
`--strict` counts as a failure) and finished less than `max_age_hours` ago. Freshness: when the
last complete read began, so a monitor can alert when the book falls behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from cs_sync.brakes import brake_streak, brake_summary
from cs_sync.config import Config
from cs_sync.connectors.copy_store import CopyStore
from cs_sync.connectors.history_store import open_history
from cs_sync.errors import CsSyncError


@dataclass
class Health:
    healthy: bool
    reasons: list[str] = field(default_factory=list)
    last_run: dict[str, Any] | None = None
    worker: dict[str, Any] | None = None
    freshness: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "reasons": self.reasons,
            "last_run": self.last_run,
            "worker": self.worker,
            "freshness": self.freshness,
        }


# The objects every run reads (whole, or by their changes into the local copy): a run that
# ended ok or partial read each of them as it stood when the run began.
READ_WHOLE = ("Account", "Opportunity", "OpportunityContactRole", "Task")


def freshness_of(runs: pd.DataFrame, now: datetime) -> dict[str, Any] | None:
    """How far behind Salesforce the written values may be: every change made before the last
    complete read (a run that ended ok or partial) is in; the oldest change not yet read is at
    most `behind_s` old. The watermark per object is that read's start (with a local copy,
    the copy's own, by the org's clock)."""
    read = runs[runs["status"].isin(["ok", "partial"])] if len(runs) else runs
    if read.empty:
        return None
    started = pd.Timestamp(read.sort_values("started_at").iloc[-1]["started_at"])
    at = started.to_pydatetime().replace(tzinfo=UTC)
    stamp = at.isoformat(timespec="seconds")
    return {
        "read_at": stamp,
        "behind_s": max(0, round((now - at).total_seconds())),
        "watermarks": dict.fromkeys(READ_WHOLE, stamp),
    }


def _copy_marks(store: CopyStore) -> dict[str, Any]:
    """With a local copy: each object's watermark is where its last read began by the org's
    clock (whole, or by its changes), and when the copy was last read whole."""
    try:
        copy = store.load()
    except CsSyncError:  # held by the run going on now: the run's own record says the rest
        return {}
    if not copy.objects:
        return {}

    def stamp(moment: datetime) -> str:
        return moment.replace(tzinfo=UTC).isoformat(timespec="seconds")

    return {
        "watermarks": {sobject: stamp(at) for sobject, at in sorted(copy.watermarks.items())},
        "full_read_at": stamp(min(state.full_read_at for state in copy.objects.values())),
    }


def check_health(config: Config, now: datetime, max_age_hours: float, strict: bool) -> Health:
    health = Health(healthy=True)
    if config.worker is not None and config.worker.status_file.exists():
        try:
            health.worker = json.loads(config.worker.status_file.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            health.reasons.append(f"the worker's status file cannot be read: {error}")
    runs = pd.DataFrame()
    if config.history.enabled:
        try:
            with open_history(config.history) as store:
                runs = store.runs()
        except CsSyncError as error:
            health.healthy = False
            health.reasons.append(f"the history store cannot be read: {error}")
            return health
    runs = runs[runs["kind"] == "run"] if len(runs) else runs
    if runs.empty:
        health.healthy = False
        health.reasons.append("no run is recorded in the history store yet")
        return health
    health.freshness = freshness_of(runs, now)
    if health.freshness is not None and config.local_copy.path is not None:
        health.freshness.update(_copy_marks(CopyStore(config.local_copy.path)))
    last = runs.sort_values("finished_at").iloc[-1]
    finished = pd.Timestamp(last["finished_at"]).to_pydatetime().replace(tzinfo=UTC)
    health.last_run = {
        "run_id": last["run_id"],
        "as_of": str(pd.Timestamp(last["as_of"]).date()),
        "status": last["status"],
        "finished_at": finished.isoformat(timespec="seconds"),
        "accounts": int(last["accounts"]),
        "errors": int(last["errors"]),
        "detail": last["detail"] or "",
    }
    stopped, detail = brake_streak(runs)
    if stopped >= 2:
        health.reasons.append(
            f"the last {stopped} runs all stopped on a safety brake and wrote nothing "
            f"({brake_summary(detail)}); check `cs-sync plan`, then run once with --force or "
            "raise the limits in [brakes]"
        )
    bad = {"failed", "interrupted"} | ({"partial"} if strict else set())
    if last["status"] in bad:
        health.healthy = False
        health.reasons.append(f"the last run ended {last['status']}: {last['detail'] or '-'}")
    age = now - finished
    if age > timedelta(hours=max_age_hours):
        health.healthy = False
        hours = age.total_seconds() / 3600
        health.reasons.append(
            f"the last run finished {hours:.0f} hours ago (more than {max_age_hours:g})"
        )
    return health


def health_text(health: Health) -> str:
    lines = [f"cs-sync status: {'healthy' if health.healthy else 'NOT healthy'}"]
    if health.last_run:
        run = health.last_run
        lines.append(
            f"  last run {run['run_id']} for {run['as_of']}: {run['status']}, finished "
            f"{run['finished_at']}, {run['accounts']} accounts, {run['errors']} error(s)"
        )
    if health.freshness:
        fresh = health.freshness
        lines.append(
            f"  data read at {fresh['read_at']}: changes made since ({fresh['behind_s'] // 60:,} "
            "minutes) are not in the written values yet"
            + (f"; last full read {fresh['full_read_at']}" if "full_read_at" in fresh else "")
        )
    if health.worker:
        worker = health.worker
        lines.append(
            f"  worker: {worker.get('state')}, next run {worker.get('next_run') or '-'}, "
            f"{worker.get('consecutive_failures', 0)} consecutive failure(s)"
        )
    lines += [f"  ! {reason}" for reason in health.reasons]
    return "\n".join(lines)
