"""Detection metrics for speech deepfake detection: EER, DET curve, minDCF, actDCF, Cllr.

Conventions (fixed, never inferred from the data):

- A score is a real number where **higher means more bonafide**.
- A decision at threshold ``t`` accepts an utterance as bonafide iff ``score >= t``.
- A *miss* is a bonafide utterance rejected (``score < t``); a *false alarm* is a
  spoof utterance accepted (``score >= t``). This is the countermeasure convention
  of ASVspoof 5 (bonafide is the target class).

All functions take two 1-D array-likes (numpy arrays, lists, CPU or GPU torch
tensors): the bonafide scores and the spoof scores. Empty inputs and NaN scores are
rejected with a ``ValueError`` naming the argument.

Ties are handled exactly: all utterances with the same score are on the same side of
every threshold, so results never depend on the order of equal scores. The operating
points are computed from one sort of the concatenated scores, so ten million scores
take a second or two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "correlation",
    "det_curve",
    "compute_eer",
    "min_dcf",
    "act_dcf",
    "bayes_threshold",
    "cllr",
]


def _as_scores(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a 1-D float64 array; ValueError naming ``name`` if unusable."""
    if hasattr(x, "detach"):  # torch tensor, possibly on an accelerator
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence of scores, got shape {tuple(arr.shape)}; "
            "flatten it first"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one score for each class")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(
            f"{name} contains {n_nan} NaN score(s); drop or fix them before computing metrics"
        )
    return arr


def _check_prior_costs(p_spoof: float, c_miss: float, c_fa: float) -> None:
    if not 0.0 < p_spoof < 1.0:
        raise ValueError(f"p_spoof must lie strictly between 0 and 1, got {p_spoof}")
    if not c_miss > 0.0:
        raise ValueError(f"c_miss must be > 0, got {c_miss}")
    if not c_fa > 0.0:
        raise ValueError(f"c_fa must be > 0, got {c_fa}")


def det_curve(bonafide_scores: Any, spoof_scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every distinct threshold.

    Args:
        bonafide_scores: scores of bonafide utterances, shape (n_bonafide,).
        spoof_scores: scores of spoof utterances, shape (n_spoof,).

    Returns:
        ``(p_miss, p_fa, thresholds)``, float64 arrays of shape (n_distinct + 1,).
        ``thresholds`` are the distinct scores in increasing order followed by
        ``+inf`` (reject everything). At ``thresholds[k]``, ``p_miss[k]`` is the
        fraction of bonafide scores ``< thresholds[k]`` and ``p_fa[k]`` the fraction
        of spoof scores ``>= thresholds[k]``. ``p_miss`` rises from 0 to 1 and
        ``p_fa`` falls from 1 to 0.
    """
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    n_bona, n_spoof = bona.size, spoof.size
    n = n_bona + n_spoof

    scores = np.concatenate([bona, spoof])  # bonafide first: index < n_bona <=> bonafide
    order = np.argsort(scores)  # the only sort; order among equal scores is irrelevant
    sorted_scores = scores[order]
    # bona_below[i]: number of bonafide among the i smallest scores, i = 0..n.
    bona_below = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(order < n_bona, out=bona_below[1:])
    del order

    # First position of each run of equal scores: the thresholds are the distinct
    # scores, and all equal scores fall on the same side of each one.
    is_start = np.empty(n, dtype=bool)
    is_start[0] = True
    np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=is_start[1:])
    if is_start.all():  # no ties: skip the gathers (the common case for float scores)
        thresholds = np.empty(n + 1)
        thresholds[:n] = sorted_scores
        rank = np.arange(n + 1, dtype=np.float64)  # number of scores below each threshold
    else:
        starts = np.flatnonzero(is_start)
        thresholds = np.empty(starts.size + 1)
        thresholds[:-1] = sorted_scores[starts]
        rank = np.empty(starts.size + 1)
        rank[:-1] = starts
        rank[-1] = n  # the reject-everything point
        bona_below = bona_below[np.append(starts, n)]
    thresholds[-1] = np.inf
    del sorted_scores, is_start

    # p_fa = (n_spoof - spoof_below) / n_spoof with spoof_below = rank - bona_below,
    # computed in place: these arrays are as long as the input.
    p_fa = rank
    p_fa -= bona_below
    np.subtract(n_spoof, p_fa, out=p_fa)
    p_fa /= n_spoof
    p_miss = np.divide(bona_below, n_bona, dtype=np.float64)
    return p_miss, p_fa, thresholds


def compute_eer(bonafide_scores: Any, spoof_scores: Any) -> tuple[float, float]:
    """Equal error rate, where the miss and false-alarm rates cross.

    The DET points of :func:`det_curve` are joined by straight lines; the EER is
    where that polyline crosses ``p_miss == p_fa``. If an operating point has
    ``p_miss == p_fa`` exactly, that is the EER; otherwise it is interpolated linearly
    between the last point with ``p_miss < p_fa`` and the first with ``p_miss > p_fa``.

    Args:
        bonafide_scores: shape (n_bonafide,), higher = more bonafide.
        spoof_scores: shape (n_spoof,).

    Returns:
        ``(eer, threshold)``: the EER as a fraction in [0, 1], and the threshold
        interpolated the same way between the two bracketing thresholds (the lower
        one when the upper is the reject-everything point ``+inf``). Perfect
        separation gives ``(0.0, min(bonafide_scores))``; swapping the arguments
        gives about ``1 - eer`` (the polarity is never flipped to help).
    """
    p_miss, p_fa, thresholds = det_curve(bonafide_scores, spoof_scores)
    diff = p_miss - p_fa  # non-decreasing, from -1 (first point) to +1 (last point)
    k = int(np.searchsorted(diff, 0.0, side="left"))  # first point with p_miss >= p_fa
    if diff[k] == 0.0:
        return float(p_miss[k]), float(thresholds[k])
    d0, d1 = diff[k - 1], diff[k]
    alpha = -d0 / (d1 - d0)
    eer = p_miss[k - 1] + alpha * (p_miss[k] - p_miss[k - 1])
    t0, t1 = thresholds[k - 1], thresholds[k]
    threshold = t0 + alpha * (t1 - t0) if np.isfinite(t1) else t0
    return float(eer), float(threshold)


def _normalised_dcf(
    p_miss: np.ndarray, p_fa: np.ndarray, p_spoof: float, c_miss: float, c_fa: float
) -> np.ndarray:
    dcf = c_miss * (1.0 - p_spoof) * p_miss + c_fa * p_spoof * p_fa
    return dcf / min(c_miss * (1.0 - p_spoof), c_fa * p_spoof)


def min_dcf(
    bonafide_scores: Any,
    spoof_scores: Any,
    p_spoof: float = 0.05,
    c_miss: float = 1.0,
    c_fa: float = 10.0,
) -> tuple[float, float]:
    """Minimum normalised detection cost over all thresholds (ASVspoof 5 minDCF).

    ``DCF(t) = c_miss * (1 - p_spoof) * P_miss(t) + c_fa * p_spoof * P_fa(t)``,
    normalised by ``min(c_miss * (1 - p_spoof), c_fa * p_spoof)``, the cost of the
    better of "accept all" and "reject all". Hence ``0 <= min_dcf <= 1``.

    Args:
        bonafide_scores: shape (n_bonafide,), higher = more bonafide.
        spoof_scores: shape (n_spoof,).
        p_spoof: prior probability of spoof, in (0, 1).
        c_miss: cost of rejecting a bonafide utterance, > 0.
        c_fa: cost of accepting a spoof utterance, > 0.

    Returns:
        ``(min_dcf, threshold)``: the threshold attaining it (``+inf`` when rejecting
        everything is best).
    """
    _check_prior_costs(p_spoof, c_miss, c_fa)
    p_miss, p_fa, thresholds = det_curve(bonafide_scores, spoof_scores)
    dcf = _normalised_dcf(p_miss, p_fa, p_spoof, c_miss, c_fa)
    k = int(np.argmin(dcf))
    return float(dcf[k]), float(thresholds[k])


def bayes_threshold(p_spoof: float = 0.05, c_miss: float = 1.0, c_fa: float = 10.0) -> float:
    """Bayes decision threshold for scores that are calibrated log-likelihood ratios.

    Accepting as bonafide iff ``llr >= log(c_fa * p_spoof / (c_miss * (1 - p_spoof)))``
    minimises the expected cost; about -0.642 for the ASVspoof 5 defaults.
    """
    _check_prior_costs(p_spoof, c_miss, c_fa)
    return float(np.log(c_fa * p_spoof / (c_miss * (1.0 - p_spoof))))


def act_dcf(
    bonafide_scores: Any,
    spoof_scores: Any,
    threshold: float | None = None,
    p_spoof: float = 0.05,
    c_miss: float = 1.0,
    c_fa: float = 10.0,
) -> float:
    """Actual normalised detection cost at a fixed threshold.

    Args:
        bonafide_scores: shape (n_bonafide,), higher = more bonafide.
        spoof_scores: shape (n_spoof,).
        threshold: accept as bonafide iff ``score >= threshold``. ``None`` uses
            :func:`bayes_threshold`, i.e. treats scores as calibrated LLRs.
        p_spoof, c_miss, c_fa: as in :func:`min_dcf`.

    Returns:
        The normalised DCF at ``threshold`` (``>= min_dcf``; may exceed 1 for a badly
        placed threshold).
    """
    _check_prior_costs(p_spoof, c_miss, c_fa)
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    if threshold is None:
        threshold = bayes_threshold(p_spoof, c_miss, c_fa)
    threshold = float(threshold)
    if np.isnan(threshold):
        raise ValueError("threshold is NaN; pass a number, or None for the Bayes threshold")
    p_miss = np.array([np.mean(bona < threshold)])
    p_fa = np.array([np.mean(spoof >= threshold)])
    return float(_normalised_dcf(p_miss, p_fa, p_spoof, c_miss, c_fa)[0])


def cllr(bonafide_scores: Any, spoof_scores: Any) -> float:
    """Log-likelihood-ratio cost, in bits, treating scores as natural-log LLRs.

    ``Cllr = (mean(log2(1 + exp(-s_bona))) + mean(log2(1 + exp(s_spoof)))) / 2``.
    0 for perfect, confident, correct scores; exactly 1 for an uninformative system
    that always outputs 0; unbounded above for confidently wrong scores.

    Args:
        bonafide_scores: shape (n_bonafide,), natural-log LLRs (bonafide vs spoof).
        spoof_scores: shape (n_spoof,).
    """
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    c_bona = np.mean(np.logaddexp(0.0, -bona))
    c_spoof = np.mean(np.logaddexp(0.0, spoof))
    return float((c_bona + c_spoof) / (2.0 * np.log(2.0)))


def correlation(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Spearman and Kendall correlation of ``x`` and ``y`` with two-sided p-values."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": float(len(x)), "spearman": np.nan, "spearman_p": np.nan,
                "kendall": np.nan, "kendall_p": np.nan}
    rho, rho_p = stats.spearmanr(x, y)
    tau, tau_p = stats.kendalltau(x, y)
    return {"n": float(len(x)), "spearman": float(rho), "spearman_p": float(rho_p),
            "kendall": float(tau), "kendall_p": float(tau_p)}
