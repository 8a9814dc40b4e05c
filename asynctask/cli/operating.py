"""Operating a store from the command line: ``list``, ``logs`` (and follow), ``cancel``, ``purge``.

Each command reads the store the way the service answers it (a running task
past its timeout or lease reads as failed) and never changes a record it
only reads. The rules of every argument live in the service layer
(``ListQuery.check``, ``check_status``, ``check_age``); these commands pass
what was typed on to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timezone

from asynctask.adapters.urls import DEFAULT_STORE, open_repository, sqlite_path
from asynctask.core import (
    Policy,
    Reason,
    StoreURLError,
    Task,
    TaskFinishedError,
    TaskNotFoundError,
    TaskRepository,
    check_task_id,
    decide,
    defaults,
    overdue_error,
)
from asynctask.service.cancelling import cancel_task
from asynctask.service.listing import DEFAULT_PAGE, ListQuery, check_status, encode_cursor
from asynctask.service.logs import DEFAULT_LOG_READ, log_path, read_log_bytes
from asynctask.service.recording import Recorder
from asynctask.service.retention import Retention, horizon_of
from asynctask.service.runtime import task_detail, utc_now

#: Seconds between two looks at the log file and the store while ``logs --follow`` waits.
FOLLOW_POLL = 0.25
#: The columns of the ``list`` table: header, and whether the column is aligned to the right.
COLUMNS = (("TASK_ID", False), ("STATUS", False), ("ATTEMPT", True))
COLUMNS += (("SUBMITTED", False), ("ENDED", False), ("ERROR", False))
COLUMNS_HEADER = [header for header, _ in COLUMNS]
#: The exit status of a command stopped by Ctrl-C, as a shell reports it (128 + SIGINT).
INTERRUPTED = 130


def number(text: str) -> object:
    """What was typed, as an int or a float when it reads as one; else the text, for a rule to refuse."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def policy_of(args: argparse.Namespace) -> Policy:
    """The timeout and lease ``--task-timeout`` and ``--lease`` (0: off) ask for."""
    return Policy(task_timeout=args.task_timeout, lease=args.lease or None)


def open_store(url: str) -> TaskRepository:
    """The store of ``url``, which must exist: a command that reads one never creates an empty one."""
    if url.lower().startswith("sqlite:"):
        path = sqlite_path(url)
        if not os.path.isfile(path):
            raise StoreURLError(
                f"no SQLite store at {os.path.abspath(path)} ({url}); pass the --store the service writes to"
            )
    return open_repository(url)


def displayed(task: Task, now: datetime, policy: Policy) -> tuple[dict, Reason | None]:
    """The detail of ``task`` as the service would answer it now, and why it reads failed if it is overdue.

    A running task past ``task_timeout`` or ``lease`` reads as failed, with the
    error the service would record; the stored record is left to the service.
    """
    detail = task_detail(task)
    if not task.status.finished:
        decision = decide(task, now, policy)
        if decision.overdue:
            detail.update(status="failed", error=overdue_error(decision.reason, policy))
            return detail, decision.reason
    return detail, None


def json_default(value: object) -> str:
    """Datetimes as ISO 8601, anything else a store may hold (BSON ids, bytes) as text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# -- list ---------------------------------------------------------------------------------------


def list_tasks(args: argparse.Namespace) -> int:
    """``asynctask list``: a page of tasks, newest first, as a table or JSON lines."""
    query = ListQuery.check(args.status, args.limit, args.cursor)
    policy = policy_of(args)
    repository = open_store(args.store)
    try:
        page = query.page(repository)
    finally:
        repository.close()
    now = utc_now()
    details = [displayed(task, now, policy)[0] for task in page.tasks]
    if args.json:
        for detail in details:
            print(json.dumps(detail, default=json_default, ensure_ascii=False))
    else:
        print_table([COLUMNS_HEADER, *(table_row(detail) for detail in details)])
    sys.stdout.flush()
    if not details:
        which = f" with status {query.status.value}" if query.status is not None else ""
        more = "more " if query.after is not None else ""
        print(f"asynctask list: no {more}tasks{which}", file=sys.stderr)
    if page.after is not None:
        print(f"more tasks: {next_page_command(args, encode_cursor(page.after))}", file=sys.stderr)
    return 0


def table_row(detail: dict) -> list[str]:
    """The cells of one task: id, status, attempt, submitted, ended, the last line of its error."""
    return [
        str(detail["task_id"]),
        str(detail["status"]),
        str(detail["attempt"]),
        utc_second(detail["create_time"]),
        utc_second(detail["end_time"]),
        last_line(detail["error"]),
    ]


def utc_second(value: datetime | None) -> str:
    """``2026-12-01 08:00:00`` (UTC), or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def last_line(error: object) -> str:
    """The last non-empty line of an error (``ExcType: message`` for a traceback), or ``-``."""
    if not error:
        return "-"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else "-"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows in aligned columns, two spaces apart; the last column is not padded."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(width(row[column]) for row in rows) for column in range(len(COLUMNS))]
    for row in rows:
        cells = []
        for column, cell in enumerate(row):
            pad = " " * (widths[column] - width(cell))
            if COLUMNS[column][1]:
                cells.append(pad + cell)
            elif column < len(row) - 1:
                cells.append(cell + pad)
            else:
                cells.append(cell)
        print("  ".join(cells))


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\t``): one cell stays on one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide East Asian characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def next_page_command(args: argparse.Namespace, cursor: str) -> str:
    """The ``asynctask list`` line that shows the next page: the same options and ``--cursor``."""
    words = ["asynctask", "list"]
    if args.status:
        words += ["--status", args.status]
    if args.limit != DEFAULT_PAGE:
        words += ["--limit", str(args.limit)]
    if args.store != DEFAULT_STORE:
        words += ["--store", args.store]
    if args.task_timeout != defaults.TASK_TIMEOUT.total_seconds():
        words += ["--task-timeout", f"{args.task_timeout:g}"]
    if args.lease != defaults.LEASE.total_seconds():
        words += ["--lease", f"{args.lease:g}"]
    if args.json:
        words.append("--json")
    words += ["--cursor", cursor]
    return shlex.join(words)


# -- logs ---------------------------------------------------------------------------------------


def show_logs(args: argparse.Namespace) -> int:
    """``asynctask logs``: print the task's log; ``--follow``: and what it appends, until the task ends."""
    task_id = check_task_id(args.task_id)
    policy = policy_of(args)
    repository = open_store(args.store)
    try:
        if repository.get(task_id) is None:
            print(f"asynctask logs: no task {task_id!r} in {args.store}", file=sys.stderr)
            return 1
        path = log_path(args.log_dir, task_id)
        if args.follow:
            return follow(repository, task_id, path, policy)
        print_log(path, 0)
        return 0
    except KeyboardInterrupt:
        return INTERRUPTED
    finally:
        repository.close()


def print_log(path: str, offset: int) -> int:
    """Print the file from byte ``offset`` to its end, in pieces of 64 KiB; the offset after it."""
    while True:
        text, after = read_log_bytes(path, offset, DEFAULT_LOG_READ)
        if text:
            write(text)
        if after == offset:
            sys.stdout.flush()
            return offset
        offset = after


def follow(repository: TaskRepository, task_id: str, path: str, policy: Policy) -> int:
    """Like ``tail -f``: print the log and what it gains until the task is finished (or reads as failed)."""
    offset = 0
    while True:
        task = repository.get(task_id)
        # Read after the store: what a finished task logged was in its file before it was recorded.
        offset = print_log(path, restart_at(path, offset))
        if task is None:
            print(f"asynctask logs: task {task_id!r} was deleted from the store", file=sys.stderr)
            return 1
        detail, reason = displayed(task, utc_now(), policy)
        if reason is not None:
            print(
                f"asynctask logs: task {task_id!r} is recorded running, but {reason.value}: "
                "it reads as failed; stopped following",
                file=sys.stderr,
            )
            return 0
        if task.status.finished:
            print(f"asynctask logs: task {task_id!r} ended: {detail['status']}", file=sys.stderr)
            return 0
        time.sleep(FOLLOW_POLL)


def restart_at(path: str, offset: int) -> int:
    """``offset``, or 0 when the file is gone or shorter than that (removed, truncated, made anew)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    if size < offset:
        print("asynctask logs: the log file was truncated; printing it from its start", file=sys.stderr)
        return 0
    return offset


def write(text: str) -> None:
    """Write log text to stdout, whatever its encoding: characters it cannot show are replaced."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        sys.stdout.write(text.encode(encoding, errors="replace").decode(encoding))


# -- cancel -------------------------------------------------------------------------------------


def cancel(args: argparse.Namespace) -> int:
    """``asynctask cancel``: record a running task failed as cancelled; its owner stops it."""
    repository = open_store(args.store)
    try:
        task = cancel_task(repository, Recorder(repository, utc_now), args.task_id)
    except (TaskNotFoundError, TaskFinishedError) as exc:
        print(f"asynctask cancel: {exc}", file=sys.stderr)
        return 1
    finally:
        repository.close()
    print(json.dumps(task_detail(task), indent=2, default=json_default, ensure_ascii=False))
    return 0


# -- purge --------------------------------------------------------------------------------------


def purge(args: argparse.Namespace) -> int:
    """``asynctask purge``: delete finished tasks that ended long enough ago, and their log files."""
    horizon = horizon_of(utc_now(), args.older_than)
    status = check_status(args.status, finished=True)
    repository = open_store(args.store)
    try:
        retention = Retention(repository, args.log_dir)
        if args.dry_run:
            print(f"would delete {retention.count(horizon, status)} task(s)")
        else:
            print(f"deleted {retention.purge(horizon, status)} task(s)")
    finally:
        repository.close()
    return 0
