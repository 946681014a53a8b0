"""Optimiser, learning-rate schedule, class weights and the device of a run."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from curate.train import distributed as ddp
from curate.train.loop.config import TrainConfig
from curate.train.sam import SAM


def resolve_device(device: str | torch.device, ctx: ddp.DistContext | None = None
                   ) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else -> ``torch.device``.
    Under DDP a CUDA device becomes ``cuda:LOCAL_RANK``."""
    if isinstance(device, str) and device == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(dev)!r} requested but CUDA is not available; use 'cpu' or 'auto'"
        )
    if dev.type == "cuda" and ctx is not None and ctx.active:
        dev = torch.device("cuda", ctx.local_rank)
    return dev


def lr_at(
    step: int,
    *,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.0,
    schedule: str = "cosine",
) -> float:
    """Learning rate of 0-based ``step``: linear warm-up, then the decay ``schedule``.

    Warm-up rises linearly to ``base_lr`` at step ``warmup_steps - 1``; then
    ``cosine`` / ``linear`` fall from ``base_lr`` towards ``base_lr * min_lr_ratio`` at
    ``total_steps``, and ``constant`` stays at ``base_lr``.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    min_lr = base_lr * min_lr_ratio
    if schedule == "linear":
        return base_lr - (base_lr - min_lr) * progress
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def class_weights(labels: Sequence[int], num_classes: int = 2) -> torch.Tensor:
    """Inverse-frequency class weights ``n / (num_classes * count_c)``, (num_classes,).

    Balanced labels give all ones. ValueError if a class has no items.
    """
    counts = torch.bincount(
        torch.as_tensor(np.asarray(labels), dtype=torch.int64), minlength=num_classes
    )
    if (counts == 0).any():
        missing = [c for c in range(num_classes) if counts[c] == 0]
        raise ValueError(
            f"labels has no items of class(es) {missing}; class weights need every class"
        )
    return counts.sum() / (num_classes * counts.to(torch.float32))


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``config`` (wrapped in :class:`SAM` when ``config.sam``); biases
    and normalisation parameters get no weight decay."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "adamw":
        cls, kwargs = torch.optim.AdamW, {"lr": config.lr}
    elif config.optimizer == "adam":
        cls, kwargs = torch.optim.Adam, {"lr": config.lr}
    else:
        cls, kwargs = torch.optim.SGD, {"lr": config.lr, "momentum": config.momentum,
                                        "nesterov": config.momentum > 0}
    if config.sam:
        return SAM(groups, cls, rho=config.sam_rho, adaptive=config.sam_adaptive, **kwargs)
    return cls(groups, **kwargs)
