"""Task classes the HTTP tests serve: one with simple type hints and a docstring, one with none."""

from __future__ import annotations

from typing import Literal, Optional

from asynctask import AsyncTask


class Typed(AsyncTask):
    """Scores a text."""

    def get_task_id(self, text, times=1, **_):
        return f"typed-{text}-{times}"

    def main(
        self,
        text: str,
        times: int = 1,
        ratio: float = 0.5,
        loud: bool = False,
        tags: list[str] | None = None,
        weights: dict[str, float] = {},  # noqa: B006 - never mutated
        note: Optional[str] = None,  # noqa: UP045 - the old spelling is part of what is tested
        mode: Literal["fast", "slow"] = "fast",
        extra=None,
        logger=None,
    ):
        """Score ``text``.

        Repeats the text and measures it.

        Args:
            text: the text to score.
            times (int): how often to repeat it,
                at least once.
            ratio: a weight between 0 and 1.
        """
        return {"text": text, "times": times, "extra": extra}


class Untyped(AsyncTask):
    def main(self, a, b=2, logger=None):
        return a
