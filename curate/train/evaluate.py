"""Results from scores: EER, minDCF, actDCF and Cllr per eval set, overall and per group.

Groups (``eval_group``):

- ``all``: every scored utterance.
- ``generator=G``: all bonafide utterances of the eval set against the spoofs of
  generator G (how well each attack is detected, seen or unseen).
- ``language=L``, ``corpus=C``, ``codec=K``: bonafide and spoof of that language /
  corpus / codec condition; skipped where one class is absent.

Scores are higher = more bonafide, with fixed polarity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from curate.train.metrics import act_dcf, cllr, compute_eer, min_dcf

METRICS = ("eer", "min_dcf", "act_dcf", "cllr", "n_bonafide", "n_spoof")
GROUPS = ("generator", "language", "corpus", "codec")

__all__ = ["METRICS", "GROUPS", "group_masks", "group_results", "score_file_stem",
           "score_file_names", "write_score_file", "read_score_file"]


def _metrics(bonafide: np.ndarray, spoof: np.ndarray) -> dict[str, float]:
    eer, _threshold = compute_eer(bonafide, spoof)
    dcf, _ = min_dcf(bonafide, spoof)
    return {"eer": float(eer), "min_dcf": float(dcf), "act_dcf": act_dcf(bonafide, spoof),
            "cllr": cllr(bonafide, spoof), "n_bonafide": float(len(bonafide)),
            "n_spoof": float(len(spoof))}


def group_masks(frame: pd.DataFrame, groups: tuple[str, ...] = GROUPS, *,
                both_classes: bool = True) -> Iterator[tuple[str, np.ndarray]]:
    """``(eval_group, row mask)`` of every group of an eval set (see the module doc).

    Args:
        frame: one row per utterance with ``label`` and the group columns.
        groups: columns to break results down by (absent ones are skipped).
        both_classes: skip groups without both bonafide and spoof rows.
    """
    is_bona = (frame["label"] == "bonafide").to_numpy()

    def keep(mask: np.ndarray) -> bool:
        return bool(mask.any()) and (not both_classes or (bool((mask & is_bona).any())
                                                          and bool((mask & ~is_bona).any())))

    everything = np.ones(len(frame), dtype=bool)
    if keep(everything):
        yield "all", everything
    for column in groups:
        if column not in frame.columns:
            continue
        values = frame[column].astype("string").fillna("<none>")
        if column == "generator":
            for gen in sorted(values[~is_bona].unique()):
                mask = is_bona | (~is_bona & (values == gen).to_numpy())
                if keep(mask):
                    yield f"generator={gen}", mask
            continue
        if column == "codec" and frame[column].isna().all():
            continue
        for value in sorted(values.unique()):
            mask = (values == value).to_numpy()
            if keep(mask):
                yield f"{column}={value}", mask


def group_results(scored: pd.DataFrame, *, groups: tuple[str, ...] = GROUPS) -> pd.DataFrame:
    """Metrics per group of one eval set.

    Args:
        scored: one row per utterance with ``score``, ``label`` and the group columns.
        groups: columns to break results down by.

    Returns:
        Rows ``(eval_group, metric, value)``.
    """
    rows: list[tuple[str, str, float]] = []
    is_bona = (scored["label"] == "bonafide").to_numpy()
    score = scored["score"].to_numpy(dtype=np.float64)
    for name, mask in group_masks(scored, groups):
        metrics = _metrics(score[mask & is_bona], score[mask & ~is_bona])
        rows.extend((name, metric, value) for metric, value in metrics.items())
    return pd.DataFrame(rows, columns=["eval_group", "metric", "value"])


def score_file_stem(eval_set: str) -> str:
    """The file name stem of an eval set's score file (``RUN_DIR/scores/STEM.tsv``): the
    name with every run of characters other than letters, digits and ``_.=-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", eval_set)


def score_file_names(utt_ids: list[str]) -> list[str]:
    """The names a score file gives ``utt_ids``, in order: the ids themselves, or, when
    every id carries the same ``corpus:`` namespace, the ids without it (so the names
    match the corpus's own protocol files)."""
    ids = [str(u) for u in utt_ids]
    prefixes = {u.split(":", 1)[0] for u in ids if ":" in u}
    if len(prefixes) == 1 and all(":" in u for u in ids):
        return [u.split(":", 1)[1] for u in ids]
    return ids


def write_score_file(path: Path | str, utt_ids: list[str], scores: np.ndarray) -> Path:
    """An ASVspoof 5-style score file: a ``filename<TAB>cm-score`` header, then one line per
    utterance (higher = more bonafide), named by :func:`score_file_names`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = score_file_names(utt_ids)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write("filename\tcm-score\n")
        for utt, value in zip(ids, np.asarray(scores, dtype=np.float64)):
            f.write(f"{utt}\t{value:.6f}\n")
    tmp.replace(path)
    return path


def read_score_file(path: Path | str) -> pd.DataFrame:
    """A score file written by :func:`write_score_file` as ``filename, cm-score`` columns."""
    return pd.read_csv(path, sep="\t", dtype={"filename": str})
