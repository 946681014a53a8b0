"""``curate bench codec``: batched G.711 and channel simulations against per-clip PyAV.

:func:`bench_codec` measures, on the same clips:

- **batched tensor steps** on ``device`` (one call per batch, parameters drawn
  included): G.711 mu-law, telephone (8 kHz, band-pass, G.711), band limit, packet loss,
  sample-rate reduction, gain;
- **the per-clip CPU path** they replace: PyAV ``pcm_mulaw`` through
  :func:`curate.augment.realcodec.encode_decode` at the clips' rate (the baseline of
  G.711 and of the other sims), and at 8 kHz with resampling (the baseline of the
  telephone channel);
- **the CPU cost of every real codec** available here, per clip at its default bit
  rate.

The result follows :mod:`curate.bench`'s convention: ``value`` (batched G.711,
clips/s), ``baseline`` (PyAV pcm_mulaw per clip, clips/s), ``ratio``, plus the details.
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np
import torch

__all__ = ["bench_codec"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn: Callable[[], Any], repeats: int, warmup: int,
                 device: Optional[torch.device] = None) -> float:
    for _ in range(warmup):
        fn()
    if device is not None:
        _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device is not None:
            _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_codec(device: str = "cpu", batch: int = 32, seconds: float = 4.0, *,
                sample_rate: int = 16000, repeats: int = 5, warmup: int = 2,
                cpu_clips: int = 8, threads: Optional[int] = 1, seed: int = 0,
                codecs: Optional[list[str]] = None) -> dict[str, Any]:
    """Batched G.711 / channel simulations vs the per-clip PyAV path, and real-codec costs.

    Args:
        device: "cpu" or "cuda" (or "cuda:N") for the batched steps.
        batch: clips per batch.
        seconds: clip duration, s.
        sample_rate: Hz.
        repeats: timed batched calls (the median counts).
        warmup: untimed batched calls first.
        cpu_clips: clips timed one by one for every per-clip CPU figure (mean).
        threads: torch CPU threads (default 1: a loader worker's share; None keeps
            torch's setting).
        seed: seed of the clips and the draws.
        codecs: real codecs to time (default: all available).

    Returns:
        dict: ``name``, ``value`` (batched G.711 clips/s), ``unit``, ``baseline``
        (PyAV pcm_mulaw per clip, clips/s), ``ratio``; ``tensor[step]`` =
        ``{clips_per_s, batch_ms, rtf, ratio}`` (ratio against its per-clip CPU
        baseline); ``cpu_path`` = the per-clip PyAV baselines; ``codecs[name]`` =
        ``{bitrate, codec_rate, ms_per_clip, clips_per_s, rtf}``; and the set-up.
    """
    from curate.augment import realcodec
    from curate.augment.channel.steps import TENSOR_STEPS

    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} is not available (torch sees no CUDA device); "
                         "use device 'cpu'")
    for name, value in (("batch", batch), ("repeats", repeats), ("cpu_clips", cpu_clips)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    dev = torch.device(device)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        n = int(seconds * sample_rate)
        probe = realcodec._probe(sample_rate, seconds)
        rng = np.random.default_rng(seed)
        clips = np.stack([np.roll(probe, int(rng.integers(n))) * rng.uniform(0.3, 1.0)
                          for _ in range(batch)]).astype(np.float32)
        x = torch.from_numpy(clips).to(dev)
        lengths = torch.full((batch,), n, dtype=torch.int64, device=dev)
        cpu_n = min(cpu_clips, batch)

        def per_clip(fn: Callable[[np.ndarray], Any]) -> float:
            fn(clips[0])  # warm-up (and the codec's delay measurement)
            start = time.perf_counter()
            for i in range(cpu_n):
                fn(clips[i])
            return (time.perf_counter() - start) / cpu_n

        mulaw_s = per_clip(lambda c: realcodec.encode_decode(c, sample_rate, "g711_mu",
                                                             codec_rate_hz=sample_rate))
        phone_s = per_clip(lambda c: realcodec.encode_decode(c, sample_rate, "g711_mu"))
        cpu_path = {
            "pcm_mulaw": {"clips_per_s": 1 / mulaw_s, "ms_per_clip": 1000 * mulaw_s,
                          "rtf": mulaw_s / seconds, "codec_rate": sample_rate},
            "pcm_mulaw_8k": {"clips_per_s": 1 / phone_s, "ms_per_clip": 1000 * phone_s,
                             "rtf": phone_s / seconds, "codec_rate": 8000},
        }
        settings = {"g711": {"law": "mu"}, "telephone": {"law": "mu"}, "bandlimit": {},
                    "packet_loss": {}, "downsample": {"rates": [8000]}, "gain": {}}
        tensor: dict[str, Any] = {}
        for name, extra in settings.items():
            step = TENSOR_STEPS[name](sample_rate=sample_rate, **extra)
            generator = torch.Generator(device=dev).manual_seed(seed)   # draws on the device

            def call(step=step, generator=generator) -> None:
                params = step.sample_params(batch, generator)
                step.apply(x, lengths, params)

            elapsed = _median_time(call, repeats, warmup, dev)
            baseline = phone_s if name == "telephone" else mulaw_s
            clips_per_s = batch / elapsed
            tensor[name] = {"clips_per_s": clips_per_s, "batch_ms": 1000 * elapsed,
                            "rtf": elapsed / (batch * seconds),
                            "ratio": clips_per_s * baseline,
                            "baseline": "pcm_mulaw_8k" if name == "telephone" else "pcm_mulaw"}
        codec_figures: dict[str, Any] = {}
        for name in (codecs or realcodec.available_codecs()):
            spec = realcodec.codec_spec(name)
            rate = realcodec.codec_rate(spec.name, sample_rate)
            used = realcodec.resolve_bitrate(spec.name, None, rate)
            elapsed = per_clip(lambda c, name=spec.name: realcodec.encode_decode(
                c, sample_rate, name))
            codec_figures[spec.name] = {"bitrate": used, "codec_rate": rate,
                                        "delay": realcodec.codec_delay(spec.name, rate),
                                        "ms_per_clip": 1000 * elapsed,
                                        "clips_per_s": 1 / elapsed, "rtf": elapsed / seconds}
        threads_used = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    g711 = tensor["g711"]["clips_per_s"]
    return {
        "name": "codec",
        "value": g711,
        "unit": "clips/s",
        "baseline": 1 / mulaw_s,
        "ratio": g711 * mulaw_s,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda"
        else (platform.processor() or platform.machine()),
        "batch": batch,
        "seconds": seconds,
        "sample_rate": sample_rate,
        "threads": threads_used,
        "repeats": repeats,
        "cpu_clips": cpu_n,
        "tensor": tensor,
        "cpu_path": cpu_path,
        "codecs": codec_figures,
    }
