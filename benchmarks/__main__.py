"""``python -m benchmarks [--quick] [--only status,list,...] [--rounds N]``: the table and a JSON file.

``--only features`` (not in the default run): the end-to-end workload on the
plain no-op task, the same with metrics on (``metrics``: in the worker's
memory, as ``asynctask serve`` with one worker; ``metrics-multi``: in
multiprocess mode, as with several), the same task reporting its progress
once, and the plain task with ``retries=3``, as ratios to the plain one (a feature costs
<= 3%). Every other row counts no metrics. ``--only instructions`` (not in
the default run either, needs valgrind): the same variants served under
callgrind, the server's CPU instructions per job, a figure that does not
move with the machine's load (``benchmarks/instructions.py``).

Rows are served by gunicorn (1 process x 8 threads, gthread, 127.0.0.1) and
measured in interleaved rounds; each figure is the median of the per-round
ratios to its baseline. ``BENCH_ASYNCTASK_PATH=/other/tree`` serves asynctask
from another source tree, to measure a change against the same baselines.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from attrs import asdict, evolve, frozen

from benchmarks import instructions, workloads
from benchmarks.apps import MULTIPROCESS, RUNNING_EVERY, prefill_sqlite, seed_sqlite
from benchmarks.client import have_wrk
from benchmarks.report import Comparison, Rounds, machine, summarize, table, write_json
from benchmarks.servers import Contestant, Served, python_env, serve_all
from benchmarks.soak import soak

ASYNCTASK = "benchmarks.apps:create()"
MEMORY, SQLITE, MONGOMOCK = "asynctask memory", "asynctask sqlite", "asynctask mongomock"
SQLITE_4 = "asynctask sqlite 4proc"
BASELINE_A, BASELINE_B = "baseline (a)", "baseline (b)"
ROWS = [
    Contestant(MEMORY, ASYNCTASK, {"BENCH_STORE": "memory://"}),
    Contestant(SQLITE, ASYNCTASK, {"BENCH_STORE": "sqlite:///{dir}/tasks.db"}),
    Contestant(SQLITE_4, ASYNCTASK, {"BENCH_STORE": "sqlite:///{dir}/tasks.db"}, workers=4),
    Contestant(MONGOMOCK, ASYNCTASK, {"BENCH_STORE": "mongomock"}),
    Contestant(BASELINE_A, "benchmarks.baselines:design_ceiling()"),
    Contestant(BASELINE_B, "benchmarks.baselines:framework_ceiling()"),
]
#: mongomock scans every document per lookup: a tenth of the jobs (a test double, not a row to beat).
SMALLER = {MONGOMOCK: 10}
STATUS, SLEEP, E2E, SCALING, SOAK = "status", "sleep", "e2e", "scaling", "soak"
LIST, PURGE, FEATURES, INSTRUCTIONS = "list", "purge", "features", "instructions"
SECTIONS = (STATUS, SLEEP, E2E, SCALING, LIST, PURGE, SOAK, FEATURES, INSTRUCTIONS)
#: What a run without ``--only`` does: all but ``features`` and ``instructions`` (about 2 minutes each).
DEFAULT_SECTIONS = tuple(name for name in SECTIONS if name not in (FEATURES, INSTRUCTIONS))
#: The features section: the served task classes (``benchmarks.apps.TASKS``), ``plain`` the reference,
#: each on the memory store and on SQLite; a feature costs at most 3% end to end (DESIGN.md 4).
FEATURE_VARIANTS = ("plain", "metrics", "metrics-multi", "progress", "retries")
FEATURE_STORES = {"memory": "memory://", "sqlite": "sqlite:///{dir}/tasks.db"}
FEATURE_TARGET = ">= 0.97"
#: The same 3%, as instructions per job (lower is better).
INSTRUCTIONS_TARGET = "<= 1.03"
#: The purge section's two rows: status GETs with no purge, and during one.
QUIET, DURING = "sqlite, no purge", "sqlite, during purge"
#: The purge deletes tasks that ended a week ago or more; its victims ended 8 to 38 days ago.
PURGE_OLDER_THAN = timedelta(days=7)
PURGE_VICTIMS_END = timedelta(days=8)
LEGEND = """\
ratio: median over the rounds of row/baseline, each pair measured back to back; min-max: its spread.
mongomock (a test double that scans every document per lookup) runs a tenth of the jobs.
client_load: CPU cores the load generator itself used (1.0 would be one core saturated)."""


@frozen
class Plan:
    """How much of everything one run does."""

    rounds: int = 5
    jobs: int = 2000
    status_seconds: int = 3
    status_requests: int = 5000
    sleep_jobs: int = 400
    sleep_rounds: int = 3
    sizes: tuple[int, ...] = (10**3, 10**5, 10**6)
    scale_rounds: int = 5
    scale_seconds: int = 2
    scale_jobs: int = 1000
    soak: int = 10_000
    list_sizes: tuple[int, ...] = (10**3, 10**6)
    list_rounds: int = 3
    list_seconds: int = 3
    purge_old: int = 10**5
    purge_kept: int = 5 * 10**4
    purge_rounds: int = 3


QUICK = Plan(
    2, 400, 1, 1000, 80, 2, (10**3, 10**4), 2, 1, 200, 2000,
    list_sizes=(10**3, 10**4), list_rounds=2, list_seconds=1,
    purge_old=10**4, purge_kept=5000, purge_rounds=2,
)  # fmt: skip


def interleave(served: dict[str, Served], rounds: int, measure: Callable[[Served], dict]) -> Rounds:
    """``measure`` every row once per round, A B C ... then ... C B A, so drift hits all rows alike."""
    names = list(served)
    results: Rounds = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            results[name].append(measure(served[name]))
    return results


def jobs_for(served: Served, jobs: int) -> int:
    """The jobs a row runs: fewer for mongomock."""
    return max(jobs // SMALLER.get(served.name, 1), 10)


def served_sections(plan: Plan, workdir: str, wanted: set[str]) -> dict[str, Rounds]:
    """Status, sleep and end-to-end, on one set of servers (in that order: stores grow)."""
    sections: dict[str, Rounds] = {}
    with serve_all(ROWS, workdir) as served:
        finished = {name: workloads.finished_task(one) for name, one in served.items()}
        for one in served.values():  # warm up: first requests, per-thread connections
            workloads.end_to_end(one, jobs_for(one, 200))
        if STATUS in wanted:
            status = lambda one: workloads.status(  # noqa: E731
                one, finished[one.name], plan.status_seconds, plan.status_requests
            )
            sections[STATUS] = interleave(served, plan.rounds, status)
        if SLEEP in wanted:
            sleepers = {name: one for name, one in served.items() if name not in (SQLITE_4, BASELINE_B)}
            sleep = lambda one: workloads.sleeping(one, jobs_for(one, plan.sleep_jobs))  # noqa: E731
            sections[SLEEP] = interleave(sleepers, plan.sleep_rounds, sleep)
        if E2E in wanted:
            e2e = lambda one: workloads.end_to_end(one, jobs_for(one, plan.jobs))  # noqa: E731
            sections[E2E] = interleave(served, plan.rounds, e2e)
    return sections


def feature_rows(workdir: str) -> list[Contestant]:
    """One asynctask server per store and task variant, named ``"<store> <variant>"``.

    Per store the reference comes after the first other, so that the first
    two (metrics, progress) are measured right next to it in every round,
    whichever way the round goes. ``metrics`` counts in the worker's memory,
    as ``asynctask serve`` with one worker does; ``metrics-multi`` in
    multiprocess mode, in a fresh directory of its own, as with several.
    """
    reference, *others = FEATURE_VARIANTS
    order = [others[0], reference, *others[1:]]
    rows = []
    for store, url in FEATURE_STORES.items():
        for variant in order:
            env = {"BENCH_STORE": url, "BENCH_TASK": variant}
            if variant in MULTIPROCESS:
                env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"metrics-{store}-", dir=workdir)
            rows.append(Contestant(f"{store} {variant}", ASYNCTASK, env))
    return rows


def features_section(plan: Plan, workdir: str) -> Rounds:
    """The e2e workload on the plain, metrics, progress and retries variants, on memory and SQLite."""
    with serve_all(feature_rows(workdir), workdir) as served:
        for one in served.values():  # warm up: first requests, per-thread connections, progress writer
            workloads.end_to_end(one, 200)
        return interleave(served, plan.rounds, lambda one: workloads.end_to_end(one, plan.jobs))


def scaling_section(plan: Plan, workdir: str) -> Rounds:
    """Status GET and submission with 10^3 ... 10^6 stored tasks, memory and SQLite."""
    rows, sizes = [], {}
    for size in plan.sizes:
        path = os.path.join(workdir, f"scale-{size}.db")
        started = time.perf_counter()
        prefill_sqlite(f"sqlite:///{path}", size)
        print(f"  prefilled {size:,} SQLite rows in {time.perf_counter() - started:.1f} s", flush=True)
        rows.append(Contestant(f"sqlite {_power(size)}", ASYNCTASK, {"BENCH_STORE": f"sqlite:///{path}"}))
        rows.append(Contestant(f"memory {_power(size)}", ASYNCTASK, {"BENCH_PREFILL": str(size)}))
        sizes[rows[-2].name] = sizes[rows[-1].name] = size

    def measure(one: Served) -> dict:
        gets = workloads.scaled_status(one, sizes[one.name], plan.scale_seconds, plan.status_requests)
        posts = workloads.submit_only(one, plan.scale_jobs)
        return {"status_per_s": gets["requests_per_s"], "submit_per_s": posts["submit_per_s"]}

    started = time.perf_counter()
    with serve_all(rows, workdir, boot_timeout=600) as served:
        print(f"  servers up (memory prefilled in them) in {time.perf_counter() - started:.1f} s", flush=True)
        for one in served.values():
            workloads.submit_only(one, 100)  # warm up
        return interleave(served, plan.scale_rounds, measure)


def list_section(plan: Plan, workdir: str) -> Rounds:
    """The first page of failed tasks with 10^3 and 10^6 stored tasks of the mix, on memory and SQLite.

    The memory servers seed themselves as they boot (``BENCH_MIXED``) while
    this process seeds the SQLite files; the SQLite servers start after.
    """
    memory_rows, sqlite_rows, paths = [], [], {}
    for size in plan.list_sizes:
        memory_rows.append(Contestant(f"memory {_power(size)}", ASYNCTASK, {"BENCH_MIXED": str(size)}))
        paths[size] = os.path.join(workdir, f"list-mix-{size}.db")
        url = f"sqlite:///{paths[size]}"
        sqlite_rows.append(Contestant(f"sqlite {_power(size)}", ASYNCTASK, {"BENCH_STORE": url}))
    started = time.perf_counter()
    with ThreadPoolExecutor(1) as seeder:
        seeding = seeder.submit(lambda: [seeded_sqlite(paths[size], size) for size in plan.list_sizes])
        with serve_all(memory_rows, workdir, boot_timeout=600) as memory:
            seeding.result()
            seconds = time.perf_counter() - started
            print(f"  memory servers up (they seed themselves), SQLite seeded: {seconds:.1f} s", flush=True)
            with serve_all(sqlite_rows, workdir, boot_timeout=600) as on_sqlite:
                served = {**memory, **on_sqlite}
                for one in served.values():
                    if problem := workloads.listing_problem(one):
                        print(f"  list: skipped, {one.name}: {problem}", flush=True)
                        return {}
                    workloads.listing(one, 1)  # warm up
                measure = lambda one: workloads.listing(one, plan.list_seconds)  # noqa: E731
                return interleave(served, plan.list_rounds, measure)


def seeded_sqlite(path: str, size: int) -> str:
    """A SQLite file holding ``size`` tasks of the mix, seeded once per run (the run's own temp folder)."""
    if not os.path.exists(path):
        started = time.perf_counter()
        seed_sqlite(path, size)
        seconds = time.perf_counter() - started
        print(f"  seeded {size:,} tasks of the mix into SQLite in {seconds:.1f} s", flush=True)
    return path


def purge_command(url: str, log_dir: str) -> tuple[list[str], str]:
    """How this tree purges from the command line: ``asynctask purge``, else ``benchmarks.purge``."""
    options = ["--older-than", f"{PURGE_OLDER_THAN.total_seconds():g}", "--log-dir", log_dir, "--store", url]
    cli = [sys.executable, "-m", "asynctask", "purge"]
    if subprocess.run([*cli, "--help"], env=python_env(), capture_output=True).returncode == 0:
        return [*cli, *options], "asynctask purge"
    return [sys.executable, "-m", "benchmarks.purge", *options], "benchmarks.purge (Retention.purge)"


def purge_section(plan: Plan, workdir: str) -> tuple[Rounds, dict]:
    """Status GETs of kept tasks without a purge and during one of ``purge_old`` tasks, on one SQLite server.

    Each round puts the victims back (ended 8 to 38 days ago, each with a log
    file), measures GETs for the window, then starts the purge (a process of
    its own, as a user would run it) and measures the same GETs at once. The
    window is the whole seconds the warm-up purge took, so it lies within the
    purge; ``covered`` says how much of each window the purge really ran.

    The task logs are on tmpfs when there is one (``/dev/shm``): on a disk
    mounted with ``discard``, as this VM's ext4 is, every deleted file queues a
    discard, and re-creating 10^5 log files after deleting 10^5 went from 4 s to
    over 60 s a round; the database stays on disk, in the run's folder.
    """
    with tempfile.TemporaryDirectory(prefix="asynctask-bench-logs-", dir=_tmpfs()) as log_dir:
        return _purge_section(plan, workdir, log_dir)


def _tmpfs() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _purge_section(plan: Plan, workdir: str, log_dir: str) -> tuple[Rounds, dict]:
    folder = os.path.join(workdir, "purge")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tasks.db")
    url = f"sqlite:///{path}"
    seed_sqlite(path, plan.purge_kept, prefix="keep-", span=timedelta(days=1))
    kept = plan.purge_kept - max(plan.purge_kept // RUNNING_EVERY, 1)  # the finished ones, oldest first
    pattern = "/api?task_id=keep-%07d"
    command, how = purge_command(url, log_dir)

    def victims() -> float:
        started = time.perf_counter()
        end = datetime.now(timezone.utc) - PURGE_VICTIMS_END
        seed_sqlite(path, plan.purge_old, prefix="old-", end=end, running=False)
        write_logs(log_dir, "old-", plan.purge_old)
        return time.perf_counter() - started

    def purged(measure: Callable[[], dict]) -> tuple[dict, dict]:
        figures, run = workloads.while_running(command, python_env(), measure)
        left = _count(path, "old-%")
        if left:
            raise workloads.WorkloadError(f"{how} left {left:,} of the {plan.purge_old:,} tasks to purge")
        covered = min(run["seconds"], run["window_seconds"]) / run["window_seconds"]
        purge = {"purge_seconds": run["seconds"], "purge_cpu_seconds": run["cpu_seconds"], "covered": covered}
        return {**figures, **purge}, run

    info: dict = {"how": how, "command": command, "victims": plan.purge_old, "kept": plan.purge_kept}
    info["log_dir"] = log_dir
    row = Contestant("sqlite", ASYNCTASK, {"BENCH_STORE": url, "BENCH_LOG_DIR": log_dir})
    with serve_all([row], workdir) as served:
        one = served["sqlite"]
        print(f"  purging with {how}; seeding {plan.purge_old:,} victims took {victims():.1f} s", flush=True)
        workloads.status_gets(one, pattern, kept, 1)  # warm up
        warm, _ = purged(lambda: workloads.status_gets(one, pattern, kept, 1))
        window = max(int(warm["purge_seconds"]), 1)
        info.update(warm_up_purge_seconds=warm["purge_seconds"], window_seconds=window)
        rounds: Rounds = {QUIET: [], DURING: []}
        for _ in range(plan.purge_rounds):
            victims()
            time.sleep(0.5)  # the victims' commit and checkpoint are done; let the server settle
            rounds[QUIET].append(workloads.status_gets(one, pattern, kept, window))
            rounds[DURING].append(purged(lambda: workloads.status_gets(one, pattern, kept, window))[0])
    return rounds, info


def write_logs(log_dir: str, prefix: str, count: int) -> None:
    """A two-line log file per seeded task, where the service keeps them."""
    text = b"2026-01-01 08:00:00,000 INFO started\n2026-01-01 08:00:00,050 INFO done\n"
    for index in range(count):
        # What log_path names for such ids; written with os calls, twice as fast as open().
        handle = os.open(os.path.join(log_dir, f"{prefix}{index:07d}.log"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(handle, text)
        os.close(handle)


def purge_text(rounds: Rounds, info: dict) -> str:
    """The purge's own figures, printed under the table."""
    seconds = [figures["purge_seconds"] for figures in rounds[DURING]]
    cores = statistics.median(one["purge_cpu_seconds"] / one["purge_seconds"] for one in rounds[DURING])
    covered = [figures["covered"] for figures in rounds[DURING]]
    return (
        f"purge: {info['victims']:,} tasks and their logs deleted by {info['how']} in"
        f" {statistics.median(seconds):.1f} s (median; {min(seconds):.1f}-{max(seconds):.1f}) using"
        f" {cores:.2f} of a core, {info['kept']:,} kept; GET windows of {info['window_seconds']} s,"
        f" {min(covered):.0%}-{max(covered):.0%} of each during the purge"
    )


def _count(path: str, like: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT COUNT(*) FROM tasks WHERE task_id LIKE ?", (like,)).fetchone()[0]
    finally:
        connection.close()


def titles(plan: Plan) -> dict[str, str]:
    """What each section of the table measured."""
    client = "wrk" if have_wrk() else "Python client"
    return {
        STATUS: f"status: GET of one finished task, {client}, 8 connections; ratio to baseline (b)",
        SLEEP: f"sleep: {plan.sleep_jobs} jobs of 50 ms on 8 job threads; ratio to the ideal 160 jobs/s",
        E2E: f"e2e: submit {plan.jobs:,} no-op jobs, then poll each to success; 8 keep-alive connections",
        SCALING: f"scaling: GET of random stored tasks, and submit, vs {_power(plan.sizes[0])} stored; "
        "cost ratio (lower is better)",
        LIST: f"list: GET {workloads.LIST_PATH}, {client}, 8 connections, stores of the mix (90% success, "
        f"10% failed, a few running), vs {_power(plan.list_sizes[0])} stored; cost ratio (lower is better)",
        PURGE: f"purge: GET of random kept tasks on SQLite, {client}, 8 connections, during a purge of "
        f"{plan.purge_old:,} tasks vs without; ratio (p99: lower is better)",
        FEATURES: f"features: the e2e workload ({plan.jobs:,} no-op jobs) with metrics (-multi: multiprocess "
        "mode), progress(1.0) once per job, or retries=3 (none fail); ratio to the plain task on the same "
        "store, same round",
        INSTRUCTIONS: "instructions: CPU instructions of the server per no-op job (gunicorn under valgrind's "
        f"callgrind, the e2e workload, {instructions.LARGE} jobs minus {instructions.SMALL}); ratio to the "
        "plain task (lower is better)",
    }


def comparisons(plan: Plan) -> list[Comparison]:
    """Every line of the table, with the issue's targets."""
    lines = []
    status_targets = {MEMORY: ">= 0.9", SQLITE: ">= 0.9", SQLITE_4: "", MONGOMOCK: "", BASELINE_A: ""}
    for row, target in status_targets.items():
        lines.append(Comparison(STATUS, row, "requests_per_s", BASELINE_B, target))
        lines += [Comparison(STATUS, row, figure, BASELINE_B) for figure in ("p50_ms", "p99_ms")]
    lines += [Comparison(STATUS, row, "client_load", 1.0) for row in (MEMORY, BASELINE_B)]
    for row in (MEMORY, SQLITE, MONGOMOCK, BASELINE_A):
        lines.append(Comparison(SLEEP, row, "jobs_per_s", workloads.IDEAL_SLEEP_JOBS_PER_S, ">= 0.95"))
    for row, target in [(MEMORY, ">= 0.95"), (SQLITE, ">= 0.9"), (SQLITE_4, ""), (MONGOMOCK, "")]:
        lines.append(Comparison(E2E, row, "jobs_per_s", BASELINE_A, target))
        lines.append(Comparison(E2E, row, "submit_per_s", BASELINE_A))
    lines += [Comparison(E2E, row.name, "requests_per_s", BASELINE_B) for row in ROWS[:-1]]
    lines += [Comparison(E2E, row, "client_load", 1.0) for row in (MEMORY, BASELINE_B)]
    for store in ("memory", "sqlite"):
        for size in plan.sizes[1:]:
            for figure in ("status_per_s", "submit_per_s"):
                row, first = f"{store} {_power(size)}", f"{store} {_power(plan.sizes[0])}"
                lines.append(Comparison(SCALING, row, figure, first, "<= 1.3", cost=True))
    for store in ("memory", "sqlite"):
        first = f"{store} {_power(plan.list_sizes[0])}"
        for size in plan.list_sizes[1:]:
            row = f"{store} {_power(size)}"
            lines.append(Comparison(LIST, row, "requests_per_s", first, "<= 1.3", cost=True))
            lines += [Comparison(LIST, row, figure, first) for figure in ("p50_ms", "p99_ms")]
    lines.append(Comparison(LIST, f"memory {_power(plan.list_sizes[0])}", "client_load", 1.0))
    lines.append(Comparison(PURGE, DURING, "p99_ms", QUIET, "<= 2"))
    lines += [Comparison(PURGE, DURING, figure, QUIET) for figure in ("p50_ms", "requests_per_s")]
    lines.append(Comparison(PURGE, DURING, "client_load", 1.0))
    for store in FEATURE_STORES:
        for variant in FEATURE_VARIANTS[1:]:
            row, plain = f"{store} {variant}", f"{store} {FEATURE_VARIANTS[0]}"
            lines.append(Comparison(FEATURES, row, "jobs_per_s", plain, FEATURE_TARGET))
            lines.append(Comparison(FEATURES, row, "submit_per_s", plain))
            if store == "memory":  # the instructions section serves the memory store only
                counted = Comparison(INSTRUCTIONS, row, "instructions_per_job", plain, INSTRUCTIONS_TARGET)
                lines.append(counted)
    return lines


def soak_lines(total: int) -> tuple[dict, str]:
    """The soak of both real stores, and its printed form."""
    found, text = {}, [f"soak: {total:,} no-op tasks through one in-process service (Flask test client)"]
    for store in ("memory://", "sqlite:///{dir}/soak.db"):
        found[store] = result = soak(store, total, (100, total))
        first, last = result["samples"][100], result["samples"][total]
        changes = ", ".join(f"{key} {first[key]:.4g} -> {last[key]:.4g}" for key in first)
        name = store.split(":")[0]
        text.append(f"  {name:7} at 100 -> {total:,} tasks: {changes} ({result['seconds']:.1f} s)")
    return found, "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    """Run the plan, print the table, write the JSON; the exit status is 0 unless something broke."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a reduced run (about a minute) for smoke tests")
    parser.add_argument(
        "--rounds", type=int, help="rounds of status, e2e, features, list and purge (not scaling)"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated sections of: {', '.join(SECTIONS)} (default: all but {FEATURES})",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    if args.rounds:
        plan = evolve(plan, rounds=args.rounds, list_rounds=args.rounds, purge_rounds=args.rounds)
    wanted = {name.strip() for name in args.only.split(",") if name.strip()} or set(DEFAULT_SECTIONS)
    if unknown := wanted - set(SECTIONS):
        parser.error(f"no such section: {', '.join(sorted(unknown))} (sections: {', '.join(SECTIONS)})")
    if not have_wrk():
        print("wrk is not installed (apt-get install wrk): status GETs use the Python client instead;"
              " its client_load lines say how close it came to saturating.", file=sys.stderr)  # fmt: skip
    started, document = time.perf_counter(), {"command": sys.argv, "plan": asdict(plan), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="asynctask-bench-") as workdir:
        sections = {}
        if wanted & {STATUS, SLEEP, E2E}:
            print("serving the rows (gunicorn, 1 process x 8 threads; 4proc: 4 processes) ...", flush=True)
            sections = served_sections(plan, workdir, wanted)
        if SCALING in wanted:
            print("scaling: prefilling stores ...", flush=True)
            sections[SCALING] = scaling_section(plan, workdir)
        if LIST in wanted:
            print("list: seeding stores ...", flush=True)
            sections[LIST] = list_section(plan, workdir)
        if PURGE in wanted:
            print("purge: seeding the store ...", flush=True)
            sections[PURGE], document["purge"] = purge_section(plan, workdir)
        if FEATURES in wanted:
            print("features: serving plain, metrics, progress and retries (memory, SQLite) ...", flush=True)
            sections[FEATURES] = features_section(plan, workdir)
        if INSTRUCTIONS in wanted:
            if not instructions.have_valgrind():
                parser.error("the instructions section needs valgrind (apt-get install valgrind)")
            print("instructions: plain, metrics, progress and retries served under callgrind ...", flush=True)
            sections[INSTRUCTIONS] = instructions.instructions_section(list(FEATURE_VARIANTS), workdir)
    lines = summarize(sections, comparisons(plan))
    document.update(wrk=have_wrk(), sections=sections, summary=lines)
    if lines:
        print(table(lines, titles(plan)))
        print(LEGEND)
    if sections.get(PURGE):
        print(purge_text(sections[PURGE], document["purge"]))
    if SOAK in wanted:
        document["soak"], text = soak_lines(plan.soak)
        print(text)
    document["seconds"] = time.perf_counter() - started
    print(f"written to {write_json(document)} after {document['seconds']:.0f} s")
    return 0


def _power(size: int) -> str:
    exponent = len(str(size)) - 1
    return f"10^{exponent}" if size == 10**exponent else f"{size:,}"


if __name__ == "__main__":
    sys.exit(main())
