"""Calibration to LLRs and minCllr (curate.train.calibration)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from curate.train.calibration import (calibration_metrics, effective_prior, fit_calibration,
                                      fit_logistic, min_cllr, pav)
from curate.train.metrics import act_dcf, bayes_threshold, cllr


def test_effective_prior_matches_bayes_threshold():
    pi = effective_prior()
    assert pi == pytest.approx(0.95 / (0.95 + 0.5))
    assert np.log((1 - pi) / pi) == pytest.approx(bayes_threshold())


def test_recovers_closed_form_llr_of_gaussians():
    """bonafide ~ N(mu1, s), spoof ~ N(mu0, s): llr(x) = (mu1-mu0)/s^2 x
    + (mu0^2 - mu1^2) / (2 s^2), whatever the prior weighting."""
    rng = np.random.default_rng(0)
    mu1, mu0, s = 3.0, -1.0, 2.0
    bona, spoof = rng.normal(mu1, s, 200_000), rng.normal(mu0, s, 200_000)
    cal = fit_calibration(bona, spoof)
    assert cal.scale == pytest.approx((mu1 - mu0) / s**2, rel=0.03)
    assert cal.offset == pytest.approx((mu0**2 - mu1**2) / (2 * s**2), abs=0.03)


def test_matches_direct_scipy_minimisation():
    rng = np.random.default_rng(1)
    bona, spoof = rng.normal(2.0, 1.5, 300), rng.normal(-0.5, 0.8, 900)
    pi = effective_prior()
    lp = np.log(pi / (1 - pi))

    def objective(theta):
        a, b = theta
        return (pi * np.mean(np.logaddexp(0, -(a * bona + b + lp)))
                + (1 - pi) * np.mean(np.logaddexp(0, a * spoof + b + lp)))

    direct = minimize(objective, [1.0, 0.0], method="Nelder-Mead",
                      options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000}).x
    weights, offset = fit_logistic(bona, spoof, pi)
    np.testing.assert_allclose([weights[0], offset], direct, atol=1e-4)


def test_calibration_repairs_badly_scaled_scores():
    rng = np.random.default_rng(2)
    bona, spoof = rng.normal(1.0, 1.0, 5000), rng.normal(-1.0, 1.0, 5000)
    raw_b, raw_s = 8.0 * bona + 20.0, 8.0 * spoof + 20.0  # overconfident, shifted
    cal = fit_calibration(raw_b, raw_s)
    out = calibration_metrics(cal, raw_b, raw_s)
    assert out["cal_cllr"] < 0.5 * out["cllr"]
    assert out["cal_act_dcf"] < out["act_dcf"]
    assert out["min_cllr"] <= out["cal_cllr"] + 1e-9
    # the true LLR here is 2 * (standardised score): the fit finds nearly the same Cllr
    true_llr = cllr(2 * bona, 2 * spoof)
    assert out["cal_cllr"] == pytest.approx(true_llr, abs=0.01)
    assert act_dcf(cal.apply(raw_b), cal.apply(raw_s)) == out["cal_act_dcf"]


def test_pav_matches_isotonic_regression_with_ties():
    sklearn = pytest.importorskip("sklearn.isotonic")
    rng = np.random.default_rng(3)
    s = np.round(rng.normal(0, 1, 400), 1)
    y = (rng.random(400) < 1 / (1 + np.exp(-2 * s))).astype(float)
    expected = sklearn.IsotonicRegression().fit_transform(s, y)
    np.testing.assert_allclose(pav(s, y), expected, atol=1e-12)


def test_min_cllr_is_a_lower_bound_and_invariant_to_monotone_maps():
    rng = np.random.default_rng(4)
    bona, spoof = rng.normal(1.0, 1.0, 1000), rng.normal(0.0, 1.0, 1000)
    m = min_cllr(bona, spoof)
    assert 0.0 < m < 1.0
    assert m <= cllr(bona, spoof)
    assert min_cllr(np.exp(bona), np.exp(spoof)) == pytest.approx(m)
    assert min_cllr([2.0, 3.0], [0.0, 1.0]) == 0.0  # separable: perfect


def test_fit_needs_both_classes():
    with pytest.raises(ValueError, match="empty"):
        fit_calibration([], [1.0, 2.0])
