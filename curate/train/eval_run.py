"""After a run: load its model (:func:`load_run`) and score a selection with it
(:func:`evaluate_run`), storing scores, results and a score file like the run's own
eval sets (:mod:`curate.train.run`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.train import distributed as ddp
from curate.train import snapshot, sql
from curate.train.loop import TrainConfig, load_checkpoint
from curate.train.run import (check_split, eval_set_name, scores_of, selection_items,
                              store_eval_set)

__all__ = ["LoadedRun", "load_run", "evaluate_run"]


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
    scores = scores_of(run.model, rows, config, device or config.device, ddp.DistContext())
    data = Path(run.run_dir) / "data"
    train_ids = snapshot.read_set(data, "train")["utt_id"].tolist() \
        if snapshot.has_snapshot(data) else None
    results = store_eval_set(catalog, run_id, name, rows.assign(score=scores), run.run_dir,
                              train_ids)
    if bootstrap > 0:
        from curate.train.bootstrap import interval_results

        intervals = interval_results(rows.assign(score=scores), bootstrap,
                                     by="speaker" if by_speaker else None
                                     ).assign(run_id=run_id, eval_set=name)
        with catalog_session(catalog) as session, session.transaction() as con:
            con.register("_results", intervals)
            con.execute(sql.INSERT_RESULTS)
            con.unregister("_results")
        results = pd.concat([results, intervals], ignore_index=True)
    return results[["eval_set", "eval_group", "metric", "value"]]
