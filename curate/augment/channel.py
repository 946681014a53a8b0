"""Channel simulations as batched tensor transforms: telephone, band limits, bit depth,
sample-rate reduction, packet loss, gain and clipping.

Every transform works on a batch ``x`` of shape ``(batch, time)`` with ``lengths``
(valid samples per row) on any device, and follows the house pattern:

- a pure function does the work (:func:`telephone`, :func:`bandlimit`,
  :func:`bit_depth`, :func:`downsample`, :func:`packet_loss`, :func:`gain`,
  :func:`clip`), deterministic, with per-row arguments;
- a frozen settings dataclass (:class:`Telephone`, :class:`Bandlimit`, ...) holds the
  ranges, checks them (``ValueError`` naming the argument and the fix), draws
  per-row parameters with ``sample_params(batch, generator)`` and applies them with
  ``apply(x, lengths, params)``.

The draws are tensors on the generator's device (:class:`~curate.augment.drawn.StepParams`)
and ``apply`` uses them there: no value is read back to the host, no Python loop runs
over items. A choice among options (a G.711 law, a rate, a concealment) is an index
tensor; a step computes each option that can occur on the whole batch and keeps each
row's own with ``torch.where``. Indexing or iterating the params gives plain dicts
(JSON-ready, loggable; one transfer to the host), and ``apply`` replays such dicts.

Samples past a row's length are ignored and come back as zeros. Filters are linear
phase and compensated (zero delay), so outputs stay time-aligned with inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Optional, Union

import torch
import torchaudio.transforms as AT
from scipy.fft import next_fast_len
from torch import Tensor

from curate.augment.codec import LAWS, g711
from curate.augment.counter_rng import uniform_frames
from curate.augment.drawn import StepParams
from curate.batch import check_batch  # noqa: F401 (re-exported)

__all__ = [
    "fir_lowpass",
    "fir_filter",
    "telephone",
    "bandlimit",
    "bit_depth",
    "downsample",
    "packet_loss",
    "gain",
    "clip",
    "G711Step",
    "Telephone",
    "Bandlimit",
    "BitDepth",
    "Downsample",
    "PacketLoss",
    "Gain",
    "Clip",
    "TENSOR_STEPS",
]

Params = Sequence[Mapping[str, Any]]


# ------------------------------------------------------------------------ helpers


def _mask(x: Tensor, lengths: Tensor) -> Tensor:
    keep = torch.arange(x.shape[-1], device=x.device) < lengths[:, None]
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def _row_tensor(values: Union[float, Sequence[float], Tensor], batch: int,
                device: torch.device, name: str) -> Tensor:
    """float64 ``(batch,)`` on ``device``: a tensor is moved (without waiting for the
    device), a number repeated, a list copied from the host."""
    if isinstance(values, Tensor):
        t = values.to(device=device, dtype=torch.float64, non_blocking=True)
    elif isinstance(values, (int, float)):
        t = torch.full((batch,), float(values), dtype=torch.float64, device=device)
    else:
        t = torch.tensor(values, dtype=torch.float64).to(device, non_blocking=True)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name} must be one number or one per row ({batch}), got shape "
                         f"{tuple(t.shape)}")
    return t


#: torchaudio resampling settings of the channel steps: Kaiser-windowed sinc, 16 zero
#: crossings, 95 % roll-off (stop band below -60 dB; torchaudio's default leaks ~-25 dB).
RESAMPLE = {"lowpass_filter_width": 16, "resampling_method": "sinc_interp_kaiser",
            "beta": 8.0, "rolloff": 0.95}


_RESAMPLERS: dict[tuple[int, int, torch.dtype, torch.device], torch.nn.Module] = {}


def _resample(x: Tensor, src: int, dst: int) -> Tensor:
    """torchaudio's resampling with :data:`RESAMPLE`, the kernel cached per (rates, dtype,
    device): made once on the host and moved without waiting for the device, so a call
    does not copy anything from the host (``torchaudio.functional.resample`` builds its
    kernel with a blocking copy on every call). Same kernel, same numbers."""
    key = (int(src), int(dst), x.dtype, x.device)
    resampler = _RESAMPLERS.get(key)
    if resampler is None:
        resampler = AT.Resample(int(src), int(dst), dtype=x.dtype, **RESAMPLE) \
            .to(x.device, non_blocking=True)
        _RESAMPLERS[key] = resampler
    return resampler(x)


def _margin(sample_rate: int, other_rate: int, taps: int = 0) -> int:
    """Zeros appended before resampling/filtering so that a row's filter tails are
    computed whatever the batch's padding (batch and single rows then agree)."""
    ratio = math.ceil(sample_rate / max(1, other_rate))
    return (taps + 2 * RESAMPLE["lowpass_filter_width"] + 2) * ratio


def fir_lowpass(cutoff_hz: Tensor, sample_rate: int, taps: int) -> Tensor:
    """Blackman-windowed sinc low-pass filters, one per cutoff, unit gain at DC.

    Args:
        cutoff_hz: float ``(rows,)``, Hz, in (0, sample_rate / 2].
        sample_rate: Hz.
        taps: odd filter length (transition band about ``5.5 * sample_rate / taps`` Hz).

    Returns:
        float64 ``(rows, taps)`` on ``cutoff_hz``'s device.
    """
    n = torch.arange(taps, dtype=torch.float64, device=cutoff_hz.device) - (taps - 1) / 2
    fc = (cutoff_hz.to(torch.float64) / sample_rate)[:, None]
    h = 2 * fc * torch.sinc(2 * fc * n)
    w = torch.blackman_window(taps, periodic=False, dtype=torch.float64, device=h.device)
    h = h * w
    return h / h.sum(dim=-1, keepdim=True)


def fir_filter(x: Tensor, kernels: Tensor) -> Tensor:
    """Zero-phase (centred) linear convolution of every row with its odd-length kernel,
    by FFT; ``kernels`` is ``(batch, taps)`` or ``(1, taps)``. Output like ``x``."""
    batch, time = x.shape
    taps = kernels.shape[-1]
    if time == 0 or batch == 0:
        return x.clone()
    n = next_fast_len(time + taps - 1)
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    spectrum = torch.fft.rfft(x.to(compute), n) * torch.fft.rfft(kernels.to(compute), n)
    half = (taps - 1) // 2
    return torch.fft.irfft(spectrum, n)[:, half:half + time].to(x.dtype)


# ------------------------------------------------------------------- pure transforms

#: G.711 law codes of :func:`telephone`'s per-row ``law`` tensor.
LAW_CODES = {"mu": 0, "a": 1, None: -1}


def _law_codes(law: Union[None, str, Sequence[Optional[str]], Tensor], batch: int,
               device: torch.device) -> Union[None, str, Tensor]:
    """None (no G.711 on any row), one law for all rows, or int codes ``(batch,)``."""
    if law is None or isinstance(law, str):
        return law
    if isinstance(law, Tensor):
        if law.shape != (batch,) or law.is_floating_point() or law.is_complex():
            raise ValueError(f"law as a tensor must be int codes of shape ({batch},) "
                             f"(0 mu-law, 1 A-law, -1 none), got {law.dtype} of shape "
                             f"{tuple(law.shape)}")
        return law.to(device, non_blocking=True)
    laws = list(law)
    if len(laws) != batch:
        raise ValueError(f"law holds {len(laws)} values for {batch} rows; give one per row")
    if any(v not in LAW_CODES for v in laws):
        raise ValueError(f"law must be 'mu', 'a' or None per row, got {law!r}")
    if all(v is None for v in laws):
        return None
    return torch.tensor([LAW_CODES[v] for v in laws]).to(device, non_blocking=True)


def telephone(x: Tensor, lengths: Optional[Tensor], sample_rate: int, *,
              law: Union[None, str, Sequence[Optional[str]], Tensor] = "mu",
              low_hz: Union[float, Tensor] = 300.0, high_hz: Union[float, Tensor] = 3400.0,
              narrow_rate: int = 8000, taps: int = 129) -> Tensor:
    """A narrowband telephone channel: resample to ``narrow_rate`` (torchaudio), band-pass
    ``low_hz``-``high_hz``, optionally G.711, resample back.

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        sample_rate: Hz.
        law: "mu", "a", None (no G.711), one of these per row, or int codes per row
            (a tensor ``(batch,)``: 0 mu-law, 1 A-law, -1 none; :data:`LAW_CODES`).
        low_hz, high_hz: pass band edges, Hz (300-3400 Hz is the ITU telephone band);
            numbers (checked), or float tensors ``(batch,)``, one per row (not checked:
            that would read them back from the device).
        narrow_rate: Hz of the narrowband leg (8000).
        taps: band-pass FIR length at ``narrow_rate`` (odd).

    Returns:
        ``(batch, time)`` at ``sample_rate``, time-aligned with ``x``.
    """
    x, lengths = check_batch(x, lengths)
    per_row = isinstance(low_hz, Tensor) or isinstance(high_hz, Tensor)
    if not per_row and not 0 <= low_hz < high_hz <= narrow_rate / 2:
        raise ValueError(f"low_hz={low_hz} and high_hz={high_hz} must satisfy 0 <= low_hz < "
                         f"high_hz <= narrow_rate/2 = {narrow_rate / 2:g} Hz")
    batch, time = x.shape
    codes = _law_codes(law, batch, x.device)
    if batch == 0 or time == 0:
        return x.clone()
    y = torch.nn.functional.pad(_mask(x, lengths), (0, _margin(sample_rate, narrow_rate, taps)))
    if sample_rate != narrow_rate:
        y = _resample(y, sample_rate, narrow_rate)
    if per_row:
        low = _row_tensor(low_hz, batch, x.device, "low_hz")
        high = _row_tensor(high_hz, batch, x.device, "high_hz")
        lp = fir_lowpass(torch.cat([high, low.clamp(min=1e-6)]), narrow_rate, taps)
        kernel = lp[:batch] - torch.where((low > 0)[:, None], lp[batch:], torch.zeros_like(lp[:1]))
    else:
        edges = torch.tensor([high_hz, max(low_hz, 1e-6)], dtype=torch.float64) \
            .to(x.device, non_blocking=True)
        lp = fir_lowpass(edges, narrow_rate, taps)
        kernel = (lp[0] - lp[1])[None] if low_hz > 0 else lp[:1]
    y = fir_filter(y, kernel)
    if isinstance(codes, str):
        y = g711(y, codes)
    elif codes is not None:
        y = torch.where((codes >= 0)[:, None], g711(y, codes == 1), y)
    if sample_rate != narrow_rate:
        y = _resample(y, narrow_rate, sample_rate)
    y = y[:, :time]
    if y.shape[-1] < time:
        y = torch.nn.functional.pad(y, (0, time - y.shape[-1]))
    return _mask(y.to(x.dtype), lengths)


def bandlimit(x: Tensor, lengths: Optional[Tensor], cutoff_hz: Union[float, Sequence[float],
              Tensor], sample_rate: int, taps: int = 255) -> Tensor:
    """Low-pass every row at its own ``cutoff_hz`` (Hz; windowed-sinc FIR, zero phase)."""
    x, lengths = check_batch(x, lengths)
    cutoff = _row_tensor(cutoff_hz, x.shape[0], x.device, "cutoff_hz")
    if x.shape[0] == 0:
        return x.clone()
    return _mask(fir_filter(_mask(x, lengths), fir_lowpass(cutoff, sample_rate, taps)), lengths)


def bit_depth(x: Tensor, lengths: Optional[Tensor],
              bits: Union[int, Sequence[int], Tensor]) -> Tensor:
    """Requantise every row to ``bits`` bits (mid-tread, full scale [-1, 1)):
    ``round(x * 2**(bits-1)) / 2**(bits-1)``, clipped."""
    x, lengths = check_batch(x, lengths)
    b = _row_tensor(bits, x.shape[0], x.device, "bits")
    q = (2.0 ** (b - 1))[:, None].to(torch.float64)
    y = torch.clamp(torch.round(x.to(torch.float64) * q), -q, q - 1) / q
    return _mask(y.to(x.dtype), lengths)


def downsample(x: Tensor, lengths: Optional[Tensor], rate: Union[int, Sequence[int], Tensor],
               sample_rate: int, method: str = "sinc",
               rates: Optional[Sequence[int]] = None) -> Tensor:
    """Reduce every row's sample rate to ``rate`` Hz and bring it back to ``sample_rate``.

    ``method="sinc"``: torchaudio's band-limited resampling down and up (a recording made
    at ``rate``). ``method="hold"``: keep every ``sample_rate/rate``-th sample and hold it
    (zero-order hold, no anti-aliasing: aliasing and imaging, like a cheap converter).

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        rate: Hz, one for all rows, one per row, or an int tensor ``(batch,)``.
        sample_rate: Hz.
        method: "sinc" or "hold".
        rates: the values a ``rate`` tensor can hold (host integers; needed for "sinc"
            with a tensor): each is resampled on the whole batch and every row keeps its
            own, so nothing is read back from the device. A row whose rate is not
            listed, or equals ``sample_rate``, is left as it is.
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    if method not in ("sinc", "hold"):
        raise ValueError(f"method must be 'sinc' or 'hold', got {method!r}")
    if isinstance(rate, Tensor):
        if rate.shape != (batch,):
            raise ValueError(f"rate holds {tuple(rate.shape)} values for {batch} rows; give "
                             "one per row")
        if method == "sinc" and rates is None:
            raise ValueError("a rate tensor needs rates, the values it can hold (Hz), for "
                             "method 'sinc'")
        row_rate = rate.to(x.device, non_blocking=True)
        options = tuple(int(r) for r in rates or ())
    else:
        values = [int(rate)] * batch if isinstance(rate, (int, float)) else [int(r) for r in rate]
        if len(values) != batch:
            raise ValueError(f"rate holds {len(values)} values for {batch} rows; give one "
                             "per row")
        row_rate = torch.tensor(values, dtype=torch.int64).to(x.device, non_blocking=True)
        options = tuple(sorted(set(values)))
    if batch == 0 or time == 0:
        return x.clone()
    x = _mask(x, lengths)
    if method == "hold":
        r = row_rate.to(torch.float64)[:, None]
        n = torch.arange(time, dtype=torch.float64, device=x.device)
        k = torch.floor(n * r / sample_rate)
        src = torch.floor(k * sample_rate / r).to(torch.int64).clamp(0, time - 1)
        return _mask(x.gather(1, src), lengths)
    y = x
    for value in options:
        if value == sample_rate:
            continue
        part = torch.nn.functional.pad(x, (0, _margin(sample_rate, value)))
        part = _resample(_resample(part, sample_rate, value), value, sample_rate)[:, :time]
        if part.shape[-1] < time:
            part = torch.nn.functional.pad(part, (0, time - part.shape[-1]))
        y = torch.where((row_rate == value)[:, None], part.to(x.dtype), y)
    return _mask(y, lengths)


#: Counter-RNG stream of the packet-loss draws (see :mod:`curate.augment.counter_rng`).
PACKET_LOSS_STREAM = 16


def packet_loss(x: Tensor, lengths: Optional[Tensor], sample_rate: int,
                frame_ms: Union[float, Sequence[float], Tensor],
                loss: Union[float, Sequence[float], Tensor],
                seed: Union[int, Sequence[int], Tensor],
                conceal: Union[str, Sequence[str], Tensor] = "zero",
                min_frame_ms: Optional[float] = None) -> Tensor:
    """Drop frames of ``frame_ms`` ms, each independently with probability ``loss``.

    Frame ``k`` of a row is lost when the counter-based uniform of ``(seed, k)``
    (:func:`curate.augment.counter_rng.uniform_frames`, stream
    :data:`PACKET_LOSS_STREAM`) is below ``loss``: the same drops on any device and in
    any batch. Concealment: ``"zero"`` (silence) or ``"repeat"`` (the last received
    frame again; a lost first frame is silence).

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        sample_rate: Hz.
        frame_ms: frame length, ms (rounded to whole samples, at least one), per row or
            for all.
        loss: probability that a frame is lost, per row or for all.
        seed: int per row or for all.
        conceal: "zero", "repeat", one of them per row, or a bool tensor ``(batch,)``
            (true: repeat).
        min_frame_ms: a lower bound of ``frame_ms`` known on the host, which sizes the
            frame draws when ``frame_ms`` is a tensor (None then: one draw per sample,
            slower, same result).
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    if batch == 0 or time == 0:
        return x.clone()
    dev = x.device
    rate = _row_tensor(loss, batch, dev, "loss")
    if isinstance(seed, Tensor):
        seeds = seed.to(dev, dtype=torch.int64, non_blocking=True).expand(batch)
    else:
        seeds = torch.tensor(seed, dtype=torch.int64).expand(batch).to(dev, non_blocking=True)
    if isinstance(conceal, Tensor):
        repeat: Union[bool, Tensor] = conceal.to(dev, dtype=torch.bool, non_blocking=True)
    else:
        modes = [conceal] * batch if isinstance(conceal, str) else list(conceal)
        if len(modes) != batch or any(m not in ("zero", "repeat") for m in modes):
            raise ValueError(f"conceal must be 'zero' or 'repeat' (or one per row), got "
                             f"{conceal!r}")
        repeat = all(m == "repeat" for m in modes) if len(set(modes)) == 1 else \
            torch.tensor([m == "repeat" for m in modes]).to(dev, non_blocking=True)
    if isinstance(frame_ms, Tensor):
        shortest = 1.0 if min_frame_ms is None else min_frame_ms * sample_rate / 1000
        frame = frame_ms.to(dev, dtype=torch.float64, non_blocking=True).expand(batch)
    else:
        host = [float(frame_ms)] * batch if isinstance(frame_ms, (int, float)) \
            else [float(v) for v in frame_ms]
        shortest = min(host) * sample_rate / 1000
        frame = torch.tensor(host, dtype=torch.float64).to(dev, non_blocking=True)
    frame = torch.clamp(torch.round(frame * sample_rate / 1000), min=1).to(torch.int64)
    shortest = max(1.0, float(round(shortest)))
    n = torch.arange(time, device=dev)
    index = n[None, :] // frame[:, None]                             # frame of each sample
    max_frames = int(math.ceil(time / shortest))
    lost = uniform_frames(seeds, max_frames + 1, PACKET_LOSS_STREAM, dev) < rate[:, None]
    x = _mask(x, lengths)
    sample_lost = lost.gather(1, index.clamp(max=max_frames))
    y = torch.where(sample_lost, torch.zeros((), dtype=x.dtype, device=dev), x)
    if repeat is not False:
        frames = torch.arange(max_frames + 1, device=dev).expand(batch, -1)
        kept = torch.where(lost, torch.full_like(frames, -1), frames)
        last_kept = torch.cummax(kept, dim=1).values                # -1: none received yet
        src_frame = last_kept.gather(1, index.clamp(max=max_frames))
        src = src_frame * frame[:, None] + (n[None, :] - index * frame[:, None])
        filled = torch.where(src_frame >= 0, x.gather(1, src.clamp(0, time - 1)),
                             torch.zeros((), dtype=x.dtype, device=dev))
        use = sample_lost if repeat is True else repeat[:, None] & sample_lost
        y = torch.where(use, filled, y)
    return _mask(y, lengths)


def gain(x: Tensor, lengths: Optional[Tensor], gain_db: Union[float, Sequence[float], Tensor],
         clip: bool = True) -> Tensor:
    """Scale every row by ``gain_db`` dB; with ``clip`` hard-clip at digital full scale ±1."""
    x, lengths = check_batch(x, lengths)
    g = _row_tensor(gain_db, x.shape[0], x.device, "gain_db")
    y = x * (10.0 ** (g / 20.0)).to(x.dtype)[:, None]
    if clip:
        y = y.clamp(-1.0, 1.0)
    return _mask(y, lengths)


def clip(x: Tensor, lengths: Optional[Tensor],
         clip_db: Union[float, Sequence[float], Tensor]) -> Tensor:
    """Hard-clip every row at ``clip_db`` dB relative to its own peak (``clip_db <= 0``)."""
    x, lengths = check_batch(x, lengths)
    c = _row_tensor(clip_db, x.shape[0], x.device, "clip_db")
    x = _mask(x, lengths)
    peak = x.abs().amax(dim=-1) if x.shape[-1] else torch.zeros(x.shape[0], device=x.device)
    level = (peak.to(torch.float64) * 10.0 ** (c / 20.0)).to(x.dtype)[:, None]
    return _mask(torch.maximum(torch.minimum(x, level), -level), lengths)


# ------------------------------------------------------------- settings and draws


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> Tensor:
    """float64 ``(n,)`` uniform in [low, high) on the generator's device."""
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
    return low + (high - low) * u


def _choice(generator: torch.Generator, n: int, options: Sequence[Any]) -> tuple[Tensor, tuple]:
    """A categorical draw: ``(index (n,), options)`` on the generator's device."""
    options = tuple(options)
    index = torch.randint(len(options), (n,), generator=generator, device=generator.device)
    return index, options


def _check_generator(generator: Any) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (e.g. "
                         "torch.Generator().manual_seed(0)); there is no global default")


def _check_count(batch: Any) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"batch must be an integer >= 0, got {batch!r}")
    return batch


def _number(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def _range(lo_name: str, lo: Any, hi_name: str, hi: Any, low: float = -math.inf,
           high: float = math.inf) -> None:
    _number(lo_name, lo, low, high)
    _number(hi_name, hi, low, high)
    if lo > hi:
        raise ValueError(f"{lo_name}={lo} must be <= {hi_name}={hi}; swap them")


def _odd_taps(taps: Any) -> None:
    if isinstance(taps, bool) or not isinstance(taps, int) or taps < 3 or taps % 2 == 0:
        raise ValueError(f"taps must be an odd integer >= 3, got {taps!r}")


def _laws(value: Any, allow_none: bool) -> tuple[Optional[str], ...]:
    options = list(value) if isinstance(value, (list, tuple)) else [value]
    allowed = LAWS + (("none",) if allow_none else ())
    for v in options:
        if (v is None and not allow_none) or (v is not None and v not in allowed):
            raise ValueError(f"law must be one of {', '.join(map(repr, allowed))} or a list of "
                             f"them, got {value!r}")
    if not options:
        raise ValueError("law is an empty list; give at least one law")
    return tuple(None if v in (None, "none") else v for v in options)


@dataclass(frozen=True)
class _Step:
    """Base of the tensor steps: settings (validated), draws and replay.

    A subclass names its per-row parameters (``keys_``, the plain dicts' keys in
    order; ``categorical_``, those drawn from a list of options), draws them as a
    :class:`StepParams` in ``_draw`` and applies the tensors in ``_apply``.
    """

    name: ClassVar[str] = ""
    keys_: ClassVar[tuple[str, ...]] = ()
    categorical_: ClassVar[tuple[str, ...]] = ()
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) \
                or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer in Hz, got "
                             f"{self.sample_rate!r}")
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden
        pass

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The settings a chain step may give (TOML keys)."""
        return tuple(f.name for f in fields(cls))

    def sample_params(self, batch: int, generator: torch.Generator) -> StepParams:
        """Per-row parameters drawn from ``generator``, as tensors on its device
        (``params[i]`` / iterating give plain dicts)."""
        _check_generator(generator)
        return self._draw(_check_count(batch), generator)

    def _draw(self, batch: int, generator: torch.Generator) -> StepParams:
        raise NotImplementedError

    def params_from_list(self, rows: Params) -> StepParams:
        """Params from plain dicts (``params.to_list()``, e.g. read back from a log).

        Raises:
            KeyError: a dict lacks one of the step's keys.
        """
        return StepParams.from_rows(rows, self.keys_, self.categorical_, self._defaults())

    def _defaults(self) -> dict[str, Any]:
        return {}

    def apply(self, x: Tensor, lengths: Optional[Tensor],
              params: Union[StepParams, Params]) -> Tensor:
        """Apply drawn ``params`` (:class:`StepParams` or one dict per row); deterministic."""
        x, lengths = check_batch(x, lengths)
        if len(params) != x.shape[0]:
            raise ValueError(f"params hold {len(params)} items but x has {x.shape[0]} rows; "
                             "draw one item per row")
        if not isinstance(params, StepParams):
            try:
                params = self.params_from_list(params)
            except KeyError as exc:
                raise ValueError(f"{self.name} params lack {exc}; pass dicts from "
                                 "sample_params") from None
        return self._apply(x, lengths, params.to(x.device))

    def _apply(self, x: Tensor, lengths: Tensor, params: StepParams) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Any]]]:
        """Draw, apply, and return the params as plain dicts (one transfer to the host)."""
        params = self.sample_params(x.shape[0], generator)
        return self.apply(x, lengths, params), params.to_list()


def _params(batch: int, keys: Sequence[str], values: Optional[dict[str, Tensor]] = None,
            choices: Optional[dict[str, tuple[Tensor, tuple]]] = None,
            bounds: Optional[dict[str, Any]] = None) -> StepParams:
    return StepParams(batch, values or {}, choices or {}, tuple(keys), bounds or {})


@dataclass(frozen=True)
class G711Step(_Step):
    """G.711 at the chain's rate. ``law``: "mu", "a" or a list to draw from per row."""

    name: ClassVar[str] = "g711"
    keys_: ClassVar[tuple[str, ...]] = ("law",)
    categorical_: ClassVar[tuple[str, ...]] = ("law",)
    law: Union[str, Sequence[str]] = "mu"

    def validate(self) -> None:
        _laws(self.law, allow_none=False)

    def _draw(self, batch, generator):
        return _params(batch, self.keys_,
                       choices={"law": _choice(generator, batch, _laws(self.law, False))})

    def _apply(self, x, lengths, params):
        return g711(x, params.mask("law", "a"), lengths)


@dataclass(frozen=True)
class Telephone(_Step):
    """Narrowband telephone channel (see :func:`telephone`).

    ``law``: "mu", "a", "none" or a list drawn from per row; ``low_hz``/``high_hz``:
    band edges, Hz; ``narrow_rate``: Hz; ``taps``: band-pass FIR length.
    """

    name: ClassVar[str] = "telephone"
    keys_: ClassVar[tuple[str, ...]] = ("law", "low_hz", "high_hz")
    categorical_: ClassVar[tuple[str, ...]] = ("law",)
    law: Union[str, Sequence[str]] = "mu"
    low_hz: float = 300.0
    high_hz: float = 3400.0
    narrow_rate: int = 8000
    taps: int = 129

    def validate(self) -> None:
        _laws(self.law, allow_none=True)
        _number("narrow_rate", self.narrow_rate, 1000, self.sample_rate)
        _range("low_hz", self.low_hz, "high_hz", self.high_hz, 0, self.narrow_rate / 2)
        _odd_taps(self.taps)

    def _draw(self, batch, generator):
        index, laws = _choice(generator, batch, _laws(self.law, True))
        dev = generator.device
        edges = {k: torch.full((batch,), float(getattr(self, k)), dtype=torch.float64,
                               device=dev) for k in ("low_hz", "high_hz")}
        return _params(batch, self.keys_, values=edges,
                       choices={"law": (index, tuple(v or "none" for v in laws))})

    def _apply(self, x, lengths, params):
        if params.has("law", "a") or params.has("law", "mu"):
            codes = params.mask("law", "a").to(torch.int64) \
                - params.mask("law", "none").to(torch.int64)    # 1 A-law, 0 mu, -1 none
        else:
            codes = None
        return telephone(x, lengths, self.sample_rate, law=codes,
                         low_hz=params.values["low_hz"], high_hz=params.values["high_hz"],
                         narrow_rate=int(self.narrow_rate), taps=self.taps)


@dataclass(frozen=True)
class Bandlimit(_Step):
    """Random low-pass: cut-off uniform in [``min_cutoff_hz``, ``max_cutoff_hz``] Hz."""

    name: ClassVar[str] = "bandlimit"
    keys_: ClassVar[tuple[str, ...]] = ("cutoff_hz",)
    min_cutoff_hz: float = 2000.0
    max_cutoff_hz: float = 7000.0
    taps: int = 255

    def validate(self) -> None:
        _range("min_cutoff_hz", self.min_cutoff_hz, "max_cutoff_hz", self.max_cutoff_hz,
               1.0, self.sample_rate / 2)
        _odd_taps(self.taps)

    def _draw(self, batch, generator):
        return _params(batch, self.keys_, values={"cutoff_hz": _uniform(
            generator, batch, self.min_cutoff_hz, self.max_cutoff_hz)})

    def _apply(self, x, lengths, params):
        return bandlimit(x, lengths, params.values["cutoff_hz"], self.sample_rate, self.taps)


@dataclass(frozen=True)
class BitDepth(_Step):
    """Requantisation to an integer bit depth drawn from [``min_bits``, ``max_bits``]."""

    name: ClassVar[str] = "bit_depth"
    keys_: ClassVar[tuple[str, ...]] = ("bits",)
    min_bits: int = 4
    max_bits: int = 12

    def validate(self) -> None:
        for key in ("min_bits", "max_bits"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 24:
                raise ValueError(f"{key} must be an integer in [1, 24] bits, got {value!r}")
        _range("min_bits", self.min_bits, "max_bits", self.max_bits)

    def _draw(self, batch, generator):
        bits = torch.randint(self.min_bits, self.max_bits + 1, (batch,), generator=generator,
                             device=generator.device)
        return _params(batch, self.keys_, values={"bits": bits})

    def _apply(self, x, lengths, params):
        return bit_depth(x, lengths, params.values["bits"])


@dataclass(frozen=True)
class Downsample(_Step):
    """Sample-rate reduction to a rate drawn from ``rates`` (Hz) and back; ``method``
    "sinc" (band-limited) or "hold" (zero-order hold, aliasing).

    With "sinc" every rate of ``rates`` is resampled on the whole batch and each row
    keeps its own (nothing is read back from the device): the cost grows with the
    number of rates.
    """

    name: ClassVar[str] = "downsample"
    keys_: ClassVar[tuple[str, ...]] = ("rate", "method")
    categorical_: ClassVar[tuple[str, ...]] = ("rate", "method")
    rates: tuple[int, ...] = (4000, 8000, 11025, 12000)
    method: str = "sinc"

    def validate(self) -> None:
        rates = list(self.rates) if isinstance(self.rates, (list, tuple)) else None
        if not rates or any(isinstance(r, bool) or not isinstance(r, int) or
                            not 0 < r <= self.sample_rate for r in rates):
            raise ValueError(f"rates must be a non-empty list of integer rates in Hz in "
                             f"(0, {self.sample_rate}], got {self.rates!r}")
        if self.method not in ("sinc", "hold"):
            raise ValueError(f"method must be 'sinc' or 'hold', got {self.method!r}")

    def _draw(self, batch, generator):
        rate = _choice(generator, batch, [int(r) for r in self.rates])
        method = torch.zeros(batch, dtype=torch.int64, device=generator.device)
        return _params(batch, self.keys_, choices={"rate": rate,
                                                  "method": (method, (self.method,))})

    def _defaults(self):
        return {"method": self.method}

    def _apply(self, x, lengths, params):
        index, options = params.choices["rate"]
        rate = torch.zeros_like(index)
        for k, value in enumerate(options):
            rate = torch.where(index == k, int(value), rate)
        y = x.clone()
        for method in ("sinc", "hold"):
            if params.has("method", method):
                part = downsample(x, lengths, rate, self.sample_rate, method, rates=options)
                y = torch.where(params.mask("method", method)[:, None], part, y)
        return y


@dataclass(frozen=True)
class PacketLoss(_Step):
    """Random frame drops: frame length uniform in [``min_frame_ms``, ``max_frame_ms``]
    (whole ms), loss probability per frame in [``min_loss``, ``max_loss``], concealment
    ``conceal`` ("zero", "repeat" or a list to draw from)."""

    name: ClassVar[str] = "packet_loss"
    keys_: ClassVar[tuple[str, ...]] = ("frame_ms", "loss", "conceal", "seed")
    categorical_: ClassVar[tuple[str, ...]] = ("conceal",)
    min_frame_ms: int = 10
    max_frame_ms: int = 60
    min_loss: float = 0.02
    max_loss: float = 0.2
    conceal: Union[str, Sequence[str]] = "zero"

    def validate(self) -> None:
        for key in ("min_frame_ms", "max_frame_ms"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1 (ms), got {value!r}")
        _range("min_frame_ms", self.min_frame_ms, "max_frame_ms", self.max_frame_ms)
        _range("min_loss", self.min_loss, "max_loss", self.max_loss, 0.0, 1.0)
        modes = [self.conceal] if isinstance(self.conceal, str) else list(self.conceal)
        if not modes or any(m not in ("zero", "repeat") for m in modes):
            raise ValueError(f"conceal must be 'zero', 'repeat' or a list of them, got "
                             f"{self.conceal!r}")

    def _draw(self, batch, generator):
        ms = torch.randint(self.min_frame_ms, self.max_frame_ms + 1, (batch,),
                           generator=generator, device=generator.device)
        loss = _uniform(generator, batch, self.min_loss, self.max_loss)
        seeds = torch.randint(0, 2 ** 62, (batch,), generator=generator,
                              device=generator.device)
        modes = [self.conceal] if isinstance(self.conceal, str) else list(self.conceal)
        return _params(batch, self.keys_, values={"frame_ms": ms, "loss": loss, "seed": seeds},
                       choices={"conceal": _choice(generator, batch, modes)},
                       bounds={"min_frame_ms": self.min_frame_ms})

    def params_from_list(self, rows):
        params = super().params_from_list(rows)
        params.bounds["min_frame_ms"] = min((float(r["frame_ms"]) for r in rows), default=1.0)
        return params

    def _apply(self, x, lengths, params):
        conceal = params.mask("conceal", "repeat") if params.has("conceal", "repeat") \
            else "zero"
        return packet_loss(x, lengths, self.sample_rate, params.values["frame_ms"],
                           params.values["loss"], params.values["seed"], conceal,
                           min_frame_ms=params.bounds.get("min_frame_ms"))


@dataclass(frozen=True)
class Gain(_Step):
    """Gain uniform in [``min_gain_db``, ``max_gain_db``] dB, then (``clip``) hard clipping
    at digital full scale ±1."""

    name: ClassVar[str] = "gain"
    keys_: ClassVar[tuple[str, ...]] = ("gain_db",)
    min_gain_db: float = -12.0
    max_gain_db: float = 12.0
    clip: bool = True

    def validate(self) -> None:
        _range("min_gain_db", self.min_gain_db, "max_gain_db", self.max_gain_db, -120, 120)
        if not isinstance(self.clip, bool):
            raise ValueError(f"clip must be true or false, got {self.clip!r}")

    def _draw(self, batch, generator):
        return _params(batch, self.keys_, values={"gain_db": _uniform(
            generator, batch, self.min_gain_db, self.max_gain_db)})

    def _apply(self, x, lengths, params):
        return gain(x, lengths, params.values["gain_db"], self.clip)


@dataclass(frozen=True)
class Clip(_Step):
    """Clipping distortion: threshold uniform in [``min_clip_db``, ``max_clip_db``] dB
    relative to each utterance's peak (<= 0)."""

    name: ClassVar[str] = "clip"
    keys_: ClassVar[tuple[str, ...]] = ("clip_db",)
    min_clip_db: float = -20.0
    max_clip_db: float = -1.0

    def validate(self) -> None:
        _range("min_clip_db", self.min_clip_db, "max_clip_db", self.max_clip_db, -120, 0)

    def _draw(self, batch, generator):
        return _params(batch, self.keys_, values={"clip_db": _uniform(
            generator, batch, self.min_clip_db, self.max_clip_db)})

    def _apply(self, x, lengths, params):
        return clip(x, lengths, params.values["clip_db"])


#: The tensor steps of a chain, by step name.
TENSOR_STEPS: dict[str, type[_Step]] = {
    cls.name: cls for cls in (G711Step, Telephone, Bandlimit, BitDepth, Downsample,
                              PacketLoss, Gain, Clip)
}
