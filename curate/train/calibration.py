"""Score calibration to log-likelihood ratios, and minCllr.

A detector's scores (higher = more bonafide) become natural-log likelihood ratios
``llr = scale * score + offset`` (bonafide vs spoof) by prior-weighted logistic
regression: ``scale`` and ``offset`` minimise the cross-entropy

    pi * mean_bona softplus(-(llr + logit pi)) + (1 - pi) * mean_spoof softplus(llr + logit pi)

where ``pi`` is the effective bonafide prior of the ASVspoof 5 operating point of
:mod:`curate.train.metrics` (p_spoof 0.05, C_miss 1, C_fa 10): the prior at which
:func:`curate.train.metrics.bayes_threshold` is the Bayes threshold,
``pi = sigmoid(-bayes_threshold()) ~ 0.655``. At ``pi = 1/2`` this objective is Cllr
(in nats, times ln 2). The fit is a few Newton steps (the objective is convex);
:func:`fit_logistic` does it for any number of score columns, which fusion reuses.

``min_cllr`` is the Cllr of the best monotone (PAV) transform of the scores: the
pool-adjacent-violators algorithm gives the posterior of bonafide at the empirical
prior, converted to LLRs by subtracting the prior log-odds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.train.metrics import _as_scores, act_dcf, bayes_threshold, cllr

__all__ = ["Calibration", "effective_prior", "fit_logistic", "fit_calibration",
           "pav", "min_cllr", "calibration_metrics"]


def effective_prior(p_spoof: float = 0.05, c_miss: float = 1.0, c_fa: float = 10.0) -> float:
    """Effective bonafide prior of an operating point: ``sigmoid(-bayes_threshold)``."""
    return float(1.0 / (1.0 + np.exp(bayes_threshold(p_spoof, c_miss, c_fa))))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-_softplus(-x))


def fit_logistic(bonafide: np.ndarray, spoof: np.ndarray, prior: float,
                 *, max_iter: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, float]:
    """Prior-weighted linear logistic regression of bonafide vs spoof.

    Args:
        bonafide: features of bonafide trials, shape (n_bonafide, d) (or (n_bonafide,)).
        spoof: features of spoof trials, shape (n_spoof, d) (or (n_spoof,)).
        prior: weight of the bonafide class, in (0, 1); the spoof class gets ``1-prior``.

    Returns:
        ``(weights (d,), offset)`` such that ``features @ weights + offset`` is an LLR
        (natural log) minimising the prior-weighted cross-entropy of the module doc.
    """
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must lie strictly between 0 and 1, got {prior}")
    xb = np.asarray(bonafide, dtype=np.float64)
    xs = np.asarray(spoof, dtype=np.float64)
    xb = xb[:, None] if xb.ndim == 1 else xb
    xs = xs[:, None] if xs.ndim == 1 else xs
    if len(xb) == 0 or len(xs) == 0:
        raise ValueError("fit_logistic needs bonafide and spoof trials; got "
                         f"{len(xb)} bonafide and {len(xs)} spoof")
    if not (np.isfinite(xb).all() and np.isfinite(xs).all()):
        raise ValueError("fit_logistic got non-finite scores; drop or fix them first")
    # Standardise the features for a well-conditioned Newton step; map back at the end.
    x = np.vstack([xb, xs])
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    y = np.r_[np.ones(len(xb)), np.zeros(len(xs))]  # 1 = bonafide
    w_trial = np.r_[np.full(len(xb), prior / len(xb)), np.full(len(xs), (1 - prior) / len(xs))]
    logit_prior = np.log(prior / (1.0 - prior))

    def loss(theta: np.ndarray) -> float:
        a = z @ theta + logit_prior
        return float(np.sum(w_trial * np.where(y == 1, _softplus(-a), _softplus(a))))

    theta = np.zeros(z.shape[1])
    current = loss(theta)
    for _ in range(max_iter):
        p = _sigmoid(z @ theta + logit_prior)
        grad = z.T @ (w_trial * (p - y))
        hess = (z * (w_trial * p * (1 - p))[:, None]).T @ z
        hess += 1e-12 * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:  # step halving keeps every iterate a descent (separable data)
            candidate = theta - t * step
            new = loss(candidate)
            if new <= current or t < 1e-8:
                break
            t /= 2.0
        theta, done = candidate, current - new < tol
        current = new
        if done:
            break
    weights = theta[:-1] / std
    offset = float(theta[-1] - np.sum(theta[:-1] * mean / std))
    return weights, offset


@dataclass(frozen=True)
class Calibration:
    """``llr = scale * score + offset`` (natural-log LLR, bonafide vs spoof)."""

    scale: float
    offset: float

    def apply(self, scores: Any) -> np.ndarray:
        """The LLRs of ``scores``, shape as given."""
        return self.scale * np.asarray(scores, dtype=np.float64) + self.offset


def fit_calibration(bonafide_scores: Any, spoof_scores: Any, *, p_spoof: float = 0.05,
                    c_miss: float = 1.0, c_fa: float = 10.0) -> Calibration:
    """Calibration of scores to LLRs, fitted at the operating point's effective prior.

    Args:
        bonafide_scores: shape (n_bonafide,), higher = more bonafide.
        spoof_scores: shape (n_spoof,).
        p_spoof, c_miss, c_fa: the operating point (ASVspoof 5 by default).
    """
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    weights, offset = fit_logistic(bona, spoof, effective_prior(p_spoof, c_miss, c_fa))
    return Calibration(float(weights[0]), offset)


def pav(scores: Any, labels: Any) -> np.ndarray:
    """Isotonic (non-decreasing in score) least-squares fit of 0/1 labels.

    Tied scores form one block (they get one value). Args: ``scores`` shape (n,),
    ``labels`` shape (n,) with 1 = bonafide. Returns the fitted values, shape (n), in
    the input order: the PAV posterior of bonafide at the data's own class proportion.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    ss, ys = s[order], y[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    sums = list(np.add.reduceat(ys, starts))
    counts = list(np.diff(np.append(starts, len(ss))).astype(np.float64))
    # stack of blocks: (sum, count, number of tie-runs merged)
    b_sum: list[float] = []
    b_cnt: list[float] = []
    b_runs: list[int] = []
    for total, n in zip(sums, counts):
        b_sum.append(total)
        b_cnt.append(n)
        b_runs.append(1)
        while len(b_sum) > 1 and b_sum[-2] / b_cnt[-2] >= b_sum[-1] / b_cnt[-1]:
            total, n, runs = b_sum.pop(), b_cnt.pop(), b_runs.pop()
            b_sum[-1] += total
            b_cnt[-1] += n
            b_runs[-1] += runs
    run_values = np.repeat(np.array(b_sum) / np.array(b_cnt), b_runs)
    fitted_sorted = np.repeat(run_values, np.diff(np.append(starts, len(ss))))
    out = np.empty_like(fitted_sorted)
    out[order] = fitted_sorted
    return out


def min_cllr(bonafide_scores: Any, spoof_scores: Any) -> float:
    """Cllr (bits) of the PAV-optimal monotone transform of the scores (minCllr)."""
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    posterior = pav(np.r_[bona, spoof], np.r_[np.ones(bona.size), np.zeros(spoof.size)])
    prior_log_odds = np.log(bona.size / spoof.size)
    with np.errstate(divide="ignore"):
        llr = np.log(posterior) - np.log1p(-posterior) - prior_log_odds
    return cllr(llr[:bona.size], llr[bona.size:])


def calibration_metrics(calibration: Calibration, bonafide_scores: Any,
                        spoof_scores: Any) -> dict[str, float]:
    """Before/after numbers of one eval set under ``calibration``.

    Returns ``act_dcf`` and ``cllr`` of the raw scores, ``cal_act_dcf`` and ``cal_cllr``
    of the calibrated LLRs, ``min_cllr`` (bits; calibration-independent), and the
    calibration's ``cal_scale`` and ``cal_offset``.
    """
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    lb, ls = calibration.apply(bona), calibration.apply(spoof)
    return {"act_dcf": act_dcf(bona, spoof), "cllr": cllr(bona, spoof),
            "cal_act_dcf": act_dcf(lb, ls), "cal_cllr": cllr(lb, ls),
            "min_cllr": min_cllr(bona, spoof),
            "cal_scale": calibration.scale, "cal_offset": calibration.offset}


def calibrate_run(source, run_id: str, on: str, apply: list[str] | None = None):
    """Fit a calibration on a run's stored scores of eval set ``on``; apply it to the
    ``apply`` sets (default: every other eval set of the run); store the numbers.

    Stored per eval set, group ``all``: ``cal_act_dcf``, ``cal_cllr``, ``min_cllr``,
    ``cal_scale``, ``cal_offset`` (earlier ones replaced). Returns a frame with one row per
    eval set: ``eval_set``, ``fitted_on``, then the keys of :func:`calibration_metrics`.
    """
    import pandas as pd

    from curate.catalog.db import CatalogRef, catalog_session
    from curate.errors import CurateError
    from curate.train import sql

    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        if catalog.execute(sql.RUN_ROW, [run_id]).fetchone() is None:
            raise CurateError(f"RUN: no run {run_id!r} in {catalog.path}; list runs with "
                              "`SELECT run_id, status FROM runs`")
        sets = [r[0] for r in catalog.execute(sql.RUN_EVAL_SETS, [run_id]).fetchall()]
        targets = [on] + [s for s in (apply if apply else sets) if s != on]
        for key, name in [("--on", on)] + [("--apply", s) for s in targets[1:]]:
            if name not in sets:
                raise CurateError(f"{key}: run {run_id!r} has no scores on eval set {name!r} "
                                  f"(it has {', '.join(sets) or 'none'}); score it with "
                                  "`curate eval` or name one of those")
        frames = {s: catalog.df(sql.RUN_SCORES, [run_id, s]) for s in targets}

    def split(frame):
        is_bona = (frame["label"] == "bonafide").to_numpy()
        score = frame["score"].to_numpy(dtype=np.float64)
        return score[is_bona], score[~is_bona]

    bona, spoof = split(frames[on])
    if bona.size == 0 or spoof.size == 0:
        raise CurateError(f"--on: eval set {on!r} of run {run_id!r} has {bona.size} bonafide "
                          f"and {spoof.size} spoof scores; fit on a set with both classes")
    calibration = fit_calibration(bona, spoof)
    rows = []
    for eval_set, frame in frames.items():
        b, s = split(frame)
        if b.size == 0 or s.size == 0:
            continue  # a set without both classes has no metrics (like its results)
        rows.append({"eval_set": eval_set, "fitted_on": on,
                     **calibration_metrics(calibration, b, s)})
    table = pd.DataFrame(rows)
    stored = ("cal_act_dcf", "cal_cllr", "min_cllr", "cal_scale", "cal_offset")
    long = table.melt(id_vars="eval_set", value_vars=list(stored), var_name="metric") \
        .assign(run_id=run_id, eval_group="all")
    with catalog_session(source) as catalog, catalog.transaction() as con:
        for eval_set in table["eval_set"]:
            con.execute(sql.DELETE_CALIBRATION_RESULTS, [run_id, eval_set])
        con.register("_results", long)
        con.execute(sql.INSERT_RESULTS)
        con.unregister("_results")
    return table
