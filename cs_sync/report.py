"""The human-readable run summary printed by `run`, `plan` and `demo`."""

from __future__ import annotations

import os

from cs_sync.backfill import BackfillResult
from cs_sync.config import Config
from cs_sync.pipeline import RunResult


def _shown_path(path: str) -> str:
    """Relative to the current folder when that is shorter (it usually is)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if len(relative) < len(path) else path


def summary_text(result: RunResult, title: str = "cs-sync run") -> str:
    grades = (
        " · ".join(f"{'no data' if g == 'none' else g} {n}" for g, n in result.grade_counts.items())
        or "-"
    )
    lines = [
        f"{title} {result.as_of.isoformat()}: {result.status}"
        + (" (dry run: nothing written)" if result.dry_run else "")
    ]
    rows = [("accounts read", str(result.accounts_read)), ("grades", grades)]
    if result.phase_counts:
        phases = " · ".join(f"{name} {n}" for name, n in result.phase_counts.items() if n)
        moves = result.phase_moves
        rows.append(("phases", phases))
        rows.append(
            (
                "",
                f"{result.phases_delayed} behind schedule · "
                f"{moves.get('up', 0)} moved up, {moves.get('down', 0)} down since the last run",
            )
        )
    if any(result.strategy_counts.values()):
        rows.append(
            (
                "renewal plans",
                " · ".join(f"{name} {n}" for name, n in result.strategy_counts.items() if n),
            )
        )
    if result.dry_run and result.plan is not None:
        rows.append(
            (
                "would change",
                f"{len(result.plan.updates)} account(s), {result.plan.fields_to_write} field(s)",
            )
        )
        rows.append(("would create", f"{len(result.plan.tasks)} task(s)"))
        rows.append(("would close", f"{len(result.plan.closes)} task(s)"))
    else:
        rows.append(
            (
                "accounts changed",
                f"{result.accounts_changed} ({result.fields_written} field(s) written)",
            )
        )
        rows.append(("tasks created", str(result.tasks_created)))
        rows.append(("tasks closed", str(result.tasks_closed)))
    rows.append(("errors", str(len(result.errors))))
    if result.warnings:
        rows.append(("warnings", str(len(result.warnings))))
    usage = f" (org daily usage {result.api_usage})" if result.api_usage else ""
    rows.append(
        (
            "API calls",
            f"Salesforce {result.salesforce_api_calls}{usage} · Sheets {result.sheets_api_calls}",
        )
    )
    if result.dashboard:
        rows.append(("dashboard", _shown_path(result.dashboard)))
    if result.history:
        shown = result.history
        rows.append(("history", shown if shown.startswith("bigquery:") else _shown_path(shown)))
    rows.append(("took", f"{result.duration_s:.1f} s"))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    for problem in (result.errors + result.warnings)[:10]:
        lines.append(f"  ! {problem.kind} {problem.record or ''}: {problem.message}")
    hidden = len(result.errors) + len(result.warnings) - 10
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (use --json for all)")
    return "\n".join(lines)


def _history_place(config: Config) -> str:
    if config.history.backend == "duckdb":
        return _shown_path(str(config.history.path))
    return config.history.describe()


def backfill_text(result: BackfillResult, config: Config) -> str:
    lines = [
        f"cs-sync backfill: {result.status}"
        + (" (dry run: nothing written)" if result.dry_run else ""),
        f"  dates         {result.dates} ({result.dates_written} computed, "
        f"{result.dates_skipped} already done or kept from a daily run)",
        f"  accounts      up to {result.accounts} a date",
        f"  history       {_history_place(config)}",
        f"  took          {result.duration_s:.1f} s",
    ]
    if result.salesforce is not None:
        lines.append(summary_text(result.salesforce, "  Salesforce, today's values,"))
    for problem in result.errors[:10]:
        lines.append(f"  ! {problem.kind} {problem.record or ''}: {problem.message}")
    if len(result.errors) > 10:
        lines.append(f"  ... and {len(result.errors) - 10} more (use --json for all)")
    return "\n".join(lines)
