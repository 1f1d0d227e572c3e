"""Small tools of the hostile run: the clock, bounded polling,
percentiles and the way the summary lines write numbers."""
import math
import os
import sys
import time

# Importing this module first makes tests/netpolld_testlib.py importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Nothing a test of ours does may take longer than TIMEOUT; it is a
# deadline for things that are expected in well under a second.
from netpolld_testlib import TIMEOUT  # noqa: E402,F401


def now():
    return time.monotonic()


def pct(values, q):
    """The Q-th percentile (nearest rank) of VALUES, or None."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def fmt(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def median_max(values):
    """`p50/max` of VALUES, as a summary field."""
    return f"{fmt(pct(values, 50))}/{fmt(max(values) if values else None)}"


def poll_until(predicate, timeout, interval=0.05):
    """PREDICATE's first true value within TIMEOUT seconds, else None."""
    deadline = now() + timeout
    while True:
        try:
            v = predicate()
        except (OSError, ValueError, KeyError):
            v = None
        if v:
            return v
        if now() > deadline:
            return None
        time.sleep(interval)
