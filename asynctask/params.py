"""Checking submitted params against the signature of ``main``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from asynctask.core import InvalidParamsError

#: The keyword ``main`` receives its logger by; never a client's param.
LOGGER = "logger"
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def main_signature(main: Callable, owner: str) -> inspect.Signature:
    """The signature of ``main``, checked to accept ``logger`` by keyword."""
    signature = inspect.signature(main)
    parameters = signature.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    logger = parameters.get(LOGGER)
    if logger is None and not takes_kwargs:
        raise TypeError(f"{owner}.main must accept a 'logger' keyword argument (or **kwargs)")
    if logger is not None and logger.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise TypeError(f"{owner}.main must accept 'logger' by keyword, not positional-only")
    return signature


def check_params(signature: inspect.Signature, params: Mapping) -> None:
    """Raise ``InvalidParamsError`` naming every param ``main`` misses or does not accept."""
    details = []
    accepted = {n: p for n, p in signature.parameters.items() if n != LOGGER and p.kind not in _VARIADIC}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for name, parameter in accepted.items():
        if name not in params and parameter.default is inspect.Parameter.empty:
            details.append({"param": name, "problem": "missing", "message": f"'{name}' is required"})
    for name in params:
        if name == LOGGER:
            details.append(
                {"param": name, "problem": "reserved", "message": "'logger' is passed by AsyncTask"}
            )
        elif name not in accepted and not takes_kwargs:
            details.append({"param": name, "problem": "unexpected", "message": f"main takes no '{name}'"})
    if details:
        raise InvalidParamsError(
            "params do not fit main: " + "; ".join(d["message"] for d in details), details
        )
