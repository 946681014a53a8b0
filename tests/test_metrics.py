"""Detection metrics against brute-force references (one threshold at a time)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curate.train.metrics import (
    act_dcf,
    bayes_threshold,
    cllr,
    compute_eer,
    det_curve,
    min_dcf,
)

# --------------------------------------------------------------------------- references


def brute_points(bona, spoof):
    """(p_miss, p_fa, threshold) for every distinct score and +inf, one loop step each."""
    bona, spoof = np.asarray(bona, float), np.asarray(spoof, float)
    points = []
    for t in list(np.unique(np.concatenate([bona, spoof]))) + [np.inf]:
        points.append((np.mean(bona < t), np.mean(spoof >= t), t))
    return points


def brute_eer(bona, spoof):
    points = brute_points(bona, spoof)
    for k, (m1, f1, t1) in enumerate(points):
        if m1 == f1:
            return m1
        if m1 > f1:  # first point past the crossing; interpolate from the previous one
            m0, f0, _ = points[k - 1]
            a = (f0 - m0) / ((m1 - m0) - (f1 - f0))
            return m0 + a * (m1 - m0)
    raise AssertionError("p_miss never reaches p_fa")


def brute_dcf(bona, spoof, threshold, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    bona, spoof = np.asarray(bona, float), np.asarray(spoof, float)
    cost = c_miss * (1 - p_spoof) * np.mean(bona < threshold) + c_fa * p_spoof * np.mean(
        spoof >= threshold
    )
    return cost / min(c_miss * (1 - p_spoof), c_fa * p_spoof)


def brute_min_dcf(bona, spoof, **kw):
    return min(brute_dcf(bona, spoof, t, **kw) for _, _, t in brute_points(bona, spoof))


def random_scores(rng, n_bona, n_spoof, shift=1.0, decimals=None):
    bona = rng.normal(shift, 1.0, n_bona)
    spoof = rng.normal(-shift, 1.0, n_spoof)
    if decimals is not None:  # many ties
        bona, spoof = np.round(bona, decimals), np.round(spoof, decimals)
    return bona, spoof


# --------------------------------------------------------------------------- EER


@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("seed", range(6))
def test_eer_matches_brute_force(seed, decimals):
    rng = np.random.default_rng(seed)
    bona, spoof = random_scores(
        rng, rng.integers(1, 60), rng.integers(1, 60), rng.uniform(0, 2), decimals
    )
    eer, _ = compute_eer(bona, spoof)
    assert eer == pytest.approx(brute_eer(bona, spoof), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_eer_is_bracketed_by_operating_points(seed):
    # Independent of the interpolation: no operating point has both rates below the
    # EER, and none has both above it.
    rng = np.random.default_rng(100 + seed)
    bona, spoof = random_scores(rng, 200, 300, 0.7, decimals=1)
    eer, _ = compute_eer(bona, spoof)
    points = brute_points(bona, spoof)
    assert max(min(m, f) for m, f, _ in points) <= eer + 1e-12
    assert eer <= min(max(m, f) for m, f, _ in points) + 1e-12


def test_eer_perfect_separation_is_zero():
    eer, threshold = compute_eer([2.0, 3.0, 5.0], [-1.0, 0.0, 1.0])
    assert eer == 0.0
    assert threshold == 2.0  # accepting >= 2 makes no error


def test_eer_identical_distributions_is_one_half():
    rng = np.random.default_rng(0)
    eer, _ = compute_eer(rng.normal(size=20000), rng.normal(size=20000))
    assert abs(eer - 0.5) < 0.02


def test_eer_all_scores_equal_is_one_half():
    assert compute_eer([0.3] * 5, [0.3] * 7)[0] == pytest.approx(0.5)
    assert compute_eer([1.0], [1.0])[0] == pytest.approx(0.5)


def test_eer_small_tied_example_by_hand():
    # Points: t=0 (0, 1), t=1 (1/3, 1/2), t=inf (1, 0); crossing at 1/3 + (1/7)(2/3).
    eer, threshold = compute_eer([1, 1, 0], [0, 1])
    assert eer == pytest.approx(9 / 21)
    assert threshold == 1.0


def test_eer_independent_of_order_of_equal_scores():
    rng = np.random.default_rng(1)
    bona, spoof = random_scores(rng, 500, 700, 0.5, decimals=0)
    reference = compute_eer(bona, spoof)
    for _ in range(5):
        assert compute_eer(rng.permutation(bona), rng.permutation(spoof)) == reference
    # Also when the tie groups are laid out bonafide-last instead of bonafide-first.
    assert compute_eer(bona[::-1], spoof[::-1]) == reference


def test_eer_polarity_is_fixed():
    rng = np.random.default_rng(2)
    bona, spoof = random_scores(rng, 1000, 1000, 1.0)
    eer, _ = compute_eer(bona, spoof)
    swapped, _ = compute_eer(spoof, bona)
    assert eer < 0.25
    assert swapped == pytest.approx(1.0 - eer, abs=1e-12)  # not min(eer, 1 - eer)


def test_eer_accepts_lists_and_tensors():
    a = compute_eer([0.1, 0.9, 0.4], [0.2, -0.3])
    b = compute_eer(torch.tensor([0.1, 0.9, 0.4], dtype=torch.float64), np.array([0.2, -0.3]))
    assert a == b


def test_eer_large_input():
    # no timing assertion (tests are deterministic); `curate bench` measures speed
    rng = np.random.default_rng(3)
    bona, spoof = random_scores(rng, 1_000_000, 1_000_000, 1.0)
    eer, _ = compute_eer(bona, spoof)
    assert abs(eer - 0.1587) < 0.002  # Phi(-1) for unit Gaussians two apart


# --------------------------------------------------------------------------- DET curve


def test_det_curve_shape_and_monotonicity():
    rng = np.random.default_rng(4)
    bona, spoof = random_scores(rng, 50, 80, 0.5, decimals=1)
    p_miss, p_fa, thresholds = det_curve(bona, spoof)
    n_distinct = np.unique(np.concatenate([bona, spoof])).size
    assert p_miss.shape == p_fa.shape == thresholds.shape == (n_distinct + 1,)
    assert (p_miss[0], p_fa[0], p_miss[-1], p_fa[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(p_miss) >= 0) and np.all(np.diff(p_fa) <= 0)
    assert np.all(np.diff(thresholds) > 0) and thresholds[-1] == np.inf
    for (m, f, t), m2, f2, t2 in zip(brute_points(bona, spoof), p_miss, p_fa, thresholds):
        assert (m, f, t) == (m2, f2, t2)


# --------------------------------------------------------------------------- DCF


@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("seed", range(4))
def test_min_dcf_matches_brute_force(seed, decimals):
    rng = np.random.default_rng(10 + seed)
    bona, spoof = random_scores(rng, rng.integers(1, 80), rng.integers(1, 80), 1.0, decimals)
    value, threshold = min_dcf(bona, spoof)
    assert value == pytest.approx(brute_min_dcf(bona, spoof), abs=1e-12)
    assert brute_dcf(bona, spoof, threshold) == pytest.approx(value, abs=1e-12)
    assert 0.0 <= value <= 1.0


def test_min_dcf_other_costs_and_perfect_separation():
    rng = np.random.default_rng(20)
    bona, spoof = random_scores(rng, 60, 90, 0.8)
    kw = dict(p_spoof=0.3, c_miss=2.0, c_fa=1.0)
    assert min_dcf(bona, spoof, **kw)[0] == pytest.approx(brute_min_dcf(bona, spoof, **kw))
    assert min_dcf([3.0, 4.0], [0.0, 1.0])[0] == 0.0
    assert min_dcf([0.0] * 3, [0.0] * 3)[0] == 1.0  # uninformative: a trivial decision


def test_act_dcf_at_threshold_and_bayes_default():
    rng = np.random.default_rng(21)
    bona, spoof = random_scores(rng, 70, 40, 1.0, decimals=1)
    assert act_dcf(bona, spoof, 0.2) == pytest.approx(brute_dcf(bona, spoof, 0.2))
    t = bayes_threshold()
    assert t == pytest.approx(np.log(10 * 0.05 / 0.95))
    assert act_dcf(bona, spoof) == pytest.approx(brute_dcf(bona, spoof, t))
    assert act_dcf(bona, spoof, 0.2) >= min_dcf(bona, spoof)[0] - 1e-12


# --------------------------------------------------------------------------- Cllr


def test_cllr_uninformative_is_one():
    assert cllr([0.0] * 4, [0.0] * 9) == pytest.approx(1.0)


def test_cllr_perfect_and_wrong():
    assert cllr([50.0, 40.0], [-60.0]) < 1e-15
    assert cllr([-10.0], [10.0]) > 10.0


def test_cllr_calibrated_beats_miscalibrated():
    # N(+mu, 2mu) vs N(-mu, 2mu): the score itself is the natural-log LLR.
    rng = np.random.default_rng(5)
    mu = 2.0
    bona = rng.normal(mu, np.sqrt(2 * mu), 20000)
    spoof = rng.normal(-mu, np.sqrt(2 * mu), 20000)
    calibrated = cllr(bona, spoof)
    assert 0.0 < calibrated < 1.0
    assert cllr(3 * bona, 3 * spoof) > calibrated
    assert cllr(bona + 2, spoof + 2) > calibrated


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [compute_eer, det_curve, min_dcf, act_dcf, cllr])
def test_empty_and_nan_inputs_are_rejected(fn):
    with pytest.raises(ValueError, match="bonafide_scores is empty"):
        fn([], [1.0])
    with pytest.raises(ValueError, match="spoof_scores is empty"):
        fn([1.0], np.array([]))
    with pytest.raises(ValueError, match="spoof_scores contains 1 NaN"):
        fn([1.0], [0.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        fn(np.zeros((2, 2)), [0.0])


def test_bad_costs_are_rejected():
    with pytest.raises(ValueError, match="p_spoof"):
        min_dcf([1.0], [0.0], p_spoof=1.0)
    with pytest.raises(ValueError, match="c_fa"):
        act_dcf([1.0], [0.0], 0.0, c_fa=0.0)


# --------------------------------------------------------------------------- eval outputs


def test_group_results_report_every_metric_with_fixed_polarity():
    import pandas as pd

    from curate.train.evaluate import group_results

    rng = np.random.default_rng(3)
    bona, spoof = rng.normal(1, 1, 40), rng.normal(-1, 1, 60)
    scored = pd.DataFrame({"score": np.concatenate([bona, spoof]),
                           "label": ["bonafide"] * 40 + ["spoof"] * 60,
                           "generator": [None] * 40 + ["c:a"] * 30 + ["c:b"] * 30,
                           "codec": ["mp3"] * 20 + [None] * 20 + ["mp3"] * 30 + [None] * 30})
    table = group_results(scored).pivot(index="eval_group", columns="metric", values="value")
    assert table.loc["all", "eer"] == pytest.approx(compute_eer(bona, spoof)[0])
    assert table.loc["all", "act_dcf"] == pytest.approx(act_dcf(bona, spoof))
    assert table.loc["all", "cllr"] == pytest.approx(cllr(bona, spoof))
    assert table.loc["all", "min_dcf"] <= table.loc["all", "act_dcf"]
    assert {"codec=mp3", "codec=<none>", "generator=c:a"} <= set(table.index)
    flipped = group_results(scored.assign(score=-scored["score"])).set_index(
        ["eval_group", "metric"])["value"]
    assert flipped[("all", "eer")] > 0.5  # never the better of two polarities


def test_score_files_are_asvspoof5_style(tmp_path):
    from curate.train.evaluate import read_score_file, write_score_file

    path = write_score_file(tmp_path / "s" / "test.tsv", ["asv5:E_0001", "asv5:E_0002"],
                            np.array([1.5, -0.25]))
    assert path.read_text().splitlines() == ["filename\tcm-score", "E_0001\t1.500000",
                                             "E_0002\t-0.250000"]
    mixed = write_score_file(tmp_path / "m.tsv", ["a:1", "b:1"], np.array([0.0, 1.0]))
    frame = read_score_file(mixed)
    assert frame["filename"].tolist() == ["a:1", "b:1"]
    assert frame["cm-score"].tolist() == [0.0, 1.0]
