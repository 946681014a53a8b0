"""The training loop, batch scoring and checkpoints.

``train(config, paths, labels)`` is one readable loop: seeded sampler -> crops ->
model -> cross-entropy -> optimizer with linear warm-up then cosine decay. It never
touches the caller's global RNG state: model initialisation and dropout run under a
forked, locally seeded RNG, and data order and crops come from their own seeds, so
the same config gives the same weights.

``score(model, paths)`` returns one detection score per path (higher = more
bonafide), in input order. Checkpoints are plain dicts (tensors, numbers, strings)
that load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
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
from curate.train.data import CropDataset, EpochBatchSampler, PathType, as_label, collate
from curate.train.models import MODELS, bonafide_score, build_model

__all__ = [
    "OPTIMIZERS",
    "TrainConfig",
    "TrainResult",
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
CHECKPOINT_FORMAT = "curate.checkpoint"
CHECKPOINT_VERSION = 1

ProgressFn = Callable[[int, int, float], None]


# --------------------------------------------------------------------------- config


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the data).

    Attributes:
        model: registered model name (see ``curate.train.models.MODELS``).
        model_kwargs: keyword arguments of the model factory (not ``sample_rate``).
        sample_rate: sample rate the model sees, in Hz; audio is resampled to it.
        crop_seconds: length of each random training crop, in seconds.
        batch_size: utterances per step.
        steps: optimizer steps.
        lr: peak learning rate.
        weight_decay: decoupled (adamw) or L2 (adam, sgd) weight decay; never applied
            to biases and normalisation parameters.
        optimizer: "adamw", "adam" or "sgd" (with Nesterov momentum ``momentum``).
        momentum: SGD momentum.
        warmup_steps: steps of linear warm-up from ~0 to ``lr``; cosine decay follows.
        min_lr_ratio: the cosine decays to ``lr * min_lr_ratio``.
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        seed: seeds model initialisation, dropout, data order and crops.
        device: "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".
        num_workers: DataLoader worker processes (0 = decode in the main process).
        class_weighting: weight the cross-entropy by inverse class frequency.
        balanced_sampling: oversample the minority class so epochs are balanced.
        log_every: call ``progress`` every this many steps (and at the last step).
    """

    model: str = "small_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    sample_rate: int = 16000
    crop_seconds: float = 2.0
    batch_size: int = 16
    steps: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-2
    optimizer: str = "adamw"
    momentum: float = 0.9
    warmup_steps: int = 10
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 5.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    class_weighting: bool = False
    balanced_sampling: bool = False
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
        for name in ("sample_rate", "batch_size", "steps", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "must be an integer >= 1")
        for name in ("warmup_steps", "num_workers", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "must be an integer >= 0")
        if not self.crop_seconds > 0:
            raise bad("crop_seconds", "must be > 0 seconds")
        if not self.lr > 0:
            raise bad("lr", "must be > 0")
        if not self.weight_decay >= 0:
            raise bad("weight_decay", "must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "must be in [0, 1)")
        if not 0 <= self.min_lr_ratio <= 1:
            raise bad("min_lr_ratio", "must be in [0, 1]")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise bad("grad_clip", "must be > 0, or None for no clipping")
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
        model: the trained model, in eval mode, on the training device.
        losses: training loss of every step (len == steps).
        steps: optimizer steps taken.
        config: the config that produced it.
        device: the device trained on, e.g. "cpu".
        elapsed_s: wall-clock seconds of the loop (data loading included).
    """

    model: nn.Module
    losses: list[float]
    steps: int
    config: TrainConfig
    device: str
    elapsed_s: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.elapsed_s if self.elapsed_s > 0 else float("inf")


# --------------------------------------------------------------------------- pieces


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else -> ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(dev)!r} requested but CUDA is not available; use 'cpu' or 'auto'"
        )
    return dev


def lr_at(
    step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> float:
    """Learning rate of 0-based ``step``: linear warm-up, then cosine decay.

    Warm-up rises linearly to ``base_lr`` at step ``warmup_steps - 1``; the cosine
    then falls from ``base_lr`` towards ``base_lr * min_lr_ratio`` at ``total_steps``.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    min_lr = base_lr * min_lr_ratio
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def class_weights(labels: Sequence[int], num_classes: int = 2) -> torch.Tensor:
    """Inverse-frequency class weights ``n / (num_classes * count_c)``, (num_classes,).

    Balanced labels give all ones. ValueError if a class has no items.
    """
    counts = torch.bincount(
        torch.as_tensor(list(labels), dtype=torch.int64), minlength=num_classes
    )
    if (counts == 0).any():
        missing = [c for c in range(num_classes) if counts[c] == 0]
        raise ValueError(
            f"labels has no items of class(es) {missing}; class weights need every class"
        )
    return counts.sum() / (num_classes * counts.to(torch.float32))


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``config``; biases and normalisation parameters get no decay."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.SGD(
        groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0
    )


@contextlib.contextmanager
def _local_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block under RNGs seeded with ``seed``; restore the caller's states after.

    Forks the CPU generator and, for a CUDA device, that device's generator only.
    """
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        if cuda:
            with torch.cuda.device(cuda[0]):
                torch.cuda.manual_seed(seed)
        yield


def _check_labels(paths: Sequence[PathType], labels: Sequence[Any]) -> list[int]:
    if len(paths) != len(labels):
        raise ValueError(
            f"labels has {len(labels)} entries but paths has {len(paths)}; pass one label per path"
        )
    if len(paths) == 0:
        raise ValueError("paths is empty; training needs labelled audio files")
    ints = [as_label(v) for v in labels]
    if len(set(ints)) < 2:
        only = "bonafide" if ints[0] == 1 else "spoof"
        raise ValueError(
            f"labels are all {only}; training a detector needs both bonafide (1) and "
            "spoof (0) items"
        )
    return ints


# --------------------------------------------------------------------------- train


def train(
    config: TrainConfig,
    paths: Sequence[PathType],
    labels: Sequence[Any],
    *,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train ``config.model`` on labelled audio files.

    Args:
        config: the run's settings.
        paths: audio files (any rate / channel count soundfile reads).
        labels: one per path: 1 / "bonafide" or 0 / "spoof".
        progress: ``progress(step, total, loss)``, called every ``config.log_every``
            steps and at the last step, with ``loss`` the mean over those steps.

    Returns:
        :class:`TrainResult` with the model in eval mode.
    """
    int_labels = _check_labels(paths, labels)
    device = resolve_device(config.device)
    dataset = CropDataset(
        paths,
        int_labels,
        sample_rate=config.sample_rate,
        seconds=config.crop_seconds,
        train=True,
        seed=config.seed,
    )
    sampler = EpochBatchSampler(
        int_labels,
        config.batch_size,
        seed=config.seed,
        balanced=config.balanced_sampling,
        num_batches=config.steps,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(config.seed),
    )
    weights = class_weights(int_labels).to(device) if config.class_weighting else None

    losses: list[float] = []
    window: list[float] = []
    started = time.perf_counter()
    with _local_rng(config.seed, device):
        model = build_model(config.model, sample_rate=config.sample_rate, **config.model_kwargs)
        model.to(device).train()
        optimizer = build_optimizer(model, config)
        for step, (x, lengths, y) in enumerate(loader):
            lr = lr_at(
                step,
                base_lr=config.lr,
                warmup_steps=config.warmup_steps,
                total_steps=config.steps,
                min_lr_ratio=config.min_lr_ratio,
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = x.to(device, non_blocking=True)
            lengths = lengths.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)

            loss = F.cross_entropy(model(x, lengths), y, weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()

            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"training loss became {value} at step {step + 1}; lower TrainConfig.lr "
                    "or set TrainConfig.grad_clip, and check the audio for NaN/inf samples"
                )
            losses.append(value)
            window.append(value)
            done = step + 1
            if progress is not None and (done % config.log_every == 0 or done == config.steps):
                progress(done, config.steps, sum(window) / len(window))
                window.clear()
    model.eval()
    return TrainResult(
        model=model,
        losses=losses,
        steps=len(losses),
        config=config,
        device=str(device),
        elapsed_s=time.perf_counter() - started,
    )


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
    dataset = CropDataset(
        paths, None, sample_rate=sample_rate, seconds=max_seconds, train=False
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
    )
    was_training = model.training
    model.to(dev).eval()
    out = []
    try:
        for x, lengths, _ in loader:
            logits = model(x.to(dev, non_blocking=True), lengths.to(dev, non_blocking=True))
            out.append(bonafide_score(logits).double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


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
) -> Path:
    """Write a checkpoint atomically (temporary file + rename); returns its path.

    Holds the format version, step, ``config.to_dict()``, the model state (on CPU),
    the optimizer state when given, and ``extra`` (plain data: RNG states, scaler,
    SAM state, ...) for resuming.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": int(step),
        "config": config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
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
    """Rebuild the model of a checkpoint: ``(model in eval mode, config, step)``."""
    state = read_checkpoint(path, map_location)
    config = TrainConfig.from_dict(state["config"])
    model = build_model(config.model, sample_rate=config.sample_rate, **config.model_kwargs)
    model.load_state_dict(state["model"])
    model.to(map_location).eval()
    return model, config, int(state["step"])
