"""The worker keeps a run's big tables in mappings of their own (cs_sync.allocator): glibc no
longer raises its mmap threshold as they are freed, so the next ones are not made in the
heap, where their holes would stay part of the process. And the local copy's ids are read
apart from the texts kept beside them, so letting them go gives their memory back."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.connectors.copy_store import CopiedState, Copy, CopyStore

# After a block of 8 MiB is freed, how many of the next block of 4 MiB's are mappings of
# their own (mallinfo2's hblks): glibc's default raises its threshold to 8 MiB and makes the
# 4 MiB in the heap.
PROBE = """
import ctypes, sys
from cs_sync.allocator import keep_large_blocks_mapped


class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "cli":  # as every command starts
    from cs_sync.cli import main
    try:
        main(["--version"])
    except SystemExit:
        pass
elif sys.argv[1] == "set":
    assert keep_large_blocks_mapped()
big = bytearray(8 << 20)
del big
before = libc.mallinfo2().hblks
block = bytearray(4 << 20)
print(libc.mallinfo2().hblks - before)
"""


def _mapped_after_a_larger_block_is_freed(setting: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, setting], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="glibc's allocator only",
)
def test_large_blocks_stay_mapped_once_a_larger_one_is_freed() -> None:
    assert _mapped_after_a_larger_block_is_freed("default") == 0  # glibc's own: in the heap
    assert _mapped_after_a_larger_block_is_freed("set") == 1
    assert _mapped_after_a_larger_block_is_freed("cli") == 1


# A copy of 200,000 records read back in a fresh process, as a run reads it; how many of
# Python's arenas (1 MiB blocks of small objects) go back to the system when the ids are
# let go and the names and stages read beside them are kept. An arena goes back only when
# every object in it is gone.
COPY_PROBE = """
import gc, os, re, sys, tempfile
from pathlib import Path
from cs_sync.connectors.copy_store import CopyStore


def arenas():
    gc.collect()
    fd, path = tempfile.mkstemp()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    text = Path(path).read_text()
    os.unlink(path)
    return int(re.search(r"# arenas allocated current\\s*=\\s*([\\d,]+)", text).group(1))


rows = CopyStore(Path(sys.argv[1])).load().objects["x"].rows
before = arenas()
kept = rows.drop(columns="Id")
del rows
print(before - arenas(), kept["Name"].iat[-1])
"""


def test_ids_read_from_the_copy_and_let_go_give_their_memory_back(tmp_path: Path) -> None:
    # a run lets every opportunity's, role's and activity's id go once its book is made and
    # keeps the names and contacts read beside them: read together a part at a time, the
    # ids were made among the strings kept and no arena emptied (at a million accounts, a
    # gigabyte of holes carried into the rerun's plan)
    rows = 200_000
    saved = pd.DataFrame(
        {
            "Id": [f"006{n:015d}" for n in range(rows)],
            "Name": [f"Contact number {n}" for n in range(rows)],
            "Stage": ["Won", "Lost", None, "Open"] * (rows // 4),
        }
    )
    path = tmp_path / "copy.duckdb"
    stamp = pd.Timestamp("2026-11-24 09:00").to_pydatetime()
    CopyStore(path).save(Copy(objects={"x": CopiedState(saved, "q", stamp, date(2026, 11, 24))}))
    done = subprocess.run(
        [sys.executable, "-c", COPY_PROBE, str(path)], capture_output=True, text=True, check=True
    )
    freed, last = done.stdout.split(maxsplit=1)
    assert last.strip() == f"Contact number {rows - 1}"
    ids = rows * 72 / 2**20  # a string of 18 characters: 72 bytes of an arena
    assert int(freed) > 0.7 * ids  # read beside the names: none
