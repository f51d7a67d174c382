"""The latency histogram of the statistics aggregates (migration 0007), read in Python.

`histogram(ln(max(ms, 1)), 0, ln(1e7), 70)`: slot 0 holds values below 1 ms (none, after the
max), slots 1..70 ten buckets per decade from 1 ms to 10^7 ms, slot 71 everything above. A
quantile is the geometric midpoint of the bucket that holds the nearest-rank value, so for a
true quantile between 1 ms and 10^7 ms (2.8 hours) it is within a factor of 10^(1/20) = 1.122
(12.2%) of the exact `percentile_disc`. Outside that range the error is not bounded by the
factor: a quantile below 1 ms reads as 1.12 ms, one above 10^7 ms as 10^7 ms. The same rule is
the SQL function arc_latency_quantile().
"""

import math
from collections.abc import Iterable, Sequence

BUCKETS = 70
LN_MAX = math.log(1e7)
WIDTH = LN_MAX / BUCKETS
MAX_RELATIVE_ERROR = math.exp(WIDTH / 2) - 1  # 0.122


def merge(histograms: Iterable[Sequence[int] | None]) -> list[int]:
    """Element-wise sum of histograms (missing ones count as empty)."""
    total = [0] * (BUCKETS + 2)
    for hist in histograms:
        if hist is None:
            continue
        for i, count in enumerate(hist):
            total[i] += int(count)
    return total


def quantile(histogram: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) in ms, or None for an empty histogram."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for slot, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            if slot == 0:
                return 1.0
            if slot == BUCKETS + 1:
                return math.exp(LN_MAX)
            return math.exp((slot - 0.5) * WIDTH)
    return math.exp(LN_MAX)
