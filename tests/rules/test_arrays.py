"""Work done once per distinct value: the same values as row by row, fewer objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.rules.arrays import per_distinct, shared_texts, shared_values
from cs_sync.rules.health_reasons import Costliest


def objects(values: pd.Series) -> int:
    return len({id(value) for value in values.dropna()})


def test_shared_texts_keeps_every_value_and_shares_repeated_ones() -> None:
    rng = np.random.default_rng(5)
    rows = 5_000
    picked = rng.choice(["High Touch", "Low Touch", ""], rows)
    frame = pd.DataFrame(
        {
            # each row its own string, as a read of the copy's file gives them
            "segment": pd.Series([str(v) + "" for v in picked], dtype="str"),
            "stage": pd.Series([f"{v}" for v in picked], dtype=object),
            "id": [f"001{n:015d}" for n in range(rows)],
            "arr": rng.random(rows),
        },
        index=np.arange(rows) + 10,
    )
    frame.loc[rng.random(rows) < 0.2, "segment"] = np.nan
    frame.loc[rng.random(rows) < 0.2, "stage"] = None
    assert objects(frame["segment"]) > 1_000
    shared = shared_texts(frame)
    pd.testing.assert_frame_equal(shared, frame)  # values, missing values, dtypes, index
    for column in ("segment", "stage"):  # None stays None, NaN stays NaN
        assert list(map(type, shared[column])) == list(map(type, frame[column]))
    assert objects(shared["segment"]) == objects(shared["stage"]) == 3
    assert objects(shared["id"]) == rows  # ids are left alone
    assert frame["segment"].isna().sum() > 0  # the caller's frame is unchanged
    assert objects(frame["segment"]) > 1_000


def test_shared_texts_shares_dates_as_text_and_leaves_names() -> None:
    # a fifth distinct (days over a few years): shared; nearly all distinct: left alone
    rng = np.random.default_rng(7)
    rows = 5_000
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 1_000, rows), "D")
    frame = pd.DataFrame(
        {
            "close_date": pd.Series([f"{day:%Y-%m-%d}" for day in days], dtype="str"),
            "name": [f"Customer {n if n % 50 else 1}" for n in range(rows)],
        }
    )
    shared = shared_texts(frame)
    pd.testing.assert_frame_equal(shared, frame)
    assert objects(shared["close_date"]) == frame["close_date"].nunique() < 1_000
    assert objects(shared["name"]) == rows  # 98% distinct: no pass spent on it


def test_shared_values_point_at_held_ids() -> None:
    held_ids = pd.Series([f"001{n:015d}" for n in range(50)])
    named = [f"001{n % 60:015d}" for n in range(300)]  # ten ids are not held
    values = pd.Series([str(v) + "" for v in named] + [None], dtype=object, index=range(5, 306))
    shared = shared_values(values, pd.Index(held_ids.to_numpy(dtype=object)))
    pd.testing.assert_series_equal(shared, values)
    by_value = {value: value for value in held_ids}
    assert all(value is by_value[value] for value in shared.dropna() if value in by_value)
    assert shared.iloc[-1] is None
    assert objects(shared) == 60  # the held fifty and one each for the other ten
    as_text = shared_values(values.astype("str"), pd.Index(held_ids.to_numpy(dtype=object)))
    assert as_text.dtype == "str" and as_text.iloc[0] is by_value[as_text.iloc[0]]


def test_shared_texts_on_empty_and_all_missing_columns() -> None:
    frame = pd.DataFrame({"a": pd.Series([None] * 50, dtype=object), "b": ["x"] * 50})
    pd.testing.assert_frame_equal(shared_texts(frame), frame)
    empty = pd.DataFrame({"a": pd.Series([], dtype=object)})
    pd.testing.assert_frame_equal(shared_texts(empty), empty)


def test_per_distinct_is_the_row_by_row_conversion() -> None:
    days = np.array(["2026-12-01", "NaT", "2026-12-01", "2027-01-04"], dtype="datetime64[D]")
    texts = per_distinct(days, lambda d: np.datetime_as_string(d, unit="D"))
    assert texts.tolist() == np.datetime_as_string(days, unit="D").tolist()
    assert texts.dtype == object and texts[0] is texts[2]
    dates = per_distinct(days, lambda d: pd.to_datetime(d).date)
    assert list(dates) == list(pd.to_datetime(days).date)


losses = st.lists(
    st.lists(
        st.one_of(st.just(np.nan), st.sampled_from([0.0, 1.0, 2.5, 6.666666666666666])),
        min_size=4,
        max_size=4,
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(losses)
def test_the_two_costliest_are_the_top_two_of_a_full_ranking(table: list[list[float]]) -> None:
    lost = np.array(table)  # rows × measures
    costliest = Costliest(len(lost))
    for index in range(lost.shape[1]):
        costliest.add(index, lost[:, index], lost[:, index] * 10)
    for row, values in enumerate(lost):
        # the largest first; ties: the measure listed first; NaN never
        ranked = sorted(
            (index for index in range(len(values)) if not np.isnan(values[index])),
            key=lambda index: -values[index],
        )
        expected = ranked[:2] + [-1] * (2 - len(ranked[:2]))
        assert [costliest.measure[0][row], costliest.measure[1][row]] == expected
        for rank, index in enumerate(expected):
            if index >= 0:
                assert costliest.shown[rank][row] == values[index] * 10
