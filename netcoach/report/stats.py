"""Mean, sample standard deviation and a Student-t confidence interval of repeated runs.

The course reports every comparison as mean ± std over a few seeds. With n runs the
interval is mean ± t_{0.975, n-1} · s / sqrt(n), where s is the sample standard
deviation (ddof = 1); the quantile comes from ``scipy.stats.t``. One run has no spread:
its std and interval are NaN rather than a misleading 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable


@dataclass(frozen=True)
class Spread:
    """Summary of ``n`` values: mean, sample std and the ``level`` t-interval."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    level: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self, digits: int = 4) -> str:
        """``0.9611 ± 0.0043 (95% CI 0.9504–0.9718, n=3)``."""
        if self.n < 2:
            return f"{self.mean:.{digits}f} (n=1, no spread)"
        return (f"{self.mean:.{digits}f} ± {self.std:.{digits}f} "
                f"({self.level:.0%} CI {self.low:.{digits}f}–{self.high:.{digits}f}, n={self.n})")


def spread(values: Iterable[float], level: float = 0.95) -> Spread:
    """Mean, sample std (ddof=1) and the two-sided ``level`` t-interval of ``values``.

    Raises:
        ValueError: no values, or a value that is not a finite number.
    """
    from scipy.stats import t

    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("spread needs at least one value")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"spread needs finite numbers, got {xs}")
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Spread(1, mean, math.nan, math.nan, math.nan, level)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Spread(n, mean, std, mean - half, mean + half, level)
