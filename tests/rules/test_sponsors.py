"""Sponsors who left since the last run, named."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_sync.rules.sponsors import current_sponsors, sponsor_features

AS_OF = date(2026, 11, 25)
ROLES = (("economic_buyer", ("Economic Buyer",)), ("champion", ("Champion",)))
ACCOUNTS = pd.DataFrame({"account_id": ["a", "b", "c"]})


def roles(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "contact_id", "role", "contact_name"])


def test_who_left_or_was_replaced_is_named() -> None:
    before = current_sponsors(
        roles(
            ("a", "c1", "Economic Buyer", "山田 太郎"),
            ("a", "c2", "Champion", "佐藤 花子"),
            ("b", "c3", "Champion", "鈴木 一郎"),
            ("b", "c9", "Business User", "田中 次郎"),  # no sponsor: not kept
        ),
        ROLES,
        date(2026, 11, 24),
    )
    assert sorted(before["contact_id"]) == ["c1", "c2", "c3"]  # the business user is not one
    now = current_sponsors(
        roles(
            ("a", "c2", "Champion", "佐藤 花子"),  # the economic buyer is gone
            ("b", "c4", "Champion", "高橋 三郎"),  # the champion was replaced
        ),
        ROLES,
        AS_OF,
    )
    found = sponsor_features(ACCOUNTS, now, before)
    assert found.loc["a"].tolist() == [1.0, "山田 太郎 (economic_buyer)"]
    assert found.loc["b"].tolist() == [1.0, "鈴木 一郎 (champion)"]
    assert found.loc["c"].tolist() == [0.0, None]  # had no sponsor to lose


def test_without_an_earlier_run_there_is_nothing_to_judge() -> None:
    now = current_sponsors(roles(("a", "c1", "Economic Buyer", "山田 太郎")), ROLES, AS_OF)
    for previous in (None, now.iloc[0:0]):
        found = sponsor_features(ACCOUNTS, now, previous)
        assert np.isnan(found["sponsors_lost"]).all() and found["sponsors_left"].isna().all()
