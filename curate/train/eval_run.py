"""After a run: load its model (:func:`load_run`) and score a selection with it
(:func:`evaluate_run`), storing scores, results and a score file like the run's own
eval sets (:mod:`curate.train.run`). The two halves, :func:`eval_inputs` (run and
items) and :func:`store_run_scores`, serve robustness grids and embeddings too
(:mod:`curate.train.degrade`, :mod:`curate.train.embeddings`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.train import distributed as ddp
from curate.train import snapshot, sql
from curate.train.loop import TrainConfig, load_checkpoint
from curate.train.row_scoring import scores_of
from curate.train.run import check_split, eval_set_name, selection_items, store_eval_set

__all__ = ["LoadedRun", "load_run", "EvalInputs", "eval_inputs", "store_run_scores",
           "evaluate_run"]


@dataclass(frozen=True)
class LoadedRun:
    run_id: str
    spec: dict  # the stored RunSpec.to_dict() (plus run_dir)
    config: TrainConfig
    run_dir: Path
    model: Any
    class_weights: list[float] | None


def load_run(catalog: Catalog, run_id: str, *, run_dir: Path | str | None = None,
             device: str = "cpu") -> LoadedRun:
    """A finished run's model (``RUN_DIR/model.pt``) with its stored config."""
    row = catalog.execute(sql.RUN_ROW, [run_id]).fetchone()
    if row is None:
        raise CurateError(f"no run {run_id!r} in {catalog.path}; list runs with "
                          "`SELECT run_id, status FROM runs`")
    stored = json.loads(row[2])
    folder = Path(run_dir) if run_dir is not None else Path(stored.get("run_dir", ""))
    checkpoint = folder / "model.pt"
    if not checkpoint.is_file():
        raise CurateError(f"run {run_id} has no model at {checkpoint} (status {row[4]}); "
                          "finish the run, or pass --run-dir where its folder now is")
    from curate.train.loop import read_checkpoint

    model, config, _ = load_checkpoint(checkpoint, map_location=device)
    extra = read_checkpoint(checkpoint)["extra"]
    return LoadedRun(run_id, stored, config, folder, model, extra.get("class_weights"))


@dataclass(frozen=True)
class EvalInputs:
    """What scoring a selection with a run needs: the loaded run, the eval set's rows
    (one per utterance, ``utt_id``, ``abspath``, ``label``, group columns), the eval set's
    name and the run's config with the caller's overrides."""

    run: LoadedRun
    rows: pd.DataFrame
    name: str
    config: TrainConfig
    device: str


def eval_inputs(catalog: Catalog | CatalogRef, run_id: str, selection: str,
                split: str | None = "test", *, run_dir: Path | str | None = None,
                device: str | None = None, batch_size: int | None = None,
                skip_unavailable: bool = False) -> EvalInputs:
    """Load a run and the items of a selection (split) it is to score, in one short
    catalog session; an empty eval set is an error."""
    split = None if split in (None, "", "all") else split
    with catalog_session(catalog, read_only=isinstance(catalog, CatalogRef)) as session:
        run = load_run(session, run_id, run_dir=run_dir)
        check_split(session, selection, split, "--split")
        rows = selection_items(session, selection, split, skip_unavailable=skip_unavailable)
    if rows.empty:
        raise CurateError(f"selection {selection!r} has no usable items"
                          + (f" in split {split!r}" if split else "")
                          + "; see `curate selections`")
    name = eval_set_name(selection, split, run.spec.get("selection"))
    config = run.config
    if batch_size is not None:
        config = TrainConfig.from_dict(dict(config.to_dict(), eval_batch_size=batch_size))
    return EvalInputs(run, rows, name, config, device or config.device)


def store_run_scores(catalog: Catalog | CatalogRef, inputs: EvalInputs, scores: np.ndarray,
                     *, bootstrap: int = 0, by_speaker: bool = False) -> pd.DataFrame:
    """Store an eval set's scores (``scores``: float64 ``(len(inputs.rows),)``, in row
    order) with their results, overlap counts, optional bootstrap intervals and score
    file; returns the results ``(eval_set, eval_group, metric, value)``."""
    run, rows, name = inputs.run, inputs.rows, inputs.name
    data = Path(run.run_dir) / "data"
    train_ids = snapshot.read_set(data, "train")["utt_id"].tolist() \
        if snapshot.has_snapshot(data) else None
    results = store_eval_set(catalog, run.run_id, name, rows.assign(score=scores),
                             run.run_dir, train_ids)
    if bootstrap > 0:
        from curate.train.bootstrap import interval_results

        intervals = interval_results(rows.assign(score=scores), bootstrap,
                                     by="speaker" if by_speaker else None
                                     ).assign(run_id=run.run_id, eval_set=name)
        with catalog_session(catalog) as session, session.transaction() as con:
            con.register("_results", intervals)
            con.execute(sql.INSERT_RESULTS)
            con.unregister("_results")
        results = pd.concat([results, intervals], ignore_index=True)
    return results[["eval_set", "eval_group", "metric", "value"]]


def evaluate_run(catalog: Catalog | CatalogRef, run_id: str, selection: str,
                 split: str | None = "test", *, run_dir: Path | str | None = None,
                 device: str | None = None, batch_size: int | None = None,
                 skip_unavailable: bool = False, bootstrap: int = 0,
                 by_speaker: bool = False) -> pd.DataFrame:
    """Score a selection (split) with a run's model; store scores, results, a score file.

    With ``bootstrap`` > 0 the 95 % bootstrap intervals of EER and minDCF over that many
    resamples (seed 0; whole speakers with ``by_speaker``) are stored too, group ``all``
    (:mod:`curate.train.bootstrap`).

    The catalog is read and written in short sessions (scoring holds no lock when
    ``catalog`` is a :class:`CatalogRef`). Items no longer ``ok`` stop it unless
    ``skip_unavailable``.

    Returns:
        The eval set's results ``(eval_set, eval_group, metric, value)``.
    """
    inputs = eval_inputs(catalog, run_id, selection, split, run_dir=run_dir, device=device,
                         batch_size=batch_size, skip_unavailable=skip_unavailable)
    scores = scores_of(inputs.run.model, inputs.rows, inputs.config, inputs.device,
                       ddp.DistContext())
    return store_run_scores(catalog, inputs, scores, bootstrap=bootstrap,
                            by_speaker=by_speaker)
