"""Training benchmarks: the data loader, the cost of a SAM step, an SSL step breakdown.

Each returns a dict with ``name``, ``value``, ``unit``, ``baseline``, ``ratio``
(``value / baseline``) and the set-up, like the benchmarks of ``curate bench``:

- :func:`bench_loader`: audio-seconds delivered per second per worker by the training
  dataset (decode a window, resample, crop, the chain's CPU steps) against a naive
  per-item loader (decode the whole file, resample, crop in numpy). Higher is better.
- :func:`bench_sam_step`: milliseconds per SAM step against a plain step of the same
  model and batch; the ratio is the SAM cost (two forward/backward passes: about 2;
  the target is <= 2.1). Lower is better.
- :func:`bench_ssl_step`: where the time of one training step of an SSL detector
  goes (forward, backward, optimizer; SAM's extra pass), on a GPU where there is one.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio

from curate.threads import torch_threads

__all__ = ["bench_loader", "bench_sam_step", "bench_ssl_step"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _write_files(folder: Path, files: int, seconds: float, rate: int, fmt: str,
                 seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(files):
        path = folder / f"clip{i:04d}.{fmt}"
        x = 0.1 * rng.standard_normal(int(seconds * rate)).astype(np.float32)
        sf.write(str(path), x, rate)
        paths.append(str(path))
    return paths


def _naive_item(path: str, crop: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != sample_rate:
        x = torchaudio.functional.resample(torch.from_numpy(x), rate, sample_rate).numpy()
    if x.shape[0] > crop:
        start = int(rng.integers(0, x.shape[0] - crop + 1))
        x = x[start : start + crop]
    return np.ascontiguousarray(x)


def bench_loader(files: int = 48, seconds: float = 8.0, crop_seconds: float = 4.0, *,
                 source_rate: int = 16000, sample_rate: int = 16000, fmt: str = "flac",
                 workers: int = 1, batch_size: int = 16, epochs: int = 3, chain: Any = None,
                 regime: str = "fixed", seed: int = 0,
                 workdir: str | Path | None = None) -> dict[str, Any]:
    """Training-loader throughput in audio-seconds per second per worker.

    ``files`` clips of ``seconds`` s of noise at ``source_rate`` (``fmt``: flac or wav)
    are read ``epochs`` times through the training :class:`~curate.train.data.CropDataset`
    (random ``crop_seconds`` windows, resampled to ``sample_rate``, the chain's CPU
    steps when ``chain`` is given) by a DataLoader with ``workers`` processes (0: the
    main process). The baseline decodes each whole file, resamples and crops it, in
    the main process. Both deliver the same audio-seconds.

    Returns:
        dict: ``value`` (audio-s/s per worker), ``baseline`` (naive, one process),
        ``ratio``, ``total`` (audio-s/s of all workers) and the set-up.
    """
    from curate.train.data import CropDataset, EpochBatchSampler, collate

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        paths = _write_files(Path(tmp), files, seconds, source_rate, fmt, seed)
        labels = [i % 2 for i in range(files)]
        dataset = CropDataset(paths, labels, sample_rate=sample_rate, seconds=crop_seconds,
                              train=True, seed=seed, regime=regime, chain=chain)
        n_batches = max(2, epochs * files // batch_size)
        sampler = EpochBatchSampler(labels, batch_size, seed=seed, num_batches=n_batches)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate,
                                             num_workers=workers)
        delivered = 0.0
        start = None
        for x, lengths, _ in loader:  # timed from the first batch: worker start-up excluded
            if start is None:
                start = time.perf_counter()
                continue
            delivered += float(lengths.sum()) / sample_rate
        elapsed = time.perf_counter() - start
        n_timed = n_batches - 1

        rng = np.random.default_rng(seed)
        crop = round(crop_seconds * sample_rate)
        naive_delivered = 0.0
        start = time.perf_counter()
        for k in range(n_timed * batch_size):
            naive_delivered += _naive_item(paths[k % files], crop, sample_rate, rng).shape[0] \
                / sample_rate
        naive_elapsed = time.perf_counter() - start
    total = delivered / elapsed
    value = total / max(1, workers)
    baseline = naive_delivered / naive_elapsed
    return {
        "name": "loader", "value": value, "unit": "audio-s/s per worker",
        "baseline": baseline, "ratio": value / baseline, "total": total,
        "workers": workers, "files": files, "seconds": seconds, "crop_seconds": crop_seconds,
        "source_rate": source_rate, "sample_rate": sample_rate, "format": fmt,
        "regime": regime, "chain": getattr(chain, "source", None) if chain else None,
        "items": n_timed * batch_size, "cpu": platform.processor() or platform.machine(),
    }


def _step_fns(model: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor,
              y: torch.Tensor, precision: str, adaptive: bool, rho: float) -> tuple:
    from torch.nn import functional as F

    from curate.train.sam import SAM, frozen_batchnorm_stats

    plain = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sam = SAM(model.parameters(), torch.optim.AdamW, rho=rho, adaptive=adaptive, lr=1e-4)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16,
                              enabled=precision == "bf16")

    def loss() -> torch.Tensor:
        with autocast:
            logits = model(x, lengths)
        return F.cross_entropy(logits.float(), y)

    def plain_step() -> None:
        loss().backward()
        plain.step()
        plain.zero_grad(set_to_none=True)

    def sam_step() -> None:
        loss().backward()
        sam.first_step(zero_grad=True)
        with frozen_batchnorm_stats(model):
            loss().backward()
        sam.second_step(zero_grad=True)

    return plain_step, sam_step, loss


def bench_sam_step(model: str = "small_cnn", model_kwargs: dict[str, Any] | None = None, *,
                   batch: int = 16, seconds: float = 2.0, steps: int = 10, warmup: int = 2,
                   device: str = "cpu", precision: str = "fp32", adaptive: bool = False,
                   rho: float = 0.05, threads: int | None = None,
                   seed: int = 0) -> dict[str, Any]:
    """The cost of a SAM step relative to a plain step (same model, batch, optimizer).

    Plain and SAM steps alternate (so a shared machine's load weighs on both alike);
    the medians of ``steps`` timed steps of each after ``warmup`` are compared.

    Returns:
        dict: ``value`` (SAM ms/step), ``baseline`` (plain ms/step), ``ratio`` (SAM cost,
        lower is better; target <= 2.1) and the set-up.
    """
    from curate.train.models import build_model, count_parameters

    dev = torch.device(device)
    with torch_threads(threads) as used, torch.random.fork_rng(
            devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        net = build_model(model, sample_rate=16000, **(model_kwargs or {})).to(dev).train()
        x = 0.1 * torch.randn(batch, int(seconds * 16000), device=dev)
        lengths = torch.full((batch,), x.shape[1], device=dev)
        y = torch.arange(batch, device=dev) % 2
        plain_step, sam_step, _ = _step_fns(net, x, lengths, y, precision, adaptive, rho)
        plain_t, sam_t = [], []
        for k in range(warmup + steps):
            for fn, out in ((plain_step, plain_t), (sam_step, sam_t)):
                _sync(dev)
                start = time.perf_counter()
                fn()
                _sync(dev)
                if k >= warmup:
                    out.append(time.perf_counter() - start)
        params = count_parameters(net)
    plain_ms = 1000 * statistics.median(plain_t)
    sam_ms = 1000 * statistics.median(sam_t)
    return {
        "name": "sam_step", "value": sam_ms, "unit": "ms/step", "baseline": plain_ms,
        "ratio": sam_ms / plain_ms, "target_max_ratio": 2.1, "lower_is_better": True,
        "model": model, "parameters": params, "batch": batch, "seconds": seconds,
        "device": str(dev), "precision": precision, "adaptive": adaptive, "threads": used,
        "steps": steps,
    }


def bench_ssl_step(arch: str = "wav2vec2_base", *, arch_config: dict[str, Any] | None = None,
                   batch: int = 8, seconds: float = 4.0, steps: int = 5, warmup: int = 2,
                   device: str = "auto", precision: str = "bf16", pooling: str = "mean",
                   seed: int = 0) -> dict[str, Any]:
    """Where one SSL training step's time goes: forward, backward, optimizer, and a SAM
    step's total (randomly initialised weights; the shapes are what counts).

    Returns:
        dict: ``value`` (SAM ms/step), ``baseline`` (plain ms/step), ``ratio``, and
        ``forward_ms``, ``backward_ms``, ``optimizer_ms``, ``peak_memory_gb`` (CUDA).
    """
    from torch.nn import functional as F

    from curate.train.models import build_model, count_parameters

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        net = build_model("ssl", sample_rate=16000, arch=arch, arch_config=arch_config,
                          pooling=pooling).to(dev).train()
        x = 0.1 * torch.randn(batch, int(seconds * 16000), device=dev)
    lengths = torch.full((batch,), x.shape[1], device=dev)
    y = torch.arange(batch, device=dev) % 2
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    fwd, bwd, opt = [], [], []
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for k in range(warmup + steps):
        _sync(dev)
        t0 = time.perf_counter()
        with autocast:
            logits = net(x, lengths)
        loss = F.cross_entropy(logits.float(), y)
        _sync(dev)
        t1 = time.perf_counter()
        loss.backward()
        _sync(dev)
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(dev)
        t3 = time.perf_counter()
        if k >= warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            opt.append(t3 - t2)
    plain_step, sam_step, _ = _step_fns(net, x, lengths, y, precision, False, 0.05)
    sam_t = []
    for k in range(warmup + steps):
        _sync(dev)
        start = time.perf_counter()
        sam_step()
        _sync(dev)
        if k >= warmup:
            sam_t.append(time.perf_counter() - start)
    parts = {name: 1000 * statistics.median(v) for name, v in
             (("forward_ms", fwd), ("backward_ms", bwd), ("optimizer_ms", opt))}
    plain_ms = sum(parts.values())
    sam_ms = 1000 * statistics.median(sam_t)
    return {
        "name": "ssl_step", "value": sam_ms, "unit": "ms/step", "baseline": plain_ms,
        "ratio": sam_ms / plain_ms, **parts,
        "peak_memory_gb": (torch.cuda.max_memory_allocated(dev) / 2**30
                           if dev.type == "cuda" else None),
        "arch": arch, "parameters": count_parameters(net), "batch": batch,
        "seconds": seconds, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else
        (platform.processor() or platform.machine()), "precision": precision,
    }
