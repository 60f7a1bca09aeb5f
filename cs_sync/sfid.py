"""Salesforce record ids: the 15-character case-sensitive form and the 18-character safe form.

Spreadsheets and exports often carry the 15-character id, or an 18-character id that a tool
lower-cased. Everything that joins on ids first turns them into the canonical 18-character form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_CHARS = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


# Upper-case letters to "1", every other id character to "0": an id's case as bits, built in
# one C-level pass (this runs for every id a run reads).
_CASE_BITS = str.maketrans(
    {chr(c): "1" if chr(c).isupper() else "0" for c in range(128) if chr(c).isalnum()}
)


def checksum_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive: for each block
    of five characters, the letter whose index has a bit set for each upper-case one."""
    bits = id15.translate(_CASE_BITS)  # the first character is the lowest bit
    return "".join(_SUFFIX_ALPHABET[int(bits[start : start + 5][::-1], 2)] for start in (0, 5, 10))


def to18(value: str) -> str:
    """Canonical 18-character id from a 15- or 18-character id in any case.

    A lower-cased 18-character id is repaired from its suffix, which records which of the
    first 15 characters were upper case. Raises ValueError for anything that is not an id.
    """
    text = value.strip()
    if not _ID_CHARS.match(text):
        raise ValueError(f"not a Salesforce id: {value!r} (expected 15 or 18 letters and digits)")
    if len(text) == 15:
        return text + checksum_suffix(text)
    if checksum_suffix(text[:15]) == text[15:]:
        return text  # canonical already, as the API returns every id
    suffix = text[15:].upper()
    chars = []
    for index, char in enumerate(text[:15]):
        bits = _SUFFIX_ALPHABET.index(suffix[index // 5])
        upper = bool(bits & (1 << (index % 5)))
        chars.append(char.upper() if upper else char.lower())
    id15 = "".join(chars)
    if checksum_suffix(id15) != suffix:
        raise ValueError(f"not a Salesforce id: {value!r} (its last 3 characters do not match)")
    return id15 + suffix


def try_to18(value: object) -> str | None:
    """Like to18, but None for blanks and malformed values (the caller reports them)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return to18(value)
    except ValueError:
        return None


def canonical_ids(values: Iterable[object]) -> list[object]:
    """Each value as its 18-character id (a value that is no id, or missing, as it was); each
    distinct id worked out once (an account's id recurs on all its records)."""
    known: dict[object, object] = {}
    out = []
    for value in values:
        if value not in known:
            known[value] = try_to18(value) or value
        out.append(known[value])
    return out
