"""2-D projections of embeddings: PCA (numpy SVD, always) and t-SNE (scikit-learn, when
installed). Pure functions: arrays in, arrays out.

PCA's sign convention makes it deterministic: each component is flipped so that its
largest-magnitude loading is positive (an SVD may return either sign).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.errors import CurateError

__all__ = ["METHODS", "PcaResult", "pca", "tsne", "project"]

METHODS = ("pca", "tsne")


@dataclass(frozen=True)
class PcaResult:
    """points ``(n, k)``; components ``(k, d)`` (unit rows); explained_variance_ratio
    ``(k,)`` (share of the total variance, 0-1); mean ``(d,)``."""

    points: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray


def _matrix(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"embeddings must be a non-empty (n, dim) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings hold NaN or inf values; check the model's output")
    return x


def pca(x: np.ndarray, n_components: int = 2) -> PcaResult:
    """Principal components of the rows of ``x`` (float ``(n, d)``).

    Components beyond ``min(n, d)`` are zero (and so are their points).
    """
    x = _matrix(x)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    mean = x.mean(axis=0)
    centred = x - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(n_components, vt.shape[0])
    components = np.zeros((n_components, x.shape[1]))
    components[:k] = vt[:k]
    for row in components[:k]:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    variance = s ** 2
    total = float(variance.sum())
    ratio = np.zeros(n_components)
    if total > 0:
        ratio[:k] = variance[:k] / total
    return PcaResult(centred @ components.T, components, ratio, mean)


def tsne(x: np.ndarray, n_components: int = 2, *, seed: int = 0,
         perplexity: float | None = None) -> np.ndarray:
    """t-SNE points ``(n, n_components)`` of the rows of ``x`` (scikit-learn, PCA
    initialisation, ``random_state = seed``); ``perplexity`` defaults to
    ``min(30, (n - 1) / 3)``."""
    x = _matrix(x)
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise CurateError("--method tsne needs scikit-learn; install it (pip install "
                          "scikit-learn) or use --method pca") from None
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 embeddings, got {n}; use --method pca")
    if perplexity is None:
        perplexity = min(30.0, (n - 1) / 3)
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity must be in (0, {n}), got {perplexity}")
    return TSNE(n_components=n_components, perplexity=perplexity, init="pca",
                random_state=seed).fit_transform(x)


def project(x: np.ndarray, method: str = "pca", *, seed: int = 0
            ) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D points ``(n, 2)`` of ``x`` by ``method`` and the two axis labels."""
    if method == "pca":
        result = pca(x, 2)
        share = 100 * result.explained_variance_ratio
        return result.points, (f"PC 1 ({share[0]:.1f} %)", f"PC 2 ({share[1]:.1f} %)")
    if method == "tsne":
        return tsne(x, 2, seed=seed), ("t-SNE 1", "t-SNE 2")
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
