"""``python -m benchmarks [--quick] [--only status,e2e,...]``: every workload, a table and a JSON file.

Rows are served by gunicorn (1 process x 8 threads, gthread, 127.0.0.1) and
measured in interleaved rounds; each figure is the median of the per-round
ratios to its baseline. ``BENCH_ASYNCTASK_PATH=/other/tree`` serves asynctask
from another source tree, to measure a change against the same baselines.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

from attrs import asdict, evolve, frozen

from benchmarks import workloads
from benchmarks.apps import prefill_sqlite
from benchmarks.client import have_wrk
from benchmarks.report import Comparison, Rounds, machine, summarize, table, write_json
from benchmarks.servers import Contestant, Served, serve_all
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
SECTIONS = (STATUS, SLEEP, E2E, SCALING, SOAK)
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


QUICK = Plan(2, 400, 1, 1000, 80, 2, (10**3, 10**4), 2, 1, 200, 2000)


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


def titles(plan: Plan) -> dict[str, str]:
    """What each section of the table measured."""
    client = "wrk" if have_wrk() else "Python client"
    return {
        STATUS: f"status: GET of one finished task, {client}, 8 connections; ratio to baseline (b)",
        SLEEP: f"sleep: {plan.sleep_jobs} jobs of 50 ms on 8 job threads; ratio to the ideal 160 jobs/s",
        E2E: f"e2e: submit {plan.jobs:,} no-op jobs, then poll each to success; 8 keep-alive connections",
        SCALING: f"scaling: GET of random stored tasks, and submit, vs {_power(plan.sizes[0])} stored; "
        "cost ratio (lower is better)",
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
    parser.add_argument("--rounds", type=int, help="rounds of the status and end-to-end sections")
    parser.add_argument("--only", default="", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    plan = evolve(plan, rounds=args.rounds) if args.rounds else plan
    wanted = {name.strip() for name in args.only.split(",") if name.strip()} or set(SECTIONS)
    if not have_wrk():
        print("wrk is not installed (apt-get install wrk): status GETs use the Python client instead;"
              " its client_load lines say how close it came to saturating.", file=sys.stderr)  # fmt: skip
    started, document = time.perf_counter(), {"command": sys.argv, "plan": asdict(plan), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="asynctask-bench-") as workdir:
        print("serving the rows (gunicorn, 1 process x 8 threads; sqlite 4proc: 4 processes) ...", flush=True)
        sections = served_sections(plan, workdir, wanted) if wanted & {STATUS, SLEEP, E2E} else {}
        if SCALING in wanted:
            print("scaling: prefilling stores ...", flush=True)
            sections[SCALING] = scaling_section(plan, workdir)
    lines = summarize(sections, comparisons(plan))
    document.update(wrk=have_wrk(), sections=sections, summary=lines)
    if lines:
        print(table(lines, titles(plan)))
        print(LEGEND)
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
