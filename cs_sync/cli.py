"""The `cs-sync` command line. The only place that reads the clock.

Exit codes: 0 ok; 1 partial (some records failed, or stopped by SIGTERM between steps); 2 bad
config or input; 3 cannot connect or authenticate; 4 a safety brake or the API reserve stopped the
run; 5 skipped because another run holds the lock. With --json, exactly one JSON object is printed
on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cs_sync import __version__
from cs_sync.errors import EXIT_BAD_INPUT, EXIT_CONNECT, EXIT_OK, EXIT_PARTIAL, CsSyncError
from cs_sync.logs import configure_logging

log = logging.getLogger("cs_sync")


def _today(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def _as_of(text: str | None, timezone: str) -> date:
    if text is None:
        return _today(timezone)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CsSyncError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None


def _emit_failure(error: CsSyncError, as_json: bool, as_of: date | None) -> int:
    if as_json:
        print(
            json.dumps(
                {
                    "status": "failed",
                    "as_of": as_of.isoformat() if as_of else None,
                    "accounts_read": 0,
                    "accounts_changed": 0,
                    "fields_written": 0,
                    "tasks_created": 0,
                    "tasks_closed": 0,
                    "errors": [{"kind": error.kind, "record": None, "message": str(error)}],
                    "salesforce_api_calls": 0,
                    "sheets_api_calls": 0,
                    "duration_s": 0.0,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(f"cs-sync: {error}", file=sys.stderr)
    return error.exit_code


def cmd_explain(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.explain import explain_account, explain_text
    from cs_sync.pipeline import run_once

    as_of = None
    try:
        config = load_config(args.config)
        as_of = _as_of(args.as_of, config.timezone)
        result = run_once(config, as_of, dry_run=True)
        if result.plan is None:
            failure = result.errors[-1]
            print(f"cs-sync: {failure.message}", file=sys.stderr)
            return result.exit_code
        explanation = explain_account(result.plan, config, args.account_id)
    except CsSyncError as error:
        return _emit_failure(error, args.json, as_of)
    if args.json:
        print(json.dumps(explanation, ensure_ascii=False, default=str))
    else:
        print(explain_text(explanation))
    return EXIT_OK


def cmd_run(args: argparse.Namespace, dry_run: bool) -> int:
    from cs_sync.config import load_config
    from cs_sync.pipeline import run_once
    from cs_sync.plan import describe_plan, plan_json
    from cs_sync.report import summary_text
    from cs_sync.worker import RunLock, StopFlag

    as_of = None
    dry_run = dry_run or args.dry_run
    try:
        config = load_config(args.config)
        as_of = _as_of(args.as_of, config.timezone)
        if dry_run:
            result = run_once(config, as_of, dry_run=True)
        else:
            assert config.worker is not None  # noqa: S101 - parse_config always sets it
            with StopFlag() as stop, RunLock(config.worker.lock_file):
                result = run_once(config, as_of, False, force=args.force, stop_requested=stop)
    except CsSyncError as error:
        return _emit_failure(error, args.json, as_of)
    if args.json:
        output = result.as_json()
        if result.dry_run and result.plan is not None:
            output["plan"] = plan_json(result.plan)
        print(json.dumps(output, ensure_ascii=False, default=str))
    else:
        if result.dry_run and result.plan is not None:
            print(describe_plan(result.plan))
            print()
        print(summary_text(result, "cs-sync plan" if result.dry_run else "cs-sync run"))
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.demo import prepare_demo, relative
    from cs_sync.pipeline import run_once
    from cs_sync.report import summary_text
    from cs_sync.sandbox.server import Sandbox

    as_of = _as_of(args.as_of, "Asia/Tokyo")
    folder = prepare_demo(Path(args.workdir), args.accounts, as_of)
    config_arg = relative(folder.config_path)
    state = "seeded" if folder.seeded_now else "reused"
    print(
        f"Sandbox org {state}: {args.accounts} accounts in {relative(folder.database)}, "
        f"usage in {relative(folder.usage_path)}"
    )
    print(f"Config written: {config_arg}")
    if args.no_run:
        print(
            f"\nNext: `cs-sync sandbox serve --config {config_arg}` in one terminal, then "
            f"`cs-sync plan --config {config_arg}` and `cs-sync run --config {config_arg}`."
        )
        return EXIT_OK
    try:
        config = load_config(folder.config_path)
        with Sandbox(folder.database, port=folder.port):
            result = run_once(config, as_of, dry_run=False)
    except CsSyncError as error:
        return _emit_failure(error, False, as_of)
    print()
    print(summary_text(result, "cs-sync demo run"))
    if result.dashboard:
        print(f"\nOpen {relative(Path(result.dashboard))} in a browser for the KPI dashboard.")
    print(
        f"To run again yourself: `cs-sync sandbox serve --config {config_arg}` in one "
        f"terminal, then `cs-sync run --config {config_arg}` in another."
    )
    return result.exit_code


def cmd_setup(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.setup import describe_setup, setup_ok, setup_salesforce

    try:
        config = load_config(args.config)
        report = setup_salesforce(config, apply=args.apply)
    except CsSyncError as error:
        return _emit_failure(error, False, None)
    print(describe_setup(report, config, args.apply))
    return EXIT_OK if setup_ok(report) else EXIT_BAD_INPUT


def cmd_doctor(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.setup import run_doctor

    try:
        config = load_config(args.config)
    except CsSyncError as error:
        return _emit_failure(error, False, None)
    checks = run_doctor(config, _today(config.timezone))
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed.")
    if not failed:
        return EXIT_OK
    return EXIT_CONNECT if any(c.name == "Salesforce login" for c in failed) else EXIT_BAD_INPUT


def _date_arg(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CsSyncError(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from None


def cmd_backfill(args: argparse.Namespace) -> int:
    from cs_sync.backfill import backfill_dates, run_backfill
    from cs_sync.config import load_config
    from cs_sync.report import backfill_text
    from cs_sync.worker import RunLock, StopFlag

    try:
        config = load_config(args.config)
        today = _today(config.timezone)
        until = _date_arg(args.until, "--until") if args.until else today
        dates = backfill_dates(_date_arg(args.since, "--since"), until, args.every)
        assert config.worker is not None  # noqa: S101 - parse_config always sets it
        with StopFlag() as stop, RunLock(config.worker.lock_file):
            result = run_backfill(
                config,
                dates,
                today,
                write_salesforce=args.write_salesforce,
                dry_run=args.dry_run,
                restart=args.restart,
                max_calls_per_minute=args.max_calls_per_minute,
                progress=not args.no_progress and not args.json,
                stop_requested=stop,
            )
    except CsSyncError as error:
        return _emit_failure(error, args.json, None)
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, default=str))
    else:
        print(backfill_text(result, config))
    return result.exit_code


def cmd_backtest(args: argparse.Namespace) -> int:

    from cs_sync.backtest import run_backtest
    from cs_sync.config import load_config
    from cs_sync.connectors.local_dashboard import write_backtest_page
    from cs_sync.report import backtest_text

    try:
        config = load_config(args.config)
        candidate = load_config(args.compare) if args.compare else None
        settings = config.backtest
        if args.horizon_days is not None:
            settings = settings.model_copy(update={"horizon_days": args.horizon_days})
        if args.months is not None:
            settings = settings.model_copy(update={"months": args.months})
        today = _as_of(args.as_of, config.timezone)
        result = run_backtest(
            config,
            today,
            settings,
            candidate=candidate,
            since=_date_arg(args.since, "--since") if args.since else None,
            until=_date_arg(args.until, "--until") if args.until else None,
            from_history=args.from_history,
        )
    except CsSyncError as error:
        return _emit_failure(error, args.json, None)
    report = result.as_json()
    page = Path(args.html) if args.html else None
    if page is None and config.dashboard.local_dir is not None:
        page = config.dashboard.local_dir / "backtest.html"
    if page is not None:
        report["html"] = str(write_backtest_page(page, report))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=str))
    else:
        print(backtest_text(result))
        if page is not None:
            print(f"Charts: {page}")
    return EXIT_OK


def cmd_dashboard_link(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.connectors.sheets_dashboard import open_dashboard
    from cs_sync.looker import bigquery_link, sheets_link

    try:
        config = load_config(args.config)
        template = args.template or config.dashboard.looker_template_id
        if not template:
            raise CsSyncError(
                f"{args.config}: set dashboard.looker_template_id (or pass --template) to the "
                "id of your copy of the cs-sync Looker Studio report (docs/looker-studio.md)"
            )
        if config.dashboard.spreadsheet_id is not None and args.source != "bigquery":
            sink = open_dashboard(config.dashboard, config.sandbox.url, None)
            tabs = sink.tab_ids()
            try:
                link = sheets_link(template, config.dashboard.spreadsheet_id, tabs, args.name)
            except ValueError as error:
                raise CsSyncError(str(error)) from None
        elif config.history.backend == "bigquery":
            link = bigquery_link(
                template, str(config.history.project), str(config.history.dataset), args.name
            )
        else:
            raise CsSyncError(
                f"{args.config}: the report needs a data source: set dashboard.spreadsheet_id, "
                'or [history] backend = "bigquery"'
            )
    except CsSyncError as error:
        return _emit_failure(error, False, None)
    print(link)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.status import check_health, health_text

    try:
        config = load_config(args.config)
        health = check_health(
            config, datetime.now(ZoneInfo("UTC")), args.max_age_hours, args.strict
        )
    except CsSyncError as error:
        return _emit_failure(error, args.json, None)
    if args.json:
        print(json.dumps(health.as_json(), ensure_ascii=False, default=str))
    else:
        print(health_text(health))
    return EXIT_OK if health.healthy else EXIT_PARTIAL


def cmd_worker(args: argparse.Namespace) -> int:
    from cs_sync.config import load_config
    from cs_sync.worker import StopFlag, serve

    try:
        config = load_config(args.config)
    except CsSyncError as error:
        return _emit_failure(error, False, None)
    worker = config.worker
    assert worker is not None  # noqa: S101 - parse_config always sets it
    configure_logging(
        min(logging.getLogger().level, logging.INFO), args.json_logs or worker.json_logs
    )
    log.info(
        "worker started: schedule %r in %s, lock %s, status %s",
        worker.schedule,
        worker.timezone,
        worker.lock_file,
        worker.status_file,
    )
    try:
        with StopFlag() as stop:
            return serve(Path(args.config), stop, _today, args.run_at_start)
    except CsSyncError as error:
        return _emit_failure(error, False, None)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM stops `sandbox serve` the way Ctrl-C does."""
    raise KeyboardInterrupt


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from cs_sync.config import load_config
    from cs_sync.sandbox.server import Sandbox

    try:
        config = load_config(args.config)
    except CsSyncError as error:
        return _emit_failure(error, False, None)
    parts = urlsplit(config.sandbox.url or "")
    if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        print(
            f'cs-sync: {args.config}: [sandbox] url must be "http://127.0.0.1:PORT" '
            "to serve a sandbox",
            file=sys.stderr,
        )
        return 2
    if config.sandbox.database is None or not config.sandbox.database.exists():
        print(
            f"cs-sync: {args.config}: [sandbox] database is not set or does not exist; run "
            "`cs-sync demo --no-run` (or `cs-sync sandbox seed`) first",
            file=sys.stderr,
        )
        return 2
    sandbox = Sandbox(config.sandbox.database, port=parts.port)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(
        f"Sandbox serving {config.sandbox.database} on {sandbox.url} (Ctrl-C to stop)", flush=True
    )
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.httpd.server_close()
        sandbox.store.close()
    return EXIT_OK


def cmd_sandbox_seed(args: argparse.Namespace) -> int:
    from cs_sync.sandbox.seed import seed_book
    from cs_sync.sandbox.store import OrgStore

    as_of = _as_of(args.as_of, "Asia/Tokyo")
    database = Path(args.database)
    if database.exists():
        print(
            f"cs-sync: {database} already exists; choose another --database or delete it",
            file=sys.stderr,
        )
        return 2
    database.parent.mkdir(parents=True, exist_ok=True)
    store = OrgStore(database)
    try:
        result = seed_book(store, Path(args.usage), args.accounts, as_of, bare=args.bare)
    finally:
        store.close()
    print(
        f"Seeded {database}: {result.accounts} accounts ({result.active_accounts} active, "
        f"{result.churned_accounts} churned), {result.opportunities} opportunities, "
        f"{result.users} users; {result.usage_rows} usage rows in {result.usage_path}"
    )
    return EXIT_OK


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

    def with_run_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", required=True, help="the TOML configuration file")
        sub.add_argument(
            "--json",
            action="store_true",
            help="print one JSON object on stdout (logs stay on stderr)",
        )
        sub.add_argument(
            "--as-of", help="run as of this date (YYYY-MM-DD); default today in run.timezone"
        )

    run = commands.add_parser("run", help="compute and write health fields, tasks, dashboard")
    with_run_options(run)
    run.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    run.add_argument(
        "--force", action="store_true", help="apply even when a safety brake ([brakes]) fires"
    )
    plan = commands.add_parser("plan", help="show what `run` would write (a dry run)")
    with_run_options(plan)
    plan.set_defaults(dry_run=False, force=False)

    backfill = commands.add_parser(
        "backfill",
        help="fill the history store with past dates; optionally write today's values to all",
    )
    backfill.add_argument("--config", required=True)
    backfill.add_argument("--since", required=True, help="first date (YYYY-MM-DD)")
    backfill.add_argument("--until", help="last date (YYYY-MM-DD); default today")
    backfill.add_argument("--every", choices=["week", "month"], default="week")
    backfill.add_argument(
        "--write-salesforce",
        action="store_true",
        help="then write today's values to every account (first install; Bulk API 2.0)",
    )
    backfill.add_argument("--dry-run", action="store_true", help="compute, write nothing")
    backfill.add_argument(
        "--restart", action="store_true", help="recompute dates a previous backfill finished"
    )
    backfill.add_argument(
        "--max-calls-per-minute",
        type=float,
        help="cap on Salesforce API calls a minute (leave room for other integrations)",
    )
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar")
    backfill.add_argument("--json", action="store_true", help="print one JSON object")

    status = commands.add_parser(
        "status", help="is the sync healthy? (for monitors: exit 0 yes, 1 no)"
    )
    status.add_argument("--config", required=True)
    status.add_argument(
        "--max-age-hours",
        type=float,
        default=26.0,
        help="unhealthy when the last run finished longer ago than this (default 26)",
    )
    status.add_argument("--strict", action="store_true", help="count a partial run as a failure")
    status.add_argument("--json", action="store_true", help="print one JSON object")

    dashboard = commands.add_parser("dashboard", help="the Looker Studio report")
    dashboard_commands = dashboard.add_subparsers(dest="dashboard_command", required=True)
    link = dashboard_commands.add_parser(
        "link",
        help="print the Looker Studio address that creates the report on your data",
    )
    link.add_argument("--config", required=True)
    link.add_argument("--template", help="the template report id (default: the config's)")
    link.add_argument("--name", default="cs-sync KPI dashboard", help="the new report's name")
    link.add_argument(
        "--source",
        choices=["sheets", "bigquery"],
        help="which data to use when both are set (default: sheets)",
    )

    backtest = commands.add_parser(
        "backtest",
        help="how well the health score predicted churn on past dates; --compare a candidate",
    )
    backtest.add_argument("--config", required=True)
    backtest.add_argument("--compare", help="a candidate configuration to put beside it")
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

    worker = commands.add_parser(
        "worker", help="run on the [worker] schedule until stopped (SIGTERM finishes cleanly)"
    )
    worker.add_argument("--config", required=True)
    worker.add_argument(
        "--run-at-start", action="store_true", help="run once right away, then on schedule"
    )

    explain = commands.add_parser(
        "explain",
        help="why one account has its grade, phase, strategy and tasks (writes nothing)",
    )
    with_run_options(explain)
    explain.add_argument("account_id", help="the Account id (15 or 18 characters)")
    setup = commands.add_parser("setup", help="prepare an org for cs-sync")
    setup_commands = setup.add_subparsers(dest="setup_command", required=True)
    setup_sf = setup_commands.add_parser(
        "salesforce", help="list the custom fields cs-sync needs; --apply creates the missing"
    )
    setup_sf.add_argument("--config", required=True)
    setup_sf.add_argument(
        "--apply", action="store_true", help="create the missing fields (Tooling API)"
    )
    doctor = commands.add_parser(
        "doctor", help="check login, fields, API allowance, usage source and dashboard folder"
    )
    doctor.add_argument("--config", required=True)

    demo = commands.add_parser("demo", help="seed a local sandbox org and run one sync on it")
    demo.add_argument("--accounts", type=int, default=300, help="accounts in the sample book")
    demo.add_argument(
        "--workdir", default="demo", help="folder for the sandbox, config, usage and dashboard"
    )
    demo.add_argument(
        "--no-run", action="store_true", help="prepare the sandbox and config only; do not sync"
    )
    demo.add_argument("--as-of", help=argparse.SUPPRESS)

    sandbox = commands.add_parser("sandbox", help="the local Salesforce/Sheets stand-in")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser("serve", help="serve the sandbox a config points at")
    serve.add_argument("--config", required=True)
    seed = sandbox_commands.add_parser(
        "seed", help="create a sandbox database with a sample book of business"
    )
    seed.add_argument("--accounts", type=int, default=300)
    seed.add_argument("--database", default="sandbox.db")
    seed.add_argument("--usage", default="usage.csv", help="where to write the usage CSV")
    seed.add_argument("--as-of", help="anchor date for the book (default today, Asia/Tokyo)")
    seed.add_argument(
        "--bare",
        action="store_true",
        help="leave out cs-sync's own fields, to try `cs-sync setup salesforce --apply`",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    configure_logging(level, args.json_logs)
    handlers: dict[str, Any] = {
        "run": lambda: cmd_run(args, dry_run=False),
        "plan": lambda: cmd_run(args, dry_run=True),
        "explain": lambda: cmd_explain(args),
        "demo": lambda: cmd_demo(args),
        "setup": lambda: cmd_setup(args),
        "doctor": lambda: cmd_doctor(args),
        "worker": lambda: cmd_worker(args),
        "backfill": lambda: cmd_backfill(args),
        "backtest": lambda: cmd_backtest(args),
        "dashboard": lambda: cmd_dashboard_link(args),
        "status": lambda: cmd_status(args),
    }
    if args.command == "sandbox":
        return int(
            cmd_sandbox_serve(args) if args.sandbox_command == "serve" else cmd_sandbox_seed(args)
        )
    return int(handlers[args.command]())


if __name__ == "__main__":
    raise SystemExit(main())
