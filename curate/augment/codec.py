"""G.711 (mu-law and A-law) as batched tensor transforms, bit-exact to FFmpeg.

G.711 maps each 16-bit sample to an 8-bit code word (sign, 3-bit segment, 4-bit
quantisation step) and back. The tables here are built the way the standard defines
them:

- **Decoding** (code word -> linear value) follows the segment/quantisation
  definition of ITU-T G.711 tables 1 and 2: A-law inverts the even bits (``^ 0x55``),
  segment 0 has steps of 2 (13-bit units) from 1, segment ``s >= 1`` has steps of
  ``2**s`` from ``2**(s+4) + 2**(s-1)``; mu-law complements the code word and decodes
  ``((2q + 33) << s) - 33`` (14-bit units). Values are scaled to 16 bits (x8 for A-law's
  13-bit range, x4 for mu-law's 14-bit range).
- **Encoding** (linear value -> code word) picks the code word whose reconstruction
  level is nearest: the decision thresholds lie midway between adjacent
  reconstruction levels, rounded half-up onto the 14-bit grid ``(v + 32768) >> 2`` of
  the 16-bit input. This is what FFmpeg's ``pcm_mulaw`` / ``pcm_alaw`` encoders do;
  inside each segment the thresholds equal the standard's decision values, and at
  segment boundaries they sit at the midpoint of the two neighbouring levels.

The result is bit-exact to FFmpeg (through PyAV) over all 65,536 16-bit inputs
(``tests/test_codec.py``). torchaudio's ``mu_law_encoding`` is a continuous
companding law, not G.711, and differs from it.

Float waveforms in [-1, 1) are read as 16-bit PCM: ``round(x * 32768)`` clipped to
[-32768, 32767]; the decoded value is ``code_value / 32768``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "LAWS",
    "alaw_decode_table",
    "mulaw_decode_table",
    "encode_table",
    "to_int16",
    "g711_encode",
    "g711_decode",
    "g711",
    "G711",
]

#: The two G.711 laws.
LAWS = ("mu", "a")

_SIGN = 0x80
_QUANT = 0x0F
_SEG = 0x70


def _alaw_level(code: int) -> int:
    """16-bit linear value of an A-law code word (G.711 table 1, scaled x8)."""
    a = code ^ 0x55
    q = a & _QUANT
    seg = (a & _SEG) >> 4
    if seg == 0:
        mag = 2 * q + 1                        # 13-bit units: 1, 3, ..., 31
    else:
        mag = (2 * q + 33) << (seg - 1)        # 33, 35, ... (segment 1), then doubling
    mag <<= 3                                  # 13 -> 16 bits
    return mag if a & _SIGN else -mag


def _mulaw_level(code: int) -> int:
    """16-bit linear value of a mu-law code word (G.711 table 2, scaled x4)."""
    u = ~code & 0xFF
    q = u & _QUANT
    seg = (u & _SEG) >> 4
    mag = (((2 * q + 33) << seg) - 33) << 2    # 14-bit units, then to 16 bits
    return -mag if u & _SIGN else mag


@lru_cache(maxsize=None)
def alaw_decode_table() -> np.ndarray:
    """int16 ``(256,)``: the 16-bit value of every A-law code word."""
    return np.array([_alaw_level(c) for c in range(256)], dtype=np.int16)


@lru_cache(maxsize=None)
def mulaw_decode_table() -> np.ndarray:
    """int16 ``(256,)``: the 16-bit value of every mu-law code word."""
    return np.array([_mulaw_level(c) for c in range(256)], dtype=np.int16)


def _check_law(law: str) -> str:
    if law not in LAWS:
        raise ValueError(f"law must be 'mu' or 'a' (G.711 mu-law or A-law), got {law!r}")
    return law


@lru_cache(maxsize=None)
def encode_table(law: str) -> np.ndarray:
    """uint8 ``(16384,)``: the code word of every 14-bit input ``(v + 32768) >> 2``.

    The 128 positive reconstruction levels are ordered by magnitude (``code ^ mask``
    for ``i = 0..127``, with ``mask`` 0xD5 for A-law and 0xFF for mu-law); input
    magnitudes between the midpoints of levels ``i-1, i`` and ``i, i+1`` get level
    ``i``, negative inputs the code word with the sign bit flipped.
    """
    law = _check_law(law)
    mask, decode = (0xD5, alaw_decode_table()) if law == "a" else (0xFF, mulaw_decode_table())
    levels = decode[np.arange(128) ^ mask].astype(np.int64)   # ascending magnitudes
    # Decision thresholds on the 14-bit grid: midway between neighbours, half-up.
    thresholds = (levels[:-1] + levels[1:] + 4) >> 3
    magnitude = np.arange(8192)                                # 14-bit offset from 8192
    level = np.searchsorted(thresholds, magnitude, side="right")
    table = np.empty(16384, dtype=np.uint8)
    table[8192:] = level ^ mask
    table[1:8193] = (level[::-1] ^ (mask ^ _SIGN))             # 8192 - j for j = 8191..0
    table[8192] = mask                                          # zero input: smallest level, +
    table[0] = table[1]
    return table


_TABLES: dict[tuple[str, str, torch.device], Tensor] = {}


def _upload(array: np.ndarray, device: torch.device) -> Tensor:
    """A host table on ``device``, once per device; the copy does not wait for the
    device (a pageable source is staged at once)."""
    return torch.from_numpy(array).to(device, non_blocking=True)


def _table(kind: str, law: str, device: torch.device) -> Tensor:
    key = (kind, law, device)
    table = _TABLES.get(key)
    if table is None:
        if kind == "encode":
            table = _upload(encode_table(law).astype(np.int64), device)
        else:
            source = alaw_decode_table() if law == "a" else mulaw_decode_table()
            table = _upload(source.astype(np.float32) / 32768.0, device)
        _TABLES[key] = table
    return table


def to_int16(x: Tensor) -> Tensor:
    """Float samples in [-1, 1) as int64 16-bit PCM values: ``round(x * 32768)``, clipped."""
    return torch.round(x.to(torch.float32) * 32768.0).clamp_(-32768, 32767).to(torch.int64)


def _laws_per_row(law: Union[str, Sequence[str]], rows: int) -> Union[str, list[str]]:
    if isinstance(law, str):
        return _check_law(law)
    laws = [_check_law(v) for v in law]
    if len(laws) != rows:
        raise ValueError(f"law holds {len(laws)} values but x has {rows} rows; give one law "
                         "per row or a single law")
    return laws


def g711_encode(x: Tensor, law: Union[str, Sequence[str]] = "mu") -> Tensor:
    """G.711 code words of float samples.

    Args:
        x: float samples in [-1, 1), any shape (rows first when ``law`` is a list), any
            device.
        law: "mu" or "a", or one law per row of a 2-D ``x``.

    Returns:
        uint8 code words, shaped like ``x`` (FFmpeg's ``pcm_mulaw`` / ``pcm_alaw`` bytes).
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError("x must be a float tensor of samples in [-1, 1)")
    laws = _laws_per_row(law, x.shape[0] if x.ndim else 0)
    index = (to_int16(x) + 32768) >> 2
    if isinstance(laws, str):
        return _table("encode", laws, x.device)[index].to(torch.uint8)
    is_a = torch.tensor([v == "a" for v in laws], device=x.device)
    is_a = is_a.reshape((-1,) + (1,) * (x.ndim - 1))
    codes = torch.where(is_a, _table("encode", "a", x.device)[index],
                        _table("encode", "mu", x.device)[index])
    return codes.to(torch.uint8)


def g711_decode(codes: Tensor, law: Union[str, Sequence[str]] = "mu",
                dtype: torch.dtype = torch.float32) -> Tensor:
    """Float samples (``value / 32768``) of G.711 code words (uint8, any shape)."""
    if not isinstance(codes, Tensor) or codes.dtype != torch.uint8:
        raise ValueError("codes must be a uint8 tensor of G.711 code words (from g711_encode)")
    laws = _laws_per_row(law, codes.shape[0] if codes.ndim else 0)
    index = codes.to(torch.int64)
    if isinstance(laws, str):
        return _table("decode", laws, codes.device)[index].to(dtype)
    is_a = torch.tensor([v == "a" for v in laws], device=codes.device)
    is_a = is_a.reshape((-1,) + (1,) * (codes.ndim - 1))
    y = torch.where(is_a, _table("decode", "a", codes.device)[index],
                    _table("decode", "mu", codes.device)[index])
    return y.to(dtype)


_ROUNDTRIP: dict[torch.device, Tensor] = {}


def _roundtrip_table(device: torch.device) -> Tensor:
    """float32 ``(2 * 16384,)``: decode(encode(i)) / 32768 for every 14-bit input ``i``,
    mu-law then A-law (one gather per sample instead of two)."""
    table = _ROUNDTRIP.get(device)
    if table is None:
        parts = [mulaw_decode_table()[encode_table("mu")], alaw_decode_table()[encode_table("a")]]
        table = _upload(np.concatenate(parts).astype(np.float32) / 32768.0, device)
        _ROUNDTRIP[device] = table
    return table


def g711(x: Tensor, law: Union[str, Sequence[str], Tensor] = "mu",
         lengths: Optional[Tensor] = None) -> Tensor:
    """G.711 encode + decode of a batch: the quantisation a G.711 link adds.

    Equal to ``g711_decode(g711_encode(x, law), law)`` (one table lookup per sample).
    Runs at the rate of ``x`` (G.711 itself is defined at 8 kHz; for a narrowband
    telephone channel use :func:`curate.augment.channel.telephone`).

    Args:
        x: float waveforms ``(batch, time)`` (or any shape with a single ``law``) in
            [-1, 1); values outside are clipped to 16-bit full scale.
        law: "mu" or "a", or one law per row: a list of them, or a tensor ``(batch,)``
            on ``x``'s device, bool or int, true / nonzero for A-law (the device stage's
            draws: nothing is read back).
        lengths: valid samples per row, int ``(batch,)``; samples past a row's length
            come back as zeros. None: all.

    Returns:
        Same shape, dtype and device as ``x``.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError("x must be a float tensor of samples in [-1, 1)")
    rows = x.shape[0] if x.ndim else 0
    if isinstance(law, Tensor):
        if law.shape != (rows,) or law.is_floating_point() or law.is_complex():
            raise ValueError(f"law as a tensor must be bool or int of shape ({rows},) "
                             f"(true / nonzero: A-law), got {law.dtype} of shape "
                             f"{tuple(law.shape)}")
        is_a = law.to(x.device, non_blocking=True) != 0
    else:
        laws = _laws_per_row(law, rows)
        is_a = laws == "a" if isinstance(laws, str) else \
            torch.tensor([v == "a" for v in laws]).to(x.device, non_blocking=True)
    # (round(x * 32768) clipped + 32768) >> 2, exactly, in float32 arithmetic
    index = torch.round(x.to(torch.float32) * 32768.0).clamp_(-32768, 32767) \
        .add_(32768.0).mul_(0.25).floor_()
    if isinstance(is_a, bool):
        if is_a:
            index.add_(16384.0)
    else:
        index.add_((is_a.to(torch.float32) * 16384.0).reshape((-1,) + (1,) * (x.ndim - 1)))
    y = torch.take(_roundtrip_table(x.device), index.to(torch.int64)).to(x.dtype)
    if lengths is not None:
        if x.ndim != 2:
            raise ValueError("lengths needs x of shape (batch, time)")
        lengths = torch.as_tensor(lengths).to(x.device, non_blocking=True)
        keep = torch.arange(x.shape[-1], device=x.device) < lengths[:, None]
        y = torch.where(keep, y, torch.zeros((), dtype=y.dtype, device=y.device))
    return y


class G711(torch.nn.Module):
    """G.711 as a layer: ``G711("a")(x, lengths)``; no parameters, deterministic."""

    def __init__(self, law: str = "mu") -> None:
        super().__init__()
        self.law = _check_law(law)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        return g711(x, self.law, lengths)

    def extra_repr(self) -> str:
        return f"law={self.law!r}"
