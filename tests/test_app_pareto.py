"""The Pareto front the results charts mark, on hand-made points, against a brute-force definition."""

from __future__ import annotations

import itertools
import math
import random

import pandas as pd
import pytest

from pages.pareto import front_order, pareto_mask


def brute_force(costs, scores) -> list[bool]:
    """The definition, O(n²): on the front unless another point costs no more, scores no less, and differs."""
    ok = [c is not None and s is not None and not (isinstance(c, float) and math.isnan(c)) for c, s in zip(costs, scores)]
    out = []
    for i, (c, s) in enumerate(zip(costs, scores)):
        if not ok[i]:
            out.append(False)
            continue
        beaten = any(ok[j] and costs[j] <= c and scores[j] >= s and (costs[j] < c or scores[j] > s)
                     for j in range(len(costs)) if j != i)
        out.append(not beaten)
    return out


def test_a_sweep_like_set():
    # (params, best test acc): the cheapest, a better and dearer one, one beaten by the cheapest, the best.
    costs = [100_000, 400_000, 200_000, 1_600_000]
    scores = [0.80, 0.85, 0.79, 0.90]
    assert pareto_mask(costs, scores) == [True, True, False, True]
    assert front_order(costs, scores) == [0, 1, 3]


def test_equal_points_do_not_beat_each_other_but_a_cheaper_equal_score_does():
    assert pareto_mask([1, 1], [0.5, 0.5]) == [True, True]  # the same run twice: both on the front
    assert pareto_mask([1, 2], [0.5, 0.5]) == [True, False]  # as accurate and cheaper
    assert pareto_mask([1, 1], [0.5, 0.6]) == [False, True]  # as cheap and more accurate


def test_missing_values_are_neither_on_the_front_nor_beat_others():
    costs = [1.0, None, 3.0, float("nan"), 2.0]
    scores = [0.5, 0.99, None, 0.99, 0.6]
    assert pareto_mask(costs, scores) == [True, False, False, False, True]
    assert pareto_mask([], []) == []


def test_pandas_columns_with_missing_values():
    frame = pd.DataFrame({"macs": pd.array([10, 20, None, 5], dtype="Int64"), "acc": [0.7, 0.8, 0.9, 0.6]})
    assert pareto_mask(frame["macs"], frame["acc"]) == [True, True, False, True]


def test_lengths_must_agree():
    with pytest.raises(ValueError):
        pareto_mask([1, 2], [0.5])


@pytest.mark.parametrize("seed", range(20))
def test_agrees_with_the_definition_on_random_points(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    costs = [rng.choice([rng.randint(1, 8), None]) if rng.random() < 0.1 else rng.randint(1, 8) for _ in range(n)]
    scores = [round(rng.random(), 1) for _ in range(n)]  # coarse: many ties
    assert pareto_mask(costs, scores) == brute_force(costs, scores)
    order = front_order(costs, scores)
    assert [costs[i] for i in order] == sorted(costs[i] for i in order)
    # Along the front, a costlier point is strictly more accurate (else the cheaper one would beat it).
    for a, b in itertools.pairwise(order):
        assert costs[a] == costs[b] and scores[a] == scores[b] or scores[b] > scores[a]


def test_the_accuracy_axis_stays_between_0_and_1_around_the_scores():
    from pages.results_charts import score_range

    assert score_range([0.398]) == pytest.approx([0.378, 0.418])  # one run: a narrow band, not -0.5..1.5
    assert score_range([0.99, 1.0]) == pytest.approx([0.97, 1.0])
    assert score_range([0.0, 0.5]) == pytest.approx([0.0, 0.55])
    assert score_range([]) is None
