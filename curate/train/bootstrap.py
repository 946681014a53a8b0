"""Bootstrap confidence intervals for EER and minDCF.

Resampling trials with replacement, per class (the bonafide and the spoof trials are
resampled separately, so every resample keeps both classes and their sizes), or by
groups (e.g. speakers): whole groups of a class are drawn with replacement and bring
all their trials, which captures the correlation of trials of one speaker.

A resample is represented by how often each original trial is drawn (a count per
trial), so the scores are sorted once and every resample's DET curve is one weighted
cumulative sum over that order: vectorised over blocks of resamples. The metric of a
resample is exactly what :func:`curate.train.metrics.compute_eer` or
:func:`curate.train.metrics.min_dcf` return on the resampled score arrays (ties are
kept together; zero-count trials only repeat a DET point). The interval is the
percentile interval (2.5 % and 97.5 % quantiles for ``level=0.95``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curate.train.metrics import _as_scores, _normalised_dcf

__all__ = ["METRICS", "bootstrap_ci", "bootstrap_samples", "interval_results"]

METRICS = ("eer", "min_dcf")
_BLOCK_ELEMENTS = 4_000_000  # resamples x trials handled at once (memory ~ 100 MB)


def _group_index(groups: Any, n: int, name: str) -> tuple[np.ndarray, int]:
    """Integer group id per trial (shape (n,)) and the number of groups."""
    if groups is None:
        return np.arange(n), n
    labels = pd.Series(np.asarray(groups, dtype=object)).astype("string").fillna("<none>")
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} labels for {n} scores; pass one group "
                         "label per score")
    codes, uniques = pd.factorize(labels)
    return codes.astype(np.int64), len(uniques)


def _counts(rng: np.random.Generator, k: int, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Times each trial is drawn in ``k`` resamples: shape (k, n_trials)."""
    draws = rng.integers(0, n_groups, size=(k, n_groups))
    flat = (draws + np.arange(k)[:, None] * n_groups).ravel()
    per_group = np.bincount(flat, minlength=k * n_groups).reshape(k, n_groups)
    return per_group[:, codes]


def bootstrap_samples(bonafide_scores: Any, spoof_scores: Any, metric: str,
                      n_resamples: int = 1000, seed: int | np.random.Generator = 0,
                      groups: tuple[Any, Any] | None = None, *, p_spoof: float = 0.05,
                      c_miss: float = 1.0, c_fa: float = 10.0) -> np.ndarray:
    """The metric on each of ``n_resamples`` bootstrap resamples.

    Args:
        bonafide_scores: shape (n_bonafide,), higher = more bonafide.
        spoof_scores: shape (n_spoof,).
        metric: ``"eer"`` or ``"min_dcf"`` (fractions in [0, 1]).
        n_resamples: number of resamples, >= 1.
        seed: seed of a fresh ``numpy.random.default_rng``, or a Generator to draw from.
        groups: ``(bonafide_groups, spoof_groups)``, one label per score (e.g. the
            speaker), to resample whole groups of each class; ``None``: single trials.
        p_spoof, c_miss, c_fa: minDCF costs, as in :func:`curate.train.metrics.min_dcf`.

    Returns:
        float64 array, shape (n_resamples,).
    """
    if metric not in METRICS:
        raise ValueError(f"metric is {metric!r}; use one of {', '.join(METRICS)}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n_resamples = int(n_resamples)
    bona = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    bona_groups, spoof_groups = (None, None) if groups is None else groups
    b_codes, b_groups = _group_index(bona_groups, bona.size, "groups[0] (bonafide)")
    s_codes, s_groups = _group_index(spoof_groups, spoof.size, "groups[1] (spoof)")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    scores = np.concatenate([bona, spoof])
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    # The DET point at each distinct score t counts the trials below t: the cumulative
    # sums are read at the first position of each run of equal scores (+ the end).
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    read_at = np.append(starts, scores.size)  # exclusive prefix lengths
    is_bona_sorted = order < bona.size
    pos_bona = np.flatnonzero(is_bona_sorted)
    pos_spoof = np.flatnonzero(~is_bona_sorted)
    b_codes_sorted = b_codes[order[pos_bona]]
    s_codes_sorted = s_codes[order[pos_spoof] - bona.size]

    out = np.empty(n_resamples)
    block = max(1, _BLOCK_ELEMENTS // scores.size)
    for lo in range(0, n_resamples, block):
        k = min(block, n_resamples - lo)
        w_bona = np.zeros((k, scores.size))
        w_spoof = np.zeros((k, scores.size))
        w_bona[:, pos_bona] = _counts(rng, k, b_codes_sorted, b_groups)
        w_spoof[:, pos_spoof] = _counts(rng, k, s_codes_sorted, s_groups)
        cum_b = np.zeros((k, scores.size + 1))
        cum_s = np.zeros((k, scores.size + 1))
        np.cumsum(w_bona, axis=1, out=cum_b[:, 1:])
        np.cumsum(w_spoof, axis=1, out=cum_s[:, 1:])
        del w_bona, w_spoof
        n_b = cum_b[:, -1:]
        n_s = cum_s[:, -1:]
        p_miss = cum_b[:, read_at] / n_b
        p_fa = (n_s - cum_s[:, read_at]) / n_s
        del cum_b, cum_s
        if metric == "min_dcf":
            out[lo:lo + k] = _normalised_dcf(p_miss, p_fa, p_spoof, c_miss, c_fa).min(axis=1)
            continue
        diff = p_miss - p_fa  # non-decreasing per row, from -1 to +1
        rows = np.arange(k)
        j = np.argmax(diff >= 0.0, axis=1)
        exact = diff[rows, j] == 0.0
        jm = np.maximum(j - 1, 0)
        d0, d1 = diff[rows, jm], diff[rows, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = np.where(exact, 0.0, -d0 / (d1 - d0))
        m0 = np.where(exact, p_miss[rows, j], p_miss[rows, jm])
        out[lo:lo + k] = m0 + alpha * (p_miss[rows, j] - p_miss[rows, jm])
    return out


def bootstrap_ci(bonafide_scores: Any, spoof_scores: Any, metric: str,
                 n_resamples: int = 1000, seed: int | np.random.Generator = 0,
                 groups: tuple[Any, Any] | None = None, *,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of EER or minDCF.

    Args:
        bonafide_scores, spoof_scores, metric, n_resamples, seed, groups: as in
            :func:`bootstrap_samples`.
        level: coverage of the interval, in (0, 1).

    Returns:
        ``(low, high)``, fractions in [0, 1] like the metric itself.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    values = bootstrap_samples(bonafide_scores, spoof_scores, metric, n_resamples, seed,
                               groups)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def interval_results(scored: pd.DataFrame, n_resamples: int, *, seed: int = 0,
                     by: str | None = None) -> pd.DataFrame:
    """Rows ``(eval_group, metric, value)`` of the 95 % intervals of one eval set.

    Args:
        scored: one row per utterance with ``score``, ``label`` (and the column ``by``).
        n_resamples: bootstrap resamples.
        seed: seed of the resampling.
        by: a column whose values are resampled as whole groups (``"speaker"``); ``None``
            resamples single trials.

    Returns:
        Group ``all``: ``eer_ci_low``, ``eer_ci_high``, ``min_dcf_ci_low``,
        ``min_dcf_ci_high`` (0-1); empty when a class is absent.
    """
    if by is not None and by not in scored.columns:
        raise ValueError(f"the scored rows have no column {by!r} to resample by; "
                         "leave the grouping out")
    is_bona = (scored["label"] == "bonafide").to_numpy()
    score = scored["score"].to_numpy(dtype=np.float64)
    rows: list[tuple[str, str, float]] = []
    if is_bona.any() and (~is_bona).any():
        groups = None
        if by is not None:
            labels = scored[by].to_numpy(dtype=object)
            groups = (labels[is_bona], labels[~is_bona])
        rng = np.random.default_rng(seed)
        for metric in METRICS:
            low, high = bootstrap_ci(score[is_bona], score[~is_bona], metric, n_resamples,
                                     rng, groups)
            rows += [("all", f"{metric}_ci_low", low), ("all", f"{metric}_ci_high", high)]
    return pd.DataFrame(rows, columns=["eval_group", "metric", "value"])
