"""Benchmarks behind ``curate bench ...``: each one measures curate against a baseline.

Every benchmark returns a dict with ``name``, ``value``, ``unit``, ``baseline`` (the
same measure for the baseline), ``ratio`` (``value / baseline``, higher is better) and
the details of the set-up; ``curate bench NAME --json`` prints it as one JSON object.
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any, Optional

import numpy as np
import torch

from curate.threads import torch_threads

__all__ = ["bench_rawboost"]


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} is not available (torch sees no CUDA device); "
                         "use device 'cpu'")
    return torch.device(name)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_rawboost(algo: int = 5, batch: int = 32, seconds: float = 4.0, device: str = "cpu",
                   *, sample_rate: int = 16000, repeats: int = 10, warmup: int = 3,
                   reference_clips: Optional[int] = None, threads: Optional[int] = 1,
                   seed: int = 0) -> dict[str, Any]:
    """Batched RawBoost against the per-utterance numpy/scipy implementation.

    Both process the same ``batch`` clips of ``seconds`` s of noise-like audio: the
    batched :func:`curate.augment.rawboost.rawboost` on ``device`` in float32 (one call
    per batch, drawing its parameters included; median of ``repeats`` timed calls after
    ``warmup``), the reference :func:`curate.augment.rawboost_reference.rawboost_reference`
    one utterance at a time on one CPU core (as it runs in a data loader worker; mean
    over the clips). The reference clips are timed between the batched calls, so a
    shared machine's load weighs on both alike.

    Args:
        algo: RawBoost algorithm, 1-8.
        batch: clips per batch.
        seconds: clip duration, s.
        device: "cpu" or "cuda".
        sample_rate: Hz.
        repeats: timed batched calls (the median counts).
        warmup: untimed batched calls first.
        reference_clips: clips the reference is timed on (default: all ``batch``).
        threads: torch CPU threads for the batched run (default 1, the reference's one
            core; None keeps torch's setting).
        seed: seed of the input and of the draws.

    Returns:
        dict: ``name``, ``value`` (batched clips/s), ``unit``, ``baseline`` (reference
        clips/s), ``ratio``, plus ``rtf`` / ``rtf_reference`` (compute time per second
        of audio), ``batch_ms`` and the set-up.
    """
    from curate.augment.rawboost import _check_algo, rawboost
    from curate.augment.rawboost_reference import rawboost_reference

    algo = _check_algo(algo)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 (or None for torch's setting), got {threads}")
    where = _device(device)
    samples = int(round(seconds * sample_rate))
    if samples < 1:
        raise ValueError(f"seconds={seconds} is shorter than one sample at {sample_rate} Hz")
    n_ref = batch if reference_clips is None else max(1, min(batch, reference_clips))

    gen = torch.Generator().manual_seed(seed)
    x_cpu = 0.1 * torch.randn(batch, samples, generator=gen)
    x_np = x_cpu.double().numpy()
    rs = np.random.RandomState(seed)
    # The reference clips are spread over the timed repeats, so that both sides see the
    # same load on a shared machine.
    chunks = np.array_split(np.arange(n_ref), min(repeats, n_ref))
    chunks += [np.arange(0)] * (repeats - len(chunks))
    times, ref_time = [], 0.0
    with torch_threads(threads) as used_threads:
        x = x_cpu.to(where)
        draws = torch.Generator(device=where).manual_seed(seed + 1)
        for _ in range(warmup):
            rawboost(x, None, algo, draws, sample_rate)
        _synchronise(where)
        for chunk in chunks:
            start = time.perf_counter()
            rawboost(x, None, algo, draws, sample_rate)
            _synchronise(where)
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            for i in chunk:
                rawboost_reference(x_np[i], algo, rs, sample_rate)
            ref_time += time.perf_counter() - start
    per_clip_ref = ref_time / n_ref

    batch_s = statistics.median(times)
    value = batch / batch_s
    baseline = 1.0 / per_clip_ref
    device_name = (torch.cuda.get_device_name(where) if where.type == "cuda"
                   else platform.processor() or platform.machine())
    return {
        "name": f"rawboost_algo{algo}_{where.type}",
        "value": value,
        "unit": "clips/s",
        "baseline": baseline,
        "ratio": value / baseline,
        "rtf": batch_s / (batch * seconds),
        "rtf_reference": per_clip_ref / seconds,
        "batch_ms": batch_s * 1e3,
        "batch_ms_min": min(times) * 1e3,
        "reference_ms_per_clip": per_clip_ref * 1e3,
        "algo": algo,
        "batch": batch,
        "seconds": seconds,
        "sample_rate": sample_rate,
        "device": where.type,
        "device_name": device_name,
        "threads": used_threads,
        "repeats": repeats,
        "reference_clips": n_ref,
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
