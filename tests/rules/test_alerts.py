"""The alert events and their keys: what counts as a grade drop, a renewal at risk and a sponsor
leaving; how long a key is remembered; which channel takes which alert."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from cs_sync.rules.alerts import (
    AlertRules,
    account_alerts,
    not_alerted,
    routed,
    run_failed_alert,
)

AS_OF = date(2026, 11, 24)
RULES = AlertRules(grades=("A", "B", "C", "D"), at_risk_grades=("C", "D"))


def book(**columns: list[object]) -> pd.DataFrame:
    count = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        "account_id": [f"001{i:015d}" for i in range(count)],
        "name": [f"Customer {i}" for i in range(count)],
        "segment": ["High Touch"] * count,
        "owner_id": ["005000000000001AAA"] * count,
        "owner_name": ["佐藤 花子"] * count,
        "score": [55.0] * count,
        "reasons": ["ログイン減少"] * count,
        "grade": ["B"] * count,
        "prev_grade": ["B"] * count,
        "days_to_renewal": [400.0] * count,
        "renewal_date": [pd.Timestamp(AS_OF + timedelta(days=400))] * count,
        "arr": [1_200_000.0] * count,
        "sponsors_lost": [0.0] * count,
        "sponsors_left": [None] * count,
    }
    return pd.DataFrame({**base, **columns})


def test_a_grade_drop_is_a_fall_against_the_record_not_a_rise_nor_a_first_grade() -> None:
    scored = book(grade=["C", "A", "C", "D", "B"], prev_grade=["B", "B", None, "A", "Z"])
    found = account_alerts(scored, RULES, "en")
    drops = found[found["event"] == "grade_drop"]
    assert list(drops["account_id"]) == [scored["account_id"][0], scored["account_id"][3]]
    assert drops["key"].iloc[0] == f"grade_drop:{scored['account_id'][0]}:C"
    assert drops["title"].iloc[1] == "Health dropped A → D: Customer 3"
    assert "Why: ログイン減少" in drops["text"].iloc[0]
    assert "CSM: 佐藤 花子" in drops["text"].iloc[0]


def test_a_renewal_at_risk_is_an_at_risk_grade_inside_the_window_keyed_by_its_date() -> None:
    days = [0.0, 90.0, 91.0, -1.0, 30.0]
    scored = book(
        grade=["D", "C", "D", "D", "B"],
        prev_grade=["D", "C", "D", "D", "B"],
        days_to_renewal=days,
        renewal_date=[pd.Timestamp(AS_OF + timedelta(days=int(d))) for d in days],
    )
    found = account_alerts(scored, RULES, "ja")
    risky = found[found["event"] == "renewal_at_risk"]
    assert list(risky["account_id"]) == list(scored["account_id"][:2])
    assert risky["key"].iloc[1] == f"renewal_at_risk:{scored['account_id'][1]}:2027-02-22"
    assert risky["title"].iloc[1] == "更新リスク：Customer 1（ヘルス C、更新日 2027-02-22）"
    assert "ARR 1,200,000" in risky["text"].iloc[1]


def test_a_sponsor_leaving_names_who_and_events_switched_off_say_nothing() -> None:
    scored = book(sponsors_lost=[0.0, 1.0], sponsors_left=[None, "山田 太郎 (Economic Buyer)"])
    found = account_alerts(scored, RULES, "en")
    assert list(found["key"]) == [
        f"sponsor_left:{scored['account_id'][1]}:山田 太郎 (Economic Buyer)"
    ]
    assert found["title"].iloc[0] == "Sponsor left: Customer 1 (山田 太郎 (Economic Buyer))"
    quiet = AlertRules(events=("grade_drop",), grades=RULES.grades, at_risk_grades=("C", "D"))
    assert account_alerts(scored, quiet, "en").empty


def log_of(keys: list[tuple[str, str, date]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"key": k, "event": e, "as_of": pd.Timestamp(d), "state": "sent"} for k, e, d in keys]
    )


def test_a_key_is_remembered_for_its_events_memory() -> None:
    alerts = pd.DataFrame(
        {
            "key": ["grade_drop:a:C", "grade_drop:b:C", "renewal_at_risk:c:2027-01-31"],
            "event": ["grade_drop", "grade_drop", "renewal_at_risk"],
        }
    )
    log = log_of(
        [
            ("grade_drop:a:C", "grade_drop", AS_OF - timedelta(days=29)),  # remembered
            ("grade_drop:b:C", "grade_drop", AS_OF - timedelta(days=30)),  # forgotten
            ("renewal_at_risk:c:2027-01-31", "renewal_at_risk", AS_OF - timedelta(days=80)),
        ]
    )
    left = not_alerted(alerts, log, RULES, AS_OF)
    assert list(left["key"]) == ["grade_drop:b:C"]
    assert RULES.memory_days("renewal_at_risk") == 91
    assert len(not_alerted(alerts, log.iloc[0:0], RULES, AS_OF)) == 3


def test_each_channel_takes_its_events_and_segments_and_run_failures_reach_every_segment() -> None:
    alerts = pd.DataFrame(
        {
            "key": ["grade_drop:a:C", "renewal_at_risk:b:2027-01-31", "run_failed:2026-11-24:auth"],
            "event": ["grade_drop", "renewal_at_risk", "run_failed"],
            "account_id": ["a", "b", ""],
            "segment": ["High Touch", "Tech Touch", ""],
        }
    )
    channels = (
        ("feeds", ("grade_drop", "renewal_at_risk"), ()),
        ("leads", ("grade_drop", "renewal_at_risk", "run_failed"), ("High Touch",)),
    )
    out = routed(alerts, channels)
    assert sorted(zip(out["channel"], out["key"], strict=True)) == [
        ("feeds", "grade_drop:a:C"),
        ("feeds", "renewal_at_risk:b:2027-01-31"),
        ("leads", "grade_drop:a:C"),
        ("leads", "run_failed:2026-11-24:auth"),
    ]
    assert routed(alerts, ()).empty


def test_a_failed_run_is_one_key_a_day_and_kind() -> None:
    first = run_failed_alert(AS_OF, "auth", "Salesforce refused the login (x)\nmore", "en")
    assert first["key"].iloc[0] == "run_failed:2026-11-24:auth"
    assert first["text"].iloc[0] == "Salesforce refused the login (x)"
    assert first["title"].iloc[0] == "cs-sync run failed (2026-11-24)"
    assert run_failed_alert(AS_OF, "auth", "", "ja")["title"].iloc[0].startswith("cs-sync の")
