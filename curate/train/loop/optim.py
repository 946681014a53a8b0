"""Optimiser, learning-rate schedule, class weights and the device of a run."""

from __future__ import annotations

import math
import re
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


BACKBONE_PREFIX = "backbone."
_LAYER_RE = re.compile(r"^backbone\.encoder\.transformer\.layers\.(\d+)\.")


def _backbone_depth(model: nn.Module) -> tuple[int, bool]:
    """``(L, final_norm_last)``: the backbone's transformer layers, and whether its
    ``transformer.layer_norm`` runs after them (pre-norm stacks) rather than before."""
    transformer = getattr(getattr(getattr(model, "backbone", None), "encoder", None),
                          "transformer", None)
    if transformer is None:
        return 0, False
    return len(transformer.layers), not getattr(transformer, "layer_norm_first", True)


def lr_scale_of(name: str, config: TrainConfig, depth: int, final_norm_last: bool) -> float:
    """The multiplier of the scheduled rate for parameter ``name`` (see
    :class:`TrainConfig`: ``backbone_lr_scale``, ``head_lr_scale``, ``layer_decay``)."""
    if not name.startswith(BACKBONE_PREFIX):
        return config.head_lr_scale
    match = _LAYER_RE.match(name)
    if match:
        layer = int(match.group(1)) + 1
    elif name.startswith("backbone.encoder.transformer.layer_norm.") and final_norm_last:
        layer = depth + 1
    else:  # feature extractor, feature projection, positional embedding, input norm
        layer = 0
    return config.backbone_lr_scale * config.layer_decay ** (depth + 1 - layer)


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """Optimizer parameter groups: by learning-rate scale and by weight decay (biases and
    normalisation parameters get none). Each group carries ``lr_scale`` (the schedule
    multiplies it) and ``part`` (``backbone`` or ``head``)."""
    depth, final_norm_last = _backbone_depth(model)
    groups: dict[tuple[str, float, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "backbone" if name.startswith(BACKBONE_PREFIX) else "head"
        scale = lr_scale_of(name, config, depth, final_norm_last)
        for decays in (True, False):  # the decaying group of a (part, scale) comes first
            groups.setdefault((part, scale, decays), {
                "params": [], "weight_decay": config.weight_decay if decays else 0.0,
                "lr_scale": scale, "part": part})
        groups[(part, scale, param.ndim >= 2)]["params"].append(param)
    return [g for g in groups.values() if g["params"]]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``config`` (wrapped in :class:`SAM` when ``config.sam``) over
    :func:`parameter_groups`; set each group's rate as ``lr * group["lr_scale"]``."""
    groups = parameter_groups(model, config)
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
