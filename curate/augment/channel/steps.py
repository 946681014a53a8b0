"""The channel steps of a chain (``g711``, ``telephone``, ``bandlimit``, ``bit_depth``,
``downsample``, ``packet_loss``, ``gain``, ``clip``): each one's settings, their checks,
its per-row draws, and the pure transform it applies; :data:`TENSOR_STEPS` by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Union

import torch

from curate.augment.channel.band import bandlimit, telephone
from curate.augment.channel.checks import _laws, _number, _odd_taps, _range
from curate.augment.channel.draws import _choice, _params, _uniform
from curate.augment.channel.level import bit_depth, clip, gain
from curate.augment.channel.packets import packet_loss
from curate.augment.channel.resample import downsample
from curate.augment.channel.step import _Step
from curate.augment.codec import g711


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
