"""The backtest: churn outcomes by hand, bad input named, and the demo book end to end."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.backtest import same_rows
from cs_sync.backtest_outcomes import (
    churn_events,
    contraction_events,
    snapshot_dates,
    with_outcomes,
)
from cs_sync.cli import main
from cs_sync.demo import prepare_demo
from cs_sync.errors import InputError
from cs_sync.extract import Extracted
from cs_sync.rules.backtest import BacktestSettings
from tests.conftest import AS_OF
from tests.conftest import served as serving


def book() -> Extracted:
    accounts = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "renewal_date": ["2027-01-01", "2026-04-30", "2026-09-01"],
            "former": [False, True, False],
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3", "o4"],
            "account_id": ["A", "B", "C", "C"],
            "type": ["Renewal"] * 4,
            "stage": ["Closed Lost", "Closed Won", "Closed Won", "Closed Won"],
            "close_date": ["2026-03-01", "2025-04-30", "2025-09-01", "2026-09-01"],
            "amount": [100.0, 200.0, 300.0, 250.0],
            "is_closed": [True] * 4,
            "is_won": [False, True, True, True],
        }
    )
    empty = pd.DataFrame()
    return Extracted(accounts, empty, empty, opportunities, empty)


def outcomes(day: str, horizon: int = 180) -> dict[str, tuple[bool, str | None, bool]]:
    extracted = book()
    kinds = ("lost_renewal", "contract_ended")
    frame = with_outcomes(
        pd.DataFrame({"account_id": ["A", "B", "C"], "date": pd.Timestamp(day)}),
        churn_events(extracted, kinds, ("Renewal",), None),
        contraction_events(extracted, ("Renewal",)),
        horizon,
    )
    return {
        r.account_id: (bool(r.churned), r.churn_reason, bool(r.contracted))
        for r in frame.itertuples()
    }


def test_churn_and_contraction_windows_by_hand() -> None:
    # A's renewal was lost on 2026-03-01; B (a former customer) ended on 2026-04-30; C renewed
    # on 2026-09-01 for 250 after 300: a contraction, not a churn.
    seen = outcomes("2026-01-01")
    assert seen["A"] == (True, "lost_renewal", False)
    assert seen["B"] == (True, "contract_ended", False)
    assert seen["C"] == (False, None, False)  # 2026-09-01 is 243 days away
    assert outcomes("2026-03-05")["C"] == (False, None, True)  # within 180 days
    assert outcomes("2026-03-01")["A"][0] is False  # an event on the date itself is the past
    assert outcomes("2025-09-02")["A"][0] is True  # exactly 180 days before: counted
    assert outcomes("2025-09-01")["A"][0] is False  # 181 days before: not
    extracted = book()
    frame = with_outcomes(
        pd.DataFrame({"account_id": ["A", "C"], "date": pd.Timestamp("2026-01-01")}),
        churn_events(extracted, ("lost_renewal",), ("Renewal",), None),
        contraction_events(extracted, ("Renewal",)),
        180,
    )
    assert frame["days_to_churn"].tolist()[0] == 59  # 2026-03-01, 59 days on
    assert pd.isna(frame["days_to_churn"].tolist()[1])


def test_dates_and_the_horizon() -> None:
    settings = BacktestSettings(horizon_days=180, months=3)
    dates = snapshot_dates(date(2026, 11, 24), settings, None, None)
    assert dates == [date(2026, 3, 28), date(2026, 4, 28), date(2026, 5, 28)]  # 180 days back
    with pytest.raises(InputError, match="reaches past today") as raised:
        snapshot_dates(date(2026, 11, 24), settings, None, date(2026, 8, 1))
    assert "Use --until 2026-05-28 or earlier" in str(raised.value)


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = prepare_demo(tmp_path / "demo", 150, AS_OF, port=0)
    with serving(folder):
        yield folder


def backtest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["backtest", *args, "--json", "--as-of", AS_OF.isoformat()])
    return code, json.loads(capsys.readouterr().out)


def _first_line(chunk: str) -> str:
    """The first line of a part of a TOML file that is no comment."""
    return next((line for line in chunk.splitlines() if not line.startswith("#")), "")


def test_the_demo_book_separates_churners_and_an_unrelated_score_does_not(
    served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = tmp_path / "seats_only.toml"
    chunks = served.config_path.read_text("utf-8").split("\n\n")
    own_measures = [c for c in chunks if _first_line(c).startswith("[[health.")]
    candidate.write_text(
        "\n\n".join(c for c in chunks if c not in own_measures).replace(
            "[dashboard]",
            '[health]\nmeasures = [ { name = "seats", weight = 100, bad = 10, good = 300 } ]'
            "\ngrades = { High = 70, Mid = 40, Low = 0 }\n\n[dashboard]",
        ),
        encoding="utf-8",
    )
    page = tmp_path / "backtest.html"
    code, report = backtest(
        capsys,
        "--config",
        str(served.config_path),
        "--compare",
        str(candidate),
        "--html",
        str(page),
    )
    assert code == 0, report
    base, other = report["config"], report["candidate"]
    assert base["churned"] > 20 and len(report["dates"]) == 12
    assert base["auc"] > 0.8
    # the at-risk grades churn far more than B, and B more than A (between C and D, a book
    # of 150 accounts is too small to tell: stalled onboardings sit in D and renew later)
    rate = {row["grade"]: row["churn_rate"] for row in base["by_grade"]}
    assert rate["A"] < rate["B"] < 0.5 < min(rate["C"], rate["D"])
    assert 0.35 < other["auc"] < 0.65  # seats say nothing about churn here
    assert base["observations"] == other["observations"]  # the same rows
    # each configuration judged with its own grades and at-risk grades
    assert other["renewal_alert"]["grades"] == ["Mid", "Low"]
    assert [row["grade"] for row in other["by_grade"]][:3] == ["High", "Mid", "Low"]
    # accounts counted once, intervals around the AUC, a trend test
    assert base["churned_accounts"] < base["churned"]
    low, high = base["intervals"]["auc"]
    assert low < base["auc"] < high and high - low < 0.2
    # 150 accounts: a dozen churned, too few to conclude, though the trend test leans clearly
    assert base["churned_accounts"] < 20 and not base["conclusive"]
    assert base["trend"]["verdict"] == "not conclusive" and base["trend"]["p"] < 0.01
    assert other["trend"]["verdict"] != "rises"
    # each measure judged; the team's own Account field (no history) flagged in a warning
    measures = {row["measure"]: row for row in base["measures"]}
    assert measures["active_ratio"]["alone_auc"] > 0.8
    assert measures["risk_flag"]["no_history"] and not measures["active_ratio"]["no_history"]
    assert any(
        "'risk_flag' reads a field Salesforce keeps no history of" in w for w in report["warnings"]
    )
    # the nearer the churn, the better the score sees it
    bands = {b["days_before_churn"]: b for b in base["lead_time"]}
    assert bands["0-60"]["auc"] > bands["120-180"]["auc"] > 0.6
    assert bands["0-60"]["at_risk_share"] > bands["120-180"]["at_risk_share"]
    assert set(base["by_segment"]) >= {"High Touch", "Low Touch", "Tech Touch"}
    changes = report["changes"]
    assert changes["grade_changes"] > 0 and changes["examples"]
    assert set(changes["tasks"]) == {"config", "candidate"}
    html = page.read_text("utf-8")
    assert html.count("<svg") >= 6 and "ROC AUC" in html and "http" not in html
    assert "How early it warns" in html and "Each measure" in html and "AUC without it" in html
    assert f"{base['auc']:.2f} ({low:.2f}–{high:.2f})" in html  # the interval beside it


def test_text_report(served, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--config", str(served.config_path), "--as-of", "2026-11-24"]) == 0
    out = capsys.readouterr().out
    assert "ROC AUC" in out and "Churn by grade" in out and "calibration" in out
    headline = out.split("\n\n")[1].splitlines()
    label = next(line for line in headline if line.strip().startswith("renewal alert"))
    # the value starts in its column, after the label's padding (no running together)
    assert label.index("precision") == headline[1].index(headline[1].split()[-3])
    assert "churn rises as grades fall  not conclusive: 12 churned accounts (p < 0.001)" in out
    assert "only 12 churned account(s): not conclusive" in out
    assert "accounts (each once)" in out and "ARR lost" in out
    assert "how early (days before churn" in out


def test_bad_input_is_named(served, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(served.config_path)
    code, report = backtest(capsys, "--config", config, "--until", "2026-10-01")
    assert code == 2 and "reaches past today" in report["errors"][0]["message"]
    code, report = backtest(capsys, "--config", config, "--since", "2020-01-01")
    assert code == 2 and "the usage data starts in" in report["errors"][0]["message"]
    broken = tmp_path / "broken.toml"
    broken.write_text('[health]\ngrades = { A = "high" }\n', encoding="utf-8")
    code, report = backtest(capsys, "--config", config, "--compare", str(broken))
    assert code == 2 and "broken.toml" in report["errors"][0]["message"]
    code, report = backtest(capsys, "--config", config, "--horizon-days", "0")
    assert code == 2
    assert (
        report["errors"][0]["message"]
        == "--horizon-days: 0 is out of range; expected between 7 and 1095"
    )


def test_arr_falling_to_zero_from_a_positive_value_is_churn() -> None:
    history = pd.DataFrame(
        {
            "as_of": pd.to_datetime(
                ["2026-02-02", "2026-01-05", "2026-02-02", "2026-01-05", "2026-02-02"]
            ),
            "account_id": ["C", "C", "A", "B", "B"],
            "arr": [0.0, 300.0, 100.0, 0.0, 0.0],  # B never paid: no churn
        }
    )
    extracted = book()
    frame = with_outcomes(
        pd.DataFrame({"account_id": ["A", "B", "C"], "date": pd.Timestamp("2026-01-10")}),
        churn_events(extracted, ("arr_zero",), ("Renewal",), history),
        contraction_events(extracted, ("Renewal",)),
        180,
    )
    # A's lost renewal is not counted here (only arr_zero is asked for)
    assert frame["churned"].tolist() == [False, False, True]
    assert frame["churn_reason"].tolist() == [None, None, "arr_zero"]


def test_scores_as_they_ran_from_the_history(served, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(served.config_path)
    code, report = backtest(capsys, "--config", config, "--from-history")
    assert code == 2 and "run `cs-sync backfill` first" in report["errors"][0]["message"]
    code, report = backtest(capsys, "--config", config, "--from-history", "--compare", config)
    assert code == 2 and "leave out one of the two" in report["errors"][0]["message"]
    assert (
        main(
            [
                "backfill",
                "--config",
                config,
                "--since",
                "2025-06-28",
                "--until",
                "2026-05-28",
                "--every",
                "month",
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    code, recorded = backtest(capsys, "--config", config, "--from-history")
    code, recomputed = backtest(capsys, "--config", config)
    assert code == 0
    # the backfill recorded what the backtest recomputes: the same judgement
    assert recorded["config"]["auc"] == pytest.approx(recomputed["config"]["auc"])
    assert recorded["config"]["observations"] == recomputed["config"]["observations"]


def test_two_configurations_are_judged_on_the_rows_both_scored() -> None:
    day = pd.Timestamp("2026-01-01")
    base = pd.DataFrame({"account_id": ["A", "B", "C"], "date": day, "score": [80.0, None, 40.0]})
    other = pd.DataFrame({"account_id": ["A", "B", "C"], "date": day, "score": [70.0, 50.0, None]})
    kept_base, kept_other, left_out = same_rows(base, other)
    assert kept_base["account_id"].tolist() == kept_other["account_id"].tolist() == ["A"]
    assert kept_base["score"].tolist() == [80.0] and kept_other["score"].tolist() == [70.0]
    assert left_out == 4


def test_fields_without_history_and_what_is_computed_from_them(tmp_path: Path) -> None:
    from cs_sync.backtest import no_history
    from cs_sync.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(
        """
[salesforce]
instance_url = "https://acme.my.salesforce.com"
client_id = "3MVG9-acme"
client_secret_env = "X"

[salesforce.fields]
csat = "CSAT__c"

[usage]
path = "usage.csv"

[[features]]
name = "unhappy"
expression = 'sentiment == "Negative"'

[[features]]
name = "unhappy_and_small"
expression = "unhappy and seats < 10"

[[features]]
name = "busy"
expression = "active_ratio > 0.5"
""",
        encoding="utf-8",
    )
    found = no_history(load_config(path))
    assert {"sentiment", "seats", "economic_buyer", "csat", "days_since_csat"} <= found
    assert {"unhappy", "unhappy_and_small"} <= found  # computed from them, in order
    assert "busy" not in found and "active_ratio" not in found


def test_fitted_weights_make_a_candidate_that_runs_and_compares(
    served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cs_sync.config import load_config

    config = str(served.config_path)
    fitted = tmp_path / "fitted.toml"
    code, report = backtest(capsys, "--config", config, "--fit", str(fitted))
    assert code == 0, report.get("errors", report)
    fit = report["fit"]
    weights = {row["measure"]: row for row in fit["weights"]}
    assert set(weights) == {m.name for m in load_config(config).health.measures}
    kept = {name for name, row in weights.items() if row["fitted"]}
    assert "active_ratio" in kept and 95 <= sum(w["fitted"] for w in weights.values()) <= 105
    assert all(row["coefficient"] < 0 for name, row in weights.items() if name in kept)
    assert set(fit["dropped"]) == set(weights) - kept
    assert 0.5 < fit["cv_auc"] <= 1 and fit["configured_cv_auc"] is not None
    assert fit["changes"]["accounts"] > 0  # what switching would change today
    candidate = load_config(fitted)  # a whole configuration: usable as --config
    assert {m.name: m.weight for m in candidate.health.measures} == {
        name: row["fitted"] for name, row in weights.items() if row["fitted"]
    }
    assert candidate.alerts.channels == load_config(config).alerts.channels  # the rest kept
    code, compared = backtest(capsys, "--config", config, "--compare", str(fitted))
    assert code == 0 and compared["candidate"]["auc"] is not None
    code, refused = backtest(capsys, "--config", config, "--fit", config)
    assert code == 2 and "that is the configuration itself" in refused["errors"][0]["message"]
    code, refused = backtest(
        capsys, "--config", config, "--fit", str(fitted), "--compare", str(fitted)
    )
    assert code == 2 and "run it alone" in refused["errors"][0]["message"]


def test_a_candidate_with_inline_measures_is_refused_by_name(tmp_path: Path) -> None:
    from cs_sync.backtest_fit import write_candidate
    from cs_sync.config import load_config

    path = tmp_path / "inline.toml"
    path.write_text(
        '[salesforce]\ninstance_url = "https://acme.my.salesforce.com"\nclient_id = "x"\n'
        'client_secret_env = "X"\n\n[usage]\npath = "usage.csv"\n\n[health]\n'
        'measures = [ { name = "seats", weight = 100, bad = 10, good = 300 } ]\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="written inline; write each measure as a"):
        write_candidate(load_config(path), {"seats": 100}, tmp_path / "out.toml")
