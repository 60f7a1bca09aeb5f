"""Per-account features of survey answers (NPS or CSAT), rolled up from the contacts who
answered: each contact counts once, by its latest answer within the window.

NPS (0-10): promoters answer 9 or 10, detractors 0 to 6; the score is the share of promoters
minus the share of detractors, from -100 to 100. CSAT (1-5): satisfied answer 4 or 5,
dissatisfied 1 or 2; the score is the share satisfied, 0 to 100. An account nobody answered
for has no score (missing data, never zero)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

SURVEY_COLUMNS = ("survey_score", "detractor_share", "survey_contacts", "days_since_survey")
THRESHOLDS = {"nps": (9, 6), "csat": (4, 2)}  # promoter at least, detractor at most


def survey_features(
    accounts: pd.DataFrame,
    answers: pd.DataFrame | None,
    as_of: date,
    months: int,
    scale: str = "nps",
) -> pd.DataFrame:
    """`answers`: account_id, contact_id, day (the answer's date; NaT when unknown), score;
    None when surveys are not read. Answers after the run date, or older than `months`
    months, do not count; an answer without a date counts."""
    index = pd.Index(accounts["account_id"])
    if answers is None:
        return pd.DataFrame({c: np.nan for c in SURVEY_COLUMNS}, index=index)
    today = pd.Timestamp(as_of)
    day = pd.to_datetime(answers["day"], errors="coerce")
    oldest = today - pd.DateOffset(months=months)
    kept = answers.assign(day=day)[day.isna() | ((day <= today) & (day > oldest))]
    kept = kept[kept["account_id"].isin(index)]
    latest = kept.sort_values("day", na_position="first").drop_duplicates(
        ["account_id", "contact_id"], keep="last"
    )
    promoter_from, detractor_to = THRESHOLDS[scale]
    score = pd.to_numeric(latest["score"], errors="coerce")
    grouped = latest.assign(
        promoter=score >= promoter_from, detractor=score <= detractor_to
    ).groupby("account_id")
    count = grouped.size().reindex(index)
    promoters = grouped["promoter"].sum().reindex(index)
    detractors = grouped["detractor"].sum().reindex(index)
    out = pd.DataFrame(index=index)
    if scale == "nps":
        out["survey_score"] = 100 * (promoters - detractors) / count
    else:
        out["survey_score"] = 100 * promoters / count
    out["detractor_share"] = detractors / count
    out["survey_contacts"] = count.fillna(0).astype(float)
    newest = grouped["day"].max().reindex(index)
    out["days_since_survey"] = (today - newest).dt.days.astype(float)
    return out
