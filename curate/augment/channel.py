"""Channel simulations as batched tensor transforms: telephone, band limits, bit depth,
sample-rate reduction, packet loss, gain and clipping.

Every transform works on a batch ``x`` of shape ``(batch, time)`` with ``lengths``
(valid samples per row) on any device, and follows the house pattern:

- a pure function does the work (:func:`telephone`, :func:`bandlimit`,
  :func:`bit_depth`, :func:`downsample`, :func:`packet_loss`, :func:`gain`,
  :func:`clip`), deterministic, with per-row arguments;
- a frozen settings dataclass (:class:`Telephone`, :class:`Bandlimit`, ...) holds the
  ranges, checks them (``ValueError`` naming the argument and the fix), draws
  per-row parameters with ``sample_params(batch, generator)`` as plain dicts (JSON-ready,
  loggable) and replays them with ``apply(x, lengths, params)``.

Samples past a row's length are ignored and come back as zeros. Filters are linear
phase and compensated (zero delay), so outputs stay time-aligned with inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Optional, Union

import torch
import torchaudio.functional as AF
from scipy.fft import next_fast_len
from torch import Tensor

from curate.augment.batch import check_batch  # noqa: F401 (re-exported)
from curate.augment.codec import LAWS, g711

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
    t = torch.as_tensor(values, dtype=torch.float64, device=device)
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


def _resample(x: Tensor, src: int, dst: int) -> Tensor:
    return AF.resample(x, int(src), int(dst), **RESAMPLE)


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


def telephone(x: Tensor, lengths: Optional[Tensor], sample_rate: int, *,
              law: Union[None, str, Sequence[Optional[str]]] = "mu",
              low_hz: float = 300.0, high_hz: float = 3400.0, narrow_rate: int = 8000,
              taps: int = 129) -> Tensor:
    """A narrowband telephone channel: resample to ``narrow_rate`` (torchaudio), band-pass
    ``low_hz``-``high_hz``, optionally G.711, resample back.

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        sample_rate: Hz.
        law: "mu", "a", None (no G.711), or one of these per row.
        low_hz, high_hz: pass band edges, Hz (300-3400 Hz is the ITU telephone band).
        narrow_rate: Hz of the narrowband leg (8000).
        taps: band-pass FIR length at ``narrow_rate`` (odd).

    Returns:
        ``(batch, time)`` at ``sample_rate``, time-aligned with ``x``.
    """
    x, lengths = check_batch(x, lengths)
    if not 0 <= low_hz < high_hz <= narrow_rate / 2:
        raise ValueError(f"low_hz={low_hz} and high_hz={high_hz} must satisfy 0 <= low_hz < "
                         f"high_hz <= narrow_rate/2 = {narrow_rate / 2:g} Hz")
    batch, time = x.shape
    if batch == 0 or time == 0:
        return x.clone()
    y = torch.nn.functional.pad(_mask(x, lengths), (0, _margin(sample_rate, narrow_rate, taps)))
    if sample_rate != narrow_rate:
        y = _resample(y, sample_rate, narrow_rate)
    edges = torch.tensor([high_hz, max(low_hz, 1e-6)], dtype=torch.float64, device=x.device)
    lp = fir_lowpass(edges, narrow_rate, taps)
    kernel = (lp[0] - lp[1])[None] if low_hz > 0 else lp[:1]
    y = fir_filter(y, kernel)
    laws = [law] * batch if law is None or isinstance(law, str) else list(law)
    if len(laws) != batch:
        raise ValueError(f"law holds {len(laws)} values for {batch} rows; give one per row")
    coded = [i for i, v in enumerate(laws) if v is not None]
    if coded:
        index = torch.tensor(coded, device=x.device)
        y = y.index_copy(0, index, g711(y.index_select(0, index), [laws[i] for i in coded]))
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


def downsample(x: Tensor, lengths: Optional[Tensor], rate: Union[int, Sequence[int]],
               sample_rate: int, method: str = "sinc") -> Tensor:
    """Reduce every row's sample rate to ``rate`` Hz and bring it back to ``sample_rate``.

    ``method="sinc"``: torchaudio's band-limited resampling down and up (a recording made
    at ``rate``). ``method="hold"``: keep every ``sample_rate/rate``-th sample and hold it
    (zero-order hold, no anti-aliasing: aliasing and imaging, like a cheap converter).
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    rates = [int(rate)] * batch if isinstance(rate, (int, float)) else [int(r) for r in rate]
    if len(rates) != batch:
        raise ValueError(f"rate holds {len(rates)} values for {batch} rows; give one per row")
    if method not in ("sinc", "hold"):
        raise ValueError(f"method must be 'sinc' or 'hold', got {method!r}")
    if batch == 0 or time == 0:
        return x.clone()
    x = _mask(x, lengths)
    if method == "hold":
        r = torch.tensor(rates, dtype=torch.float64, device=x.device)[:, None]
        n = torch.arange(time, dtype=torch.float64, device=x.device)
        k = torch.floor(n * r / sample_rate)
        src = torch.floor(k * sample_rate / r).to(torch.int64).clamp(0, time - 1)
        return _mask(x.gather(1, src), lengths)
    y = x.clone()
    for value in sorted(set(rates)):
        if value == sample_rate:
            continue
        rows = torch.tensor([i for i, v in enumerate(rates) if v == value], device=x.device)
        part = torch.nn.functional.pad(x.index_select(0, rows),
                                       (0, _margin(sample_rate, value)))
        part = _resample(_resample(part, sample_rate, value), value, sample_rate)[:, :time]
        if part.shape[-1] < time:
            part = torch.nn.functional.pad(part, (0, time - part.shape[-1]))
        y = y.index_copy(0, rows, part.to(x.dtype))
    return _mask(y, lengths)


_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN, _MIX1, _MIX2 = (_signed(0x9E3779B97F4A7C15), _signed(0xBF58476D1CE4E5B9),
                         _signed(0x94D049BB133111EB))


def _srl(z: Tensor, s: int) -> Tensor:
    """Logical right shift of int64 (as unsigned 64-bit)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def _splitmix(z: Tensor) -> Tensor:
    z = z + _GOLDEN
    z = (z ^ _srl(z, 30)) * _MIX1
    z = (z ^ _srl(z, 27)) * _MIX2
    return z ^ _srl(z, 31)


def _hash_uniform(seed: Tensor, counter: Tensor) -> Tensor:
    """Uniform [0, 1) float64 of ``(seed[:, None], counter[None])``: counter-based, the same
    on every device and independent of the batch a row is in."""
    h = _splitmix(_splitmix(seed[:, None]) + counter[None, :])
    return _srl(h, 11).to(torch.float64) * (2.0 ** -53)


def packet_loss(x: Tensor, lengths: Optional[Tensor], sample_rate: int,
                frame_ms: Union[float, Sequence[float]], loss: Union[float, Sequence[float]],
                seed: Union[int, Sequence[int], Tensor],
                conceal: Union[str, Sequence[str]] = "zero") -> Tensor:
    """Drop frames of ``frame_ms`` ms, each independently with probability ``loss``.

    Frame ``k`` of a row is lost when ``hash(seed, k) < loss`` (a counter-based hash:
    the same drops on any device and in any batch). Concealment: ``"zero"`` (silence)
    or ``"repeat"`` (the last received frame again; a lost first frame is silence).
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    if batch == 0 or time == 0:
        return x.clone()
    dev = x.device
    rate = _row_tensor(loss, batch, dev, "loss")
    seeds = torch.as_tensor(seed, dtype=torch.int64, device=dev).expand(batch)
    modes = [conceal] * batch if isinstance(conceal, str) else list(conceal)
    if len(modes) != batch or any(m not in ("zero", "repeat") for m in modes):
        raise ValueError(f"conceal must be 'zero' or 'repeat' (or one per row), got {conceal!r}")
    frame_host = torch.clamp(torch.round(torch.as_tensor(frame_ms, dtype=torch.float64)
                                         .expand(batch) * sample_rate / 1000), min=1)
    frame = frame_host.to(device=dev, dtype=torch.int64)
    n = torch.arange(time, device=dev)
    index = n[None, :] // frame[:, None]                             # frame of each sample
    max_frames = int(math.ceil(time / float(frame_host.min())))
    frames = torch.arange(max_frames + 1, device=dev)
    lost = _hash_uniform(seeds, frames) < rate[:, None]              # (batch, frames)
    x = _mask(x, lengths)
    sample_lost = lost.gather(1, index.clamp(max=max_frames))
    y = torch.where(sample_lost, torch.zeros((), dtype=x.dtype, device=dev), x)
    repeat = torch.tensor([m == "repeat" for m in modes], device=dev)
    if bool(repeat.any()):
        kept = torch.where(lost, torch.full_like(frames.expand(batch, -1), -1),
                           frames.expand(batch, -1))
        last_kept = torch.cummax(kept, dim=1).values                # -1: none received yet
        src_frame = last_kept.gather(1, index.clamp(max=max_frames))
        src = src_frame * frame[:, None] + (n[None, :] - index * frame[:, None])
        filled = torch.where(src_frame >= 0, x.gather(1, src.clamp(0, time - 1)),
                             torch.zeros((), dtype=x.dtype, device=dev))
        y = torch.where(repeat[:, None] & sample_lost, filled, y)
    return _mask(y, lengths)


def gain(x: Tensor, lengths: Optional[Tensor], gain_db: Union[float, Sequence[float]],
         clip: bool = True) -> Tensor:
    """Scale every row by ``gain_db`` dB; with ``clip`` hard-clip at digital full scale ±1."""
    x, lengths = check_batch(x, lengths)
    g = _row_tensor(gain_db, x.shape[0], x.device, "gain_db")
    y = x * (10.0 ** (g / 20.0)).to(x.dtype)[:, None]
    if clip:
        y = y.clamp(-1.0, 1.0)
    return _mask(y, lengths)


def clip(x: Tensor, lengths: Optional[Tensor],
         clip_db: Union[float, Sequence[float]]) -> Tensor:
    """Hard-clip every row at ``clip_db`` dB relative to its own peak (``clip_db <= 0``)."""
    x, lengths = check_batch(x, lengths)
    c = _row_tensor(clip_db, x.shape[0], x.device, "clip_db")
    x = _mask(x, lengths)
    peak = x.abs().amax(dim=-1) if x.shape[-1] else torch.zeros(x.shape[0], device=x.device)
    level = (peak.to(torch.float64) * 10.0 ** (c / 20.0)).to(x.dtype)[:, None]
    return _mask(torch.maximum(torch.minimum(x, level), -level), lengths)


# ------------------------------------------------------------- settings and draws


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> list[float]:
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
    return (low + (high - low) * u).cpu().tolist()


def _choice(generator: torch.Generator, n: int, options: Sequence[Any]) -> list[Any]:
    idx = torch.randint(len(options), (n,), generator=generator, device=generator.device)
    return [options[i] for i in idx.cpu().tolist()]


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
    """Base of the tensor steps: settings (validated), draws and replay."""

    name: ClassVar[str] = ""
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

    def sample_params(self, batch: int, generator: torch.Generator) -> list[dict[str, Any]]:
        """Per-row parameters (plain dicts) drawn from ``generator``."""
        _check_generator(generator)
        return self._draw(_check_count(batch), generator)

    def _draw(self, batch: int, generator: torch.Generator) -> list[dict[str, Any]]:
        raise NotImplementedError

    def apply(self, x: Tensor, lengths: Optional[Tensor], params: Params) -> Tensor:
        """Apply drawn ``params`` (one dict per row); deterministic."""
        x, lengths = check_batch(x, lengths)
        if len(params) != x.shape[0]:
            raise ValueError(f"params hold {len(params)} items but x has {x.shape[0]} rows; "
                             "draw one item per row")
        try:
            return self._apply(x, lengths, params)
        except KeyError as exc:
            raise ValueError(f"{self.name} params lack {exc}; pass dicts from "
                             "sample_params") from None

    def _apply(self, x: Tensor, lengths: Tensor, params: Params) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Any]]]:
        params = self.sample_params(x.shape[0], generator)
        return self.apply(x, lengths, params), params


@dataclass(frozen=True)
class G711Step(_Step):
    """G.711 at the chain's rate. ``law``: "mu", "a" or a list to draw from per row."""

    name: ClassVar[str] = "g711"
    law: Union[str, Sequence[str]] = "mu"

    def validate(self) -> None:
        _laws(self.law, allow_none=False)

    def _draw(self, batch, generator):
        return [{"law": v} for v in _choice(generator, batch, _laws(self.law, False))]

    def _apply(self, x, lengths, params):
        return g711(x, [p["law"] for p in params], lengths)


@dataclass(frozen=True)
class Telephone(_Step):
    """Narrowband telephone channel (see :func:`telephone`).

    ``law``: "mu", "a", "none" or a list drawn from per row; ``low_hz``/``high_hz``:
    band edges, Hz; ``narrow_rate``: Hz; ``taps``: band-pass FIR length.
    """

    name: ClassVar[str] = "telephone"
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
        laws = _choice(generator, batch, _laws(self.law, True))
        return [{"law": v or "none", "low_hz": float(self.low_hz), "high_hz": float(self.high_hz)}
                for v in laws]

    def _apply(self, x, lengths, params):
        y = x.clone()
        groups: dict[tuple[float, float], list[int]] = {}
        for i, p in enumerate(params):
            groups.setdefault((float(p["low_hz"]), float(p["high_hz"])), []).append(i)
        for (low, high), rows in groups.items():
            index = torch.tensor(rows, device=x.device)
            laws = [None if params[i]["law"] == "none" else params[i]["law"] for i in rows]
            part = telephone(x.index_select(0, index), lengths.index_select(0, index),
                             self.sample_rate, law=laws, low_hz=low, high_hz=high,
                             narrow_rate=int(self.narrow_rate), taps=self.taps)
            y = y.index_copy(0, index, part)
        return y


@dataclass(frozen=True)
class Bandlimit(_Step):
    """Random low-pass: cut-off uniform in [``min_cutoff_hz``, ``max_cutoff_hz``] Hz."""

    name: ClassVar[str] = "bandlimit"
    min_cutoff_hz: float = 2000.0
    max_cutoff_hz: float = 7000.0
    taps: int = 255

    def validate(self) -> None:
        _range("min_cutoff_hz", self.min_cutoff_hz, "max_cutoff_hz", self.max_cutoff_hz,
               1.0, self.sample_rate / 2)
        _odd_taps(self.taps)

    def _draw(self, batch, generator):
        return [{"cutoff_hz": v} for v in
                _uniform(generator, batch, self.min_cutoff_hz, self.max_cutoff_hz)]

    def _apply(self, x, lengths, params):
        return bandlimit(x, lengths, [p["cutoff_hz"] for p in params], self.sample_rate,
                         self.taps)


@dataclass(frozen=True)
class BitDepth(_Step):
    """Requantisation to an integer bit depth drawn from [``min_bits``, ``max_bits``]."""

    name: ClassVar[str] = "bit_depth"
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
        return [{"bits": int(b)} for b in bits.cpu().tolist()]

    def _apply(self, x, lengths, params):
        return bit_depth(x, lengths, [p["bits"] for p in params])


@dataclass(frozen=True)
class Downsample(_Step):
    """Sample-rate reduction to a rate drawn from ``rates`` (Hz) and back; ``method``
    "sinc" (band-limited) or "hold" (zero-order hold, aliasing)."""

    name: ClassVar[str] = "downsample"
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
        return [{"rate": int(r), "method": self.method}
                for r in _choice(generator, batch, list(self.rates))]

    def _apply(self, x, lengths, params):
        y = x.clone()
        for method in ("sinc", "hold"):
            rows = [i for i, p in enumerate(params) if p.get("method", self.method) == method]
            if rows:
                index = torch.tensor(rows, device=x.device)
                y = y.index_copy(0, index, downsample(
                    x.index_select(0, index), lengths.index_select(0, index),
                    [params[i]["rate"] for i in rows], self.sample_rate, method))
        return y


@dataclass(frozen=True)
class PacketLoss(_Step):
    """Random frame drops: frame length uniform in [``min_frame_ms``, ``max_frame_ms``]
    (whole ms), loss probability per frame in [``min_loss``, ``max_loss``], concealment
    ``conceal`` ("zero", "repeat" or a list to draw from)."""

    name: ClassVar[str] = "packet_loss"
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
                           generator=generator, device=generator.device).cpu().tolist()
        loss = _uniform(generator, batch, self.min_loss, self.max_loss)
        seeds = torch.randint(0, 2 ** 62, (batch,), generator=generator,
                              device=generator.device).cpu().tolist()
        modes = [self.conceal] if isinstance(self.conceal, str) else list(self.conceal)
        conceal = _choice(generator, batch, modes)
        return [{"frame_ms": int(m), "loss": l, "conceal": c, "seed": int(s)}
                for m, l, c, s in zip(ms, loss, conceal, seeds)]

    def _apply(self, x, lengths, params):
        return packet_loss(x, lengths, self.sample_rate, [p["frame_ms"] for p in params],
                           [p["loss"] for p in params],
                           torch.tensor([p["seed"] for p in params], dtype=torch.int64),
                           [p["conceal"] for p in params])


@dataclass(frozen=True)
class Gain(_Step):
    """Gain uniform in [``min_gain_db``, ``max_gain_db``] dB, then (``clip``) hard clipping
    at digital full scale ±1."""

    name: ClassVar[str] = "gain"
    min_gain_db: float = -12.0
    max_gain_db: float = 12.0
    clip: bool = True

    def validate(self) -> None:
        _range("min_gain_db", self.min_gain_db, "max_gain_db", self.max_gain_db, -120, 120)
        if not isinstance(self.clip, bool):
            raise ValueError(f"clip must be true or false, got {self.clip!r}")

    def _draw(self, batch, generator):
        return [{"gain_db": g} for g in
                _uniform(generator, batch, self.min_gain_db, self.max_gain_db)]

    def _apply(self, x, lengths, params):
        return gain(x, lengths, [p["gain_db"] for p in params], self.clip)


@dataclass(frozen=True)
class Clip(_Step):
    """Clipping distortion: threshold uniform in [``min_clip_db``, ``max_clip_db``] dB
    relative to each utterance's peak (<= 0)."""

    name: ClassVar[str] = "clip"
    min_clip_db: float = -20.0
    max_clip_db: float = -1.0

    def validate(self) -> None:
        _range("min_clip_db", self.min_clip_db, "max_clip_db", self.max_clip_db, -120, 0)

    def _draw(self, batch, generator):
        return [{"clip_db": c} for c in
                _uniform(generator, batch, self.min_clip_db, self.max_clip_db)]

    def _apply(self, x, lengths, params):
        return clip(x, lengths, [p["clip_db"] for p in params])


#: The tensor steps of a chain, by step name.
TENSOR_STEPS: dict[str, type[_Step]] = {
    cls.name: cls for cls in (G711Step, Telephone, Bandlimit, BitDepth, Downsample,
                              PacketLoss, Gain, Clip)
}
