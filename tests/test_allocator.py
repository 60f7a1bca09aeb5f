"""The worker keeps a run's big tables in mappings of their own (cs_sync.allocator): glibc no
longer raises its mmap threshold as they are freed, so the next ones are not made in the
heap, where their holes would stay part of the process."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

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
