"""What a benchmark result rests on, so a reader can check it.

Each (run, set) result writes its trials, the exact scores the EER was computed from,
to ``OUT/scores/<run_id>/<set>.tsv`` (a header ``utt_id<TAB>label<TAB>score``, one line per
trial sorted by ``utt_id``, scores with 17 significant digits so they read back to the
same doubles), and records, next to the numbers, the sha256 of that file, the selection
and its ``spec_hash``, the recipe hash of every corpus the trials come from, the
numbers of trials and of skipped items, and the run's code version. Recomputing
``compute_eer`` of the file's bonafide and spoof scores gives the leaderboard's EER.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from curate.benchmark import sql
from curate.catalog.db import Catalog
from curate.train.evaluate import score_file_stem

__all__ = ["TRIAL_COLUMNS", "sha256_of", "trials_path", "write_trials", "read_trials",
           "corpus_facts", "record"]

TRIAL_COLUMNS = ("utt_id", "label", "score")


def sha256_of(path: Path | str) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trials_path(out_dir: Path, run_id: str, set_name: str) -> Path:
    """``OUT/scores/<run_id>/<set>.tsv`` (unsafe characters of the names become ``_``)."""
    return (Path(out_dir) / "scores" / score_file_stem(run_id)
            / f"{score_file_stem(set_name)}.tsv")


def write_trials(path: Path, trials: pd.DataFrame) -> str:
    """Write ``trials`` (utt_id, label, score) sorted by utt_id; returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = trials.sort_values("utt_id", kind="stable")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(TRIAL_COLUMNS) + "\n")
        for utt, label, score in zip(frame["utt_id"], frame["label"],
                                     frame["score"].to_numpy(dtype=np.float64)):
            f.write(f"{utt}\t{label}\t{format(float(score), '.17g')}\n")
    tmp.replace(path)
    return sha256_of(path)


def read_trials(path: Path | str) -> pd.DataFrame:
    """A trials file of :func:`write_trials` as (utt_id, label, score)."""
    return pd.read_csv(path, sep="\t", dtype={"utt_id": str, "label": str,
                                              "score": np.float64}, keep_default_na=False)


def corpus_facts(catalog: Catalog, corpora: list[str]) -> list[dict]:
    """Recipe facts of catalog corpora: name, recipe, recipe_name, recipe_hash, built_at."""
    rows = catalog.execute(sql.CORPUS_FACTS, [sorted(set(corpora))]).fetchall()
    return [dict(zip(("name", "recipe", "recipe_name", "recipe_hash", "built_at"), row))
            for row in rows]


def record(*, run_id: str, code_version: str | None, eval_set: str, selection: str,
           split: str | None, spec_hash: str | None, corpora: list[dict], n_trials: int,
           n_bonafide: int, n_spoof: int, skipped: dict[str, int], score_file: str,
           score_sha256: str, scores: str) -> dict:
    """The provenance record of one (run, set) result (plain JSON data); ``scores`` says
    where the scores came from: ``reused`` (stored), ``scored`` (now) or ``none``."""
    return {"run_id": run_id, "code_version": code_version, "eval_set": eval_set,
            "selection": selection, "split": split, "spec_hash": spec_hash,
            "corpora": corpora, "n_trials": int(n_trials), "n_bonafide": int(n_bonafide),
            "n_spoof": int(n_spoof), "n_skipped": int(sum(skipped.values())),
            "skipped_by_status": {k: int(v) for k, v in skipped.items()},
            "score_file": score_file, "score_file_sha256": score_sha256,
            "scores": scores}
