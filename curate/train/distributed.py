"""DDP plumbing: the process group from ``torchrun``'s environment, rank helpers.

``torchrun --nproc-per-node N -m curate.cli train EXPERIMENT.toml`` (or any launcher
that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``)
starts N processes; :func:`init_from_env` joins them (NCCL on CUDA, gloo on CPU).
Code that already initialised a process group (a test with ``torch.multiprocessing``)
is picked up as is. Without either, everything runs as one process.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistContext", "context", "init_from_env", "broadcast_object", "gather_objects",
           "all_reduce_sum", "barrier", "maybe_no_sync"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on
    its node (the CUDA device it uses)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context() -> DistContext:
    """The current process group's view (one process when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistContext(dist.get_rank(), dist.get_world_size(), local)
    return DistContext()


def init_from_env(device: str = "auto", timeout_minutes: float = 60.0) -> DistContext:
    """Join the process group described by ``torchrun``'s environment variables, if any.

    Uses NCCL when CUDA is used, gloo otherwise; sets this process's CUDA device to
    ``LOCAL_RANK``. A no-op without ``WORLD_SIZE > 1`` or when already initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return context()
    cuda = torch.cuda.is_available() and not str(device).startswith("cpu")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://",
                            timeout=datetime.timedelta(minutes=timeout_minutes))
    return context()


def broadcast_object(obj: Any, ctx: DistContext | None = None) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; for small data such as selection rows)."""
    ctx = ctx or context()
    if not ctx.active:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any, ctx: DistContext | None = None) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    ctx = ctx or context()
    if not ctx.active:
        return [obj]
    out: list[Any] = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext | None = None) -> torch.Tensor:
    """Sum of ``tensor`` over ranks (in place; returned for chaining)."""
    ctx = ctx or context()
    if ctx.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(ctx: DistContext | None = None) -> None:
    ctx = ctx or context()
    if ctx.active:
        dist.barrier()


@contextlib.contextmanager
def maybe_no_sync(model: torch.nn.Module, skip_sync: bool) -> Iterator[None]:
    """``model.no_sync()`` when ``skip_sync`` and ``model`` is DDP-wrapped; else nothing."""
    if skip_sync and hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    else:
        yield
