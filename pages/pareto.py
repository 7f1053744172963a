"""The Pareto front of a set of runs: the ones no other run beats on both axes at once.

Pure (no Streamlit, no plotly), so the rule is unit-tested on hand-made points: on a chart of test
accuracy against a cost (parameters, MACs, training time), a run is on the front when no other run
costs no more *and* scores no less, while being strictly better on at least one of the two.
Runs with the same cost and the same accuracy do not beat each other: both stay on the front.
"""

from __future__ import annotations

import math
from typing import Sequence


def _number(v: object) -> float | None:
    """A usable coordinate, or None (missing, NaN, pandas' NA, text)."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)  # numpy and pandas numbers too
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def pareto_mask(costs: Sequence[object], scores: Sequence[object]) -> list[bool]:
    """For each point, whether it is on the front (lower cost and higher score are better).

    A point with a missing cost or score is never on the front and never beats another.
    Sorting by cost, then score from best, makes this O(n log n): a point is beaten exactly when
    an earlier point (no costlier) scores higher, or scores the same at a strictly lower cost.
    """
    if len(costs) != len(scores):
        raise ValueError("costs and scores differ in length")
    points = [(i, _number(c), _number(s)) for i, (c, s) in enumerate(zip(costs, scores))]
    usable = sorted((p for p in points if p[1] is not None and p[2] is not None), key=lambda p: (p[1], -p[2]))
    on_front = [False] * len(points)
    best: float | None = None  # the best score of every point seen so far (all of them no costlier)
    best_cost: float | None = None  # the lowest cost that reaches ``best``
    for i, cost, score in usable:
        beaten = best is not None and (score < best or (score == best and best_cost < cost))
        on_front[i] = not beaten
        if best is None or score > best:
            best, best_cost = score, cost
    return on_front


def front_order(costs: Sequence[object], scores: Sequence[object]) -> list[int]:
    """Indexes of the front's points from the cheapest to the costliest, as the front's line joins them."""
    mask = pareto_mask(costs, scores)
    return sorted((i for i, on in enumerate(mask) if on), key=lambda i: (_number(costs[i]), _number(scores[i])))


__all__ = ["pareto_mask", "front_order"]
