"""The loop's settings (:class:`TrainConfig`, checked on construction) and its result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from curate.shard.index import GROUP_COLUMNS as SHARD_GROUPS
from curate.train.data import REGIMES, SAMPLERS
from curate.train.models import MODELS, model_arguments

OPTIMIZERS = ("adamw", "adam", "sgd")


SCHEDULES = ("cosine", "linear", "constant")


PRECISIONS = ("fp32", "bf16", "fp16")


SELECT = ("last", "best", "average")


# Fields added after run ids were first issued (see TrainConfig.identity).
LATER_FIELDS = ("backbone_lr_scale", "head_lr_scale", "layer_decay", "freeze_backbone_steps",
                "compile", "patience", "threads", "shards", "shards_split", "shuffle_buffer")


ProgressFn = Callable[[int, int, float], None]


AugmentLogFn = Callable[[int, Any], None]


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
        shards: read the training data from the shards of ``curate shard`` at this
            location (a folder, a ``file:`` URL, a URL prefix or a URL with ``{name}``,
            e.g. ``pipe:aws s3 cp s3://b/shards/{name} -``) instead of one file per
            item (None); see :mod:`curate.train.data.shards`.
        shards_split: the split of the shards to train on.
        shuffle_buffer: the shard stream's shuffle buffer, in items (each item moves at
            most this many places; about this many clips are held per loader worker).
        augment: augmentation chain file (its CPU stage runs per utterance in the
            loader workers, its device stage per batch on the device), or None.
        log_augmentation: report the applied steps (``augment_log`` of ``train``).

    Batching and length of training:
        batch_size: utterances per micro-batch (fixed batching).
        max_batch_seconds: dynamic batching: padded seconds per micro-batch, items in
            ``buckets`` length buckets (None: fixed ``batch_size``); on shards, each
            rank's share cut from consecutive items of each worker's stream, without
            buckets (:mod:`curate.train.data.shard_batches`).
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
        backbone_lr_scale, head_lr_scale: the learning rate of each part is the
            schedule's rate times its scale. The backbone is a model's ``backbone``
            submodule (the SSL encoder); the head is everything else (pooling, head,
            layer weights; all of a model without a backbone).
        layer_decay: layer-wise decay of the backbone's rate: layer ``l`` of ``L`` (the
            feature extractor and embeddings are layer 0, the transformer layers 1..L,
            a final norm L + 1) gets ``layer_decay ** (L + 1 - l)``; 1.0: none.
        freeze_backbone_steps: the first this many steps train the head alone (the
            backbone's gradients are dropped, so neither its weights nor its optimizer
            state change), then everything.
        sam, sam_rho, sam_adaptive: Sharpness-Aware Minimization (ASAM when adaptive).
        precision: "fp32", "bf16" (autocast) or "fp16" (autocast with dynamic loss
            scaling: a step whose gradients overflow is skipped and the scale halves;
            with SAM both passes are scaled and checked).
        compile: run the training forward through ``torch.compile`` (off by default).

    Run:
        seed: seeds model initialisation, dropout, data order, crops and augmentation.
        device: "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".
        num_workers: DataLoader worker processes (0 = decode in the main process).
        threads: torch intra-op CPU threads while training and scoring (0: leave torch's
            setting). Float reductions can differ in their last bits with the number of
            threads, so a run that must reproduce on any machine pins it (the demo: 1).
        checkpoint_every: write ``checkpoints/last.pt`` every this many steps (0: only at
            the end); ``keep_last`` > 1 also keeps that many ``step-N.pt`` copies.
        eval_every: score the dev set every this many steps (0: never); ``keep_best``
            model checkpoints with the lowest dev EER are kept.
        select: the model the run ends with: "last", "best" (lowest dev EER) or
            "average" (the mean of the ``keep_best`` best checkpoints' weights).
        patience: stop early when the dev EER has not improved for this many
            evaluations (0: never); the run then counts as finished.
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
    backbone_lr_scale: float = 1.0
    head_lr_scale: float = 1.0
    layer_decay: float = 1.0
    freeze_backbone_steps: int = 0
    sam: bool = False
    sam_rho: float = 0.05
    sam_adaptive: bool = False
    precision: str = "fp32"
    compile: bool = False
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    threads: int = 0
    sampler: str = "natural"
    sampler_by: str = "corpus"
    temperature: float = 1.0
    class_weighting: bool = False
    shards: str | None = None
    shards_split: str = "train"
    shuffle_buffer: int = 1000
    augment: str | None = None
    log_augmentation: bool = False
    checkpoint_every: int = 0
    keep_last: int = 1
    eval_every: int = 0
    keep_best: int = 0
    select: str = "last"
    patience: int = 0
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
                     "grad_accum", "keep_last", "eval_batch_size", "shuffle_buffer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "must be an integer >= 1")
        for name in ("warmup_steps", "num_workers", "seed", "checkpoint_every", "eval_every",
                     "keep_best", "freeze_backbone_steps", "patience", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "must be an integer >= 0")
        for name in ("sam", "sam_adaptive", "class_weighting", "log_augmentation", "compile"):
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
        for name in ("backbone_lr_scale", "head_lr_scale"):
            if not getattr(self, name) > 0:
                raise bad(name, "must be > 0 (a multiplier of the scheduled rate)")
        if not 0 < self.layer_decay <= 1:
            raise bad("layer_decay", "must be in (0, 1] (1: no layer-wise decay)")
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
        if self.select == "average" and (self.eval_every == 0 or self.keep_best < 2):
            raise bad("select", "'average' needs eval_every > 0 and keep_best >= 2 (and dev "
                                "data)")
        if self.patience and self.eval_every == 0:
            raise bad("patience", "needs eval_every > 0 (and dev data): early stopping "
                                  "watches the dev EER")
        if self.eval_max_seconds is not None and not self.eval_max_seconds > 0:
            raise bad("eval_max_seconds", "must be > 0, or None for whole files")
        if self.augment is not None and not isinstance(self.augment, str):
            raise bad("augment", "must be the path of a chain file, or None")
        if self.augment == "":
            self.augment = None
        if self.shards is not None and not isinstance(self.shards, str):
            raise bad("shards", "must be the location of shards (a folder or URL), or None")
        if self.shards == "":
            self.shards = None
        if not isinstance(self.shards_split, str) or not self.shards_split:
            raise bad("shards_split", "must be the name of a split of the shards")
        if self.shards is not None and self.sampler == "temperature" and \
                self.sampler_by not in SHARD_GROUPS:
            raise bad("sampler_by", f"cannot weight a shard stream (the shards' index counts "
                                    f"{', '.join(SHARD_GROUPS)}); use one of them, or "
                                    f"map-style data")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as exc:
                raise bad("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain-data copy (for checkpoints, run tables and logs)."""
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """What a run id hashes: :meth:`to_dict` without the fields added after run ids
        were first issued while they hold their defaults, so adding a setting never
        changes the id (and the finished-run reuse) of runs that do not use it."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: v for k, v in self.to_dict().items()
                if not (k in LATER_FIELDS and v == defaults[k])}

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
        early_stopped: the dev EER stopped improving for ``patience`` evaluations, so
            the run ended before ``total_steps`` (it is finished all the same).
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
    early_stopped: bool = False

    @property
    def steps_per_s(self) -> float:
        done = self.steps - self.resumed_from
        return done / self.elapsed_s if self.elapsed_s > 0 else float("inf")
