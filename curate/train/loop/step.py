"""One optimizer step: the micro-batches' forward and backward passes, then a plain or
SAM / ASAM update, with gradient clipping, a frozen backbone during head warm-up and
fp16 loss scaling.

fp16 uses dynamic loss scaling written out here rather than ``torch.amp.GradScaler``,
because SAM takes two backward passes per step and each must be unscaled and checked:
losses are multiplied by ``scale``, gradients divided by it; a pass whose gradients are
not finite (on any rank) skips the step (SAM's ascent is undone) and halves ``scale``;
``growth_interval`` good steps in a row double it. The scaler's state is checkpointed,
so a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from curate.train import distributed as ddp
from curate.train.loop.config import TrainConfig
from curate.train.sam import frozen_batchnorm_stats


class LossScaler:
    """Dynamic loss scaling (fp16); a no-op with ``enabled = False``.

    Args:
        enabled: scale at all.
        init_scale, growth_factor, backoff_factor, growth_interval: as in
            ``torch.amp.GradScaler``.
    """

    def __init__(self, enabled: bool, init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000) -> None:
        self.enabled = enabled
        self.scale = float(init_scale) if enabled else 1.0
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0
        self.skipped = 0

    @torch.no_grad()
    def unscale(self, params: list[nn.Parameter], ctx: ddp.DistContext) -> bool:
        """Divide the gradients by the scale; True when every gradient is finite on every
        rank (one host sync). Always True when disabled."""
        if not self.enabled:
            return True
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, 1.0 / self.scale)
            bad = torch.stack([torch.logical_not(torch.isfinite(g).all()) for g in grads]
                              ).any().float()
        else:
            bad = torch.zeros(())
        return ddp.all_reduce_sum(bad.reshape(1), ctx).item() == 0

    def update(self, finite: bool) -> None:
        if not self.enabled:
            return
        if finite:
            self.good_steps += 1
            if self.good_steps >= self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0
        else:
            self.scale *= self.backoff_factor
            self.good_steps = 0
            self.skipped += 1

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_steps": self.good_steps, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state and self.enabled:
            self.scale = float(state["scale"])
            self.good_steps = int(state["good_steps"])
            self.skipped = int(state.get("skipped", 0))


def autocast_factory(config: TrainConfig, device: torch.device) -> Callable[[], Any]:
    """The autocast context of the run's precision (a no-op for fp32)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


def micro_loss(net: nn.Module, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor,
               weights: torch.Tensor | None, scale: torch.Tensor | float, autocast: Any
               ) -> torch.Tensor:
    """This micro-batch's share of the global step loss: ``sum_i w_i ce_i * scale``."""
    with autocast():
        logits = net(x, lengths)
    return F.cross_entropy(logits.float(), y, weight=weights, reduction="sum") * scale


class Stepper:
    """Runs optimizer steps for the training loop.

    Args:
        model: the model (unwrapped); ``net`` what the forward runs (DDP-wrapped and/or
            compiled ``model``).
        optimizer: from :func:`curate.train.loop.optim.build_optimizer`.
        config: the run's settings.
        ctx: the DDP context.
        weights: class weights of the cross-entropy, or None.
        device: the training device.
    """

    def __init__(self, model: nn.Module, net: nn.Module, optimizer: torch.optim.Optimizer,
                 config: TrainConfig, ctx: ddp.DistContext, weights: torch.Tensor | None,
                 device: torch.device) -> None:
        self.model, self.net, self.optimizer = model, net, optimizer
        self.config, self.ctx, self.weights = config, ctx, weights
        self.autocast = autocast_factory(config, device)
        self.scaler = LossScaler(config.precision == "fp16")
        self.device = device
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.backbone = [p for group in optimizer.param_groups if group.get("part") ==
                         "backbone" for p in group["params"]]

    def _passes(self, micro: list[tuple], scale: torch.Tensor, sync: bool) -> torch.Tensor:
        """Accumulate the gradients of one step's micro-batches (synchronised across ranks
        at the last one when ``sync``); returns this rank's share of the step loss."""
        total = torch.zeros((), device=self.device)
        factor = self.scaler.scale
        for k, (x, lengths, y) in enumerate(micro):
            last = k == len(micro) - 1
            with ddp.maybe_no_sync(self.net, not (sync and last)):
                loss = micro_loss(self.net, x, lengths, y, self.weights, scale, self.autocast)
                (loss * factor if factor != 1.0 else loss).backward()
            total += loss.detach()
        return total / self.ctx.world

    def _after_backward(self, step: int) -> bool:
        """Unscale and check (fp16), drop the backbone's gradients while it is frozen."""
        finite = self.scaler.unscale(self.params, self.ctx)
        if step < self.config.freeze_backbone_steps:
            for p in self.backbone:
                p.grad = None
        return finite

    def _clip(self) -> None:
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)

    def step(self, micro: list[tuple], scale: torch.Tensor, step: int) -> torch.Tensor:
        """One optimizer step over ``micro`` (``(x, lengths, y)`` on the device); returns
        this rank's share of the step loss (detached, unscaled)."""
        optimizer = self.optimizer
        if self.config.sam:
            # Ascent with this rank's gradient (no sync), descent synchronised; the
            # second pass leaves BatchNorm statistics alone.
            step_loss = self._passes(micro, scale, sync=False)
            if not self._after_backward(step):
                optimizer.zero_grad(set_to_none=True)
                self.scaler.update(False)
                return step_loss
            optimizer.first_step(zero_grad=True)
            with frozen_batchnorm_stats(self.model):
                self._passes(micro, scale, sync=True)
            finite = self._after_backward(step)
            if finite:
                self._clip()
                optimizer.second_step(zero_grad=True)
            else:
                optimizer.undo_first_step(zero_grad=True)
            self.scaler.update(finite)
            return step_loss
        step_loss = self._passes(micro, scale, sync=True)
        finite = self._after_backward(step)
        if finite:
            self._clip()
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self.scaler.update(finite)
        return step_loss
