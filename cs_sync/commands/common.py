"""What the commands share: the run's date, dates from flags, and failure output (one JSON
object under --json, one line on stderr otherwise)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cs_sync.errors import CsSyncError
from cs_sync.plan import Problem
from cs_sync.result import RunResult

log = logging.getLogger("cs_sync")

Subparsers = Any  # argparse's private _SubParsersAction


def today(timezone: str) -> date:
    """Today in the given time zone: the clock is read here and nowhere else."""
    return datetime.now(ZoneInfo(timezone)).date()


def now_utc() -> datetime:
    return datetime.now(ZoneInfo("UTC"))


def as_of(text: str | None, timezone: str) -> date:
    """--as-of, or today in the run's time zone."""
    if text is None:
        return today(timezone)
    return date_arg(text, "--as-of")


def date_arg(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CsSyncError(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from None


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


def emit_failure(error: CsSyncError, as_json: bool, run_date: date | None) -> int:
    """Report a failure that ended the command; returns its exit code. Under --json the one
    object has every key a run's has, so a reader never meets a missing one."""
    if as_json:
        failed = RunResult(
            status="failed",
            as_of=run_date or date.min,
            dry_run=False,
            errors=[Problem(error.kind, None, str(error))],
            exit_code=error.exit_code,
        ).as_json()
        failed["as_of"] = run_date.isoformat() if run_date else None
        print_json(failed)
        log.error("%s", error)  # the same words on stderr, where the logs go
    else:
        print(f"cs-sync: {error}", file=sys.stderr)
    return error.exit_code


def run_options(sub: argparse.ArgumentParser) -> None:
    """--config, --json and --as-of, as run, plan and explain take them."""
    sub.add_argument("--config", required=True, help="the TOML configuration file")
    sub.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (logs stay on stderr)"
    )
    sub.add_argument(
        "--as-of", help="run as of this date (YYYY-MM-DD); default today in run.timezone"
    )
