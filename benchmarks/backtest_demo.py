"""Does the health score predict churn on the demo book? The default configuration against
one whose only measure (contracted seats) says nothing about usage, and a score on sentiment
alone, read from the field's history (AccountHistory) on each past date.

    python -m benchmarks.backtest_demo [--accounts 300]

Seeds the demo book in a temporary folder (the same book `cs-sync demo` makes for that date),
serves the sandbox, and runs `cs-sync backtest --compare` through the real CLI and HTTP.
Prints both configurations' ROC AUC with its interval, lift, churn by grade, the churned
accounts and the ARR they lost, the trend test's verdict, and the time the backtest took;
for sentiment, how early it warns.
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
from typing import Any

from cs_sync.cli import main as cli
from cs_sync.demo import prepare_demo
from cs_sync.sandbox.server import Sandbox

AS_OF = date(2026, 11, 24)
SEATS = '{ name = "seats", weight = 100, bad = 10, good = 300 }'
SENTIMENT = (
    '{ name = "sentiment", weight = 100, values = { Positive = 1, Neutral = 0.5, Negative = 0 } }'
)


def only(text: str, measure: str = SEATS) -> str:
    """The demo's configuration with its own measures and scorecards (the [[health.*]]
    tables, each a paragraph) replaced by one measure."""
    paragraphs = text.split("\n\n")
    kept = [p for p in paragraphs if not _table_of(p).startswith("[[health.")]
    health = f"[health]\nmeasures = [ {measure} ]\n\n"
    return "\n\n".join(kept).replace("[dashboard]", health + "[dashboard]")


def _table_of(paragraph: str) -> str:
    return next((line for line in paragraph.splitlines() if not line.startswith("#")), "")


def backtest(config: Path, *more: str) -> tuple[dict[str, Any], float]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = cli(["backtest", "--config", str(config), *more, "--json", "--as-of", str(AS_OF)])
    took = time.perf_counter() - started
    report = json.loads(out.getvalue())
    if code != 0:
        raise SystemExit(f"backtest failed: {report['errors']}")
    return report, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cs-sync-backtest-") as folder:
        measure_in(args, Path(folder))


def measure_in(args: argparse.Namespace, folder: Path) -> None:
    demo = prepare_demo(folder / "demo", args.accounts, AS_OF)
    text = demo.config_path.read_text("utf-8")
    seats = folder / "demo" / "seats_only.toml"
    seats.write_text(only(text), "utf-8")
    sentiment = folder / "demo" / "sentiment_only.toml"
    sentiment.write_text(only(text, SENTIMENT), "utf-8")
    with Sandbox(demo.database, port=demo.port):
        report, took = backtest(demo.config_path, "--compare", str(seats))
        felt, _ = backtest(sentiment)
    print(
        f"demo book, {args.accounts} accounts, {len(report['dates'])} monthly dates "
        f"{report['dates'][0]} to {report['dates'][-1]}, churn within "
        f"{report['horizon_days']} days ({took:.1f} s)"
    )
    for label, scored in (
        ("default config", report["config"]),
        ("seats only", report["candidate"]),
        ("sentiment only", felt["config"]),
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
    early = " · ".join(
        f"{band['days_before_churn']}: AUC {band['auc']:.2f}, {band['at_risk_share']:.0%} at risk"
        for band in felt["config"]["lead_time"]
    )
    print(f"  sentiment, from its history, by days before churn: {early}")


if __name__ == "__main__":
    main()
