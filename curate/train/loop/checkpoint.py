"""Checkpoints: the training state written atomically every N steps (resume bit for bit),
the final model, and reading either back (``weights_only``: no code runs).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from curate.errors import CurateError
from curate.train import distributed as ddp
from curate.train.data import PathType
from curate.train.loop.config import TrainConfig
from curate.train.loop.rng import rng_state
from curate.train.models import build_model, restore_kwargs

CHECKPOINT_FORMAT = "curate.checkpoint"


CHECKPOINT_VERSION = 2


@dataclass
class CheckpointFiles:
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


# Settings that do not change the trained weights: a run may resume with other values.
_RESUME_FREE = ("log_every", "num_workers", "eval_batch_size", "checkpoint_every", "keep_last")


def check_resumable(state: dict[str, Any], config: TrainConfig, path: Path) -> None:
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


def save_training_state(ckpts: CheckpointFiles, model: nn.Module, optimizer: Any,
                         config: TrainConfig, model_kwargs: dict[str, Any], step: int,
                         losses: list[float], dev_eer: dict[int, float], device: torch.device,
                         ctx: ddp.DistContext, weights: torch.Tensor | None,
                         scaler: dict[str, Any] | None = None,
                         stream: dict[str, Any] | None = None) -> None:
    """Write ``last.pt`` (every rank calls it; rank 0 writes): ``stream`` is a shard
    run's position in its stream (per rank: batches read, each loader worker's token;
    see :class:`curate.train.data.shard_feed.ShardFeed`)."""
    rng = ddp.gather_objects(rng_state(device), ctx)
    streams = ddp.gather_objects(stream, ctx) if stream is not None else None
    if not ctx.is_main:
        return
    extra = {
        "rng": rng,
        "losses": list(losses),
        "dev_eer": {str(k): float(v) for k, v in dev_eer.items()},
        "best": [[float(e), int(s)] for e, s in ckpts.best],
        "sampler": {"start_batch": step * config.grad_accum, "world": ctx.world},
        "class_weights": None if weights is None else weights.cpu().tolist(),
        "scaler": scaler,
    }
    if streams is not None:
        extra["stream"] = streams
    save_checkpoint(ckpts.last, model, config, step, optimizer=optimizer, extra=extra,
                    model_kwargs=model_kwargs)
    ckpts.rotate(step)


def no_improvement(dev_eer: dict[int, float], patience: int) -> bool:
    """Early stopping: True when the last ``patience`` dev evaluations (by step) gave no
    EER below the best one before them (``patience`` 0: never)."""
    if patience <= 0 or len(dev_eer) <= patience:
        return False
    values = [dev_eer[s] for s in sorted(dev_eer)]
    return min(values[-patience:]) >= min(values[:-patience])


def average_checkpoints(paths: list[Path], map_location: str | torch.device = "cpu"
                        ) -> dict[str, torch.Tensor]:
    """The element-wise mean of the models of ``paths`` (floating-point tensors; other
    tensors, e.g. BatchNorm's ``num_batches_tracked``, are taken from the first)."""
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    states = [read_checkpoint(p, map_location=map_location)["model"] for p in paths]
    out = {}
    for key, first in states[0].items():
        if torch.is_floating_point(first):
            out[key] = torch.stack([s[key].to(torch.float64) for s in states]).mean(0) \
                .to(first.dtype)
        else:
            out[key] = first
    return out


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
