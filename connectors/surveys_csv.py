"""Survey answers from a CSV file or a Google Sheets tab (and the checks a BigQuery table's
answers get too): one row per answer, with the columns
account_id (a Salesforce id), contact_id (any key of the person), answered (a date,
2026-10-01 or 2026/10/01) and score (a number). Every bad row is named by its line and column
and left out; the rest is used."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from cs_sync.connectors.usage_csv import decode_text
from cs_sync.errors import InputError
from cs_sync.sfid import try_to18

COLUMNS = ("account_id", "contact_id", "answered", "score")
SCALES = {"nps": (0, 10), "csat": (1, 5)}


def read_survey_csv(path: Path, scale: str) -> tuple[pd.DataFrame, list[str]]:
    """The answers (account_id, contact_id, day, score) and the bad rows, each as
    "line N, column: what is wrong"."""
    what = "survey file"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{what} {path}: cannot read it ({exc.strerror}); check surveys.path"
        ) from None
    text = decode_text(data, path, "auto", what, "surveys")
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    raw.columns = [str(c).strip() for c in raw.columns]
    return validate_answers(raw, f"{what} {path}", scale)


def validate_answers(
    raw: pd.DataFrame, source: str, scale: str, first_row: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """Answers given as text (a CSV file, a Sheets tab, a query's rows): the good ones
    typed, the bad rows named by line (the sheet's or file's own, the header being line 1)
    and column, or by row from `first_row` (a query's result)."""
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; the header must name "
            f"{', '.join(COLUMNS)}"
        )
    start, unit = (first_row, "row") if first_row else (2, "line")
    lines = pd.Series(range(start, len(raw) + start), index=raw.index)
    account = raw["account_id"].str.strip().map(lambda k: try_to18(k) or "")
    typed_day = raw["answered"].str.strip().str.replace("/", "-", regex=False)
    day = pd.to_datetime(typed_day, errors="coerce", format="ISO8601")
    score = pd.to_numeric(raw["score"].str.strip(), errors="coerce")
    low, high = SCALES[scale]
    checks = [
        ("account_id", account == "", "is not a Salesforce id"),
        ("contact_id", raw["contact_id"].str.strip() == "", "is empty"),
        ("answered", day.isna(), "is not a date (YYYY-MM-DD)"),
        ("score", ~score.between(low, high), f"is not a {scale.upper()} score ({low}-{high})"),
    ]
    problems = []
    bad = pd.Series(False, index=raw.index)
    for column, wrong, why in checks:
        for index in raw.index[wrong]:
            problems.append(f"{unit} {lines[index]}, {column}: {raw.at[index, column]!r} {why}")
        bad |= wrong
    answers = pd.DataFrame(
        {
            "account_id": account,
            "contact_id": raw["contact_id"].str.strip(),
            "day": day,
            "score": score,
        }
    )[~bad]
    return answers.reset_index(drop=True), problems
