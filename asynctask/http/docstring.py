"""Reading a summary, a description and per-param text out of a docstring (Google, Sphinx or NumPy style)."""

from __future__ import annotations

import inspect
import re

from attrs import frozen

_GOOGLE_HEADERS = ("args:", "arguments:", "parameters:", "params:", "keyword args:", "keyword arguments:")
_SECTION = re.compile(r"^\s*(?:[A-Z][A-Za-z ]*:\s*$|[A-Z][A-Za-z ]*\n\s*-{3,}\s*$|:\w+)", re.M)
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+):\s*(.*(?:\n(?!\s*:)\s+.*)*)", re.M)
_NAMED_LINE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_LINE = re.compile(r"^(\w+)\s*(?::.*)?$")


@frozen
class Docstring:
    """The parts of a docstring an API description uses."""

    summary: str
    description: str
    params: dict[str, str]


def parse_docstring(text: str | None) -> Docstring:
    """Split a docstring into its first line, the prose before any section, and param descriptions."""
    text = inspect.cleandoc(text or "")
    if not text:
        return Docstring("", "", {})
    summary, _, rest = text.partition("\n")
    section = _SECTION.search(rest)
    description = (rest[: section.start()] if section else rest).strip()
    params = {**_numpy_params(text), **_google_params(text), **_sphinx_params(text)}
    return Docstring(summary.strip(), description, params)


def _sphinx_params(text: str) -> dict[str, str]:
    return {name: _oneline(body) for name, body in _SPHINX_PARAM.findall(text)}


def _google_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip().lower() in _GOOGLE_HEADERS:
            params.update(_google_entries(lines[index + 1 :]))
    return params


def _numpy_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.strip().lower() == "parameters" and _is_rule(lines[index + 1]):
            params.update(_numpy_entries(lines[index + 2 :]))
    return params


def _google_entries(lines: list[str]) -> dict[str, str]:
    """``name (type): text`` lines one level in, continued by deeper ones, up to the next section."""
    entries: dict[str, list[str]] = {}
    base = None
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        base = indent if base is None else base
        if indent < base or indent == 0:
            break
        match = _NAMED_LINE.match(line.strip()) if indent == base else None
        if match:
            entries[match.group(1)] = [match.group(2)]
        elif entries:
            entries[list(entries)[-1]].append(line.strip())
    return {name: _oneline(" ".join(parts)) for name, parts in entries.items()}


def _numpy_entries(lines: list[str]) -> dict[str, str]:
    """``name : type`` lines at the margin, described by indented ones, up to the next section."""
    entries: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if index + 1 < len(lines) and _is_rule(lines[index + 1]):
            break
        if not line[0].isspace():
            match = _NUMPY_LINE.match(line.strip())
            if not match:
                break
            entries[match.group(1)] = []
        elif entries:
            entries[list(entries)[-1]].append(line.strip())
    return {name: _oneline(" ".join(parts)) for name, parts in entries.items()}


def _is_rule(line: str) -> bool:
    return len(line.strip()) >= 3 and set(line.strip()) == {"-"}


def _oneline(text: str) -> str:
    return " ".join(text.split())
