"""Scoring an eval set's rows with a model: from their audio files (:func:`scores_of`)
or, for an eval set the run's shards hold, from the shards (:func:`shard_scores`); under
DDP the ranks share the work and every rank returns all scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from curate.shard.index import load_folder
from curate.threads import torch_threads
from curate.train import distributed as ddp
from curate.train import snapshot
from curate.train.data import (CropStage, ShardEvalStream, ShardSource, check_finite,
                               collate_eval)
from curate.train.loop import TrainConfig, resolve_device, score_shared
from curate.train.models import bonafide_score

__all__ = ["scores_of", "shard_scores", "shard_eval_splits"]


def scores_of(model: Any, rows: pd.DataFrame, config: TrainConfig, device: str,
               ctx: ddp.DistContext) -> np.ndarray:
    """Scores of ``rows`` in order; under DDP the ranks share the work."""
    durations = rows["duration_s"].to_numpy(dtype=np.float64) if "duration_s" in rows else None
    return score_shared(model, rows["abspath"].tolist(), config, resolve_device(device),
                        durations, ctx)


@torch.no_grad()
def shard_scores(model: Any, rows: pd.DataFrame, config: TrainConfig, device: str,
                  ctx: ddp.DistContext, split: str) -> np.ndarray:
    """Scores of ``rows`` (an eval set that is a split of the run's shards) in order, read
    from the shards (each rank its share of them), with the run's eval settings; rows
    the shards lack (unreadable when they were written) are scored from their files."""
    dev = resolve_device(device)
    stream = ShardEvalStream(ShardSource.open(config.shards, split),
                             CropStage(config.sample_rate, config.eval_max_seconds, False),
                             ctx.rank, ctx.world)
    loader = torch.utils.data.DataLoader(
        stream, batch_size=config.eval_batch_size, collate_fn=collate_eval,
        num_workers=config.num_workers, pin_memory=dev.type == "cuda",
        generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16,
                              enabled=config.precision == "bf16")
    was_training = model.training
    model.to(dev).eval()
    ids: list[str] = []
    values: list[np.ndarray] = []
    try:
        with torch_threads(config.threads or None):
            for x, lengths, utt_ids in loader:
                check_finite(x, lambda row, u=utt_ids: f"utt_id {u[row]!r}", what="scored")
                with autocast:
                    logits = model(x.to(dev, non_blocking=True),
                                   lengths.to(dev, non_blocking=True))
                values.append(bonafide_score(logits.float()).double().cpu().numpy())
                ids += utt_ids
    finally:
        model.train(was_training)
    by_id: dict[str, float] = {}
    for part_ids, part in ddp.gather_objects((ids, np.concatenate(values) if values
                                              else np.zeros(0)), ctx):
        by_id.update(zip(part_ids, part.tolist()))
    scores = rows["utt_id"].map(by_id).to_numpy(dtype=np.float64)
    missing = np.isnan(scores)
    if missing.any():  # every rank has the same rows and scores: the same call
        scores[missing] = scores_of(model, rows[missing], config, device, ctx)
    return scores


def shard_eval_splits(shards: str, data: Path) -> dict[str, str]:
    """Eval set name -> the split of the run's shards (``data.shards``) it is, for the
    eval sets of the run's snapshot ``data`` that the shards hold (their selection, a
    split they hold); empty for a run on files (``shards`` empty)."""
    if not shards:
        return {}
    folder = load_folder(shards)
    return {e["name"]: e["split"] for e in snapshot.read_manifest(data)["sets"]
            if e["name"].startswith("eval:") and e["selection"] == folder.selection
            and e["split"] in folder.manifest["splits"]}
