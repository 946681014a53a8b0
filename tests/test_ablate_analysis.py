"""Ablation summaries: cell means, factor effects with paired differences, correlations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from curate.ablate.analysis import cell_summary, factor_effects
from curate.train.metrics import correlation


def _frame():
    # EER = 0.20 - 0.05 * rawboost_on + 0.02 * sam_on + 0.01 * repeat
    rows = []
    for rb, sam, repeat in itertools.product(["off", "on"], ["off", "on"], [0, 1]):
        value = 0.20 - 0.05 * (rb == "on") + 0.02 * (sam == "on") + 0.01 * repeat
        rows.append({"rawboost": rb, "sam": sam, "repeat": repeat, "eval_set": "test",
                     "value": value})
    return pd.DataFrame(rows)


def test_cell_summary():
    table = cell_summary(_frame(), ["rawboost", "sam"]).set_index(["rawboost", "sam"])
    assert table.loc[("on", "off"), "mean"] == pytest.approx(0.155)
    assert table.loc[("on", "off"), "std"] == pytest.approx(np.std([0.15, 0.16], ddof=1))
    assert (table["n"] == 2).all()


def test_factor_effects_are_paired_differences():
    effects = factor_effects(_frame(), ["rawboost", "sam"]).set_index(["factor", "level"])
    assert effects.loc[("rawboost", "on"), "diff_mean"] == pytest.approx(-0.05)
    assert effects.loc[("rawboost", "on"), "diff_std"] == pytest.approx(0.0, abs=1e-12)
    assert effects.loc[("rawboost", "on"), "diff_n"] == 4
    assert effects.loc[("sam", "on"), "diff_mean"] == pytest.approx(0.02)
    assert effects.loc[("sam", "off"), "diff_mean"] == pytest.approx(0.0)
    assert effects.loc[("rawboost", "off"), "mean"] == pytest.approx(0.215)
    flipped = factor_effects(_frame(), ["rawboost", "sam"], reference={"rawboost": "on"})
    flipped = flipped.set_index(["factor", "level"])
    assert flipped.loc[("rawboost", "off"), "diff_mean"] == pytest.approx(0.05)


def test_correlation():
    x = np.arange(10.0)
    perfect = correlation(x, 2 * x + 1)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["kendall"] == pytest.approx(1.0)
    assert perfect["spearman_p"] < 0.01
    inverse = correlation(x, -x)
    assert inverse["kendall"] == pytest.approx(-1.0)
    assert np.isnan(correlation([1.0, 2.0], [1.0, 2.0])["spearman"])  # too few points
