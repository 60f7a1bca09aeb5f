"""Sponsors who left: the economic buyer or the champion of the last run who no longer holds
the role (gone, or replaced by someone else), per account, named.

The contact roles of each run are kept in the history store; without an earlier run to
compare with, there is nothing to judge (missing data)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

SPONSOR_ROLES = ("economic_buyer", "champion")
SPONSOR_FEATURES = ("sponsors_lost", "sponsors_left")
KEY = ["account_id", "role", "contact_id"]


def current_sponsors(
    contact_roles: pd.DataFrame,
    roles: tuple[tuple[str, tuple[str, ...]], ...],
    as_of: date,
) -> pd.DataFrame:
    """Who holds each sponsor's role now: as_of, account_id, role (economic_buyer or
    champion), contact_id, contact_name; one row per contact and role."""
    frames = []
    for stakeholder, values in roles:
        if stakeholder not in SPONSOR_ROLES:
            continue
        held = contact_roles[
            contact_roles["role"].isin(values) & contact_roles["contact_id"].notna()
        ]
        frames.append(
            pd.DataFrame(
                {
                    "account_id": held["account_id"].astype(str),
                    "role": stakeholder,
                    "contact_id": held["contact_id"].astype(str),
                    "contact_name": held.get("contact_name", pd.Series(None, index=held.index)),
                }
            )
        )
    found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY)
    found = found.drop_duplicates(KEY, ignore_index=True)
    found.insert(0, "as_of", as_of.isoformat())
    return found


def sponsor_features(
    accounts: pd.DataFrame, current: pd.DataFrame | None, previous: pd.DataFrame | None
) -> pd.DataFrame:
    """sponsors_lost: how many of the last run's sponsors no longer hold their role;
    sponsors_left: who, as "name (role)" text. Missing without an earlier run (or without
    the current sponsors)."""
    index = pd.Index(accounts["account_id"])
    out = pd.DataFrame({c: np.nan for c in SPONSOR_FEATURES}, index=index)
    if current is None or previous is None or previous.empty:
        out["sponsors_left"] = None
        return out
    now = set(map(tuple, current[KEY].astype(str).to_numpy()))
    before = previous.assign(**{c: previous[c].astype(str) for c in KEY})
    gone = before[[tuple(row) not in now for row in before[KEY].to_numpy()]]
    gone = gone[gone["account_id"].isin(index)]
    out["sponsors_lost"] = gone.groupby("account_id").size().reindex(index).fillna(0).astype(float)
    label = gone["contact_name"].fillna(gone["contact_id"]) + " (" + gone["role"] + ")"
    names = label.groupby(gone["account_id"]).agg(", ".join)
    out["sponsors_left"] = names.reindex(index).astype(object).where(lambda s: s.notna(), None)
    return out
