"""Presets approximating the codec conditions of published evaluation sets.

A preset is a set of named **conditions**; a condition is a short sequence of
operations: real codecs (:mod:`curate.augment.realcodec`, with the bit rates to draw
from), tensor channel steps (:mod:`curate.augment.channel`) and the neural-codec hook
(:mod:`curate.augment.neural`). Where the original codec cannot be reproduced with
the FFmpeg here, the condition says what substitutes for it (``Condition.substitute``);
``docs/augmentation.md`` has the table.

- ``asvspoof2021_la``: LA-C1..C7 (telephony: none, A-law, PSTN, G.722, mu-law, GSM,
  Opus).
- ``asvspoof2021_df``: DF-C1..C9 (media compression: mp3, m4a, ogg at low and high
  quality, and the cascades mp3->m4a, ogg->m4a). The evaluation plan names quality
  tiers, not bit rates; the ranges here are this package's choice.
- ``asvspoof5``: C01..C11, with the bit rates of ``ASVspoof5.codec.config.csv``.

Use: ``run_condition(x, sample_rate, "asvspoof5", rng)``, or as a chain step
``name = "preset"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from curate.augment import realcodec
from curate.augment.channel.steps import TENSOR_STEPS

__all__ = ["Op", "Condition", "PRESET_NAMES", "preset_conditions", "sample_condition",
           "apply_condition", "run_condition", "needs_model"]

PRESET_NAMES = ("asvspoof2021_la", "asvspoof2021_df", "asvspoof5")

Choices = tuple[Union[int, tuple[int, int]], ...]


@dataclass(frozen=True)
class Op:
    """One operation of a condition.

    Attributes:
        kind: "codec", "tensor" or "neural".
        name: codec name (realcodec), tensor step name (channel), or "neural_codec".
        bitrates: codec bit rates, bit/s: values drawn uniformly, or ``(low, high)``
            ranges (a range drawn uniformly, then a value uniformly inside it); empty:
            the codec's default.
        codec_rate: Hz to run the codec at (None: the codec's choice).
        settings: tensor step settings.
    """

    kind: str
    name: str
    bitrates: Choices = ()
    codec_rate: Optional[int] = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    """A published condition: ``id``, what it is (``title``), its ``ops`` and, where a
    codec cannot be reproduced here, what substitutes for it."""

    id: str
    title: str
    ops: tuple[Op, ...]
    substitute: str = ""


def _codec(name: str, bitrates: Sequence = (), codec_rate: Optional[int] = None) -> Op:
    return Op("codec", name, tuple(tuple(b) if isinstance(b, (list, tuple)) else int(b)
                                   for b in bitrates), codec_rate)


def _kbps(*values: float) -> tuple[int, ...]:
    return tuple(int(round(v * 1000)) for v in values)


def _la() -> dict[str, Condition]:
    telephone = Op("tensor", "telephone", settings={"law": ["mu", "a"]})
    return {c.id: c for c in (
        Condition("LA-C1", "no codec", ()),
        Condition("LA-C2", "A-law, VoIP, 8 kHz, 64 kbit/s", (_codec("g711_a"),)),
        Condition("LA-C3", "unknown codec, PSTN, 8 kHz", (telephone, _codec("amr_nb")),
                  "PSTN-like: 300-3400 Hz telephone band with G.711 (mu or A), then an "
                  "AMR-NB cellular leg at a random mode"),
        Condition("LA-C4", "G.722, VoIP, 16 kHz, 64 kbit/s", (_codec("g722"),)),
        Condition("LA-C5", "mu-law, VoIP, 8 kHz, 64 kbit/s", (_codec("g711_mu"),)),
        Condition("LA-C6", "GSM full rate, VoIP, 8 kHz, 13 kbit/s",
                  (_codec("amr_nb", [12200]),),
                  "GSM 06.10 (no encoder in this FFmpeg) -> AMR-NB 12.2 kbit/s, the mode "
                  "that is bit-exact with GSM enhanced full rate"),
        Condition("LA-C7", "Opus, VoIP, 16 kHz, variable bit rate",
                  (_codec("opus", [(10000, 32000)], 16000),)),
    )}


def _df() -> dict[str, Condition]:
    available = realcodec.available_codecs()
    native_vorbis = "vorbis" in available and realcodec.bitrate_range("vorbis") is None
    mp3_low, mp3_high = [(24000, 56000)], [(96000, 160000)]
    m4a_low, m4a_high = [(16000, 32000)], [(64000, 96000)]
    if native_vorbis or "vorbis" not in available:
        ogg_low = _codec("opus", [(16000, 32000)])
        ogg_low_note = ("Vorbis at low bit rate (no libvorbis here) -> Opus 16-32 kbit/s in "
                        "an .ogg file")
        ogg_high = _codec("vorbis") if native_vorbis else _codec("opus", [(96000, 128000)])
        ogg_high_note = ("Vorbis high quality -> FFmpeg's native Vorbis encoder "
                         "(quality-based, about 150-270 kbit/s)" if native_vorbis else
                         "Vorbis -> Opus 96-128 kbit/s")
    else:
        ogg_low, ogg_low_note = _codec("vorbis", [(32000, 64000)]), ""
        ogg_high, ogg_high_note = _codec("vorbis", [(128000, 192000)]), ""
    return {c.id: c for c in (
        Condition("DF-C1", "no compression", ()),
        Condition("DF-C2", "mp3, low quality", (_codec("mp3", mp3_low),)),
        Condition("DF-C3", "mp3, high quality", (_codec("mp3", mp3_high),)),
        Condition("DF-C4", "m4a (AAC), low quality", (_codec("aac", m4a_low),)),
        Condition("DF-C5", "m4a (AAC), high quality", (_codec("aac", m4a_high),)),
        Condition("DF-C6", "ogg (Vorbis), low quality", (ogg_low,), ogg_low_note),
        Condition("DF-C7", "ogg (Vorbis), high quality", (ogg_high,), ogg_high_note),
        Condition("DF-C8", "mp3 then m4a",
                  (_codec("mp3", mp3_low + mp3_high), _codec("aac", m4a_low + m4a_high))),
        Condition("DF-C9", "ogg then m4a",
                  (Op(ogg_low.kind, ogg_low.name, ogg_low.bitrates + ogg_high.bitrates
                      if ogg_low.name == ogg_high.name else ogg_low.bitrates),
                   _codec("aac", m4a_low + m4a_high)), ogg_low_note),
    )}


def _asvspoof5() -> dict[str, Condition]:
    neural = Op("neural", "neural_codec")
    mp3_q = [(45000, 85000), (80000, 120000), (120000, 150000), (170000, 210000),
             (220000, 260000)]
    return {c.id: c for c in (
        Condition("C00", "no codec", ()),
        Condition("C01", "Opus wideband, 6-30 kbit/s",
                  (_codec("opus", _kbps(6, 12, 18, 24, 30), 16000),)),
        Condition("C02", "AMR-WB, 6.6-23.05 kbit/s",
                  (_codec("opus", _kbps(6.6, 8.85, 14.25, 18.25, 23.05), 16000),),
                  "AMR-WB (no encoder in this FFmpeg) -> Opus wideband at the same bit "
                  "rates"),
        Condition("C03", "Speex wideband, 5.75-34.2 kbit/s",
                  (_codec("opus", _kbps(5.75, 9.8, 16.8, 23.8, 34.2), 16000),),
                  "Speex (no encoder in this FFmpeg) -> Opus wideband at the same bit rates"),
        Condition("C04", "EnCodec, 1.5-24 kbit/s", (neural,),
                  "EnCodec -> the neural-codec hook with the model file you give (its bit "
                  "rate is the model's)"),
        Condition("C05", "mp3 wideband, 45-260 kbit/s", (_codec("mp3", mp3_q),)),
        Condition("C06", "m4a (AAC) wideband, 16-128 kbit/s",
                  (_codec("aac", _kbps(16, 32, 64, 96, 128)),)),
        Condition("C07", "mp3 then EnCodec", (_codec("mp3", mp3_q), neural),
                  "EnCodec -> the neural-codec hook"),
        Condition("C08", "Opus narrowband, 4-20 kbit/s",
                  (_codec("opus", _kbps(4, 8, 12, 16, 20), 8000),)),
        Condition("C09", "AMR-NB, 4.75-12.2 kbit/s",
                  (_codec("amr_nb", _kbps(4.75, 6.7, 7.95, 10.2, 12.2)),),
                  "the published 8.85 kbit/s is not an AMR-NB mode; 7.95 kbit/s is used"),
        Condition("C10", "Speex narrowband, 3.95-24.6 kbit/s",
                  (_codec("opus", _kbps(4, 5.95, 11, 18.2, 24.6), 8000),),
                  "Speex (no encoder in this FFmpeg) -> Opus narrowband at the same bit "
                  "rates (4 kbit/s for 3.95)"),
        Condition("C11", "device and channel (Teams, bluetooth and cable recordings)",
                  (Op("tensor", "bandlimit", settings={"min_cutoff_hz": 3400.0,
                                                       "max_cutoff_hz": 7000.0}),
                   Op("tensor", "packet_loss", settings={"min_frame_ms": 20,
                                                         "max_frame_ms": 20,
                                                         "min_loss": 0.0, "max_loss": 0.05,
                                                         "conceal": "repeat"}),
                   _codec("opus", [(16000, 32000)], 16000)),
                  "recorded device/transmission chains -> a simulation: random low-pass "
                  "3.4-7 kHz, 0-5 % packet loss of 20 ms frames with repetition, Opus "
                  "16-32 kbit/s"),
    )}


@lru_cache(maxsize=None)
def preset_conditions(name: str) -> dict[str, Condition]:
    """The conditions of preset ``name`` by id.

    Raises:
        ValueError: an unknown preset, naming the known ones.
    """
    builders = {"asvspoof2021_la": _la, "asvspoof2021_df": _df, "asvspoof5": _asvspoof5}
    if name not in builders:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESET_NAMES)}")
    return builders[name]()


def needs_model(condition: Condition) -> bool:
    """Whether a condition runs the neural-codec hook (and so needs a model file)."""
    return any(op.kind == "neural" for op in condition.ops)


def _draw_bitrate(op: Op, rng: np.random.Generator) -> Optional[int]:
    if not op.bitrates:
        return realcodec.sample_bitrate(op.name, rng, None) if op.name == "amr_nb" else None
    choice = op.bitrates[int(rng.integers(len(op.bitrates)))]
    if isinstance(choice, tuple):
        low, high = choice
        return int(round(rng.uniform(low, high)))
    return int(choice)


def sample_condition(name: str, rng: np.random.Generator,
                     conditions: Optional[Sequence[str]] = None,
                     sample_rate: int = 16000) -> dict[str, Any]:
    """Draw one condition of preset ``name`` (uniformly from ``conditions``, default all)
    and its parameters, as plain data: ``{"preset", "condition", "ops": [...]}``."""
    table = preset_conditions(name)
    ids = list(conditions) if conditions else list(table)
    unknown = [c for c in ids if c not in table]
    if unknown:
        raise ValueError(f"preset {name!r} has no condition {unknown[0]!r}; use "
                         f"{', '.join(table)}")
    condition = table[ids[int(rng.integers(len(ids)))]]
    ops: list[dict[str, Any]] = []
    for op in condition.ops:
        if op.kind == "codec":
            item: dict[str, Any] = {"op": "codec", "codec": op.name,
                                    "bitrate": _draw_bitrate(op, rng)}
            if op.codec_rate:
                item["codec_rate"] = op.codec_rate
        elif op.kind == "tensor":
            step = TENSOR_STEPS[op.name](sample_rate=sample_rate, **op.settings)
            generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
            item = {"op": op.name, "params": step.sample_params(1, generator)[0]}
        else:
            item = {"op": "neural_codec"}
        ops.append(item)
    return {"preset": name, "condition": condition.id, "ops": ops}


def apply_condition(x: np.ndarray, sample_rate: int, params: Mapping[str, Any],
                    neural: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Apply drawn condition ``params`` to one utterance; deterministic.

    Args:
        x: float mono ``(time,)``.
        sample_rate: Hz.
        params: from :func:`sample_condition`.
        neural: a :class:`curate.augment.neural.NeuralCodecStep` for conditions that run
            the neural-codec hook (runs on the CPU here).

    Returns:
        ``(y, params)`` with ``params`` completed by what each codec used (bit rate
        after snapping, codec rate, delay).
    """
    table = preset_conditions(params["preset"])
    condition = table[params["condition"]]
    y = np.asarray(x, dtype=np.float32)
    done: list[dict[str, Any]] = []
    for op, item in zip(condition.ops, params["ops"]):
        if op.kind == "codec":
            y, info = realcodec.encode_decode_info(y, sample_rate, item["codec"],
                                                   item["bitrate"],
                                                   codec_rate_hz=item.get("codec_rate"))
            done.append({"op": "codec", **info})
        elif op.kind == "tensor":
            step = TENSOR_STEPS[op.name](sample_rate=sample_rate, **op.settings)
            t = torch.from_numpy(np.ascontiguousarray(y))[None]
            y = step.apply(t, None, [item["params"]])[0].numpy()
            done.append(dict(item))
        else:
            if neural is None:
                raise ValueError(f"condition {condition.id} runs the neural-codec hook; give "
                                 "model = 'path/to/codec.pt' in the preset step, or leave "
                                 f"{condition.id} out of its conditions")
            t = torch.from_numpy(np.ascontiguousarray(y))[None]
            drawn = neural.sample_params(1, torch.Generator())
            y = neural.apply(t, None, drawn)[0].numpy()
            done.append({"op": "neural_codec", **drawn[0]})
    return y.astype(np.float32, copy=False), {**params, "ops": done}


def run_condition(x: np.ndarray, sample_rate: int, name: str, rng: np.random.Generator,
                  conditions: Optional[Sequence[str]] = None, neural: Any = None
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw a condition of preset ``name`` and apply it: ``(y, params)``."""
    params = sample_condition(name, rng, conditions, sample_rate)
    return apply_condition(x, sample_rate, params, neural)
