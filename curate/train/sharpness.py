"""m-sharpness of a trained detector, per eval set and group, and its correlation with EER.

For each mini-batch B of m utterances (Huang et al., Interspeech 2025, after Foret et
al.), with the model in eval mode and the training criterion L (cross-entropy, the
run's class weights)::

    g = grad L_B(w)
    e = rho * g / ||g||                      (adaptive: rho * T_w^2 g / ||T_w g||, T_w = |w|)
    sharpness_B = L_B(w + e) - L_B(w)

averaged over the batches. The batches are a seeded shuffle of the eval set (or group)
cut into batches of m; ``batches`` caps how many are used. The weights are restored
exactly after each batch. Results go to ``results`` as metric ``sharpness`` with
``sharpness_rho``, ``sharpness_m`` and ``sharpness_batches`` beside it, per eval set
and group (the groups of :func:`curate.train.evaluate.group_masks`, one class allowed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from curate.train.data import CropDataset, PathType, collate
from curate.train.evaluate import GROUPS, group_masks

__all__ = ["SharpnessResult", "m_sharpness", "sharpness_by_group", "sharpness_run",
           "correlate"]


@dataclass(frozen=True)
class SharpnessResult:
    """Mean m-sharpness and what it was computed with."""

    value: float
    per_batch: np.ndarray
    loss: float  # mean L_B(w) over the batches
    rho: float
    m: int
    batches: int
    adaptive: bool


def _batches(n: int, m: int, limit: int | None, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(np.random.SeedSequence([seed, n])).permutation(n)
    if n < m:
        return [order]
    cut = [order[i : i + m] for i in range(0, n - m + 1, m)]  # full batches only
    return cut if limit is None else cut[:limit]


def m_sharpness(
    model: nn.Module,
    paths: Sequence[PathType],
    labels: Sequence[Any],
    *,
    rho: float = 0.05,
    m: int = 32,
    batches: int | None = 20,
    adaptive: bool = False,
    seed: int = 0,
    sample_rate: int = 16000,
    max_seconds: float | None = 8.0,
    class_weights: Sequence[float] | None = None,
    device: str | torch.device | None = None,
    precision: str = "fp32",
) -> SharpnessResult:
    """m-sharpness of ``model`` on labelled audio (see the module doc).

    Args:
        model: the detector ((batch, time), lengths -> (batch, 2) logits).
        paths, labels: the utterances (labels 1/'bonafide', 0/'spoof').
        rho: radius of the perturbation.
        m: utterances per mini-batch.
        batches: at most this many mini-batches (None: all full ones).
        adaptive: the ASAM perturbation.
        seed: the batches' shuffle.
        sample_rate, max_seconds: as in scoring (clips from the start, padded, masked).
        class_weights: the training criterion's class weights (None: unweighted).
        device: where to compute (None: where the model is).
        precision: "fp32" or "bf16".
    """
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if batches is not None and batches < 1:
        raise ValueError(f"batches must be >= 1 or None, got {batches}")
    if len(paths) == 0:
        raise ValueError("paths is empty; sharpness needs labelled audio")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    dataset = CropDataset(paths, labels, sample_rate=sample_rate, seconds=max_seconds,
                          train=False)
    weight = None if class_weights is None else torch.tensor(list(class_weights),
                                                             dtype=torch.float32, device=dev)
    params = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    model.to(dev).eval()
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def loss_of(x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast:
            logits = model(x, lengths)
        return F.cross_entropy(logits.float(), y, weight=weight)

    values, losses = [], []
    try:
        for index in _batches(len(dataset), m, batches, seed):
            x, lengths, y = collate([dataset[int(i)] for i in index])
            x, lengths, y = x.to(dev), lengths.to(dev), y.to(dev)
            loss = loss_of(x, lengths, y)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            pairs = [(p, g) for p, g in zip(params, grads) if g is not None]
            with torch.no_grad():
                scaled = [g * p.abs() if adaptive else g for p, g in pairs]
                norm = torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
                saved = [p.detach().clone() for p, _ in pairs]
                scale = rho / (norm + 1e-12)
                for p, g in pairs:
                    p.add_((p * p * g if adaptive else g) * scale)
                perturbed = loss_of(x, lengths, y)
                for (p, _), old in zip(pairs, saved):
                    p.copy_(old)
            values.append(float(perturbed - loss.detach()))
            losses.append(float(loss.detach()))
    finally:
        model.train(was_training)
    per_batch = np.asarray(values, dtype=np.float64)
    return SharpnessResult(float(per_batch.mean()), per_batch, float(np.mean(losses)),
                           float(rho), int(m), len(per_batch), bool(adaptive))


def sharpness_by_group(model: nn.Module, rows: pd.DataFrame, *, groups: tuple[str, ...] = GROUPS,
                       **kwargs: Any) -> pd.DataFrame:
    """m-sharpness of every group of an eval set (rows with ``abspath``, ``label`` and
    group columns) -> rows ``(eval_group, metric, value)``."""
    out = []
    for name, mask in group_masks(rows, groups, both_classes=False):
        part = rows[mask]
        result = m_sharpness(model, part["abspath"].tolist(), part["label"].tolist(), **kwargs)
        out += [(name, "sharpness", result.value), (name, "sharpness_rho", result.rho),
                (name, "sharpness_m", float(result.m)),
                (name, "sharpness_batches", float(result.batches)),
                (name, "sharpness_loss", result.loss)]
    return pd.DataFrame(out, columns=["eval_group", "metric", "value"])


def sharpness_run(catalog: Any, run_id: str, selection: str, split: str | None = "test", *,
                  rho: float = 0.05, m: int = 32, batches: int | None = 20,
                  adaptive: bool = False, seed: int = 0, run_dir: Any = None,
                  device: str | None = None, groups: tuple[str, ...] = GROUPS,
                  skip_unavailable: bool = False) -> pd.DataFrame:
    """m-sharpness of a run's model on a selection (split), per group; stored in
    ``results`` (earlier sharpness rows of that eval set replaced).

    ``catalog`` is an open catalog or a :class:`curate.catalog.db.CatalogRef` (then
    opened only to read the rows and to store the results). Items no longer ``ok``
    stop it unless ``skip_unavailable``."""
    from curate.catalog.db import catalog_session
    from curate.train import sql
    from curate.train.eval_run import eval_inputs

    inputs = eval_inputs(catalog, run_id, selection, split, run_dir=run_dir,
                         skip_unavailable=skip_unavailable)
    run, rows, name, config = inputs.run, inputs.rows, inputs.name, inputs.config
    dev = device or ("cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu")
    table = sharpness_by_group(
        run.model, rows, groups=groups, rho=rho, m=m, batches=batches, adaptive=adaptive,
        seed=seed, sample_rate=config.sample_rate, max_seconds=config.eval_max_seconds,
        class_weights=run.class_weights, device=dev, precision=config.precision)
    table = table.assign(run_id=run_id, eval_set=name)
    if adaptive:
        table = pd.concat([table, pd.DataFrame({"eval_group": table["eval_group"].unique(),
                                                "metric": "sharpness_adaptive", "value": 1.0,
                                                "run_id": run_id, "eval_set": name})])
    with catalog_session(catalog) as session, session.transaction() as con:
        con.execute(sql.DELETE_SHARPNESS, [run_id, name])
        con.register("_results", table)
        con.execute(sql.INSERT_RESULTS)
        con.unregister("_results")
    return table[["eval_set", "eval_group", "metric", "value"]]


def correlate(catalog: Any, *, group: str | None = "all", by_set: bool = False) -> pd.DataFrame:
    """Spearman and Kendall correlation (two-sided p-values) between sharpness and EER
    across runs and eval sets, for one ``eval_group`` (None: every group).

    Returns:
        Rows ``scope, n, spearman, spearman_p, kendall, kendall_p``: scope ``all`` (every
        run and eval set), plus one row per eval set (across runs) with ``by_set``.
    """
    from curate.train.metrics import correlation
    from curate.train import sql

    pairs = catalog.df(sql.SHARPNESS_VS_EER, [group, group])
    rows = [{"scope": "all", **correlation(pairs["sharpness"], pairs["eer"])}]
    if by_set:
        for eval_set, part in pairs.groupby("eval_set", sort=True):
            rows.append({"scope": str(eval_set), **correlation(part["sharpness"], part["eer"])})
    frame = pd.DataFrame(rows)
    frame["n"] = frame["n"].astype(int)
    return frame
