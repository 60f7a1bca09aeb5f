"""Array helpers the rules share: a value looked up per distinct key, not per row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def lookup(keys: pd.Series, table: Mapping[Any, float], missing: float = np.nan) -> np.ndarray:
    """`table[key]` for each row as floats (`missing` where the key is absent or blank). The
    keys are factorized first, so a million rows of a few picklist values cost one pass,
    not a dictionary look-up per row."""
    codes, distinct = pd.factorize(keys, use_na_sentinel=True)
    values = np.array([table.get(key, missing) for key in distinct] + [missing], dtype=float)
    return values[codes]  # the sentinel -1 reads the trailing `missing`
