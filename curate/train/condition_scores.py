"""A robustness condition's scores, read back from its score file.

``curate eval --degrade`` stores a condition's results as eval groups and its scores in
``RUN_DIR/scores/STEM.condition=NAME.tsv`` only (:mod:`curate.train.degrade`; the
``scores`` table holds the clean ones). These functions find those files and put a
condition's scores next to the clean eval set's rows (labels, generators, ...), so the
pictures of clean scores (:mod:`curate.train.score_plots`) draw a condition the same way.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.train.evaluate import read_score_file, score_file_names, score_file_stem

__all__ = ["condition_file", "stored_conditions", "condition_scores"]

_MARK = ".condition="


def condition_file(run_dir: Path | str, eval_set: str, condition: str) -> Path:
    """Where ``curate eval --degrade`` writes the scores of ``condition`` on ``eval_set``."""
    return Path(run_dir) / "scores" / f"{score_file_stem(eval_set)}{_MARK}{condition}.tsv"


def stored_conditions(run_dir: Path | str, eval_set: str) -> list[str]:
    """The conditions whose score files exist for ``eval_set``, sorted."""
    stem = f"{score_file_stem(eval_set)}{_MARK}"
    folder = Path(run_dir) / "scores"
    return sorted(p.name[len(stem):-len(".tsv")] for p in folder.glob(f"{stem}*.tsv"))


def condition_scores(clean: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """The rows of the clean eval set with their scores under a condition.

    Args:
        clean: one row per utterance of the eval set (``utt_id``, ``score`` and any
            other columns, e.g. ``label``, ``generator``), as the ``scores`` table has it.
        path: the condition's score file.

    Returns:
        ``clean`` with ``score`` replaced by the file's, in ``clean``'s order.

    Raises:
        CurateError: the file does not hold exactly the eval set's utterances (it was
            written for another scoring of the set: score it again with ``--degrade``).
    """
    names = score_file_names(clean["utt_id"].astype(str).tolist())
    stored = read_score_file(path)
    scores = dict(zip(stored["filename"].astype(str), stored["cm-score"].astype(float)))
    missing = [n for n in names if n not in scores]
    if missing or len(scores) != len(names):
        raise CurateError(
            f"{path} holds {len(scores)} scores for the eval set's {len(names)} utterances "
            f"({len(missing)} missing, e.g. {missing[0] if missing else 'none'}); it comes "
            f"from another scoring of the set: run `curate eval ... --degrade` again")
    return clean.assign(score=[scores[n] for n in names])
