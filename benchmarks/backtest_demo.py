"""Does the health score predict churn on the demo book? The default configuration against
one whose only measure (contracted seats) says nothing about usage.

    python -m benchmarks.backtest_demo [--accounts 300]

Seeds the demo book in a temporary folder (the same book `cs-sync demo` makes for that date),
serves the sandbox, and runs `cs-sync backtest --compare` through the real CLI and HTTP.
Prints both configurations' ROC AUC with its interval, lift, churn by grade, the churned
accounts and the ARR they lost, the trend test's verdict, and the time the backtest took.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from datetime import date
from pathlib import Path

from cs_sync.cli import main as cli
from cs_sync.demo import prepare_demo
from cs_sync.sandbox.server import Sandbox

AS_OF = date(2026, 11, 24)
UNRELATED = '[health]\nmeasures = [ { name = "seats", weight = 100, bad = 10, good = 300 } ]\n\n'


def seats_only(text: str) -> str:
    """The demo's configuration with its own measures and scorecards (the [[health.*]]
    tables, each a paragraph) replaced by seats alone."""
    paragraphs = text.split("\n\n")
    kept = [p for p in paragraphs if not _table_of(p).startswith("[[health.")]
    return "\n\n".join(kept).replace("[dashboard]", UNRELATED + "[dashboard]")


def _table_of(paragraph: str) -> str:
    return next((line for line in paragraph.splitlines() if not line.startswith("#")), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cs-sync-backtest-"))
    demo = prepare_demo(folder / "demo", args.accounts, AS_OF)
    candidate = folder / "demo" / "seats_only.toml"
    candidate.write_text(seats_only(demo.config_path.read_text("utf-8")), "utf-8")
    with Sandbox(demo.database, port=demo.port):
        out = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli(
                [
                    "backtest",
                    "--config",
                    str(demo.config_path),
                    "--compare",
                    str(candidate),
                    "--json",
                    "--as-of",
                    AS_OF.isoformat(),
                ]
            )
        took = time.perf_counter() - started
    report = json.loads(out.getvalue())
    if code != 0:
        raise SystemExit(f"backtest failed: {report['errors']}")
    print(
        f"demo book, {args.accounts} accounts, {len(report['dates'])} monthly dates "
        f"{report['dates'][0]} to {report['dates'][-1]}, churn within "
        f"{report['horizon_days']} days ({took:.1f} s)"
    )
    for label, scored in (
        ("default config", report["config"]),
        ("seats only", report["candidate"]),
    ):
        grades = " · ".join(
            f"{row['grade']} {row['churn_rate']:.0%} of {row['accounts']}"
            for row in scored["by_grade"]
            if row["churn_rate"] is not None
        )
        low, high = scored["intervals"]["auc"] or (float("nan"), float("nan"))
        trend = scored["trend"]
        print(
            f"  {label:<15} AUC {scored['auc']:.2f} ({low:.2f}-{high:.2f}), worst-grade lift "
            f"{scored['worst_grade_lift'] or 0:.1f}x, churn by grade: {grades}; "
            f"{scored['churned_accounts']} churned accounts, ARR lost "
            f"{scored['arr_lost']:,.0f}; trend {trend['verdict']}"
        )


if __name__ == "__main__":
    main()
