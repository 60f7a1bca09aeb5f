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

from cs_sync.rules.usage_metrics import positions

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
    position = positions(index, answers["account_id"])
    in_window = (day.isna() | ((day <= today) & (day > oldest))).to_numpy(dtype=bool)
    kept = np.flatnonzero(in_window & (position >= 0))
    # each contact's latest answer on its account (no date: the oldest), found on codes and
    # positions rather than on the texts (at a million accounts, two million answers: the
    # texts' copies and hashes were the run's peak)
    when = day.to_numpy()[kept]
    contact = pd.factorize(answers["contact_id"].to_numpy(dtype=object)[kept])[0]
    pair = position[kept].astype(np.int64) * (int(contact.max(initial=-1)) + 2) + contact + 1
    stamp = np.where(np.isnat(when), np.iinfo(np.int64).min, when.view(np.int64))
    order = np.lexsort((stamp, pair))  # stable: of one day's answers, the last read
    last = np.flatnonzero(np.append(pair[order][1:] != pair[order][:-1], True))
    chosen = order[last]
    at, when = position[kept][chosen], when[chosen]
    score = pd.to_numeric(answers["score"].iloc[kept[chosen]], errors="coerce").to_numpy(float)
    promoter_from, detractor_to = THRESHOLDS[scale]
    size = len(index)
    count = np.bincount(at, minlength=size).astype(float)
    promoters = np.bincount(at, weights=score >= promoter_from, minlength=size)
    detractors = np.bincount(at, weights=score <= detractor_to, minlength=size)
    count[count == 0] = np.nan  # nobody answered: no score, never zero
    out = pd.DataFrame(index=index)
    if scale == "nps":
        out["survey_score"] = 100 * (promoters - detractors) / count
    else:
        out["survey_score"] = 100 * promoters / count
    out["detractor_share"] = detractors / count
    out["survey_contacts"] = np.nan_to_num(count, nan=0.0)
    newest = np.full(size, np.datetime64("NaT"), dtype=when.dtype)
    np.fmax.at(newest, at, when)  # a date beats no date
    out["days_since_survey"] = (today - pd.DatetimeIndex(newest)).days.to_numpy(dtype=float)
    return out
