"""A training run against the catalog: selection in, runs/scores/results out.

``run_id`` is ``NAME-<hash of the config and data>``: running the same
experiment again finds the finished run and skips it, so a re-run is cheap.
Workers never open the catalog: the selection is read once into plain arrays.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import curate
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.select.freeze import selection_rows
from curate.train import sql
from curate.train.evaluate import group_results
from curate.train.loop import TrainConfig, save_checkpoint, score, train


@dataclass(frozen=True)
class RunSpec:
    """What a run trains on and is evaluated on."""

    name: str
    selection: str
    train_split: str = "train"
    eval_splits: tuple[str, ...] = ("test",)
    config: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return {"name": self.name, "selection": self.selection,
                "train_split": self.train_split, "eval_splits": list(self.eval_splits),
                "train": self.config.to_dict()}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    skipped: bool
    results: pd.DataFrame  # eval_set, eval_group, metric, value
    checkpoint: Path | None


def code_version() -> str:
    """The package version plus the git commit when running from a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, cwd=Path(curate.__file__).parent)
        suffix = f"+{commit.stdout.strip()}" if commit.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        suffix = ""
    return curate.__version__ + suffix


def run_id_for(spec: RunSpec, selection_hash: str) -> str:
    blob = json.dumps({"spec": spec.to_dict(), "selection": selection_hash}, sort_keys=True)
    return f"{spec.name}-{hashlib.blake2b(blob.encode(), digest_size=5).hexdigest()}"


def _selection_hash(catalog: Catalog, name: str) -> str:
    row = catalog.execute(sql.SELECTION_HASH, [name]).fetchone()
    if row is None:
        raise CurateError(f"no selection named {name!r}; freeze it with `curate select`")
    return row[0]


def run_results(catalog: Catalog, run_id: str) -> pd.DataFrame:
    return catalog.df(sql.RUN_RESULTS, [run_id])


def run_experiment(catalog: Catalog, spec: RunSpec, out_dir: Path | str, *,
                   progress: Callable[[int, int, float], None] | None = None,
                   force: bool = False) -> RunOutcome:
    """Train on ``spec.selection``/``train_split``, score the eval splits, store results."""
    run_id = run_id_for(spec, _selection_hash(catalog, spec.selection))
    status = catalog.execute(sql.RUN_STATUS, [run_id]).fetchone()
    run_dir = Path(out_dir) / "runs" / run_id
    if status is not None and status[0] == "finished" and not force:
        return RunOutcome(run_id, True, run_results(catalog, run_id), run_dir / "model.pt")

    train_rows = selection_rows(catalog, spec.selection, spec.train_split)
    if train_rows.empty:
        raise CurateError(f"selection {spec.selection!r} has no {spec.train_split!r} split")
    eval_rows = {s: selection_rows(catalog, spec.selection, s) for s in spec.eval_splits}
    with catalog.transaction() as con:
        con.execute(sql.DELETE_RUN, [run_id])
        con.execute(sql.INSERT_RUN, [run_id, spec.name, json.dumps(spec.to_dict()),
                                     spec.config.seed, code_version()])
    try:
        labels = (train_rows["label"] == "bonafide").astype(int).to_numpy()
        result = train(spec.config, train_rows["abspath"].tolist(), labels, progress=progress)
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = run_dir / "model.pt"
        save_checkpoint(checkpoint, result.model, spec.config, result.steps)
        frames = []
        for eval_set, rows in eval_rows.items():
            if rows.empty:
                continue
            scores = score(result.model, rows["abspath"].tolist(),
                           sample_rate=spec.config.sample_rate, device=result.device)
            scored = rows.assign(score=np.asarray(scores, dtype=np.float64))
            frames.append((eval_set, scored))
        with catalog.transaction() as con:
            con.execute(sql.DELETE_RUN_OUTPUTS_SCORES, [run_id])
            con.execute(sql.DELETE_RUN_OUTPUTS_RESULTS, [run_id])
            for eval_set, scored in frames:
                table = scored[["utt_id", "score"]].assign(run_id=run_id, eval_set=eval_set)
                con.register("_scores", table)
                con.execute(sql.INSERT_SCORES)
                con.unregister("_scores")
                results = group_results(scored).assign(run_id=run_id, eval_set=eval_set)
                con.register("_results", results)
                con.execute(sql.INSERT_RESULTS)
                con.unregister("_results")
            con.execute(sql.FINISH_RUN, ["finished", run_id])
    except BaseException:
        catalog.execute(sql.FINISH_RUN, ["failed", run_id])
        raise
    return RunOutcome(run_id, False, run_results(catalog, run_id), checkpoint)
