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

from curate.train.loop.checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
                                          CheckpointFiles, average_checkpoints,
                                          check_resumable, load_checkpoint, no_improvement,
                                          read_checkpoint, save_checkpoint,
                                          save_training_state)
from curate.train.loop.config import (LATER_FIELDS, OPTIMIZERS, PRECISIONS, SCHEDULES, SELECT,
                                      AugmentLogFn, ProgressFn, TrainConfig, TrainResult)
from curate.train.loop.optim import (BACKBONE_PREFIX, build_optimizer, class_weights, lr_at,
                                     lr_scale_of, parameter_groups, resolve_device)
from curate.train.loop.rng import local_rng, rng_state, set_rng_state
from curate.train.loop.scoring import score, score_dev_eer, score_shared
from curate.train.loop.step import LossScaler, Stepper, autocast_factory, micro_loss
from curate.train.loop.train_loop import LAYER_DROP_STREAM, DivergedError, total_steps, train

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "PRECISIONS",
    "SELECT",
    "LATER_FIELDS",
    "ProgressFn",
    "AugmentLogFn",
    "TrainConfig",
    "TrainResult",
    "resolve_device",
    "lr_at",
    "class_weights",
    "BACKBONE_PREFIX",
    "lr_scale_of",
    "parameter_groups",
    "build_optimizer",
    "local_rng",
    "rng_state",
    "set_rng_state",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointFiles",
    "check_resumable",
    "save_training_state",
    "no_improvement",
    "average_checkpoints",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "score_shared",
    "score_dev_eer",
    "score",
    "LossScaler",
    "autocast_factory",
    "micro_loss",
    "Stepper",
    "LAYER_DROP_STREAM",
    "DivergedError",
    "total_steps",
    "train",
]
