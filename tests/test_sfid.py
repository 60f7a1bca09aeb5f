"""15- and 18-character Salesforce ids."""

import pytest

from cs_sync.sfid import to18, try_to18


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("001A000001HbB2z", "001A000001HbB2zIAF", id="15-to-18"),
        pytest.param("001A000001HbB2zIAF", "001A000001HbB2zIAF", id="18-unchanged"),
        pytest.param("001a000001hbb2ziaf", "001A000001HbB2zIAF", id="lower-cased-18-repaired"),
        pytest.param("001A000001HBB2ZIAF", "001A000001HbB2zIAF", id="upper-cased-18-repaired"),
        pytest.param(" 001A000001HbB2zIAF ", "001A000001HbB2zIAF", id="whitespace"),
        pytest.param("0015g00000000GLAAY", "0015g00000000GLAAY", id="sandbox-id"),
    ],
)
def test_to18(given: str, expected: str) -> None:
    assert to18(given) == expected


@pytest.mark.parametrize("bad", ["", "001", "001A000001HbB2z!!!", "001A000001HbB2zXXX", None, 12])
def test_bad_ids(bad: object) -> None:
    assert try_to18(bad) is None
