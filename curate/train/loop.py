"""The training loop, batch scoring and checkpoints.

``train(config, paths, labels)`` is one readable loop: seeded sampler -> crops (and the
augmentation chain's CPU stage) -> device stage -> model -> cross-entropy -> optimizer
(plain, or SAM / ASAM around it) with warm-up then decay. It never touches the caller's
global RNG state: model initialisation and dropout run under forked, locally seeded
RNGs, and data order, crops and augmentation come from their own seeds, so the same
config gives the same weights.

Resuming: a checkpoint holds the model, the optimizer (SAM's included), the RNG
states (python, numpy, torch, CUDA, per rank), the step (which fixes the sampler's
position and the learning rate) and the dev history; ``train(..., resume=True)``
continues bit for bit where it stopped.

DDP: under ``torchrun`` (or an initialised process group) each rank takes its share of
every global batch; the loss is normalised by the global batch so the averaged
gradients equal single-process training on the same global batch.

``score(model, paths)`` returns one detection score per path (higher = more
bonafide), in input order. Checkpoints are plain dicts (tensors, numbers, strings)
that load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from curate.errors import CurateError
from curate.train import distributed as ddp
from curate.train.data import (
    REGIMES,
    SAMPLERS,
    Batch,
    CropDataset,
    DynamicBatchSampler,
    EpochBatchSampler,
    EpochPlan,
    PathType,
    ShardedBatchSampler,
    TrainData,
    check_finite,
    collate,
    derive_seed,
)
from curate.train.models import MODELS, bonafide_score, build_model, model_arguments, \
    restore_kwargs
from curate.train.sam import SAM, frozen_batchnorm_stats

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "PRECISIONS",
    "TrainConfig",
    "TrainResult",
    "DivergedError",
    "resolve_device",
    "lr_at",
    "class_weights",
    "build_optimizer",
    "train",
    "score",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16")
SELECT = ("last", "best")
CHECKPOINT_FORMAT = "curate.checkpoint"
CHECKPOINT_VERSION = 2

ProgressFn = Callable[[int, int, float], None]
AugmentLogFn = Callable[[int, Any], None]


class DivergedError(CurateError, FloatingPointError):
    """The training loss became NaN or inf although the input audio was finite (each
    batch is checked): the settings made training diverge."""


# --------------------------------------------------------------------------- config


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the data).

    Model and data:
        model: registered model name (see ``curate.train.models.MODELS``).
        model_kwargs: keyword arguments of the model factory (not ``sample_rate``).
        sample_rate: sample rate the model sees, in Hz; audio is resampled to it.
        regime: "fixed" (random crops of ``crop_seconds``, short clips tiled) or
            "long" (random ``long_min_seconds``-``long_max_seconds`` crops of longer
            utterances, shorter ones whole).
        crop_seconds: crop length of the fixed regime, seconds.
        long_min_seconds, long_max_seconds: crop length range of the long regime.
        sampler: "natural", "balanced" (classes oversampled to the largest),
            "temperature" (groups of ``sampler_by`` drawn ~ n_g^(1/temperature)) or
            "weighted" (by the selection's item weights).
        sampler_by: the group column of the temperature sampler (corpus, language ...).
        temperature: the temperature sampler's T.
        class_weighting: weight the cross-entropy by inverse class frequency.
        augment: augmentation chain file (its CPU stage runs per utterance in the
            loader workers, its device stage per batch on the device), or None.
        log_augmentation: report the applied steps (``augment_log`` of ``train``).

    Batching and length of training:
        batch_size: utterances per micro-batch (fixed batching).
        max_batch_seconds: dynamic batching: padded seconds per micro-batch, items in
            ``buckets`` length buckets (None: fixed ``batch_size``).
        grad_accum: micro-batches per optimizer step.
        steps: optimizer steps.
        epochs: when set, the run lasts this many epochs instead (``steps`` ignored).

    Optimisation:
        optimizer: "adamw", "adam" or "sgd" (with Nesterov momentum ``momentum``).
        lr, weight_decay, momentum: base optimizer settings; weight decay is never
            applied to biases and normalisation parameters.
        schedule: "cosine", "linear" (decay to ``lr * min_lr_ratio``) or "constant",
            after ``warmup_steps`` of linear warm-up.
        grad_clip: clip the global gradient norm (None: no clipping); with SAM the
            gradient of the second pass (the one the base optimizer uses) is clipped.
        sam, sam_rho, sam_adaptive: Sharpness-Aware Minimization (ASAM when adaptive).
        precision: "fp32" or "bf16" (autocast; no gradient scaler is needed).

    Run:
        seed: seeds model initialisation, dropout, data order, crops and augmentation.
        device: "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".
        num_workers: DataLoader worker processes (0 = decode in the main process).
        checkpoint_every: write ``checkpoints/last.pt`` every this many steps (0: only at
            the end); ``keep_last`` > 1 also keeps that many ``step-N.pt`` copies.
        eval_every: score the dev set every this many steps (0: never); ``keep_best``
            model checkpoints with the lowest dev EER are kept.
        select: the model the run ends with: "last" or "best" (lowest dev EER).
        eval_max_seconds: eval clips are read from the start up to this many seconds
            (None: whole); eval_batch_size: clips per eval forward pass.
        log_every: call ``progress`` every this many steps (and at the last step).
    """

    model: str = "small_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    sample_rate: int = 16000
    regime: str = "fixed"
    crop_seconds: float = 2.0
    long_min_seconds: float = 10.0
    long_max_seconds: float = 13.0
    batch_size: int = 16
    max_batch_seconds: float | None = None
    buckets: int = 10
    grad_accum: int = 1
    steps: int = 200
    epochs: float | None = None
    lr: float = 1e-3
    weight_decay: float = 1e-2
    optimizer: str = "adamw"
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int = 10
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 5.0
    sam: bool = False
    sam_rho: float = 0.05
    sam_adaptive: bool = False
    precision: str = "fp32"
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    sampler: str = "natural"
    sampler_by: str = "corpus"
    temperature: float = 1.0
    class_weighting: bool = False
    augment: str | None = None
    log_augmentation: bool = False
    checkpoint_every: int = 0
    keep_last: int = 1
    eval_every: int = 0
    keep_best: int = 0
    select: str = "last"
    eval_max_seconds: float | None = 8.0
    eval_batch_size: int = 32
    log_every: int = 10

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{name} {why}, got {getattr(self, name)!r}")

        if self.model not in MODELS:
            raise bad("model", f"must be a registered model ({', '.join(sorted(MODELS))})")
        if not isinstance(self.model_kwargs, dict) or not all(
            isinstance(k, str) for k in self.model_kwargs
        ):
            raise bad("model_kwargs", "must be a dict of keyword arguments")
        if "sample_rate" in self.model_kwargs:
            raise bad("model_kwargs", "must not hold sample_rate; set TrainConfig.sample_rate")
        allowed = model_arguments(self.model)
        unknown = sorted(set(self.model_kwargs) - allowed) if allowed is not None else []
        if unknown:
            raise bad("model_kwargs", f"has argument(s) {', '.join(unknown)} that model "
                                      f"{self.model!r} does not take (it takes "
                                      f"{', '.join(sorted(allowed - {'sample_rate'}))})")
        for name in ("sample_rate", "batch_size", "steps", "log_every", "buckets",
                     "grad_accum", "keep_last", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "must be an integer >= 1")
        for name in ("warmup_steps", "num_workers", "seed", "checkpoint_every", "eval_every",
                     "keep_best"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "must be an integer >= 0")
        for name in ("sam", "sam_adaptive", "class_weighting", "log_augmentation"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "must be true or false")
        if not self.crop_seconds > 0:
            raise bad("crop_seconds", "must be > 0 seconds")
        if not 0 < self.long_min_seconds <= self.long_max_seconds:
            raise bad("long_min_seconds", f"must be > 0 and <= long_max_seconds "
                                          f"({self.long_max_seconds})")
        if self.regime not in REGIMES:
            raise bad("regime", f"must be one of {', '.join(REGIMES)}")
        if self.max_batch_seconds is not None and not self.max_batch_seconds > 0:
            raise bad("max_batch_seconds", "must be > 0, or None for fixed batches")
        if self.epochs is not None and not self.epochs > 0:
            raise bad("epochs", "must be > 0, or None to count steps")
        if not self.lr > 0:
            raise bad("lr", "must be > 0")
        if not self.weight_decay >= 0:
            raise bad("weight_decay", "must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "must be in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"must be one of {', '.join(SCHEDULES)}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise bad("min_lr_ratio", "must be in [0, 1]")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise bad("grad_clip", "must be > 0, or None for no clipping")
        if not self.sam_rho > 0:
            raise bad("sam_rho", "must be > 0")
        if self.precision not in PRECISIONS:
            raise bad("precision", f"must be one of {', '.join(PRECISIONS)}")
        if self.sampler not in SAMPLERS:
            raise bad("sampler", f"must be one of {', '.join(SAMPLERS)}")
        if not self.temperature > 0:
            raise bad("temperature", "must be > 0")
        if self.select not in SELECT:
            raise bad("select", f"must be one of {', '.join(SELECT)}")
        if self.select == "best" and (self.eval_every == 0 or self.keep_best == 0):
            raise bad("select", "'best' needs eval_every > 0 and keep_best > 0 (and dev data)")
        if self.eval_max_seconds is not None and not self.eval_max_seconds > 0:
            raise bad("eval_max_seconds", "must be > 0, or None for whole files")
        if self.augment is not None and not isinstance(self.augment, str):
            raise bad("augment", "must be the path of a chain file, or None")
        if self.augment == "":
            self.augment = None
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as exc:
                raise bad("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain-data copy (for checkpoints, run tables and logs)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; ValueError naming any unknown field."""
        data = dict(data)
        if "balanced_sampling" in data:  # the first cut's name for sampler = "balanced"
            if data.pop("balanced_sampling"):
                data["sampler"] = "balanced"
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown TrainConfig field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(known))}"
            )
        return cls(**data)


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        model: the trained model (the best one by dev EER with ``select = "best"``), in
            eval mode, on the training device, unwrapped from DDP.
        losses: training loss of every step (len == steps); with SAM the loss at ``w``.
        steps: optimizer steps taken (those before a resume included).
        config: the config that produced it.
        device: the device trained on, e.g. "cpu".
        elapsed_s: wall-clock seconds of this call's loop (data loading included).
        total_steps: the run's planned steps.
        dev_eer: dev EER by step (``eval_every``).
        best: ``(dev_eer, step)`` of the kept best checkpoints, best first.
        checkpoint_dir: where checkpoints were written (None: nowhere).
        resumed_from: the step the run resumed at (0: a fresh start).
        class_weights: the cross-entropy's class weights (None: unweighted).
    """

    model: nn.Module
    losses: list[float]
    steps: int
    config: TrainConfig
    device: str
    elapsed_s: float
    total_steps: int = 0
    dev_eer: dict[int, float] = field(default_factory=dict)
    best: list[tuple[float, int]] = field(default_factory=list)
    checkpoint_dir: Path | None = None
    resumed_from: int = 0
    class_weights: list[float] | None = None

    @property
    def steps_per_s(self) -> float:
        done = self.steps - self.resumed_from
        return done / self.elapsed_s if self.elapsed_s > 0 else float("inf")


# --------------------------------------------------------------------------- pieces


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


@contextlib.contextmanager
def _local_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block under RNGs seeded with ``seed``; restore the caller's states after.

    Forks the torch CPU generator and, for a CUDA device, that device's generator, and
    saves and restores Python's and numpy's global generators (seeded too, for model
    code that uses them).
    """
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            if cuda:
                with torch.cuda.device(cuda[0]):
                    torch.cuda.manual_seed(seed)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _rng_state(device: torch.device) -> dict[str, Any]:
    """This process's global RNG states as plain data (checkpoint-safe)."""
    version, keys, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    state = {
        "python": [version, list(keys), gauss],
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss),
                  "cached": float(np_cached)},
        "torch": torch.get_rng_state(),
        "cuda": None,
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _check_labels(labels: np.ndarray) -> None:
    if len(labels) == 0:
        raise ValueError("paths is empty; training needs labelled audio files")
    if len(set(labels.tolist())) < 2:
        only = "bonafide" if labels[0] == 1 else "spoof"
        raise ValueError(
            f"labels are all {only}; training a detector needs both bonafide (1) and "
            "spoof (0) items"
        )


def _as_data(paths: Any, labels: Sequence[Any] | None) -> TrainData:
    if isinstance(paths, TrainData):
        return paths
    if labels is None:
        raise ValueError("labels is missing; pass one label per path (or a TrainData)")
    if len(paths) != len(labels):
        raise ValueError(
            f"labels has {len(labels)} entries but paths has {len(paths)}; pass one label per path"
        )
    return TrainData.from_lists(paths, labels)


def _epoch_plan(config: TrainConfig, data: TrainData) -> EpochPlan:
    groups = None
    if config.sampler == "temperature":
        if config.sampler_by == "label":
            groups = data.labels
        elif config.sampler_by in data.groups:
            groups = data.groups[config.sampler_by][0]
        else:
            raise ValueError(f"TrainConfig.sampler_by {config.sampler_by!r} is not a column of "
                             f"the training data (it has {', '.join(sorted(data.groups)) or 'none'}"
                             "; label always works)")
    weights = None
    if config.sampler == "weighted":
        if data.weights is None:
            raise ValueError("TrainConfig.sampler 'weighted' needs item weights (a selection's "
                             "weight column)")
        weights = data.weights
    return EpochPlan(data.labels, seed=config.seed, mode=config.sampler, groups=groups,
                     temperature=config.temperature, weights=weights)


def _batch_sampler(config: TrainConfig, data: TrainData, plan: EpochPlan, world: int,
                   num_batches: int | None, start_batch: int = 0) -> Any:
    """The global micro-batch sampler (every rank builds the same one)."""
    if config.max_batch_seconds is None:
        if config.batch_size % world:
            raise ValueError(f"TrainConfig.batch_size {config.batch_size} must be divisible by "
                             f"the {world} DDP ranks (it is the global micro-batch)")
        return EpochBatchSampler(data.labels, config.batch_size, seed=config.seed,
                                 num_batches=num_batches, start_batch=start_batch, plan=plan)
    if config.regime == "long":
        seconds = np.minimum(data.seconds(), config.long_max_seconds)
    else:
        seconds = np.full(len(data), config.crop_seconds)
    return DynamicBatchSampler(plan, seconds, config.max_batch_seconds, buckets=config.buckets,
                               seed=config.seed, num_batches=num_batches,
                               start_batch=start_batch, min_items=world)


def total_steps(config: TrainConfig, data: TrainData, world: int = 1) -> int:
    """The run's optimizer steps: ``config.steps``, or from ``config.epochs``."""
    if config.epochs is None:
        return config.steps
    plan = _epoch_plan(config, data)
    per_epoch = _batch_sampler(config, data, plan, world, None).batches_per_epoch()
    return max(1, math.ceil(config.epochs * per_epoch / config.grad_accum))


def _load_chain(config: TrainConfig, chain: Any) -> Any:
    if chain is not None or config.augment is None:
        return chain
    from curate.augment.chain import load_chain

    return load_chain(config.augment)


@dataclass
class _Checkpoints:
    """Where and when checkpoints go, and the best-by-dev-EER bookkeeping."""

    folder: Path | None
    keep_last: int
    keep_best: int
    best: list[tuple[float, int]] = field(default_factory=list)

    @property
    def last(self) -> Path | None:
        return None if self.folder is None else self.folder / "last.pt"

    def best_path(self, step: int) -> Path:
        assert self.folder is not None
        return self.folder / f"best-step{step:08d}.pt"

    def add_best(self, eer: float, step: int, model: nn.Module, config: TrainConfig,
                 model_kwargs: dict[str, Any]) -> None:
        if self.folder is None or self.keep_best == 0:
            return
        ranked = sorted(self.best + [(eer, step)])
        if (eer, step) not in ranked[: self.keep_best]:
            return
        save_checkpoint(self.best_path(step), model, config, step, model_kwargs=model_kwargs,
                        extra={"dev_eer": float(eer)})
        for _, old in ranked[self.keep_best:]:
            self.best_path(old).unlink(missing_ok=True)
        self.best = ranked[: self.keep_best]

    def rotate(self, step: int) -> None:
        """Keep ``keep_last - 1`` numbered copies of ``last.pt`` besides it."""
        if self.folder is None or self.keep_last <= 1:
            return
        shutil.copyfile(self.last, self.folder / f"step-{step:08d}.pt")
        numbered = sorted(self.folder.glob("step-*.pt"))
        for old in numbered[: max(0, len(numbered) - (self.keep_last - 1))]:
            old.unlink(missing_ok=True)


class _AugmentRecords:
    """Applied augmentation steps per epoch, flushed to a callback at checkpoints."""

    def __init__(self, sink: AugmentLogFn | None, data: TrainData) -> None:
        self.sink = sink
        self.data = data
        self.rows: dict[int, tuple[list[str], list[list[dict]]]] = {}

    def add(self, batch: Batch, device_rows: list[list[dict]] | None) -> None:
        if self.sink is None:
            return
        for row, (index, epoch) in enumerate(zip(batch.index.tolist(), batch.epoch.tolist())):
            steps = list(batch.steps[row]) + (list(device_rows[row]) if device_rows else [])
            ids, logged = self.rows.setdefault(epoch, ([], []))
            ids.append(self.data.utt_ids[index])
            logged.append(steps)

    def flush(self, ctx: ddp.DistContext) -> None:
        if self.sink is None:
            return
        import pandas as pd

        gathered = ddp.gather_objects(self.rows, ctx)
        self.rows = {}
        if not ctx.is_main:
            return
        for epoch in sorted({e for part in gathered for e in part}):
            ids = [u for part in gathered for u in part.get(epoch, ([], []))[0]]
            steps = [s for part in gathered for s in part.get(epoch, ([], []))[1]]
            self.sink(int(epoch), pd.DataFrame({"utt_id": ids, "steps": steps}))


def _micro_loss(net: nn.Module, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor,
                weights: torch.Tensor | None, scale: torch.Tensor, autocast: Any
                ) -> torch.Tensor:
    """This micro-batch's share of the global step loss: ``sum_i w_i ce_i * scale``."""
    with autocast():
        logits = net(x, lengths)
    return F.cross_entropy(logits.float(), y, weight=weights, reduction="sum") * scale


# --------------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    paths: Sequence[PathType] | TrainData,
    labels: Sequence[Any] | None = None,
    *,
    dev: TrainData | tuple[Sequence[PathType], Sequence[Any]] | None = None,
    out_dir: PathType | None = None,
    resume: bool = False,
    stop_at: int | None = None,
    progress: ProgressFn | None = None,
    augment_log: AugmentLogFn | None = None,
    chain: Any = None,
) -> TrainResult:
    """Train ``config.model`` on labelled audio files.

    Args:
        config: the run's settings.
        paths: audio files (any rate / channel count soundfile reads), or a
            :class:`TrainData` (paths, labels, ids, durations, groups, weights).
        labels: one per path: 1 / "bonafide" or 0 / "spoof" (not with TrainData).
        dev: dev data for ``eval_every`` / best-k checkpoints: a TrainData or
            ``(paths, labels)``.
        out_dir: folder of ``checkpoints/`` (None: no checkpoints, no resume).
        resume: continue from ``out_dir/checkpoints/last.pt`` (a fresh start if absent).
        stop_at: stop after this step, with a checkpoint (a time-sliced or interrupted
            run; resuming later finishes it exactly as an uninterrupted run would).
        progress: ``progress(step, total, loss)``, called every ``config.log_every``
            steps and at the last step, with ``loss`` the mean over those steps (main
            process only).
        augment_log: ``augment_log(epoch, frame)`` receives the applied augmentation
            (``frame`` columns utt_id, steps) at each checkpoint and at the end, when
            ``config.log_augmentation`` (main process only).
        chain: an augmentation chain object to use instead of loading ``config.augment``
            (anything with ``cpu_stage`` / ``device_stage``, ``has_cpu_steps`` /
            ``has_device_steps``).

    Returns:
        :class:`TrainResult` with the model in eval mode.
    """
    data = _as_data(paths, labels)
    _check_labels(data.labels)
    ctx = ddp.context()
    device = resolve_device(config.device, ctx)
    chain = _load_chain(config, chain)
    if dev is not None and not isinstance(dev, TrainData):
        dev = TrainData.from_lists(*dev)
    if config.select == "best" and dev is None:
        raise ValueError("TrainConfig.select = 'best' needs dev data; pass dev=... or set "
                         "select = 'last'")
    dataset = CropDataset(
        data.paths, data.labels, sample_rate=config.sample_rate, seconds=config.crop_seconds,
        train=True, seed=config.seed, regime=config.regime,
        long_seconds=(config.long_min_seconds, config.long_max_seconds),
        chain=chain if chain is not None and getattr(chain, "has_cpu_steps", True) else None,
        return_meta=True,
    )
    device_stage = chain is not None and getattr(chain, "has_device_steps", False)
    plan = _epoch_plan(config, data)
    steps_total = total_steps(config, data, ctx.world)
    weights = class_weights(data.labels).to(device) if config.class_weighting else None
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) \
        if config.precision == "bf16" else contextlib.nullcontext
    folder = Path(out_dir) / "checkpoints" if out_dir is not None else None
    ckpts = _Checkpoints(folder, config.keep_last, config.keep_best)
    records = _AugmentRecords(augment_log if config.log_augmentation else None, data)

    losses: list[float] = []
    dev_eer: dict[int, float] = {}
    pending: list[torch.Tensor] = []
    window: list[float] = []
    step = 0
    resumed_from = 0
    started = time.perf_counter()
    with _local_rng(config.seed, device):
        model = build_model(config.model, sample_rate=config.sample_rate, **config.model_kwargs)
        model_kwargs = restore_kwargs(model, config.model_kwargs)
        model.to(device).train()
        optimizer = build_optimizer(model, config)
        if ctx.rank > 0:  # other dropout draws on each rank; rank 0 keeps the plain stream
            torch.manual_seed(derive_seed(config.seed, ctx.rank))
        if resume and ckpts.last is not None and ckpts.last.is_file():
            state = read_checkpoint(ckpts.last, map_location=device)
            _check_resumable(state, config, ckpts.last)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            extra = state["extra"]
            step = resumed_from = int(state["step"])
            losses = list(extra["losses"])
            dev_eer = {int(k): float(v) for k, v in extra["dev_eer"].items()}
            ckpts.best = [(float(e), int(s)) for e, s in extra["best"]]
            per_rank = extra["rng"]
            _set_rng_state(per_rank[ctx.rank] if ctx.rank < len(per_rank) else per_rank[0],
                           device)
        net: nn.Module = model
        if ctx.active:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = ShardedBatchSampler(
            _batch_sampler(config, data, plan, ctx.world, steps_total * config.grad_accum,
                           start_batch=step * config.grad_accum),
            ctx.rank, ctx.world)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(config.seed),
        )
        batches = iter(loader)

        def forward_backward(micro: list[tuple], scale: torch.Tensor,
                             sync: bool) -> torch.Tensor:
            """Accumulate the gradients of one step's micro-batches (synchronised across
            ranks at the last one when ``sync``); returns this rank's share of the step
            loss, detached."""
            total = torch.zeros((), device=device)
            for k, (x, lengths, y) in enumerate(micro):
                last = k == len(micro) - 1
                with ddp.maybe_no_sync(net, not (sync and last)):
                    loss = _micro_loss(net, x, lengths, y, weights, scale, autocast)
                    loss.backward()
                total += loss.detach()
            return total / ctx.world

        while step < steps_total:
            lr = lr_at(step, base_lr=config.lr, warmup_steps=config.warmup_steps,
                       total_steps=steps_total, min_lr_ratio=config.min_lr_ratio,
                       schedule=config.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr

            # A step's micro-batches: to the device, then the chain's device stage.
            micro = []
            weight_sum = torch.zeros((), device=device)
            for k in range(config.grad_accum):
                batch: Batch = next(batches)
                check_finite(batch.x, lambda row, index=batch.index: _describe_item(
                    data, int(index[row])))
                x = batch.x.to(device, non_blocking=True)
                lengths = batch.lengths.to(device, non_blocking=True)
                y = batch.labels.to(device, non_blocking=True)
                rows = None
                if device_stage:
                    g = torch.Generator(device=device).manual_seed(
                        derive_seed(config.seed, step, k, ctx.rank))
                    x, rows = chain.device_stage(x, lengths, g)
                records.add(batch, rows)
                weight_sum += weights[y].sum() if weights is not None else y.numel()
                micro.append((x, lengths, y))
            # Normalise by the global batch: the ranks' averaged gradients then equal the
            # gradient of the mean loss over the whole step, as in one process.
            scale = ctx.world / ddp.all_reduce_sum(weight_sum, ctx)

            if config.sam:
                # Ascent with this rank's gradient (no sync), descent synchronised; the
                # second pass leaves BatchNorm statistics alone.
                step_loss = forward_backward(micro, scale, sync=False)
                optimizer.first_step(zero_grad=True)
                with frozen_batchnorm_stats(model):
                    forward_backward(micro, scale, sync=True)
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.second_step(zero_grad=True)
            else:
                step_loss = forward_backward(micro, scale, sync=True)
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            step += 1
            pending.append(step_loss)

            last = step == steps_total or step == stop_at
            checkpoint_due = ckpts.folder is not None and (
                last or (config.checkpoint_every and step % config.checkpoint_every == 0))
            if step % config.log_every == 0 or last or checkpoint_due:
                # the losses of the steps since the last time, summed over ranks (one
                # host-device sync per log interval, not per step)
                values = ddp.all_reduce_sum(torch.stack(pending), ctx).tolist()
                pending.clear()
                bad = [v for v in values if not math.isfinite(v)]
                if bad:  # the input audio was finite (every batch is checked): divergence
                    raise DivergedError(
                        f"training loss became {bad[0]} by step {step} although the input "
                        "audio is finite; lower the learning rate (optim.lr in an experiment, "
                        "TrainConfig.lr) or clip gradients (optim.grad_clip), and check the "
                        "augmentation chain's device steps"
                    )
                losses.extend(values)
                window.extend(values)
            if (step % config.log_every == 0 or last) and window:
                if progress is not None and ctx.is_main:
                    progress(step, steps_total, sum(window) / len(window))
                window.clear()
            if dev is not None and config.eval_every and (step % config.eval_every == 0
                                                          or step == steps_total):
                if ctx.is_main:
                    eer = _dev_eer(model, dev, config, device)
                    dev_eer[step] = eer
                    ckpts.add_best(eer, step, model, config, model_kwargs)
                model.train()
            if checkpoint_due:
                records.flush(ctx)
                _save_training_state(ckpts, model, optimizer, config, model_kwargs, step,
                                     losses, dev_eer, device, ctx, weights)
            if stop_at is not None and step >= stop_at:
                break
        records.flush(ctx)
        del batches

    if ctx.active:  # dev evaluation ran on rank 0; every rank ends with the same model
        ckpts.best, dev_eer = ddp.broadcast_object((ckpts.best, dev_eer), ctx)
    if config.select == "best" and ckpts.best and step == steps_total:
        best_step = ckpts.best[0][1]
        if best_step != step:
            state = read_checkpoint(ckpts.best_path(best_step), map_location=device)
            model.load_state_dict(state["model"])
    model.eval()
    return TrainResult(
        model=model,
        losses=losses,
        steps=step,
        config=config,
        device=str(device),
        elapsed_s=time.perf_counter() - started,
        total_steps=steps_total,
        dev_eer=dev_eer,
        best=list(ckpts.best),
        checkpoint_dir=ckpts.folder,
        resumed_from=resumed_from,
        class_weights=None if weights is None else weights.cpu().tolist(),
    )


def _describe_item(data: TrainData, index: int) -> str:
    """An item as errors name it: ``utt_id 'c:x' (/path/x.wav)``."""
    utt_id, path = data.utt_ids[index], data.paths[index]
    return f"{path}" if utt_id == path else f"utt_id {utt_id!r} ({path})"


# Settings that do not change the trained weights: a run may resume with other values.
_RESUME_FREE = ("log_every", "num_workers", "eval_batch_size", "checkpoint_every", "keep_last")


def _check_resumable(state: dict[str, Any], config: TrainConfig, path: Path) -> None:
    saved = TrainConfig.from_dict(state["config"])
    diff = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _RESUME_FREE
            and getattr(saved, f.name) != getattr(config, f.name)]
    if diff:
        raise CurateError(
            f"checkpoint {path} was written by another configuration (differs in "
            f"{', '.join(diff)}); resume with the same experiment, or start a new run"
        )
    if "rng" not in state.get("extra", {}) or state.get("optimizer") is None:
        raise CurateError(f"{path} is a model checkpoint, not a training state; it cannot be "
                          "resumed")


def _save_training_state(ckpts: _Checkpoints, model: nn.Module, optimizer: Any,
                         config: TrainConfig, model_kwargs: dict[str, Any], step: int,
                         losses: list[float], dev_eer: dict[int, float], device: torch.device,
                         ctx: ddp.DistContext, weights: torch.Tensor | None) -> None:
    rng = ddp.gather_objects(_rng_state(device), ctx)
    if not ctx.is_main:
        return
    extra = {
        "rng": rng,
        "losses": list(losses),
        "dev_eer": {str(k): float(v) for k, v in dev_eer.items()},
        "best": [[float(e), int(s)] for e, s in ckpts.best],
        "sampler": {"start_batch": step * config.grad_accum, "world": ctx.world},
        "class_weights": None if weights is None else weights.cpu().tolist(),
    }
    save_checkpoint(ckpts.last, model, config, step, optimizer=optimizer, extra=extra,
                    model_kwargs=model_kwargs)
    ckpts.rotate(step)


def _dev_eer(model: nn.Module, dev: TrainData, config: TrainConfig,
             device: torch.device) -> float:
    from curate.train.metrics import compute_eer

    scores = score(model, dev.paths, sample_rate=config.sample_rate,
                   max_seconds=config.eval_max_seconds, batch_size=config.eval_batch_size,
                   device=device, durations=dev.durations)
    labels = dev.labels
    if (labels == 1).sum() == 0 or (labels == 0).sum() == 0:
        raise ValueError("the dev data needs both bonafide and spoof items to compute an EER")
    eer, _ = compute_eer(scores[labels == 1], scores[labels == 0])
    return float(eer)


# --------------------------------------------------------------------------- score


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


# --------------------------------------------------------------------------- checkpoints


def _unwrap(model: nn.Module) -> nn.Module:
    """The underlying module of a DDP / DataParallel / compiled wrapper."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def save_checkpoint(
    path: PathType,
    model: nn.Module,
    config: TrainConfig,
    step: int,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file + rename); returns its path.

    Holds the format version, step, ``config.to_dict()``, the model state (on CPU) and
    the arguments that rebuild the model without outside files (``model_kwargs``;
    default: the model's own ``restore_kwargs()`` or ``config.model_kwargs``), the
    optimizer state when given (SAM's includes its base optimizer), and ``extra``
    (plain data: RNG states, losses, dev history, ...) for resuming.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inner = _unwrap(model)
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": int(step),
        "config": config.to_dict(),
        "model_kwargs": model_kwargs if model_kwargs is not None
        else restore_kwargs(inner, config.model_kwargs),
        "model": {k: v.detach().cpu() for k, v in inner.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: PathType, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint's raw dict (``weights_only``: no code runs); checks its format."""
    try:
        state = torch.load(Path(path), map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise CurateError(f"checkpoint {path} does not exist; check the path") from exc
    except Exception as exc:  # corrupt or foreign pickle: one clear sentence
        raise CurateError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CurateError(
            f"{path} is not a curate checkpoint; pass a file written by save_checkpoint"
        )
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise CurateError(
            f"checkpoint {path} has format version {state['version']}, newer than this "
            f"curate understands ({CHECKPOINT_VERSION}); upgrade curate"
        )
    return state


def load_checkpoint(
    path: PathType, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig, int]:
    """Rebuild the model of a checkpoint: ``(model in eval mode, config, step)``.

    The model is rebuilt from the arguments stored with it, so an SSL model needs no
    pretrained file here.
    """
    state = read_checkpoint(path, map_location)
    config = TrainConfig.from_dict(state["config"])
    kwargs = state.get("model_kwargs") or config.model_kwargs
    model = build_model(config.model, sample_rate=config.sample_rate, **kwargs)
    model.load_state_dict(state["model"])
    model.to(map_location).eval()
    return model, config, int(state["step"])
