"""Bootstrap intervals of a finished run's stored scores, stored with its results.

``curate eval --bootstrap N`` scores a selection anew and stores the intervals with it;
:func:`store_intervals` computes the same intervals (:func:`curate.train.bootstrap.
interval_results`) from the scores a run already holds, so a report can show them for
every eval set of every run without loading a model.
"""

from __future__ import annotations

import pandas as pd

from curate.ablate import sql
from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.train import sql as train_sql
from curate.train.bootstrap import interval_results

__all__ = ["store_intervals"]


def store_intervals(source: Catalog | CatalogRef, run_id: str, eval_set: str,
                    n_resamples: int = 1000, *, seed: int = 0) -> pd.DataFrame:
    """Compute and store the 95 % bootstrap intervals of EER and minDCF of one eval set.

    Args:
        source: the catalog (an open one, or a reference opened for two short sessions).
        run_id: a run with stored scores on ``eval_set``.
        eval_set: the eval set whose trials are resampled (single trials, each class apart).
        n_resamples: bootstrap resamples, >= 1.
        seed: seed of the resampling (the same seed gives the same interval).

    Returns:
        The stored rows ``(run_id, eval_set, eval_group, metric, value)``: group ``all``,
        ``eer_ci_low``, ``eer_ci_high``, ``min_dcf_ci_low``, ``min_dcf_ci_high`` (0-1);
        none when the set lacks a class. Earlier intervals of the set are replaced.
    """
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        scored = catalog.df(train_sql.RUN_SCORES, [run_id, eval_set])
    if scored.empty:
        raise CurateError(f"run {run_id!r} has no scores on eval set {eval_set!r}; score it "
                          "with `curate eval` or name one of the run's eval sets")
    rows = interval_results(scored, n_resamples, seed=seed).assign(run_id=run_id,
                                                                   eval_set=eval_set)
    with catalog_session(source) as catalog, catalog.transaction() as con:
        con.execute(sql.DELETE_INTERVALS, [run_id, eval_set])
        con.register("_results", rows)
        con.execute(train_sql.INSERT_RESULTS)
        con.unregister("_results")
    return rows[["run_id", "eval_set", "eval_group", "metric", "value"]]
