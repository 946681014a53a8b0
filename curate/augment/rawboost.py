"""RawBoost (Tak et al., ICASSP 2022), batched, on any device.

RawBoost distorts raw waveforms with three kinds of noise and their combinations:

- **LnL** (algorithm 1), linear and non-linear convolutive noise:
  ``y = sum_{k=1..n_f} h_k * x**k`` where each ``h_k`` is a random cascade of
  ``n_bands`` Hamming-window FIR band-stop filters; then the mean is removed and the
  result is divided by its peak when that exceeds 1.
- **ISD** (algorithm 2), impulsive signal-dependent noise: ``int(T * beta/100)``
  random samples ``x[p]`` become ``x[p] + g_sd * x[p] * (2u1-1)(2u2-1)``,
  ``beta ~ U(0, p)``; then the same conditional peak normalisation.
- **SSI** (algorithm 3), stationary signal-independent noise: white Gaussian noise
  through a random cascade, peak-normalised, scaled to ``SNR ~ U(snr_min, snr_max)``
  dB against ``x`` and added.
- 4 = 1, 2, 3 in turn; 5 = 1 then 2; 6 = 1 then 3; 7 = 2 then 3;
  8 = conditional peak normalisation of ``LnL(x) + ISD(x)``.

Everything works on a batch ``x`` of shape ``(batch, time)`` with ``lengths``
(valid samples per row) in one pass of tensor operations, on the CPU or the GPU:
the filters of all items, cascades and bands are designed at once (padded to a
common tap count, centred, so every item keeps its own crop offset), and filtering
is FFT overlap-save. Padding beyond ``lengths`` stays zero and never influences the
valid part.

Randomness is explicit: :func:`sample_params` draws everything from a
``torch.Generator`` into a :class:`RawBoostParams` (plain per-item data: band
frequencies, taps, gains, ``beta``, SNR, and a 62-bit seed for the ISD positions and
the SSI noise, which :func:`apply` expands with a counter-based hash, so an item's
noise does not depend on the batch it is in nor on the device). :func:`apply` is
deterministic. :func:`rawboost` does both. :func:`reference_compatible` draws from
``numpy.random.RandomState(seed)`` in the published order instead, and reproduces the
published implementation run after ``numpy.random.seed(seed)``.

Precision: inputs in float64 are processed in float64 (the reference-compatible
path; relative error to the published implementation ~1e-14). Other inputs are
processed in float32 (the fast path: filter taps are computed in float64, the
transforms in float32; ~3e-7 from float64); half-precision inputs are computed in
float32 and cast back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Iterator, Optional, Union

import numpy as np
import torch
from scipy.fft import next_fast_len
from torch import Tensor, nn

from curate.augment.batch import check_batch

__all__ = [
    "ALGORITHMS",
    "RawBoostSettings",
    "Cascades",
    "RawBoostParams",
    "sample_params",
    "apply",
    "rawboost",
    "reference_compatible",
    "RawBoostStep",
    "RawBoost",
]

#: The steps of each algorithm, applied in turn (8 is LnL(x) + ISD(x), normalised).
ALGORITHMS: dict[int, tuple[str, ...]] = {
    1: ("lnl",), 2: ("isd",), 3: ("ssi",), 4: ("lnl", "isd", "ssi"),
    5: ("lnl", "isd"), 6: ("lnl", "ssi"), 7: ("isd", "ssi"), 8: ("lnl", "isd"),
}

# The published parameter names, accepted as aliases of the snake_case ones.
_ALIASES = {
    "nBands": "n_bands", "minF": "min_f", "maxF": "max_f", "minBW": "min_bw",
    "maxBW": "max_bw", "minCoeff": "min_coeff", "maxCoeff": "max_coeff", "minG": "min_g",
    "maxG": "max_g", "minBiasLinNonLin": "min_bias_lin_nonlin",
    "maxBiasLinNonLin": "max_bias_lin_nonlin", "N_f": "n_f", "P": "p",
    "SNRmin": "snr_min", "SNRmax": "snr_max",
}


@dataclass(frozen=True)
class RawBoostSettings:
    """The ranges RawBoost draws from; defaults are the published ones (LA and DF alike).

    Every range ``(a, b)`` is drawn as ``a + (b - a) * u``, ``u ~ U[0, 1)``, so ``a > b``
    is allowed (the LnL gains of orders >= 2 use ``(min_g - 5, max_g - 20)``).

    Attributes:
        n_bands: band-stop filters per cascade.
        min_f, max_f: band centre frequency range, Hz.
        min_bw, max_bw: band width range, Hz.
        min_coeff, max_coeff: FIR tap-count range (drawn, truncated, made odd).
        min_g, max_g: cascade peak gain range, dB.
        min_bias_lin_nonlin, max_bias_lin_nonlin: gain offsets of LnL orders >= 2, dB.
        n_f: LnL orders (``x, x**2, ..., x**n_f``), each with its own cascade.
        p: ISD maximum share of samples hit, percent.
        g_sd: ISD impulse gain (linear factor).
        snr_min, snr_max: SSI signal-to-noise ratio range, dB.
    """

    n_bands: int = 5
    min_f: float = 20.0
    max_f: float = 8000.0
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: float = 10.0
    max_coeff: float = 100.0
    min_g: float = 0.0
    max_g: float = 0.0
    min_bias_lin_nonlin: float = 5.0
    max_bias_lin_nonlin: float = 20.0
    n_f: int = 5
    p: float = 10.0
    g_sd: float = 2.0
    snr_min: float = 10.0
    snr_max: float = 40.0

    @classmethod
    def from_params(cls, sample_rate: int, **params: Any) -> "RawBoostSettings":
        """Settings from keyword arguments (snake_case or the published names), validated.

        Raises:
            ValueError: an unknown name, a repeated one, or a value out of range; the
                message names the parameter and the fix.
        """
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in params.items():
            name = _ALIASES.get(key, key)
            if name not in names:
                raise ValueError(f"unknown RawBoost parameter {key!r}; use one of "
                                 f"{', '.join(sorted(names))} (or the published names "
                                 f"{', '.join(sorted(_ALIASES))})")
            if name in values:
                raise ValueError(f"RawBoost parameter {name!r} is given twice (as {key!r} "
                                 "and under its other name); give it once")
            values[name] = value
        settings = cls(**values)
        settings.validate(sample_rate)
        return settings

    def validate(self, sample_rate: int) -> None:
        """Check every value against ``sample_rate`` (Hz); raise a ValueError naming the fix."""
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
        for name in ("n_bands", "n_f"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or \
                    isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        nyquist = sample_rate / 2
        if not 0 <= self.min_f <= self.max_f <= nyquist:
            raise ValueError(f"min_f={self.min_f} and max_f={self.max_f} must satisfy "
                             f"0 <= min_f <= max_f <= sample_rate/2 = {nyquist:g} Hz; "
                             f"lower max_f to {nyquist:g} for {sample_rate} Hz audio")
        if not 0 < self.min_bw <= self.max_bw:
            raise ValueError(f"min_bw={self.min_bw} and max_bw={self.max_bw} must satisfy "
                             "0 < min_bw <= max_bw (Hz)")
        if not 1 <= self.min_coeff <= self.max_coeff:
            raise ValueError(f"min_coeff={self.min_coeff} and max_coeff={self.max_coeff} "
                             "must satisfy 1 <= min_coeff <= max_coeff (FIR taps)")
        if not 0 <= self.p <= 100:
            raise ValueError(f"p must be a percentage in [0, 100], got {self.p}")
        if self.g_sd < 0:
            raise ValueError(f"g_sd must be >= 0, got {self.g_sd}")
        if self.snr_min > self.snr_max:
            raise ValueError(f"snr_min={self.snr_min} must be <= snr_max={self.snr_max} (dB)")


def _check_algo(algo: Any) -> int:
    if isinstance(algo, bool) or not isinstance(algo, (int, np.integer)) or algo not in ALGORITHMS:
        raise ValueError(f"algo must be one of 1-8 (1 LnL, 2 ISD, 3 SSI, 4 = 1+2+3, 5 = 1+2, "
                         f"6 = 1+3, 7 = 2+3, 8 = LnL+ISD in parallel), got {algo!r}")
    return int(algo)


# --------------------------------------------------------------------------- parameters


@dataclass
class Cascades:
    """Drawn band-stop cascades of a batch: ``cascades`` per item, ``bands`` per cascade.

    Attributes:
        fc_hz: band centre frequencies, Hz, float64 ``(batch, cascades, bands)``.
        bw_hz: band widths, Hz, float64 ``(batch, cascades, bands)``.
        taps: FIR lengths (odd), int64 ``(batch, cascades, bands)``.
        gain_db: cascade peak gains, dB, float64 ``(batch, cascades)``.
    """

    fc_hz: Tensor
    bw_hz: Tensor
    taps: Tensor
    gain_db: Tensor

    def to(self, device: Union[str, torch.device]) -> "Cascades":
        return Cascades(*(t.to(device) for t in (self.fc_hz, self.bw_hz, self.taps, self.gain_db)))

    def select(self, index: Tensor) -> "Cascades":
        return Cascades(*(t[index.to(t.device)] for t in
                          (self.fc_hz, self.bw_hz, self.taps, self.gain_db)))

    def item(self, i: int) -> list[dict[str, Any]]:
        return [{"fc_hz": self.fc_hz[i, k].tolist(), "bw_hz": self.bw_hz[i, k].tolist(),
                 "taps": self.taps[i, k].tolist(), "gain_db": float(self.gain_db[i, k])}
                for k in range(self.fc_hz.shape[1])]

    @staticmethod
    def stack(items: Sequence[Sequence[Mapping[str, Any]]]) -> "Cascades":
        def grid(key: str, dtype: torch.dtype) -> Tensor:
            return torch.tensor([[c[key] for c in item] for item in items], dtype=dtype)
        return Cascades(grid("fc_hz", torch.float64), grid("bw_hz", torch.float64),
                        grid("taps", torch.int64), grid("gain_db", torch.float64))


@dataclass
class RawBoostParams:
    """Everything :func:`apply` needs, per item; index it for plain data.

    ``params[i]`` is item ``i`` as a dict of plain numbers (JSON-ready, loggable);
    :meth:`from_list` turns such dicts back into params, and applying them again gives
    the same output.

    Attributes:
        algo: RawBoost algorithm, 1-8.
        sample_rate: Hz the filters are designed for.
        g_sd: ISD impulse gain.
        lnl: the ``n_f`` LnL cascades per item (algorithms 1, 4, 5, 6, 8).
        isd_beta: ISD share of samples hit, percent, float64 ``(batch,)``.
        isd_seed: seed of the ISD positions and impulse factors, int64 ``(batch,)``.
        ssi: the one SSI cascade per item (algorithms 3, 4, 6, 7).
        ssi_snr_db: SSI SNR, dB, float64 ``(batch,)``.
        ssi_seed: seed of the SSI white noise, int64 ``(batch,)``.
        isd_positions: explicit ISD positions instead of ``isd_seed``, int64
            ``(batch, slots)``, -1 for an unused slot (used by
            :func:`reference_compatible`).
        isd_factors: explicit ``(2u1-1)(2u2-1)`` per slot, float64 ``(batch, slots)``.
        ssi_noise: explicit white noise instead of ``ssi_seed``, float64 ``(batch, time)``.
    """

    algo: int
    sample_rate: int
    g_sd: float = 2.0
    lnl: Optional[Cascades] = None
    isd_beta: Optional[Tensor] = None
    isd_seed: Optional[Tensor] = None
    ssi: Optional[Cascades] = None
    ssi_snr_db: Optional[Tensor] = None
    ssi_seed: Optional[Tensor] = None
    isd_positions: Optional[Tensor] = None
    isd_factors: Optional[Tensor] = None
    ssi_noise: Optional[Tensor] = None

    def __len__(self) -> int:
        for t in (self.isd_beta, self.ssi_snr_db):
            if t is not None:
                return int(t.shape[0])
        assert self.lnl is not None
        return int(self.lnl.gain_db.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"item {i} out of range for a batch of {len(self)}")
        i = i % len(self)
        out: dict[str, Any] = {"algo": self.algo, "sample_rate": self.sample_rate}
        if self.lnl is not None:
            out["lnl"] = self.lnl.item(i)
        if self.isd_beta is not None:
            isd: dict[str, Any] = {"beta_pct": float(self.isd_beta[i]), "g_sd": self.g_sd}
            if self.isd_positions is not None:
                keep = self.isd_positions[i] >= 0
                isd["positions"] = self.isd_positions[i][keep].tolist()
                isd["factors"] = self.isd_factors[i][keep].tolist()
            else:
                isd["seed"] = int(self.isd_seed[i])
            out["isd"] = isd
        if self.ssi is not None:
            ssi = self.ssi.item(i)[0]
            ssi["snr_db"] = float(self.ssi_snr_db[i])
            if self.ssi_noise is not None:
                ssi["noise"] = self.ssi_noise[i].tolist()
            else:
                ssi["seed"] = int(self.ssi_seed[i])
            out["ssi"] = ssi
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def to_list(self) -> list[dict[str, Any]]:
        """All items as plain dicts (see ``params[i]``)."""
        return list(self)

    @classmethod
    def from_list(cls, items: Sequence[Mapping[str, Any]]) -> "RawBoostParams":
        """Params from per-item dicts (``params.to_list()``, e.g. read back from a log).

        Raises:
            ValueError: no items, or items of different algorithms / sample rates /
                shapes (replay such items in separate calls).
        """
        if not items:
            raise ValueError("items is empty; pass at least one per-item params dict")
        first = items[0]
        for key in ("algo", "sample_rate"):
            if any(not isinstance(item, Mapping) or key not in item for item in items):
                raise ValueError(f"items are not RawBoost params dicts (no {key!r}); pass the "
                                 "dicts of RawBoostParams.to_list()")
            if any(item[key] != first[key] for item in items):
                raise ValueError(f"items mix several values of {key!r}; replay each in its "
                                 "own call")
        out = cls(algo=_check_algo(first["algo"]), sample_rate=int(first["sample_rate"]))
        try:
            if "lnl" in first:
                out.lnl = Cascades.stack([item["lnl"] for item in items])
            if "isd" in first:
                out.g_sd = float(first["isd"]["g_sd"])
                if any(float(item["isd"]["g_sd"]) != out.g_sd for item in items):
                    raise KeyError("isd.g_sd differs between items; replay each g_sd in its "
                                   "own call")
                out.isd_beta = torch.tensor([item["isd"]["beta_pct"] for item in items],
                                            dtype=torch.float64)
                if "positions" in first["isd"]:
                    out.isd_positions, out.isd_factors = _slots(
                        [item["isd"]["positions"] for item in items],
                        [item["isd"]["factors"] for item in items])
                else:
                    out.isd_seed = torch.tensor([item["isd"]["seed"] for item in items],
                                                dtype=torch.int64)
            if "ssi" in first:
                out.ssi = Cascades.stack([[item["ssi"]] for item in items])
                out.ssi_snr_db = torch.tensor([item["ssi"]["snr_db"] for item in items],
                                              dtype=torch.float64)
                if "noise" in first["ssi"]:
                    out.ssi_noise = _pad_rows([item["ssi"]["noise"] for item in items])
                else:
                    out.ssi_seed = torch.tensor([item["ssi"]["seed"] for item in items],
                                                dtype=torch.int64)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"items are not RawBoost params dicts (missing or bad {exc}); "
                             "pass the dicts of RawBoostParams.to_list()") from None
        except (RuntimeError, ValueError) as exc:  # ragged band/cascade lists
            raise ValueError(f"items do not share one shape ({exc}); replay items with "
                             "different n_bands or n_f in separate calls") from None
        return out

    def select(self, index: Union[Sequence[int], Tensor]) -> "RawBoostParams":
        """The params of the items at ``index`` (a sub-batch, in that order)."""
        index = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        out = replace(self)
        for name in ("lnl", "ssi"):
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, value.select(index))
        for name in ("isd_beta", "isd_seed", "ssi_snr_db", "ssi_seed", "isd_positions",
                     "isd_factors", "ssi_noise"):
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, value[index.to(value.device)])
        return out

    def to(self, device: Union[str, torch.device]) -> "RawBoostParams":
        """The same params with every tensor on ``device``."""
        out = replace(self)
        for name in ("lnl", "ssi", "isd_beta", "isd_seed", "ssi_snr_db", "ssi_seed",
                     "isd_positions", "isd_factors", "ssi_noise"):
            value = getattr(self, name)
            if value is not None:
                setattr(out, name, value.to(device))
        return out


def _pad_rows(rows: Sequence[Sequence[float]], fill: float = 0.0,
              dtype: torch.dtype = torch.float64) -> Tensor:
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.as_tensor(row, dtype=dtype)
    return out


def _slots(positions: Sequence[Sequence[int]], factors: Sequence[Sequence[float]]
           ) -> tuple[Tensor, Tensor]:
    return (_pad_rows(positions, fill=-1, dtype=torch.int64),
            _pad_rows(factors, dtype=torch.float64))


def sample_params(batch_size: int, algo: int, generator: torch.Generator,
                  sample_rate: int = 16000, **params: Any) -> RawBoostParams:
    """Draw RawBoost parameters for ``batch_size`` items from ``generator``.

    Args:
        batch_size: items to draw for.
        algo: RawBoost algorithm, 1-8.
        generator: the only source of randomness; the params live on its device.
        sample_rate: Hz.
        **params: :class:`RawBoostSettings` fields (or the published names).

    Returns:
        :class:`RawBoostParams`; the draw does not depend on the signals.
    """
    algo = _check_algo(algo)
    s = RawBoostSettings.from_params(sample_rate, **params)
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (e.g. "
                         "torch.Generator().manual_seed(0)); there is no global default")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 0:
        raise ValueError(f"batch_size must be an integer >= 0, got {batch_size!r}")
    steps = ALGORITHMS[algo]
    device = generator.device
    out = RawBoostParams(algo=algo, sample_rate=int(sample_rate), g_sd=float(s.g_sd))

    def uniform(low: Tensor | float, high: Tensor | float, *shape: int) -> Tensor:
        u = torch.rand((batch_size, *shape), generator=generator, device=device,
                       dtype=torch.float64)
        return low + (high - low) * u

    def seeds() -> Tensor:
        return torch.randint(0, 2 ** 62, (batch_size,), generator=generator, device=device)

    def cascades(n: int, min_g: Tensor | float, max_g: Tensor | float) -> Cascades:
        fc = uniform(s.min_f, s.max_f, n, s.n_bands)
        bw = uniform(s.min_bw, s.max_bw, n, s.n_bands)
        taps = uniform(s.min_coeff, s.max_coeff, n, s.n_bands).to(torch.int64)
        taps = taps + (taps % 2 == 0).to(torch.int64)
        return Cascades(fc, bw, taps, uniform(min_g, max_g, n))

    if "lnl" in steps:
        min_g = torch.tensor([s.min_g] + [s.min_g - s.min_bias_lin_nonlin] * (s.n_f - 1),
                             dtype=torch.float64, device=device)
        max_g = torch.tensor([s.max_g] + [s.max_g - s.max_bias_lin_nonlin] * (s.n_f - 1),
                             dtype=torch.float64, device=device)
        out.lnl = cascades(s.n_f, min_g, max_g)
    if "isd" in steps:
        out.isd_beta = uniform(0.0, s.p)
        out.isd_seed = seeds()
    if "ssi" in steps:
        out.ssi = cascades(1, s.min_g, s.max_g)
        out.ssi_snr_db = uniform(s.snr_min, s.snr_max)
        out.ssi_seed = seeds()
    return out


# ------------------------------------------------------------------ counter-based noise

_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2**27: 32-bit products stay exact in int64


def _mix32(x: Tensor) -> Tensor:
    """A bijective 32-bit integer hash on int64 tensors holding values in [0, 2**32).

    Works in place on ``x`` (pass a temporary).
    """
    for _ in range(2):
        x ^= x >> 16
        x *= _MUL
        x &= _M32
    x ^= x >> 16
    return x


def _hash_streams(seed: Tensor, streams: Sequence[int], count: int,
                  device: Optional[torch.device] = None) -> Tensor:
    """Per-item counter-based random words: int64 ``(batch, len(streams), count)`` in [0, 2**32).

    Word ``j`` of stream ``s`` of item ``i`` depends only on ``(seed[i], s, j)``: the same
    on every device and in every batch. For a fixed item and stream, ``j -> word`` is a
    bijection of [0, 2**32). The per-item keys are derived where ``seed`` is (usually
    the host), the words on ``device`` (default: there too); on the CPU the counter axis
    is done in cache-sized chunks.
    """
    device = seed.device if device is None else torch.device(device)
    lo, hi = (seed & _M32)[:, None], ((seed >> 32) & _M32)[:, None]
    salt = torch.tensor([(s * 0x9E3779B9) & _M32 for s in streams], dtype=torch.int64,
                        device=seed.device)
    k1 = _mix32(_mix32(lo ^ salt) ^ hi)[..., None]                   # (B, S, 1)
    k2 = _mix32(k1 ^ 0x68E31DA4)
    k1, k2 = k1.to(device), k2.to(device)
    if device.type != "cpu":
        words = _mix32(torch.arange(count, device=device, dtype=torch.int64) ^ k1)
        words ^= k2
        return _mix32(words)
    step = max(1024, _CPU_CHUNK // max(1, seed.shape[0] * len(streams)))
    out = torch.empty((seed.shape[0], len(streams), count), dtype=torch.int64)
    for start in range(0, count, step):
        j = torch.arange(start, min(count, start + step), dtype=torch.int64)
        words = _mix32(j ^ k1)
        words ^= k2
        out[..., start:start + step] = _mix32(words)
    return out


_CPU_CHUNK = 1 << 18  # int64 words per hashing chunk on the CPU (2 MiB)


def _unit(words: Tensor, dtype: torch.dtype) -> Tensor:
    """Words in [0, 2**32) to uniforms in (0, 1] (in (0, 1) for float64)."""
    if dtype == torch.float64:
        return (words.to(torch.float64) + 0.5).mul_(2.0 ** -32)
    return words.to(dtype).add_(0.5).mul_(2.0 ** -32)


def _white_noise(seed: Tensor, length: int, dtype: torch.dtype, device: torch.device
                 ) -> Tensor:
    """Standard Gaussian noise ``(batch, length)`` on ``device`` per item seed (Box-Muller)."""
    pairs = (length + 1) // 2
    u = _unit(_hash_streams(seed, (3, 4), pairs, device), dtype)
    radius = torch.log(u[:, 0]).mul_(-2.0).sqrt_()
    angle = u[:, 1].mul_(2 * math.pi)
    out = torch.empty((seed.shape[0], pairs, 2), dtype=dtype, device=device)
    torch.mul(radius, torch.cos(angle), out=out[..., 0])     # sample 2p: pair p, cosine
    torch.mul(radius, torch.sin(angle), out=out[..., 1])     # sample 2p + 1: its sine
    return out.reshape(seed.shape[0], 2 * pairs)[:, :length]


# ------------------------------------------------------------------------ filter design


def _band_taps(cascades: Cascades, sample_rate: int, width: int) -> Tensor:
    """firwin(c, [f1, f2], window="hamming", fs) band-stops, centred in ``width`` taps.

    Returns float64 ``(batch, cascades, bands, width)``; ``width`` is odd and at least
    the largest tap count, each filter sits centred with zeros around it.
    """
    nyquist = 0.5 * sample_rate
    fc, bw = cascades.fc_hz, cascades.bw_hz
    f1 = fc - bw / 2
    f2 = fc + bw / 2
    f1 = torch.where(f1 <= 0, torch.full_like(f1, 1e-3), f1)
    f2 = torch.where(f2 >= nyquist, torch.full_like(f2, nyquist - 1e-3), f2)
    lo = (f1 / nyquist)[..., None]
    hi = (f2 / nyquist)[..., None]
    half = (width - 1) // 2
    m = torch.arange(-half, half + 1, device=fc.device, dtype=torch.float64)
    # passbands [0, lo] and [hi, 1]: lo*sinc(lo*m) + sinc(m) - hi*sinc(hi*m), where
    # lo*sinc(lo*m) = sin(pi*lo*m) / (pi*m) and sinc(m) is 1 at m = 0, else 0
    pm = math.pi * torch.where(m == 0, torch.ones_like(m), m)
    h = (torch.sin(lo * pm) - torch.sin(hi * pm)) / pm
    h = torch.where(m == 0, 1 + lo - hi, h)
    taps = cascades.taps[..., None].to(torch.float64)
    window = 0.54 + 0.46 * torch.cos((2 * math.pi / torch.clamp(taps - 1, min=1.0)) * m)
    h = torch.where(m.abs() <= (taps - 1) / 2, h * window, torch.zeros_like(h))
    return h / h.sum(dim=-1, keepdim=True)


@dataclass(frozen=True)
class _Plan:
    """FFT overlap-save geometry for filters of ``kernel`` taps on ``time`` samples."""

    kernel: int   # common cascade length K (odd); the centre is (K-1)/2
    n_fft: int    # frame length N
    hop: int      # N - K + 1 output samples per frame
    frames: int
    design: int   # FFT length of the design (a multiple of 1024 >= K)


def _plan(kernel: int, time: int) -> _Plan:
    design = 1024 * max(1, -(-kernel // 1024))
    frame = max(design, 1 << max(0, (8 * kernel - 1).bit_length()))
    whole = next_fast_len(max(1, time + kernel - 1), real=True)
    n_fft = min(frame, whole)
    hop = n_fft - kernel + 1
    return _Plan(kernel, n_fft, hop, max(1, -(-time // hop)), design)


def _cascade_spectra(cascades: Cascades, sample_rate: int, plan: _Plan, width: int,
                     dtype: torch.dtype) -> Tensor:
    """Frequency responses of the scaled cascades at ``plan.n_fft``.

    The cascade of item i, cascade k is the convolution of its band filters (each
    centred in ``width`` taps, so all cascades share the centre ``(K-1)/2``), scaled to
    ``10**(G/20) / max|H|`` with ``max|H|`` over freqz's 512 points ``pi*j/512``.
    The taps are computed in float64, the transforms in ``dtype`` (float32 or float64).
    Returns complex ``(batch, cascades, n_fft//2 + 1)`` of ``dtype``'s precision.
    """
    bands = torch.fft.rfft(_band_taps(cascades, sample_rate, width).to(dtype), n=plan.design)
    spectrum = bands[..., 0, :]                                  # (B, C, design/2+1)
    for band in range(1, bands.shape[-2]):
        spectrum = spectrum * bands[..., band, :]
    step = plan.design // 1024
    peak = spectrum[..., ::step][..., :512].abs().amax(dim=-1)
    spectrum = spectrum * (10.0 ** (cascades.gain_db / 20) / peak).to(dtype)[..., None]
    if plan.n_fft != plan.design:
        taps = torch.fft.irfft(spectrum, n=plan.design)[..., :plan.kernel]
        spectrum = torch.fft.rfft(taps, n=plan.n_fft)
    return spectrum


def _frames(x: Tensor, plan: _Plan) -> Tensor:
    """Overlap-save frames ``(batch, frames, n_fft)`` aligned with the published crop.

    The published filter keeps output ``n`` = full convolution at ``n + (L+1)/2`` for a
    cascade of ``L`` taps, i.e. the centre plus one; with all cascades centred at
    ``C = (K-1)/2`` frame ``b`` starts at input sample ``b*hop - C + 1``.
    """
    centre = (plan.kernel - 1) // 2
    left = centre - 1
    total = (plan.frames - 1) * plan.hop + plan.n_fft
    x = torch.nn.functional.pad(x, (left, total - x.shape[-1] - left))
    return x.unfold(-1, plan.n_fft, plan.hop)


def _overlap_save(spectra: Tensor, plan: _Plan, time: int) -> Tensor:
    """Inverse of frame spectra ``(batch, frames, bins)`` to ``(batch, time)``."""
    y = torch.fft.irfft(spectra, n=plan.n_fft)[..., plan.kernel - 1:]
    return y.reshape(y.shape[0], -1)[:, :time]


# ----------------------------------------------------------------------------- the steps


def _geometry(cascades: Cascades, time: int) -> tuple[_Plan, int]:
    width = int(cascades.taps.max()) if cascades.taps.numel() else 1
    width += 1 - width % 2
    kernel = cascades.taps.shape[-1] * (width - 1) + 1
    return _plan(kernel, time), width


def _peak_normalise(y: Tensor, always: bool) -> Tensor:
    """Divide each row by its peak ``max|y|``: always (a zero row stays zero) or only
    where the peak exceeds 1."""
    peak = torch.maximum(y.amax(dim=-1, keepdim=True), -y.amin(dim=-1, keepdim=True))
    if always:
        divisor = peak.masked_fill_(peak == 0, 1.0)
    else:
        divisor = peak.clamp_(min=1.0)
    return y / divisor


def _masked(y: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Zero past each row's length (``mask`` is None when every row is full)."""
    return y if mask is None else y * mask


def _lnl(x: Tensor, mask: Optional[Tensor], lengths: Tensor, cascades: Cascades, sample_rate: int,
         geometry: tuple[_Plan, int]) -> Tensor:
    time = x.shape[-1]
    plan, width = geometry
    spectra = _cascade_spectra(cascades, sample_rate, plan, width, x.dtype)  # (B, n_f, F)
    frames = _frames(x, plan)
    power = frames
    acc = torch.fft.rfft(power) * spectra[:, None, 0]
    for k in range(1, spectra.shape[1]):
        power = power * frames
        acc.addcmul_(torch.fft.rfft(power), spectra[:, None, k])
    y = _masked(_overlap_save(acc, plan, time), mask)
    mean = y.sum(dim=-1, keepdim=True) / lengths.clamp(min=1)[:, None].to(y.dtype)
    return _peak_normalise(_masked(y - mean, mask), always=False)


def _isd_slots(params: RawBoostParams, lengths: Tensor, time: int, dtype: torch.dtype,
               share: float) -> tuple[Tensor, Tensor]:
    """ISD positions (``time`` for an unused slot) and factors, both ``(batch, slots)``.

    ``share`` is the largest ``beta/100`` of the batch (known on the host, so nothing
    waits for the device).
    """
    device = lengths.device
    if params.isd_positions is not None:
        pos = params.isd_positions.to(device)
        if pos.shape[1] and int(pos.max()) >= time:
            raise ValueError("params.isd_positions point past the end of x; apply params "
                             "to the signals they were drawn for")
        pos = torch.where(pos >= 0, pos, torch.full_like(pos, time))
        return pos, params.isd_factors.to(device=device, dtype=dtype)
    beta = params.isd_beta.to(device)
    seed = params.isd_seed
    batch = len(params)
    count = torch.floor(lengths.to(torch.float64) * (beta / 100)).to(torch.int64)
    bound = min(time, math.floor(time * share))
    if bound == 0:
        empty = torch.zeros((batch, 0), dtype=torch.int64, device=device)
        return empty, empty.to(dtype)
    # Items with beta <= 50 %: draw positions uniformly with replacement and keep the
    # first `count` distinct ones, a uniform random subset of that size. `draws` covers
    # the expected number of draws to reach it (-T ln(1 - beta/100)) plus 8 standard
    # deviations. Items above 50 %: rank all positions by a bijective hash (a random
    # permutation) and keep the first `count`. Which way an item goes depends on its
    # own beta only, so an item gives the same positions in any batch.
    shared = min(share, 0.5)
    expected = -time * math.log1p(-shared)
    draws = math.ceil(expected + 8 * math.sqrt(expected) + 16)
    width = max(draws, bound) if share > 0.5 else draws
    words = _hash_streams(seed, (0, 1, 2), width, device)
    cand = (words[:, 0, :draws] * lengths[:, None]) >> 32            # uniform in [0, length)
    u = _unit(words[:, 1:], dtype)
    if share > 0.5:
        keys = _hash_streams(seed, (0,), time, device)[:, 0]
        keys = torch.where(torch.arange(time, device=device) < lengths[:, None], keys,
                           torch.full_like(keys, 1 << 40))
        ranked = torch.argsort(keys, dim=-1)[:, :bound]
        cand = torch.where((beta > 50)[:, None],
                           torch.nn.functional.pad(ranked, (0, width - bound), value=time),
                           torch.nn.functional.pad(cand, (0, width - draws), value=time))
        draws = width
    slot = torch.arange(draws, device=device, dtype=torch.int32).expand(batch, draws)
    first_draw = torch.full((batch, time + 1), draws, dtype=torch.int32, device=device)
    first_draw.scatter_reduce_(1, cand, slot, reduce="amin")
    first = first_draw.gather(1, cand) == slot
    rank = torch.cumsum(first, dim=-1) - 1
    keep = first & (rank < count[:, None]) & (cand < time)
    pos = torch.where(keep, cand, torch.full_like(cand, time))
    return pos, (2 * u[:, 0] - 1) * (2 * u[:, 1] - 1)


def _isd(x: Tensor, params: RawBoostParams, lengths: Tensor, share: float) -> Tensor:
    time = x.shape[-1]
    pos, factors = _isd_slots(params, lengths, time, x.dtype, share)
    x_at = x.gather(1, pos.clamp(max=max(time - 1, 0))) if time else x[:, :0]
    y = torch.nn.functional.pad(x, (0, 1))                       # the last column: a sink
    y.scatter_(1, pos, x_at + params.g_sd * x_at * factors)
    return _peak_normalise(y[:, :time], always=False)


def _ssi(x: Tensor, mask: Optional[Tensor], params: RawBoostParams, sample_rate: int,
         geometry: tuple[_Plan, int]) -> Tensor:
    time = x.shape[-1]
    if params.ssi_noise is not None:
        noise = params.ssi_noise.to(device=x.device, dtype=x.dtype)
        if noise.shape[-1] < time:
            raise ValueError("params.ssi_noise is shorter than x; apply params to the "
                             "signals they were drawn for")
        noise = _masked(noise[:, :time], mask)
    else:
        noise = _masked(_white_noise(params.ssi_seed, time, x.dtype, x.device), mask)
    plan, width = geometry
    spectrum = _cascade_spectra(params.ssi.to(x.device), sample_rate, plan, width, x.dtype)
    noise = _masked(_overlap_save(torch.fft.rfft(_frames(noise, plan)) * spectrum, plan, time),
                    mask)
    noise = _peak_normalise(noise, always=True)
    noise_norm = torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
    noise_norm = torch.where(noise_norm > 0, noise_norm, torch.ones_like(noise_norm))
    x_norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    snr = params.ssi_snr_db.to(device=x.device, dtype=x.dtype)[:, None]
    return x + noise / noise_norm * x_norm / 10.0 ** (0.05 * snr)


_check_batch = check_batch


def apply(x: Tensor, lengths: Optional[Tensor], params: Union[RawBoostParams,
          Sequence[Mapping[str, Any]]]) -> Tensor:
    """Apply drawn RawBoost ``params`` to a batch; deterministic.

    Args:
        x: waveforms, float ``(batch, time)``, any device; float64 is processed in
            float64, anything else in float32.
        lengths: valid samples per row, int ``(batch,)``; None means all of ``time``.
            Samples past a row's length are ignored and come back as zeros.
        params: from :func:`sample_params`, :func:`rawboost` or
            :meth:`RawBoostParams.from_list`, one item per row.

    Returns:
        The augmented batch, same shape, dtype and device as ``x``.
    """
    whole_rows = lengths is None
    x, lengths = _check_batch(x, lengths)
    if not isinstance(params, RawBoostParams):
        params = RawBoostParams.from_list(params)
    if len(params) != x.shape[0]:
        raise ValueError(f"params hold {len(params)} items but x has {x.shape[0]} rows; "
                         "draw one item per row")
    out_dtype = x.dtype
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    steps = ALGORITHMS[params.algo]
    for step, field in (("lnl", "lnl"), ("isd", "isd_beta"), ("ssi", "ssi")):
        if (step in steps) != (getattr(params, field) is not None):
            verb = "lack" if step in steps else "carry"
            raise ValueError(f"params of algorithm {params.algo} {verb} the {step.upper()} "
                             f"step; draw them with sample_params for algorithm {params.algo}")
    time = x.shape[-1]
    if x.shape[0] == 0 or time == 0:
        return x.clone()
    # Shapes that depend on the draws come from the params where they are (usually the
    # host), so nothing waits for the device; each step moves what it needs to x's device.
    lnl_geometry = _geometry(params.lnl, time) if params.lnl is not None else None
    ssi_geometry = _geometry(params.ssi, time) if params.ssi is not None else None
    share = 0.0
    if params.isd_beta is not None and params.isd_positions is None:
        share = min(1.0, max(0.0, float(params.isd_beta.max()) / 100))
    full = whole_rows or (lengths.device.type == "cpu" and bool((lengths == time).all()))
    mask = None if full else (torch.arange(time, device=x.device) < lengths[:, None]).to(dtype)
    x = _masked(x.to(dtype), mask)
    fs = params.sample_rate
    lnl = params.lnl.to(x.device) if params.lnl is not None else None
    if params.algo == 8:
        y = _lnl(x, mask, lengths, lnl, fs, lnl_geometry) + _isd(x, params, lengths, share)
        y = _peak_normalise(y, always=False)
    else:
        y = x
        for step in steps:
            if step == "lnl":
                y = _lnl(y, mask, lengths, lnl, fs, lnl_geometry)
            elif step == "isd":
                y = _isd(y, params, lengths, share)
            else:
                y = _ssi(y, mask, params, fs, ssi_geometry)
    return y.to(out_dtype)


def rawboost(x: Tensor, lengths: Optional[Tensor], algo: int, generator: torch.Generator,
             sample_rate: int = 16000, **params: Any) -> tuple[Tensor, RawBoostParams]:
    """Draw RawBoost parameters from ``generator`` and apply them to the batch.

    Args:
        x: waveforms, float ``(batch, time)``, any device.
        lengths: valid samples per row, int ``(batch,)``, or None for all.
        algo: 1-8 (1 LnL, 2 ISD, 3 SSI, 4 = 1+2+3, 5 = 1+2, 6 = 1+3, 7 = 2+3,
            8 = LnL(x) + ISD(x)); 5 is the usual choice for LA-style training, 3 for DF.
        generator: the only source of randomness (a CPU generator is cheapest: the
            draws are small).
        sample_rate: Hz.
        **params: :class:`RawBoostSettings` fields or the published names (``nBands``,
            ``minF``, ..., ``SNRmax``).

    Returns:
        ``(y, params_used)``: ``y`` like ``x``; ``params_used[i]`` is item ``i``'s plain
        data, and ``apply(x, lengths, params_used)`` reproduces ``y``.
    """
    x, lengths = _check_batch(x, lengths)
    drawn = sample_params(x.shape[0], algo, generator, sample_rate, **params)
    return apply(x, lengths, drawn), drawn


# ------------------------------------------------------------------ reference-compatible


def _draw_cascade(rs: np.random.RandomState, s: RawBoostSettings, min_g: float,
                  max_g: float) -> dict[str, Any]:
    fc, bw, taps = [], [], []
    for _ in range(s.n_bands):
        fc.append(float(rs.uniform(s.min_f, s.max_f)))
        bw.append(float(rs.uniform(s.min_bw, s.max_bw)))
        c = int(rs.uniform(s.min_coeff, s.max_coeff))
        taps.append(c + 1 if c % 2 == 0 else c)
    return {"fc_hz": fc, "bw_hz": bw, "taps": taps, "gain_db": float(rs.uniform(min_g, max_g))}


def _draw_reference(rs: np.random.RandomState, time: int, algo: int, s: RawBoostSettings,
                    sample_rate: int) -> dict[str, Any]:
    """One item's params drawn from ``rs`` in the published order."""
    item: dict[str, Any] = {"algo": algo, "sample_rate": sample_rate}
    for step in ALGORITHMS[algo]:
        if step == "lnl":
            gains = [(s.min_g, s.max_g)] + [(s.min_g - s.min_bias_lin_nonlin,
                                             s.max_g - s.max_bias_lin_nonlin)] * (s.n_f - 1)
            item["lnl"] = [_draw_cascade(rs, s, lo, hi) for lo, hi in gains]
        elif step == "isd":
            beta = float(rs.uniform(0, s.p))
            n = int(time * (beta / 100))
            positions = rs.permutation(time)[:n]
            u1 = rs.rand(n)
            u2 = rs.rand(n)
            item["isd"] = {"beta_pct": beta, "g_sd": float(s.g_sd),
                           "positions": positions.tolist(),
                           "factors": ((2 * u1 - 1) * (2 * u2 - 1)).tolist()}
        else:
            noise = rs.normal(0, 1, time)
            ssi = _draw_cascade(rs, s, s.min_g, s.max_g)
            ssi["snr_db"] = float(rs.uniform(s.snr_min, s.snr_max))
            ssi["noise"] = noise
            item["ssi"] = ssi
    return item


def reference_compatible(x: Union[np.ndarray, Sequence[np.ndarray]], sample_rate: int,
                         algo: int, seed: int, **params: Any
                         ) -> Union[np.ndarray, list[np.ndarray]]:
    """RawBoost as the published implementation computes it after ``numpy.random.seed(seed)``.

    Draws every random number from ``numpy.random.RandomState(seed)`` in the published
    order (utterance after utterance), then runs the batched implementation in float64
    on all utterances at once.

    Args:
        x: one utterance ``(time,)``, a batch of equal-length ones ``(batch, time)``, or
            a list of 1-D utterances of any lengths; processed in that order.
        sample_rate: Hz.
        algo: 1-8.
        seed: the seed the published code would have given ``numpy.random.seed``.
        **params: :class:`RawBoostSettings` fields or the published names.

    Returns:
        float64, shaped like ``x`` (a list for a list).
    """
    algo = _check_algo(algo)
    s = RawBoostSettings.from_params(sample_rate, **params)
    as_list = isinstance(x, (list, tuple))
    rows = [np.asarray(r, dtype=np.float64) for r in (x if as_list else np.atleast_2d(x))]
    if any(r.ndim != 1 for r in rows) or (not as_list and np.asarray(x).ndim > 2):
        raise ValueError("x must be (time,), (batch, time) or a list of 1-D arrays")
    if not rows:
        return [] if as_list else np.zeros_like(np.asarray(x, dtype=np.float64))
    rs = np.random.RandomState(seed)
    items = [_draw_reference(rs, r.shape[0], algo, s, int(sample_rate)) for r in rows]
    batch = _pad_rows(rows)
    lengths = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64)
    y = apply(batch, lengths, RawBoostParams.from_list(items)).numpy()
    if as_list:
        return [y[i, :r.shape[0]].copy() for i, r in enumerate(rows)]
    return y.reshape(np.asarray(x).shape)


# ------------------------------------------------------------------------ the chain step


@dataclass(frozen=True)
class RawBoostStep(RawBoostSettings):
    """RawBoost as a step of an augmentation chain (TOML ``name = "rawboost"``).

    Its fields are the TOML keys: ``algo``, ``sample_rate`` and every
    :class:`RawBoostSettings` field (snake_case). Like the other chain steps it has
    ``sample_params(batch, generator) -> list of dicts``, ``apply(x, lengths, params)``
    and ``step(x, lengths, generator) -> (y, params)``.
    """

    name: ClassVar[str] = "rawboost"
    algo: int = 5
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        _check_algo(self.algo)
        self.validate(self.sample_rate)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The settings a chain step may give (TOML keys)."""
        return tuple(f.name for f in fields(cls))

    def settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(RawBoostSettings)}

    def sample_params(self, batch: int, generator: torch.Generator) -> list[dict[str, Any]]:
        """Per-row parameters (plain dicts) drawn from ``generator``."""
        return sample_params(batch, self.algo, generator, self.sample_rate,
                             **self.settings()).to_list()

    def apply(self, x: Tensor, lengths: Optional[Tensor],
              params: Union[RawBoostParams, Sequence[Mapping[str, Any]]]) -> Tensor:
        """Apply drawn ``params`` (one per row); deterministic."""
        return apply(x, lengths, params)

    def __call__(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Any]]]:
        y, params = rawboost(x, lengths, self.algo, generator, self.sample_rate,
                             **self.settings())
        return y, params.to_list()


# ---------------------------------------------------------------------------- the module


class RawBoost(nn.Module):
    """RawBoost as a layer: ``y = RawBoost(algo=5)(x, lengths)``.

    Draws from its own ``torch.Generator`` (seeded by ``seed``; its state is part of
    ``state_dict()``) unless ``forward`` is given one. The params of the last call are
    kept in ``last_params`` for logging. Works the same in train and eval mode: call it
    where augmentation is wanted.

    Args:
        algo: RawBoost algorithm, 1-8.
        sample_rate: Hz.
        seed: seed of the module's generator.
        **params: :class:`RawBoostSettings` fields or the published names.
    """

    def __init__(self, algo: int = 5, sample_rate: int = 16000, seed: int = 0,
                 **params: Any) -> None:
        super().__init__()
        self.algo = _check_algo(algo)
        self.sample_rate = int(sample_rate)
        self.settings = RawBoostSettings.from_params(sample_rate, **params)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.last_params: Optional[RawBoostParams] = None

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """x: float ``(batch, time)``; lengths: int ``(batch,)`` or None -> ``(batch, time)``."""
        y, self.last_params = rawboost(x, lengths, self.algo, generator or self.generator,
                                       self.sample_rate, **asdict(self.settings))
        return y

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return f"algo={self.algo}, sample_rate={self.sample_rate}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str = "rawboost step") -> "RawBoost":
        """A module from a TOML table (``algo``, ``sample_rate``, ``seed``, settings).

        Raises:
            ValueError: naming ``where`` and the bad key, with the keys that are allowed.
        """
        config = dict(config)
        config.pop("name", None)
        config.pop("step", None)
        known = {"algo", "sample_rate", "seed"} | {f.name for f in fields(RawBoostSettings)} \
            | set(_ALIASES)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; allowed keys are "
                             f"{', '.join(sorted(known - set(_ALIASES)))}")
        try:
            return cls(**config)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
