"""Batch scoring: one detection score per path (higher = more bonafide), in input order;
the dev EER during training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from curate.threads import torch_threads
from curate.train import distributed as ddp
from curate.train.data import CropDataset, PathType, TrainData, check_finite, collate
from curate.train.loop.config import TrainConfig
from curate.train.loop.optim import resolve_device
from curate.train.models import bonafide_score


def score_shared(model: nn.Module, paths: Sequence[PathType], config: TrainConfig,
                 device: torch.device, durations: Sequence[float] | None = None,
                 ctx: ddp.DistContext | None = None) -> np.ndarray:
    """Scores of ``paths`` in order, the work shared by the ranks of a DDP run.

    Each rank scores every ``world``-th path (from its rank on) with the run's eval
    settings (``eval_max_seconds``, ``eval_batch_size``, ``num_workers``, ``precision``);
    the shares are gathered so every rank returns all scores. Without DDP it is
    :func:`score` with those settings.
    """
    ctx = ctx or ddp.context()
    index = np.arange(ctx.rank, len(paths), ctx.world)
    d = None if durations is None else np.asarray(durations, dtype=np.float64)[index]
    with torch_threads(config.threads or None):
        part = score(model, [paths[i] for i in index], sample_rate=config.sample_rate,
                     max_seconds=config.eval_max_seconds, batch_size=config.eval_batch_size,
                     device=device, num_workers=config.num_workers,
                     precision=config.precision, durations=d)
    out = np.empty(len(paths), dtype=np.float64)
    for idx, values in ddp.gather_objects((index, part), ctx):
        out[idx] = values
    return out


def score_dev_eer(model: nn.Module, dev: TrainData, config: TrainConfig,
                  device: torch.device, ctx: ddp.DistContext | None = None) -> float:
    """The dev set's EER (0-1), scored by every rank in shares (see :func:`score_shared`);
    every rank must call it."""
    from curate.train.metrics import compute_eer

    labels = dev.labels
    if (labels == 1).sum() == 0 or (labels == 0).sum() == 0:
        raise ValueError("the dev data needs both bonafide and spoof items to compute an EER")
    scores = score_shared(model, dev.paths, config, device, dev.durations, ctx)
    eer, _ = compute_eer(scores[labels == 1], scores[labels == 0])
    return float(eer)


@torch.no_grad()
def score(
    model: nn.Module,
    paths: Sequence[PathType],
    *,
    sample_rate: int = 16000,
    max_seconds: float | None = 8.0,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    durations: Sequence[float] | None = None,
    precision: str = "fp32",
) -> np.ndarray:
    """Detection scores (higher = more bonafide), one per path, in input order.

    Each file is read from its start up to ``max_seconds`` (None: whole file),
    resampled to ``sample_rate``; clips of a batch are zero-padded and masked, so a
    clip's score does not depend on its batch mates.

    Args:
        model: detector returning (batch, 2) logits, index 1 = bonafide.
        paths: audio files.
        sample_rate: the model's sample rate, in Hz.
        max_seconds: maximum audio per file, in seconds.
        batch_size: files per forward pass.
        device: where to run ("auto", "cpu", "cuda", ...); None: where the model's
            parameters are. The model is moved there.
        num_workers: DataLoader worker processes for decoding.
        durations: seconds per file, when known: batches then hold files of similar
            length (less padding); the result is the same.
        precision: "fp32" or "bf16" (autocast).

    Returns:
        float64 array of shape (len(paths),): ``logit_bonafide - logit_spoof``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(paths) == 0:
        return np.zeros(0, dtype=np.float64)
    if device is None:
        first = next(model.parameters(), None)
        dev = first.device if first is not None else torch.device("cpu")
    else:
        dev = resolve_device(device)
    order = np.arange(len(paths))
    if durations is not None and len(durations) == len(paths):
        d = np.asarray(durations, dtype=np.float64)
        if np.isfinite(d).all():
            order = np.argsort(d, kind="stable")
    dataset = CropDataset(
        paths, None, sample_rate=sample_rate, seconds=max_seconds, train=False
    )
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, order.tolist()),
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
        generator=torch.Generator().manual_seed(0),  # leaves the global RNG alone
    )
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    was_training = model.training
    model.to(dev).eval()
    out = []
    done = 0
    try:
        for x, lengths, _ in loader:
            check_finite(x, lambda row, start=done: str(paths[int(order[start + row])]),
                         what="scored")
            done += x.shape[0]
            with autocast:
                logits = model(x.to(dev, non_blocking=True), lengths.to(dev, non_blocking=True))
            out.append(bonafide_score(logits.float()).double().cpu())
    finally:
        model.train(was_training)
    result = np.empty(len(paths), dtype=np.float64)
    result[order] = torch.cat(out).numpy()
    return result
