"""A Bulk query's CSV read as typed columns against a dictionary per record: the seconds and
the memory of reading the opportunities of a large book.

    python -m benchmarks.columnar_reads --records 430000

The page is the CSV a Bulk API 2.0 job answers for the opportunity read (extract.py); the old
way is csv.DictReader and a typed dictionary per record (how every read went before), the new
one pandas' CSV reader and the columns typed whole (`query_frame`). Memory is Python's own
allocations (tracemalloc): what the result holds and the peak while it is made.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from cs_sync.book_reads import OPPORTUNITY_FIELDS
from cs_sync.connectors.bulk_csv import frame_from_csv, record_from_csv, typed_frame


def page(records: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(OPPORTUNITY_FIELDS))
    for i in range(records):
        writer.writerow(
            [
                f"0065g{i:013d}",
                f"0015g{i // 4:013d}",
                "Renewal",
                "Closed Won" if i % 3 else "Negotiation",
                "2026-01-01",
                str(1000 + i),
                "true" if i % 3 else "false",
                "true" if i % 3 else "false",
            ]
        )
    return out.getvalue()


def measured(read: Callable[[], Any]) -> tuple[float, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    result = read()
    took = time.perf_counter() - started
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return took, held / 2**20, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=430_000)
    args = parser.parse_args()
    text = page(args.records)

    def per_record() -> list[dict[str, Any]]:
        rows = csv.DictReader(io.StringIO(text))
        return [record_from_csv(row, OPPORTUNITY_FIELDS) for row in rows]

    def columns() -> Any:
        return typed_frame(frame_from_csv(text, OPPORTUNITY_FIELDS), OPPORTUNITY_FIELDS)

    print(f"{args.records:,} opportunities, {len(text) / 1e6:.1f} MB of CSV")
    print("read               seconds  held MiB  peak MiB")
    for label, read in (("a dict per record", per_record), ("typed columns", columns)):
        took, held, peak = measured(read)
        print(f"{label:<18} {took:>7.2f} {held:>9.0f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
