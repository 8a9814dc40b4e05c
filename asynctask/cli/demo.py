"""The built-in demo: prime factorization, which takes a moment for large numbers."""

from __future__ import annotations

import time

from asynctask.service.base import AsyncTask

#: The largest number the demo factorizes (trial division stays under a few seconds).
LIMIT = 10**16


class Factorize(AsyncTask):
    """Factorize a whole number into primes by trial division."""

    def get_task_id(self, n: int) -> str:
        """One task per number: asking twice answers the same task."""
        return f"factor-{n}"

    def main(self, n: int, logger=None) -> dict:
        """The prime factors of ``n`` (2 <= n <= 10**16) and how long it took."""
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= LIMIT:
            raise ValueError(f"n must be a whole number from 2 to {LIMIT}, got {n!r}")
        started = time.perf_counter()
        logger.info("factorizing %d", n)
        factors, rest, divisor = [], n, 2
        while divisor * divisor <= rest:
            while rest % divisor == 0:
                factors.append(divisor)
                rest //= divisor
            divisor += 1 if divisor == 2 else 2
        if rest > 1:
            factors.append(rest)
        seconds = round(time.perf_counter() - started, 3)
        logger.info("%d = %s in %.3f s", n, " x ".join(map(str, factors)), seconds)
        return {"n": n, "factors": factors, "prime": factors == [n], "seconds": seconds}
