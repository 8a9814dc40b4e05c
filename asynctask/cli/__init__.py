"""The ``asynctask`` command: serve a class, run the demo, inspect and rerun tasks."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from asynctask.adapters.urls import DEFAULT_STORE, open_repository
from asynctask.cli.options import HOST, PORT, THREADS, WORKERS, ServeOptions, load_target
from asynctask.cli.serve import serve
from asynctask.core import AsyncTaskError, defaults
from asynctask.core.errors import ServeError

DEMO_STORE = "sqlite:///asynctask-demo.db"
TASK_TIMEOUT, LEASE = defaults.TASK_TIMEOUT.total_seconds(), defaults.LEASE.total_seconds()
DEMO_NUMBER = 2500001900000357  # 50000017 x 50000021: a second or two of trial division


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status: 0 fine, 1 a task failed or is unknown, 2 bad usage."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.command(args)
    except (AsyncTaskError, ValueError) as exc:  # our errors and bad option values: one clear line
        print(f"asynctask {args.command_name}: error: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    serve(_options(args, load_target(args.target)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from asynctask.cli.demo import Factorize

    options = _options(args, Factorize)
    url = f"http://{options.host}:{options.port}{options.endpoint}"

    def announce(line: str) -> None:
        print(line)
        print("Try it from another shell:")
        body = json.dumps({"data": {"n": DEMO_NUMBER}})
        print(f"  curl -s -X POST {url} -H 'Content-Type: application/json' -d '{body}'")
        print(f"  curl -s '{url}?task_id=factor-{DEMO_NUMBER}'", flush=True)

    serve(options, announce)
    return 0


def _status(args: argparse.Namespace) -> int:
    from asynctask.core import Policy, decide, overdue_error
    from asynctask.service.base import task_detail, utc_now

    repository = open_repository(args.store)
    task = repository.get(args.task_id)
    repository.close()
    if task is None:
        print(f"asynctask status: no task {args.task_id!r} in {args.store}", file=sys.stderr)
        return 1
    detail = task_detail(task)
    policy = Policy(task_timeout=args.task_timeout, lease=args.lease or None)
    decision = decide(task, utc_now(), policy)
    if not task.status.finished and decision.overdue:
        # What the service answers for it: the stored record is left to the service to change.
        detail.update(status="failed", error=overdue_error(decision.reason, policy))
        print(f"asynctask status: recorded running, but {decision.reason.value}", file=sys.stderr)
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
    def encode(value: object) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    print(json.dumps(detail, indent=2, default=encode, ensure_ascii=False))


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
        "--max-worker", type=int, default=None, help="task threads per process (default: CPUs + 4)"
    )
    command.add_argument(
        "--log-dir", default=defaults.LOGGER_DIR, help=f"task log directory (default {defaults.LOGGER_DIR})"
    )
    _lifecycle_options(command)
    command.add_argument(
        "--resume", action="store_true", help="rerun tasks whose process was lost (killed, machine gone) here"
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
