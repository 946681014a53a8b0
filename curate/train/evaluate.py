"""Results from scores: EER and minDCF per eval set, overall and per group.

Groups (``eval_group``):

- ``all``: every scored utterance.
- ``generator=G``: all bonafide utterances of the eval set against the spoofs of
  generator G (how well each attack is detected, seen or unseen).
- ``language=L``, ``corpus=C``: bonafide and spoof of that language / corpus;
  skipped where one class is absent.

Scores are higher = more bonafide, with fixed polarity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate.train.metrics import compute_eer, min_dcf

METRICS = ("eer", "min_dcf", "n_bonafide", "n_spoof")


def _metrics(bonafide: np.ndarray, spoof: np.ndarray) -> dict[str, float]:
    eer, _threshold = compute_eer(bonafide, spoof)
    dcf, _ = min_dcf(bonafide, spoof)
    return {"eer": float(eer), "min_dcf": float(dcf), "n_bonafide": float(len(bonafide)),
            "n_spoof": float(len(spoof))}


def group_results(scored: pd.DataFrame, *, groups: tuple[str, ...] = ("generator", "language",
                                                                      "corpus")) -> pd.DataFrame:
    """Metrics per group of one eval set.

    Args:
        scored: one row per utterance with ``score``, ``label`` and the group columns.
        groups: columns to break results down by.

    Returns:
        Rows ``(eval_group, metric, value)``.
    """
    rows: list[tuple[str, str, float]] = []

    def add(name: str, bona: np.ndarray, spoof: np.ndarray) -> None:
        if len(bona) and len(spoof):
            rows.extend((name, metric, value) for metric, value in _metrics(bona, spoof).items())

    is_bona = (scored["label"] == "bonafide").to_numpy()
    score = scored["score"].to_numpy(dtype=np.float64)
    add("all", score[is_bona], score[~is_bona])
    for column in groups:
        if column not in scored.columns:
            continue
        values = scored[column].astype("string").fillna("<none>")
        if column == "generator":
            for gen in sorted(values[~is_bona].unique()):
                add(f"generator={gen}", score[is_bona], score[~is_bona & (values == gen).to_numpy()])
            continue
        for value in sorted(values.unique()):
            mask = (values == value).to_numpy()
            add(f"{column}={value}", score[mask & is_bona], score[mask & ~is_bona])
    return pd.DataFrame(rows, columns=["eval_group", "metric", "value"])
