"""`cs-sync backtest --fit FILE`: weights for the health score's measures fitted from what
happened, written as a complete candidate configuration.

Each observation's measures are the shares of their weights they earn (0 to 1, as the score
reads them; no data: one half); a logistic regression with an L2 penalty, its strength chosen
by cross-validation over folds of whole accounts (scikit-learn, the optional extra
`cs-sync[fit]`), predicts churn from them. A measure whose larger share goes with less churn
gets a weight in proportion to that effect (rounded, summing to about 100); one whose effect
points the other way or is nil is left out of the candidate. The candidate is the
configuration file with its [[health.measures]] replaced, so it runs as `--config` and as
`--compare` at once; the report puts the fitted weights beside the configured ones.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cs_sync.config import Config, load_config
from cs_sync.errors import InputError
from cs_sync.rules.backtest_stats import roc_auc
from cs_sync.rules.health import DEFAULT_SCORECARD, Measure, measure_points

MAX_ROWS = 200_000  # observations the fit uses at most (whole accounts, drawn at random)
FOLDS = 5
STRENGTHS = 6  # penalty strengths tried, 1e-4 to 1e4


@dataclass
class Fit:
    """What the fit found."""

    weights: list[dict[str, Any]]  # measure, configured, fitted (0: dropped), coefficient
    cv_auc: float | None  # the fitted model's AUC on held-out accounts
    configured_cv_auc: float | None  # the configured score's on the same held-out accounts
    observations: int
    path: Path
    changes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "observations": self.observations,
            "cv_auc": self.cv_auc,
            "configured_cv_auc": self.configured_cv_auc,
            "weights": self.weights,
            "dropped": [w["measure"] for w in self.weights if not w["fitted"]],
            "changes": self.changes,
        }


def shares(frame: pd.DataFrame, measures: tuple[Measure, ...]) -> np.ndarray:
    """Each observation's share of each measure's weight (rows × measures; no data: 0.5)."""
    columns = []
    for measure in measures:
        points = measure_points(frame, measure)
        share = np.where(points.counted > 0, points.earned / measure.weight, np.nan)
        columns.append(np.where(np.isnan(share), 0.5, share))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def fit_weights(observations: pd.DataFrame, config: Config, path: Path, seed: int = 0) -> Fit:
    """Fit the default measures' weights and write the candidate configuration to `path`."""
    try:
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import StratifiedGroupKFold
    except ImportError:
        raise InputError(
            "--fit needs scikit-learn: pip install 'cs-sync[fit]' (or scikit-learn itself)"
        ) from None
    measures = tuple(m for m in config.health.measures if m.name in observations)
    frame = observations
    if "scorecard" in frame:
        frame = frame[frame["scorecard"] == DEFAULT_SCORECARD]
    frame = _sample(frame, seed)
    y = frame["churned"].astype(bool).to_numpy()
    groups = frame["account_id"].astype(str).to_numpy()
    churned_accounts = len(set(groups[y]))
    if len(measures) < 2 or churned_accounts < FOLDS or len(set(groups[~y])) < FOLDS:
        raise InputError(
            f"--fit needs at least two measures and {FOLDS} churned and {FOLDS} staying "
            f"accounts (one of each for every fold); found {churned_accounts} churned. Widen "
            "the dates (--since) or the horizon"
        )
    x = shares(frame, measures)
    # folds of whole accounts, each with its share of the churned ones
    folds = list(StratifiedGroupKFold(n_splits=FOLDS).split(x, y, groups))
    with warnings.catch_warnings():  # scikit-learn's notices of parameters changing later
        warnings.simplefilter("ignore", FutureWarning)
        model = LogisticRegressionCV(
            Cs=STRENGTHS, cv=folds, scoring="roc_auc", max_iter=2000, class_weight="balanced"
        )
        model.fit(x, y)
    strength = float(np.ravel(model.C_)[0])
    coefficients = model.coef_[0]
    protective = np.clip(-coefficients, 0, None)  # a larger share, less churn
    total = protective.sum()
    fitted = np.where(protective > 0, np.maximum(1, np.rint(100 * protective / total)), 0)
    if not (fitted > 0).any():
        raise InputError("no measure goes with less churn in this history: nothing to fit")
    scores = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    held_out, configured = [], []
    for train, test in folds:  # the chosen strength, judged on accounts it did not see
        one = LogisticRegression(C=strength, max_iter=2000, class_weight="balanced")
        one.fit(x[train], y[train])
        risk = one.predict_proba(x[test])[:, 1]
        held_out.append(roc_auc(pd.Series(-risk), pd.Series(y[test])))
        configured.append(roc_auc(pd.Series(scores[test]), pd.Series(y[test])))
    weights = [
        {
            "measure": m.name,
            "configured": m.weight,
            "fitted": float(w),
            "coefficient": round(float(c), 4),
        }
        for m, w, c in zip(measures, fitted, coefficients, strict=True)
    ]
    write_candidate(config, {m.name: float(w) for m, w in zip(measures, fitted, strict=True)}, path)
    return Fit(
        weights=weights,
        cv_auc=_mean([a for a in held_out if a is not None]),
        configured_cv_auc=_mean([a for a in configured if a is not None]),
        observations=len(frame),
        path=path,
    )


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _sample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """At most MAX_ROWS observations, whole accounts drawn at random (a fit does not need
    millions of rows, and an account's rows stay together for the folds)."""
    if len(frame) <= MAX_ROWS:
        return frame
    accounts = frame["account_id"].unique()
    keep = int(len(accounts) * MAX_ROWS / len(frame))
    chosen = np.random.default_rng(seed).choice(accounts, size=max(keep, 1), replace=False)
    return frame[frame["account_id"].isin(set(chosen))]


# ---------------------------------------------------------------- the candidate file

_HEADER = re.compile(r"^\s*\[")
_MEASURES = re.compile(r"^\s*\[\[\s*health\s*\.\s*measures\s*\]\]\s*(#.*)?$")


def write_candidate(config: Config, weights: dict[str, float], path: Path) -> Path:
    """The configuration file with its [[health.measures]] tables replaced by the measures
    as written (or the built-in ones) with the fitted weights, those at 0 left out; checked
    by loading it."""
    text = config.path.read_text("utf-8")
    health = config.raw.get("health", {})
    if "measures" in health and not any(_MEASURES.match(line) for line in text.splitlines()):
        raise InputError(
            f"{config.path}: health.measures is written inline; write each measure as a "
            "[[health.measures]] table to use --fit"
        )
    written = health.get("measures") or [_as_written(m) for m in config.health.measures]
    kept_lines, skipping = [], False
    for line in text.splitlines():
        if _MEASURES.match(line):
            skipping = True
            continue
        if skipping and _HEADER.match(line):
            skipping = False
        if not skipping:
            kept_lines.append(line)
    blocks = []
    for table in written:
        weight = weights.get(str(table["name"]), 0.0)
        if weight <= 0:
            continue
        body = {**table, "weight": int(weight)}
        lines = ["[[health.measures]]"] + [f"{key} = {_toml(value)}" for key, value in body.items()]
        blocks.append("\n".join(lines))
    note = "# Weights fitted by `cs-sync backtest --fit` from the churn history\n"
    candidate = "\n".join(kept_lines).rstrip() + "\n\n" + note + "\n\n".join(blocks) + "\n"
    if path.resolve() == config.path.resolve():
        raise InputError(f"--fit {path}: that is the configuration itself; name a new file")
    path.write_text(candidate, "utf-8")
    load_config(path)  # a candidate that does not load is a bug: said here, not later
    return path


def _as_written(measure: Measure) -> dict[str, Any]:
    """A built-in measure as its table would be written."""
    table = measure.model_dump(exclude_defaults=True) | {
        "name": measure.name,
        "weight": measure.weight,
    }
    if "values" in table:
        table["values"] = dict(table["values"])
    return table


def _toml(value: Any) -> str:
    """A TOML value for what a measure holds: text, numbers, booleans, lists, tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        parts = [f"{_key(k)} = {_toml(v)}" for k, v in value.items()]
        return "{ " + ", ".join(parts) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _key(name: Any) -> str:
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text, ensure_ascii=False)
