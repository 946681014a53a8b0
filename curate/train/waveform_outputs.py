"""Per-utterance outputs of a detector over a waveform dataset, in input order: detection
scores of degraded audio (:mod:`curate.train.degrade`) and pooled embeddings
(:mod:`curate.train.embeddings`).

The loop is the eval loop of :func:`curate.train.loop.score` with the dataset and the
model function as arguments: items are ``(waveform (time,), length, label)`` as
:class:`curate.train.data.CropDataset` yields them in eval mode, batched in order of
duration (less padding; the result is the same, since detectors are invariant to
padding in eval mode), zero-padded and masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from curate.threads import torch_threads
from curate.train.data import check_finite, collate
from curate.train.loop import TrainConfig, resolve_device
from curate.train.models import bonafide_score

__all__ = ["model_outputs", "score_fn", "embed_fn", "embedding_dim"]

#: ``fn(model, x (batch, time), lengths (batch,)) -> (batch,) or (batch, dim)``
OutputFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def score_fn(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Detection scores ``logit_bonafide - logit_spoof``, shape (batch,)."""
    return bonafide_score(model(x, lengths).float())


def embed_fn(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The pooled backbone output the head sees, shape (batch, embedding_dim)."""
    return model.embed(x, lengths).float()


def embedding_dim(model: nn.Module) -> int:
    """Size of a detector's pooled embedding (``model.embedding_dim``)."""
    dim = getattr(model, "embedding_dim", None)
    if not isinstance(dim, int) or not hasattr(model, "embed"):
        raise ValueError(f"model {type(model).__name__} has no pooled embedding (embed() and "
                         "embedding_dim); use a registered detector such as small_cnn or ssl")
    return dim


@torch.no_grad()
def model_outputs(model: nn.Module, dataset: torch.utils.data.Dataset, fn: OutputFn,
                  config: TrainConfig, device: str | torch.device,
                  durations: Sequence[float] | None = None,
                  describe: Callable[[int], str] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``fn`` of every item of ``dataset``, in dataset order, with the run's eval settings
    (``eval_batch_size``, ``num_workers``, ``precision``, ``threads``).

    Args:
        model: a detector; moved to ``device`` and put in eval mode (its mode is restored).
        dataset: items ``(waveform (time,), length, label)``.
        fn: what to compute per batch (:func:`score_fn`, :func:`embed_fn`).
        config: the run's training config.
        device: where to run ("cpu", "cuda", "auto", ...).
        durations: seconds per item, when known (batches of similar lengths).
        describe: names item ``i`` in a non-finite-audio error (default: its index).
        progress: ``progress(done, total)`` after each batch.

    Returns:
        float64 array ``(len(dataset),)`` or ``(len(dataset), dim)``.
    """
    n = len(dataset)
    dev = resolve_device(device)
    order = np.arange(n)
    if durations is not None and len(durations) == n:
        d = np.asarray(durations, dtype=np.float64)
        if np.isfinite(d).all():
            order = np.argsort(d, kind="stable")
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, order.tolist()), batch_size=config.eval_batch_size,
        shuffle=False, collate_fn=collate, num_workers=config.num_workers,
        pin_memory=dev.type == "cuda",
        generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16,
                              enabled=config.precision == "bf16")
    name = describe or (lambda i: f"item {i}")
    was_training = model.training
    model.to(dev).eval()
    parts: list[np.ndarray] = []
    done = 0
    try:
        with torch_threads(config.threads or None):
            for x, lengths, _ in loader:
                check_finite(x, lambda row, start=done: name(int(order[start + row])),
                             what="scored")
                done += x.shape[0]
                with autocast:
                    out = fn(model, x.to(dev, non_blocking=True),
                             lengths.to(dev, non_blocking=True))
                parts.append(out.double().cpu().numpy())
                if progress is not None:
                    progress(done, n)
    finally:
        model.train(was_training)
    if not parts:
        return np.zeros(0, dtype=np.float64)
    stacked = np.concatenate(parts)
    result = np.empty_like(stacked)
    result[order] = stacked
    return result
