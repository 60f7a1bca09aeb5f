"""`cs-sync backtest`: how well the health score predicted churn on past dates; --compare
puts a candidate configuration beside it."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from cs_sync.backtest import run_backtest
from cs_sync.commands.common import Subparsers, as_of, date_arg, emit_failure, print_json
from cs_sync.config import load_config
from cs_sync.connectors.local_dashboard import write_backtest_page
from cs_sync.errors import EXIT_OK, CsSyncError, InputError
from cs_sync.report import backtest_text
from cs_sync.rules.backtest import BacktestSettings


def register(commands: Subparsers) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="how well the health score predicted churn on past dates; --compare a candidate",
    )
    backtest.add_argument("--config", required=True)
    backtest.add_argument("--compare", help="a candidate configuration to put beside it")
    backtest.add_argument(
        "--fit",
        help="fit the measures' weights from the history and write them as a candidate "
        "configuration to this file (needs scikit-learn: cs-sync[fit])",
    )
    backtest.add_argument("--since", help="first snapshot date (default: [backtest] months ago)")
    backtest.add_argument("--until", help="last snapshot date (default: horizon before today)")
    backtest.add_argument("--horizon-days", type=int, help="churn within this many days counts")
    backtest.add_argument("--months", type=int, help="how many monthly snapshot dates")
    backtest.add_argument(
        "--from-history",
        action="store_true",
        help="judge the scores as the runs recorded them (overrides included), not recomputed",
    )
    backtest.add_argument("--html", help="where to write the charts (default: dashboard folder)")
    backtest.add_argument("--json", action="store_true", help="print one JSON object")
    backtest.add_argument("--as-of", help=argparse.SUPPRESS)
    backtest.set_defaults(handler=main)


def _with_flags(settings: BacktestSettings, changed: dict[str, int]) -> BacktestSettings:
    """[backtest] with --horizon-days / --months in place, checked as the file's keys are."""
    try:
        return settings.model_validate(settings.model_dump() | changed)
    except ValidationError as error:
        problems = [
            f"--{str(e['loc'][0]).replace('_', '-')}: {e.get('ctx', {}).get('error', e['msg'])}"
            for e in error.errors(include_url=False)
        ]
        raise InputError("; ".join(problems)) from None


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        candidate = load_config(args.compare) if args.compare else None
        changed = {
            key: value
            for key, value in (("horizon_days", args.horizon_days), ("months", args.months))
            if value is not None
        }
        settings = _with_flags(config.backtest, changed)
        result = run_backtest(
            config,
            as_of(args.as_of, config.timezone),
            settings,
            candidate=candidate,
            since=date_arg(args.since, "--since") if args.since else None,
            until=date_arg(args.until, "--until") if args.until else None,
            from_history=args.from_history,
            fit=Path(args.fit) if args.fit else None,
        )
    except CsSyncError as error:
        return emit_failure(error, args.json, None)
    report = result.as_json()
    page = Path(args.html) if args.html else None
    if page is None and config.dashboard.local_dir is not None:
        page = config.dashboard.local_dir / "backtest.html"
    if page is not None:
        report["html"] = str(write_backtest_page(page, report))
    if args.json:
        print_json(report)
    else:
        print(backtest_text(result))
        if page is not None:
            print(f"Charts: {page}")
    return EXIT_OK
