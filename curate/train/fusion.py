"""Linear logistic-regression fusion of several runs' scores.

The member runs' scores on the same trials (inner join on ``utt_id``) are columns of a
matrix ``X`` (n_trials, n_runs); the fused score is the LLR ``X @ weights + offset``,
fitted on one eval set by the prior-weighted logistic regression of
:func:`curate.train.calibration.fit_logistic` at the ASVspoof 5 operating point, and
applied to every other eval set all members share. The fused system is a run of its
own (status ``finished``, config naming the members, the fit set and the weights), its
scores and results stored by the same function as a trained run's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.train import sql
from curate.train.calibration import effective_prior, fit_logistic

__all__ = ["FusionOutcome", "join_scores", "fit_fusion", "fusion_run_id", "fuse_runs"]


def join_scores(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Trials scored by every member: ``utt_id``, the first frame's other columns but
    ``score``, and ``score_0 .. score_{k-1}``; rows ordered by ``utt_id``.

    Args:
        frames: one per member, each with ``utt_id`` and ``score`` (one row per trial).
    """
    joined = frames[0].rename(columns={"score": "score_0"})
    for i, frame in enumerate(frames[1:], start=1):
        joined = joined.merge(frame[["utt_id", "score"]].rename(columns={"score": f"score_{i}"}),
                              on="utt_id", how="inner")
    return joined.sort_values("utt_id", kind="stable").reset_index(drop=True)


def fit_fusion(matrix: np.ndarray, is_bonafide: np.ndarray, *, p_spoof: float = 0.05,
               c_miss: float = 1.0, c_fa: float = 10.0) -> tuple[np.ndarray, float]:
    """Fusion weights (n_runs,) and offset: ``matrix @ weights + offset`` is an LLR.

    Args:
        matrix: member scores, shape (n_trials, n_runs).
        is_bonafide: shape (n_trials,), True for bonafide trials.
        p_spoof, c_miss, c_fa: the operating point whose effective prior weights the fit.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    is_bonafide = np.asarray(is_bonafide, dtype=bool)
    return fit_logistic(matrix[is_bonafide], matrix[~is_bonafide],
                        effective_prior(p_spoof, c_miss, c_fa))


def fusion_run_id(name: str, run_ids: list[str], on: str) -> str:
    """``NAME-hash`` of the members (in order) and the fit set."""
    blob = json.dumps({"members": list(run_ids), "on": on})
    return f"{name}-{hashlib.blake2b(blob.encode(), digest_size=5).hexdigest()}"


@dataclass(frozen=True)
class FusionOutcome:
    run_id: str
    weights: dict[str, float]
    offset: float
    results: pd.DataFrame  # (eval_set, eval_group, metric, value) of the fused run


def _member_scores(catalog: Catalog, run_id: str, eval_set: str) -> pd.DataFrame:
    return catalog.df(sql.RUN_SCORES, [run_id, eval_set])


def fuse_runs(source: Catalog | CatalogRef, run_ids: list[str], on: str, *,
              name: str | None = None) -> FusionOutcome:
    """Fuse ``run_ids`` trained on eval set ``on``; store the fused run; its results.

    Every eval set that all members have scores for is fused and stored (scores,
    results per group) under the new run, which replaces an earlier fusion of the same
    members and set.
    """
    from curate.train.run import store_eval_set, code_version

    if len(run_ids) < 2:
        raise CurateError(f"curate fuse needs at least two runs, got {len(run_ids)}; "
                          "name two or more RUN ids")
    if len(set(run_ids)) != len(run_ids):
        raise CurateError(f"curate fuse got a run twice ({', '.join(run_ids)}); name each "
                          "RUN once")
    name = name or "fusion"
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        shared: set[str] | None = None
        for run_id in run_ids:
            if catalog.execute(sql.RUN_ROW, [run_id]).fetchone() is None:
                raise CurateError(f"RUN: no run {run_id!r} in {catalog.path}; list runs with "
                                  "`SELECT run_id, status FROM runs`")
            sets = {r[0] for r in catalog.execute(sql.RUN_EVAL_SETS, [run_id]).fetchall()}
            if on not in sets:
                raise CurateError(f"--on: run {run_id!r} has no scores on eval set {on!r} "
                                  f"(it has {', '.join(sorted(sets)) or 'none'}); score it "
                                  "with `curate eval` or fit on a set every run has")
            shared = sets if shared is None else shared & sets
        frames = {s: join_scores([_member_scores(catalog, r, s) for r in run_ids])
                  for s in sorted(shared or ())}
    train = frames[on]
    is_bona = (train["label"] == "bonafide").to_numpy()
    if train.empty or is_bona.all() or not is_bona.any():
        raise CurateError(f"--on: the runs share no trials of both classes on eval set "
                          f"{on!r} ({int(is_bona.sum())} bonafide, {int((~is_bona).sum())} "
                          "spoof); fit on a set all runs scored")
    columns = [f"score_{i}" for i in range(len(run_ids))]
    weights, offset = fit_fusion(train[columns].to_numpy(), is_bona)
    run_id = fusion_run_id(name, run_ids, on)
    config = {"kind": "fusion", "members": list(run_ids), "on": on,
              "weights": {r: float(w) for r, w in zip(run_ids, weights)},
              "offset": float(offset), "eval_sets": sorted(frames)}
    with catalog_session(source) as catalog, catalog.transaction() as con:
        con.execute(sql.DELETE_RUN_OUTPUTS_SCORES, [run_id])
        con.execute(sql.DELETE_RUN_OUTPUTS_RESULTS, [run_id])
        con.execute(sql.DELETE_RUN, [run_id])
        con.execute(sql.INSERT_FINISHED_RUN, [run_id, name, json.dumps(config),
                                              code_version()])
    parts = []
    for eval_set, frame in frames.items():
        if frame.empty:
            continue
        fused = frame.drop(columns=columns).assign(
            score=frame[columns].to_numpy() @ weights + offset)
        parts.append(store_eval_set(source, run_id, eval_set, fused, None)
                     [["eval_set", "eval_group", "metric", "value"]])
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["eval_set", "eval_group", "metric", "value"])
    return FusionOutcome(run_id, config["weights"], float(offset), results)
