"""After the demo's ablation: every run's unseen-vocoder set, bootstrap intervals and
calibration, computed from the scores the runs stored (no model is loaded, nothing is
trained, the results table of the demo stays as it is).

For each finished run of the ablation:

1. ``test_unseen`` (:data:`UNSEEN_SET`): the test set's bonafide trials against the
   spoofs of the LPC vocoder that training never saw (:data:`UNSEEN`), stored as an eval
   set of its own with the run's test scores: its EER, minDCF, actDCF, Cllr and its
   training-overlap restriction (:mod:`curate.train.overlap`);
2. 95 % bootstrap intervals of EER and minDCF on ``test`` and ``test_unseen``
   (:func:`curate.ablate.intervals.store_intervals`, :data:`RESAMPLES` resamples, seed 0);
3. a score calibration fitted on ``dev`` (:data:`CALIBRATE_ON`) and applied to ``test``
   and ``test_unseen``: actDCF and Cllr before and after, minCllr
   (:func:`curate.train.calibration.calibrate_run`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from curate.ablate.intervals import store_intervals
from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.demo import sql
from curate.train import snapshot
from curate.train import sql as train_sql
from curate.train.calibration import calibrate_run
from curate.train.run import store_eval_set

__all__ = ["UNSEEN", "UNSEEN_SET", "CALIBRATE_ON", "INTERVAL_SETS", "RESAMPLES",
           "unseen_rows", "evaluate_demo_runs"]

UNSEEN = {"demo_la": "A02", "demo_multi": "lpc"}  # the LPC vocoder never seen in training
UNSEEN_SET = "test_unseen"
CALIBRATE_ON = "dev"
INTERVAL_SETS = ("test", UNSEEN_SET)
RESAMPLES = 1000


def unseen_rows(scored: pd.DataFrame) -> pd.DataFrame:
    """The bonafide rows and the spoofs of the unseen vocoder of a scored test set.

    Args:
        scored: one row per utterance with ``label`` and ``generator`` (namespaced ids).

    Returns:
        The kept rows, in their order, index reset.
    """
    unseen = [f"{corpus}:{generator}" for corpus, generator in UNSEEN.items()]
    keep = (scored["label"] == "bonafide") | scored["generator"].isin(unseen)
    return scored[keep].reset_index(drop=True)


def evaluate_demo_runs(source: Catalog | CatalogRef, ablation: str, *,
                       resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Steps 1-3 of the module doc for every finished run of ``ablation``.

    Returns:
        One row per run and eval set of the calibration (``calibrate_run``'s table with
        ``run_id`` and ``cell`` in front).
    """
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        runs = catalog.df(sql.FINISHED_ABLATION_RUNS, [ablation])
    tables = []
    for run in runs.itertuples(index=False):
        stored_dir = json.loads(run.config).get("run_dir")
        run_dir = Path(stored_dir) if stored_dir and Path(stored_dir).is_dir() else None
        with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
            test = catalog.df(train_sql.RUN_SCORES, [run.run_id, "test"])
        data = run_dir / "data" if run_dir is not None else None
        train_ids = (snapshot.read_set(data, "train")["utt_id"].tolist()
                     if data is not None and snapshot.has_snapshot(data) else None)
        store_eval_set(source, run.run_id, UNSEEN_SET, unseen_rows(test), run_dir, train_ids)
        for eval_set in INTERVAL_SETS:
            store_intervals(source, run.run_id, eval_set, resamples, seed=seed)
        table = calibrate_run(source, run.run_id, CALIBRATE_ON, list(INTERVAL_SETS))
        tables.append(table.assign(run_id=run.run_id, cell=run.cell))
    if not tables:
        return pd.DataFrame(columns=["run_id", "cell", "eval_set", "fitted_on"])
    out = pd.concat(tables, ignore_index=True)
    return out[["run_id", "cell", *[c for c in out.columns if c not in ("run_id", "cell")]]]
