"""The ``asynctask`` command: serve a class, run the demo; list, inspect, follow, rerun and purge tasks."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from asynctask.adapters.urls import DEFAULT_STORE, open_repository
from asynctask.cli.operating import (
    cancel,
    displayed,
    json_default,
    list_tasks,
    number,
    policy_of,
    purge,
    show_logs,
)
from asynctask.cli.options import (
    EXECUTORS,
    HOST,
    PORT,
    THREADS,
    WORKERS,
    ServeOptions,
    load_target,
    read_token_file,
)
from asynctask.cli.serve import serve
from asynctask.core import AsyncTaskError, InvalidArgumentError, defaults
from asynctask.core.errors import ServeError
from asynctask.http.auth import TOKEN_ENV
from asynctask.service.listing import DEFAULT_PAGE

DEMO_STORE = "sqlite:///asynctask-demo.db"
TASK_TIMEOUT, LEASE = defaults.TASK_TIMEOUT.total_seconds(), defaults.LEASE.total_seconds()
DEMO_NUMBER = 2500001900000357  # 50000017 x 50000021: a second or two of trial division


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status: 0 fine, 1 a task failed or is unknown, 2 bad usage."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.command(args)
    except InvalidArgumentError as exc:  # named by the service's rule: say which option it was
        option = "--" + exc.argument.replace("_", "-")
        print(f"asynctask {args.command_name}: error: argument {option}: {exc}", file=sys.stderr)
        return 2
    except (AsyncTaskError, ValueError) as exc:  # our errors and bad option values: one clear line
        print(f"asynctask {args.command_name}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # ``asynctask list | head``: the reader has gone; nothing more to say
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass


def _serve(args: argparse.Namespace) -> int:
    serve(_options(args, load_target(args.target)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from asynctask.cli.demo import Factorize

    options = _options(args, Factorize)
    url = f"http://{options.host}:{options.port}{options.endpoint}"

    # With a token, the lines send it the way it was given, never the token itself.
    if args.token_file:
        path = shlex.quote(os.path.abspath(args.token_file))  # as read_token_file: surrounding space goes
        auth = f' -H "Authorization: Bearer $(tr -d \'[:space:]\' < {path})"'
    elif os.environ.get(TOKEN_ENV):
        auth = f' -H "Authorization: Bearer ${TOKEN_ENV}"'
    else:
        auth = ""

    def announce(line: str) -> None:
        print(line)
        print("Try it from another shell:")
        body = json.dumps({"data": {"n": DEMO_NUMBER}})
        print(f"  curl -s -X POST {url}{auth} -H 'Content-Type: application/json' -d '{body}'")
        print(f"  curl -s{auth} '{url}?task_id=factor-{DEMO_NUMBER}'")
        print(f"or open the dashboard: {url}/dashboard", flush=True)

    serve(options, announce)
    return 0


def _status(args: argparse.Namespace) -> int:
    from asynctask.service.runtime import utc_now

    policy = policy_of(args)
    repository = open_repository(args.store)
    task = repository.get(args.task_id)
    repository.close()
    if task is None:
        print(f"asynctask status: no task {args.task_id!r} in {args.store}", file=sys.stderr)
        return 1
    detail, overdue = displayed(task, utc_now(), policy)
    if overdue is not None:
        # What the service answers for it: the stored record is left to the service to change.
        print(f"asynctask status: recorded running, but {overdue.value}", file=sys.stderr)
    _print_json(detail)
    return 1 if detail["status"] == "failed" else 0


def _rerun(args: argparse.Namespace) -> int:
    from asynctask.service.base import task_detail

    target = load_target(args.app)
    service = target(logger_dir=args.log_dir, repository=open_repository(args.store), max_worker=1)
    before = service.repository.get(args.task_id)
    service.run(task_id=args.task_id)  # TaskNotFoundError when unknown
    service.shutdown(wait=True)  # the rerun runs here, in the foreground
    after = service.repository.get(args.task_id)
    service.repository.close()
    if after.attempt == before.attempt:
        print(
            f"asynctask rerun: task {args.task_id!r} is {after.status.value} and was kept, not rerun "
            "(only failed, timed-out and expired tasks are rerun)",
            file=sys.stderr,
        )
    _print_json(task_detail(after))
    return 0 if after.status.value == "success" else 1


def _print_json(detail: dict) -> None:
    print(json.dumps(detail, indent=2, default=json_default, ensure_ascii=False))


def _options(args: argparse.Namespace, target: type) -> ServeOptions:
    if args.workers < 1 or args.threads < 1:
        raise ServeError("--workers and --threads must be at least 1")
    if not 0 < args.port < 65536:
        raise ServeError(f"--port must be from 1 to 65535, got {args.port}")
    return ServeOptions(
        target=target,
        store=args.store,
        endpoint="/" + args.endpoint.strip("/"),
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        log_dir=args.log_dir,
        max_worker=args.max_worker,
        task_timeout=args.task_timeout,
        lease=args.lease or None,
        resume=args.resume,
        keep_finished=args.keep_finished,
        executor=args.executor,
        retries=args.retries,
        retry_backoff=args.retry_backoff,
        token=read_token_file(args.token_file) if args.token_file else None,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asynctask", description="Serve an AsyncTask class over HTTP, and inspect its tasks."
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve_cmd = _command(commands, "serve", _serve, "serve package.module:ClassName over HTTP")
    serve_cmd.add_argument(
        "target", metavar="package.module:ClassName", help="the AsyncTask subclass to serve"
    )
    _serving_options(serve_cmd, DEFAULT_STORE)

    demo = _command(commands, "demo", _demo, "serve the built-in demo (prime factorization) on SQLite")
    _serving_options(demo, DEMO_STORE)

    status = _command(commands, "status", _status, "print a stored task as JSON")
    status.add_argument("task_id")
    status.add_argument("--store", default=DEFAULT_STORE, help=f"store URL (default {DEFAULT_STORE})")
    _lifecycle_options(status)

    rerun = _command(commands, "rerun", _rerun, "rerun a failed, timed-out or expired task here and wait")
    rerun.add_argument("task_id")
    rerun.add_argument(
        "--app", required=True, metavar="package.module:ClassName", help="the class whose main runs"
    )
    rerun.add_argument("--store", default=DEFAULT_STORE, help=f"store URL (default {DEFAULT_STORE})")
    rerun.add_argument(
        "--log-dir", default=defaults.LOGGER_DIR, help=f"task log directory (default {defaults.LOGGER_DIR})"
    )

    listing = _command(commands, "list", list_tasks, "list stored tasks, newest first")
    listing.description = (
        "List stored tasks, newest first: a table (times in UTC to the second) or JSON lines. "
        "A running task past --task-timeout or --lease reads as failed, as the service answers it; "
        "--status filters on the stored status."
    )
    listing.add_argument(
        "--status", help="only tasks stored with this status: running, success or failed (default: all)"
    )
    listing.add_argument(
        "--limit",
        type=number,
        default=DEFAULT_PAGE,
        metavar="N",
        help=f"show at most N tasks (default {DEFAULT_PAGE}); a line on stderr says how to see more",
    )
    listing.add_argument(
        "--cursor", metavar="C", help="go on after the page that printed this cursor (same options)"
    )
    listing.add_argument(
        "--json", action="store_true", help="one JSON object per line (the task's detail) instead of a table"
    )
    listing.add_argument("--store", default=DEFAULT_STORE, help=f"store URL (default {DEFAULT_STORE})")
    _lifecycle_options(listing)

    logs = _command(commands, "logs", show_logs, "print a task's log file")
    logs.description = (
        "Print a task's log file. With --follow, keep printing what it logs, like tail -f, until the "
        "task has ended (or reads as failed: past --task-timeout, or its process gone past --lease)."
    )
    logs.add_argument("task_id")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing what it logs until the task has ended"
    )
    logs.add_argument(
        "--log-dir", default=defaults.LOGGER_DIR, help=f"task log directory (default {defaults.LOGGER_DIR})"
    )
    logs.add_argument("--store", default=DEFAULT_STORE, help=f"store URL (default {DEFAULT_STORE})")
    _lifecycle_options(logs)

    cancelling = _command(commands, "cancel", cancel, "cancel a running task (its process stops it)")
    cancelling.description = (
        "Cancel a running task: it is recorded failed at once (TaskCancelledError: cancelled by request), "
        "and the process running it stops it at its next heartbeat round. Exit 1 if it is unknown or "
        "has finished."
    )
    cancelling.add_argument("task_id")
    cancelling.add_argument("--store", default=DEFAULT_STORE, help=f"store URL (default {DEFAULT_STORE})")

    purging = _command(
        commands, "purge", purge, "delete finished tasks that ended long enough ago, with their logs"
    )
    purging.add_argument(
        "--older-than",
        required=True,
        type=number,
        metavar="SECONDS",
        help="delete tasks that ended at least this long ago (0: every finished task)",
    )
    purging.add_argument("--status", help="only success or only failed tasks (default: both)")
    purging.add_argument("--dry-run", action="store_true", help="count them only; delete nothing")
    purging.add_argument(
        "--log-dir",
        default=defaults.LOGGER_DIR,
        help=f"where their log files are (default {defaults.LOGGER_DIR})",
    )
    purging.add_argument("--store", default=DEFAULT_STORE, help=f"store URL (default {DEFAULT_STORE})")
    return parser


def _command(commands, name: str, handler, help_text: str) -> argparse.ArgumentParser:
    command = commands.add_parser(
        name, help=help_text, description=help_text[0].upper() + help_text[1:] + "."
    )
    command.set_defaults(command=handler, command_name=name)
    return command


def _serving_options(command: argparse.ArgumentParser, store: str) -> None:
    command.add_argument(
        "--store",
        default=store,
        help=f"store URL: memory://, sqlite:///path.db, mongodb://host:port/db/collection (default {store})",
    )
    command.add_argument(
        "--endpoint", default=defaults.ENDPOINT, help=f"URL path of the task (default {defaults.ENDPOINT})"
    )
    command.add_argument("--host", default=HOST, help=f"interface to listen on (default {HOST})")
    command.add_argument("--port", type=int, default=PORT, help=f"port (default {PORT})")
    command.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"gunicorn worker processes (default {WORKERS})",
    )
    command.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help=f"request threads per gunicorn worker (default {THREADS})",
    )
    command.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="threads",
        help="run tasks in threads (default) or in processes that a timeout or a cancel ends",
    )
    command.add_argument(
        "--max-worker",
        type=int,
        default=None,
        help="task threads (default: CPUs + 4) or processes (default: CPUs) per gunicorn worker",
    )
    command.add_argument(
        "--log-dir", default=defaults.LOGGER_DIR, help=f"task log directory (default {defaults.LOGGER_DIR})"
    )
    _lifecycle_options(command)
    command.add_argument(
        "--resume", action="store_true", help="rerun tasks whose process was lost (killed, machine gone) here"
    )
    command.add_argument(
        "--token-file",
        metavar="PATH",
        help="require Authorization: Bearer <the token in this file> on every route but /ping "
        "(default: $ASYNCTASK_TOKEN if set, else no token)",
    )
    command.add_argument(
        "--retries",
        type=number,
        default=0,
        metavar="N",
        help="rerun a failed task (an error, a timeout, a lost process) up to N times (default 0)",
    )
    command.add_argument(
        "--retry-backoff",
        type=number,
        default=1.0,
        metavar="SECONDS",
        help="wait before the first retry, doubling each time up to 300 s, with jitter (default 1)",
    )
    command.add_argument(
        "--keep-finished",
        type=number,
        default=None,
        metavar="SECONDS",
        help="delete finished tasks (and their logs) this long after they end (default: keep them)",
    )


def _lifecycle_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--task-timeout",
        type=float,
        default=TASK_TIMEOUT,
        metavar="SECONDS",
        help=f"fail a task still running this long after submission (default {TASK_TIMEOUT:g})",
    )
    command.add_argument(
        "--lease",
        type=float,
        default=LEASE,
        metavar="SECONDS",
        help=f"a running task without a heartbeat this long lost its process (default {LEASE:g}; 0: off)",
    )
