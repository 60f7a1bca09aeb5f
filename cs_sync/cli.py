"""The `cs-sync` command line: the parser and the dispatch; each command lives in its own
module under cs_sync/commands/.

Exit codes: 0 ok; 1 partial (some records failed, a dashboard or history step failed, stopped by
SIGTERM between steps, or an internal error); 2 bad
config or input; 3 cannot connect or authenticate; 4 a safety brake or the API reserve stopped the
run; 5 skipped because another run holds the lock. With --json, exactly one JSON object is printed
on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Sequence

from cs_sync import __version__
from cs_sync.allocator import keep_large_blocks_mapped
from cs_sync.commands.common import emit_failure
from cs_sync.errors import CsSyncError, InternalError
from cs_sync.logs import configure_logging

log = logging.getLogger("cs_sync")

# In the order `cs-sync --help` lists them. Their modules load nothing heavy at import: the
# sandbox, for one, is imported only when `demo` or `sandbox` runs, never by a run.
COMMANDS = (
    "run",
    "plan",
    "backfill",
    "status",
    "dashboard",
    "backtest",
    "worker",
    "explain",
    "setup",
    "doctor",
    "config",
    "demo",
    "sandbox",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cs-sync",
        description=(
            "Customer-success sync worker for Salesforce: health scores, follow-up Tasks and a "
            "KPI dashboard."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cs-sync {__version__}")
    parser.add_argument(
        "--json-logs", action="store_true", help="log one JSON object a line on stderr"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output on stderr (-vv for debug)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"cs_sync.commands.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    keep_large_blocks_mapped()  # a run's big tables handed back when let go (allocator.py)
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    configure_logging(level, args.json_logs)
    try:
        return int(args.handler(args))
    except CsSyncError as error:  # a command that let its own error through
        return emit_failure(error, bool(getattr(args, "json", False)), None)
    except Exception as error:  # a bug: named, never a bare traceback (that is for -vv)
        log.debug("cs-sync stopped on an internal error", exc_info=True)
        crash = InternalError(
            f"internal error: {type(error).__name__}: {error}. Anything written before it is "
            "kept; rerun with -vv for the traceback, and please report it"
        )
        return emit_failure(crash, bool(getattr(args, "json", False)), None)


if __name__ == "__main__":
    raise SystemExit(main())
