"""Sharpness-Aware Minimization (Foret et al., 2021) and ASAM (Kwon et al., 2021).

SAM minimises the loss at the worst nearby point: with ``g`` the gradient at ``w``,

- ascent:  ``e = rho * g / ||g||``                (SAM)
           ``e = rho * T_w^2 g / ||T_w g||``, ``T_w = |w|`` elementwise (ASAM)
- descent: the base optimizer steps from ``w`` with the gradient taken at ``w + e``.

The interface is the one of davda54/sam::

    optimizer = SAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, momentum=0.9)

    loss_fn(model(x), y).backward()            # gradient at w
    optimizer.first_step(zero_grad=True)       # w -> w + e
    with frozen_batchnorm_stats(model):        # BatchNorm statistics: first pass only
        loss_fn(model(x), y).backward()        # gradient at w + e
    optimizer.second_step(zero_grad=True)      # back to w, base optimizer step

or ``optimizer.step(closure)`` with a closure that does one forward/backward (after a
first forward/backward of your own). Under DDP the first pass runs inside
``model.no_sync()`` (each rank perturbs with its own gradient, the m-sharpness of the
SAM paper) and the second pass is synchronised. Gradient accumulation: accumulate
the micro-batches' gradients before each of the two steps. bf16 autocast needs no
GradScaler; with a GradScaler, unscale before each step.

The learning rate (and the rest of the base optimizer's hyper-parameters) live in
``param_groups``, shared with the base optimizer, so schedules set them as usual.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["SAM", "frozen_batchnorm_stats", "disable_running_stats", "enable_running_stats"]


class SAM(torch.optim.Optimizer):
    """Sharpness-Aware Minimization around a base optimizer.

    Args:
        params: parameters or parameter groups (groups may set their own ``rho`` and
            ``adaptive``).
        base_optimizer_cls: the optimizer class that takes the descent step, e.g.
            ``torch.optim.SGD`` or ``torch.optim.AdamW``.
        rho: radius of the ascent step, > 0.
        adaptive: ASAM (scale-invariant neighbourhood ``T_w = |w|``).
        **base_kwargs: the base optimizer's arguments (``lr``, ``momentum``, ...).
    """

    def __init__(
        self,
        params: Any,
        base_optimizer_cls: type[torch.optim.Optimizer],
        rho: float = 0.05,
        adaptive: bool = False,
        **base_kwargs: Any,
    ) -> None:
        if not rho > 0.0:
            raise ValueError(f"rho must be > 0, got {rho}")
        defaults = dict(rho=float(rho), adaptive=bool(adaptive), **base_kwargs)
        super().__init__(params, defaults)
        self.base_optimizer = base_optimizer_cls(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)
        self._perturbed = False
        self._moved: list[torch.Tensor] = []

    # -- the two steps --------------------------------------------------------------

    @torch.no_grad()
    def grad_norm(self) -> torch.Tensor:
        """``||g||`` (SAM) or ``||T_w g||`` (ASAM) over all parameters with a gradient."""
        norms = []
        device = None
        for group in self.param_groups:
            grads = [p.grad for p in group["params"] if p.grad is not None]
            if not grads:
                continue
            if group["adaptive"]:
                params = [p for p in group["params"] if p.grad is not None]
                grads = torch._foreach_mul(torch._foreach_abs(params), grads)
            device = device or grads[0].device
            norms.extend(n.to(device) for n in torch._foreach_norm(grads, 2.0))
        if not norms:
            return torch.zeros(())
        return torch.linalg.vector_norm(torch.stack(norms), 2.0)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Ascend: ``w <- w + e`` from the gradients now in ``.grad``; remembers ``w``."""
        if self._perturbed:
            raise RuntimeError("first_step called twice without second_step in between")
        norm = self.grad_norm()
        self._moved = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            self._moved.extend(params)
            for p in params:
                old = self.state[p].get("old_p")
                if old is None or old.shape != p.shape:
                    self.state[p]["old_p"] = p.detach().clone()
                else:
                    old.copy_(p)
            scale = group["rho"] / (norm.to(params[0].device) + 1e-12)
            grads = [p.grad for p in params]
            if group["adaptive"]:
                e = torch._foreach_mul(torch._foreach_mul(params, params), grads)
            else:
                e = [g.clone() for g in grads]
            torch._foreach_mul_(e, scale)
            torch._foreach_add_(params, e)
        self._perturbed = True
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Descend: restore ``w`` and let the base optimizer step with the gradients now
        in ``.grad`` (taken at ``w + e``)."""
        if not self._perturbed:
            raise RuntimeError("second_step called without first_step; call first_step "
                               "after the first backward pass")
        params = self._moved
        torch._foreach_copy_(params, [self.state[p]["old_p"] for p in params])
        self._moved = []
        self._perturbed = False
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def undo_first_step(self, zero_grad: bool = False) -> None:
        """Restore ``w`` without a descent (a step skipped, e.g. on an fp16 overflow)."""
        if not self._perturbed:
            raise RuntimeError("undo_first_step called without first_step")
        params = self._moved
        torch._foreach_copy_(params, [self.state[p]["old_p"] for p in params])
        self._moved = []
        self._perturbed = False
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """``first_step``, ``closure()`` (one full forward/backward), ``second_step``.

        The gradients at ``w`` must already be in ``.grad`` (a first forward/backward
        of your own); the closure computes those at ``w + e``.
        """
        if closure is None:
            raise ValueError("SAM.step needs a closure doing one forward and backward pass; "
                             "or call first_step() and second_step() yourself")
        closure = torch.enable_grad()(closure)
        self.first_step(zero_grad=True)
        loss = closure()
        self.second_step()
        return loss

    # -- state ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The base optimizer's state (its groups carry ``rho`` and ``adaptive``).

        The copy of ``w`` kept between the two steps is not part of it: checkpoints are
        taken between full steps.
        """
        if self._perturbed:
            raise RuntimeError("SAM state requested between first_step and second_step; "
                               "checkpoint after second_step")
        return {"base_optimizer": self.base_optimizer.state_dict(), "sam": 1}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        if "base_optimizer" not in state_dict:
            raise ValueError("not a SAM state dict (no 'base_optimizer' key); was the "
                             "checkpoint written without SAM?")
        self.base_optimizer.load_state_dict(state_dict["base_optimizer"])
        self.param_groups = self.base_optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def __repr__(self) -> str:
        group = self.param_groups[0] if self.param_groups else {}
        return (f"SAM(rho={group.get('rho')}, adaptive={group.get('adaptive')}, "
                f"base={type(self.base_optimizer).__name__})")


# --------------------------------------------------------------------------- BatchNorm


def _batchnorms(model: nn.Module) -> Iterator[nn.modules.batchnorm._BatchNorm]:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            yield module


def disable_running_stats(model: nn.Module) -> None:
    """Stop BatchNorm layers in training mode from updating their running statistics
    (they normalise with the batch statistics, as in training)."""
    for module in _batchnorms(model):
        if module.training and module.track_running_stats:
            module.track_running_stats = False
            module._curate_sam_frozen = True  # type: ignore[attr-defined]


def enable_running_stats(model: nn.Module) -> None:
    """Undo :func:`disable_running_stats`."""
    for module in _batchnorms(model):
        if getattr(module, "_curate_sam_frozen", False):
            module.track_running_stats = True
            del module._curate_sam_frozen  # type: ignore[attr-defined]


@contextlib.contextmanager
def frozen_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """BatchNorm running statistics (and ``num_batches_tracked``) stay as they are
    inside the block; normalisation still uses the batch statistics."""
    disable_running_stats(model)
    try:
        yield
    finally:
        enable_running_stats(model)
