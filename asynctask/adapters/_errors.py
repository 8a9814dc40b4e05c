"""Turning a driver's connection and I/O errors into ``StoreUnavailableError``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asynctask.core import StoreUnavailableError

F = TypeVar("F", bound=Callable[..., Any])


def store_errors(*driver_errors: type[BaseException]) -> Callable[[F], F]:
    """A decorator for repository methods: ``driver_errors`` become ``StoreUnavailableError``."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def translated(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except driver_errors as exc:
                raise StoreUnavailableError(f"{self!r} is unavailable: {type(exc).__name__}: {exc}") from exc

        return translated  # type: ignore[return-value]

    return decorate
