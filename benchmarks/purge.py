"""``python -m benchmarks.purge --store URL --log-dir DIR --older-than SECONDS``: a purge in a process.

What ``asynctask purge`` does, for trees whose command line has no ``purge``
yet: ``Retention(repository, log_dir).purge(now - older_than)``. Prints one
JSON line: how many tasks it deleted, and the seconds the purge itself took
(without starting Python and importing asynctask).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta, timezone

from asynctask.adapters.urls import open_repository
from asynctask.service.retention import Retention


def main(argv: list[str] | None = None) -> int:
    """Purge, print ``{"deleted": n, "seconds": s}``; exit status 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.purge", description=__doc__)
    parser.add_argument("--store", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--older-than", type=float, required=True, metavar="SECONDS")
    args = parser.parse_args(argv)
    repository = open_repository(args.store)
    start = time.perf_counter()
    horizon = datetime.now(timezone.utc) - timedelta(seconds=args.older_than)
    deleted = Retention(repository, args.log_dir).purge(horizon)
    seconds = time.perf_counter() - start
    repository.close()
    print(json.dumps({"deleted": deleted, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
