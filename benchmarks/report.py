"""Turning interleaved rounds into ratios: the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from attrs import asdict, frozen

RESULTS = Path(__file__).resolve().parent / "results"
#: Rounds of one section: ``{row name: [figures of round 1, figures of round 2, ...]}``.
Rounds = dict[str, list[dict]]


@frozen
class Comparison:
    """One line of the table: ``row``'s ``figure`` as a ratio to ``baseline``'s, round by round.

    ``baseline`` names another row of the same section, or is a number (an
    ideal). ``cost``: the ratio is baseline / row (how much more each request
    costs), for figures where more is better but the target is about cost.
    """

    section: str
    row: str
    figure: str
    baseline: str | float
    target: str = ""  # ">= 0.95" or "<= 1.3"; empty: for information
    cost: bool = False


def ratios(rounds: Rounds, comparison: Comparison) -> list[float]:
    """The per-round ratios of a comparison (rounds were interleaved, so each pair is close in time)."""
    mine = [figures[comparison.figure] for figures in rounds[comparison.row]]
    if isinstance(comparison.baseline, str):
        theirs = [figures[comparison.figure] for figures in rounds[comparison.baseline]]
    else:
        theirs = [comparison.baseline] * len(mine)
    pairs = zip(mine, theirs, strict=True)
    return [b / a if comparison.cost else a / b for a, b in pairs]


def summarize(sections: dict[str, Rounds], comparisons: list[Comparison]) -> list[dict]:
    """One summary per comparison whose rows were measured: medians, ratio, spread, target met."""
    lines = []
    for comparison in comparisons:
        rounds = sections.get(comparison.section, {})
        if comparison.row not in rounds or (
            isinstance(comparison.baseline, str) and comparison.baseline not in rounds
        ):
            continue
        found = ratios(rounds, comparison)
        ratio = statistics.median(found)
        lines.append(
            {
                **asdict(comparison),
                "value": statistics.median(figures[comparison.figure] for figures in rounds[comparison.row]),
                "ratio": ratio,
                "ratio_min": min(found),
                "ratio_max": max(found),
                "rounds": len(found),
                "met": _met(ratio, comparison.target),
            }
        )
    return lines


def table(lines: list[dict], titles: dict[str, str]) -> str:
    """The summary as an aligned text table, one block per section under its title."""
    header = ("row", "figure", "median", "vs", "ratio", "min-max", "target")
    rows = [_cells(line) for line in lines]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    text, section = [_joined(header, widths)], None
    for line, row in zip(lines, rows, strict=True):
        if line["section"] != section:
            section = line["section"]
            text.append(f"[{titles.get(section, section)}]")
        text.append(_joined(row, widths))
    return "\n".join(text)


def _cells(line: dict) -> tuple[str, ...]:
    baseline = line["baseline"] if isinstance(line["baseline"], str) else f"{line['baseline']:g}"
    target = f"{line['target']} {'ok' if line['met'] else 'MISSED'}" if line["target"] else ""
    spread = f"{line['ratio_min']:.2f}-{line['ratio_max']:.2f}"
    return (
        line["row"],
        line["figure"],
        f"{line['value']:.4g}",
        baseline,
        f"{line['ratio']:.2f}x",
        spread,
        target,
    )


def _joined(row: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def machine() -> dict:
    """What the figures were measured on."""
    model = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        model = models[0] if models else ""
    versions = {name: _version(name) for name in ("flask", "werkzeug", "gunicorn", "attrs", "mongomock")}
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **versions,
    }


def write_json(document: dict) -> Path:
    """Write the run to ``benchmarks/results/<UTC time>.json`` and answer the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def _met(ratio: float, target: str) -> bool | None:
    if not target:
        return None
    operator, value = target.split()
    return ratio >= float(value) if operator == ">=" else ratio <= float(value)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"
