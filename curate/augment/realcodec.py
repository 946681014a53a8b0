"""Real codecs on the CPU through PyAV (FFmpeg): encode, mux, demux, decode, align.

:func:`encode_decode` passes one utterance through a codec the way a file or a call
would carry it: the samples are resampled to a rate the codec supports
(``scipy.signal.resample_poly``, linear phase, no delay), encoded, written into the
codec's usual container in memory (mp3, m4a, ogg, amr, wav), read back, decoded,
resampled to the input rate, and cut to the input's length **time-aligned** with it.

Alignment: each codec adds its own delay (encoder priming, filter banks, look-ahead;
containers remove some of it through edit lists or pre-skip). It is measured, not
guessed: :func:`codec_delay` encodes a fixed speech-like probe once per
(codec, codec rate), finds the lag of the largest cross-correlation between decoded
and input samples, and caches it; :func:`encode_decode` drops that many samples.

Codecs (``CODECS``; :func:`available_codecs` lists those this FFmpeg can run):

======== ================ ============ ============================================
name     FFmpeg encoder   rate (Hz)    bitrate (bit/s)
======== ================ ============ ============================================
mp3      libmp3lame       8000-48000   8000-320000 (snapped to the legal MPEG rates)
aac      aac (in .m4a)    7350-96000   12000-256000 (at most 6 bit/sample)
opus     libopus (.ogg)   8/12/16/24/48k 4000-256000 (mono)
vorbis   libvorbis (.ogg) any         32000-500000; with only FFmpeg's native
                                       encoder (stereo, quality-based), no bitrate
g722     g722             16000        64000
g726     g726 (.wav)      8000         16000, 24000, 32000, 40000
amr_nb   libopencore_amrnb 8000        4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200
g711_mu  pcm_mulaw (.wav) 8000 (any)   64000 at 8 kHz
g711_a   pcm_alaw (.wav)  8000 (any)   64000 at 8 kHz
======== ================ ============ ============================================

Aliases: m4a -> aac, ogg -> vorbis, amr -> amr_nb, mulaw / ulaw / pcm_mulaw ->
g711_mu, alaw / pcm_alaw -> g711_a.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Optional, Sequence

import av
import numpy as np
from scipy.signal import resample_poly

__all__ = [
    "CodecSpec",
    "CODECS",
    "ALIASES",
    "available_codecs",
    "codec_spec",
    "codec_rate",
    "resolve_bitrate",
    "bitrate_range",
    "codec_delay",
    "encode_decode",
    "encode_decode_info",
    "sample_bitrate",
    "resample",
]

_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_MP3_BITRATES_LOW = (8000, 16000, 24000, 32000, 40000, 48000, 56000, 64000, 80000, 96000,
                     112000, 128000, 144000, 160000)              # MPEG-2 / 2.5 (< 32 kHz)
_MP3_BITRATES_HIGH = (32000, 40000, 48000, 56000, 64000, 80000, 96000, 112000, 128000,
                      160000, 192000, 224000, 256000, 320000)     # MPEG-1 (>= 32 kHz)
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000,
              88200, 96000)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
AMR_NB_BITRATES = (4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200)
G726_BITRATES = (16000, 24000, 32000, 40000)


@dataclass(frozen=True)
class CodecSpec:
    """How one codec is run.

    Attributes:
        name: curate's codec name.
        encoders: FFmpeg encoder names, the first one present is used.
        decoder: FFmpeg decoder name (for the availability check).
        container: FFmpeg muxer of the in-memory file.
        rates: sample rates the codec takes, Hz (None: any).
        default_rate: the rate used when the input's rate is not in ``rates`` (and, for
            the fixed-rate telephone codecs, always unless ``codec_rate`` is given).
        bitrates: ``(low, high)`` range in bit/s (``discrete=False``) or the allowed
            values (``discrete=True``); empty for a fixed-rate codec.
        default_bitrate: bit/s used when none is given (None: the codec's own).
        description: one line for docs and errors.
    """

    name: str
    encoders: tuple[str, ...]
    decoder: str
    container: str
    rates: Optional[tuple[int, ...]]
    default_rate: int
    bitrates: tuple[int, ...]
    discrete: bool
    default_bitrate: Optional[int]
    description: str
    fixed_rate: bool = False
    options: dict[str, str] = field(default_factory=dict)


CODECS: dict[str, CodecSpec] = {s.name: s for s in (
    CodecSpec("mp3", ("libmp3lame",), "mp3", "mp3", _MP3_RATES, 16000, (8000, 320000), False,
              64000, "MPEG-1/2 Layer III (LAME), CBR"),
    CodecSpec("aac", ("aac", "libfdk_aac"), "aac", "ipod", _AAC_RATES, 16000, (12000, 256000),
              False, 64000, "AAC-LC in an .m4a (MP4) file"),
    CodecSpec("opus", ("libopus",), "opus", "ogg", _OPUS_RATES, 48000, (4000, 256000), False,
              24000, "Opus (libopus) in an .ogg file"),
    CodecSpec("vorbis", ("libvorbis", "vorbis"), "vorbis", "ogg", None, 16000,
              (32000, 500000), False, None, "Vorbis in an .ogg file"),
    CodecSpec("g722", ("g722",), "g722", "wav", (16000,), 16000, (), False, None,
              "G.722 sub-band ADPCM, 64 kbit/s", fixed_rate=True),
    CodecSpec("g726", ("g726",), "g726", "wav", (8000,), 8000, G726_BITRATES, True, 32000,
              "G.726 ADPCM at 8 kHz", fixed_rate=True),
    CodecSpec("amr_nb", ("libopencore_amrnb",), "amrnb", "amr", (8000,), 8000,
              AMR_NB_BITRATES, True, 12200, "AMR narrowband (OpenCORE) at 8 kHz",
              fixed_rate=True),
    CodecSpec("g711_mu", ("pcm_mulaw",), "pcm_mulaw", "wav", None, 8000, (), False, None,
              "G.711 mu-law (PCM), 8 kHz", fixed_rate=True),
    CodecSpec("g711_a", ("pcm_alaw",), "pcm_alaw", "wav", None, 8000, (), False, None,
              "G.711 A-law (PCM), 8 kHz", fixed_rate=True),
)}

ALIASES = {"m4a": "aac", "ogg": "vorbis", "amr": "amr_nb", "mulaw": "g711_mu",
           "ulaw": "g711_mu", "pcm_mulaw": "g711_mu", "alaw": "g711_a", "pcm_alaw": "g711_a",
           "mp3_lame": "mp3"}


def _has(name: str, mode: str) -> bool:
    try:
        av.codec.Codec(name, mode)
    except Exception:  # noqa: BLE001 - PyAV raises several kinds for a missing codec
        return False
    return True


@lru_cache(maxsize=None)
def _encoder(name: str) -> Optional[str]:
    spec = CODECS[name]
    if not _has(spec.decoder, "r"):
        return None
    return next((e for e in spec.encoders if _has(e, "w")), None)


def available_codecs() -> list[str]:
    """The codec names this machine's FFmpeg (through PyAV) can encode and decode."""
    return [name for name in CODECS if _encoder(name) is not None]


def codec_spec(codec: str) -> CodecSpec:
    """The spec of ``codec`` (a name or alias).

    Raises:
        ValueError: an unknown name, or a codec this FFmpeg lacks; the message names the
            codecs available here.
    """
    name = ALIASES.get(str(codec).lower(), str(codec).lower())
    if name not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; use one of {', '.join(available_codecs())} "
                         f"(aliases: {', '.join(sorted(ALIASES))})")
    if _encoder(name) is None:
        spec = CODECS[name]
        raise ValueError(f"codec {name!r} is not available on this machine (FFmpeg has no "
                         f"{' or '.join(spec.encoders)} encoder / {spec.decoder} decoder); "
                         f"available codecs: {', '.join(available_codecs())}")
    return CODECS[name]


def _native_vorbis(spec: CodecSpec) -> bool:
    return spec.name == "vorbis" and _encoder("vorbis") == "vorbis"


def bitrate_range(codec: str) -> Optional[tuple[int, int]]:
    """``(low, high)`` bit/s a codec accepts here (None: fixed, or not settable)."""
    spec = codec_spec(codec)
    if not spec.bitrates or _native_vorbis(spec):
        return None
    return (min(spec.bitrates), max(spec.bitrates))


def codec_rate(codec: str, sample_rate: int, bitrate: Optional[int] = None) -> int:
    """The sample rate (Hz) ``codec`` runs at for input at ``sample_rate``.

    The input's rate where the codec takes it, else the codec's default; the telephone
    codecs (g711, g726, amr_nb) and g722 always run at their standard rate. MP3 above
    160 kbit/s needs MPEG-1, so such input under 32 kHz runs at 32 kHz.
    """
    spec = codec_spec(codec)
    if spec.fixed_rate:
        return spec.default_rate
    if spec.rates is None or sample_rate in spec.rates:
        rate = sample_rate
    else:
        higher = [r for r in spec.rates if r >= sample_rate]
        rate = min(higher) if higher else max(spec.rates)
        if spec.name == "opus":
            rate = spec.default_rate
    if spec.name == "mp3" and bitrate is not None and bitrate > 160000 and rate < 32000:
        rate = 32000
    return rate


def resolve_bitrate(codec: str, bitrate: Optional[float], rate: int) -> Optional[int]:
    """The bit rate (bit/s) actually used for ``bitrate`` at codec rate ``rate``.

    None gives the codec's default. Range codecs accept any value in their range (mp3 is
    snapped to the nearest legal MPEG bitrate of its rate, aac capped at 6 bit/sample);
    discrete codecs accept only their listed values; fixed codecs accept None or their
    one rate.

    Raises:
        ValueError: a value the codec cannot take, naming the range and the fix.
    """
    spec = codec_spec(codec)
    if _native_vorbis(spec):
        if bitrate is not None:
            raise ValueError("bitrate: this FFmpeg has only its native Vorbis encoder, which "
                             "ignores bit rates (it is quality-based, about 150-270 kbit/s); "
                             "leave bitrate unset, or use an FFmpeg built with libvorbis")
        return None
    if not spec.bitrates:
        fixed = 64000 if spec.name == "g722" else 8 * rate if spec.name.startswith("g711") \
            else None
        if bitrate is not None and fixed is not None and int(bitrate) != fixed:
            raise ValueError(f"bitrate: {spec.name} runs at a fixed {fixed} bit/s here, got "
                             f"{bitrate}; leave bitrate unset")
        return fixed
    if bitrate is None:
        bitrate = spec.default_bitrate
    if isinstance(bitrate, bool) or not isinstance(bitrate, (int, float, np.integer,
                                                             np.floating)):
        raise ValueError(f"bitrate must be a number in bit/s, got {bitrate!r}")
    if spec.discrete:
        if int(bitrate) not in spec.bitrates:
            raise ValueError(f"bitrate: {spec.name} takes one of "
                             f"{', '.join(map(str, spec.bitrates))} bit/s, got {bitrate}")
        return int(bitrate)
    low, high = spec.bitrates
    if not low <= bitrate <= high:
        raise ValueError(f"bitrate: {spec.name} takes {low}-{high} bit/s, got {bitrate}; "
                         "give a value in that range (bit/s, not kbit/s)")
    if spec.name == "mp3":
        legal = _MP3_BITRATES_HIGH if rate >= 32000 else _MP3_BITRATES_LOW
        return int(min(legal, key=lambda b: (abs(b - bitrate), b)))
    if spec.name == "aac":
        return int(min(bitrate, 6 * rate))
    return int(round(bitrate))


def sample_bitrate(codec: str, rng: np.random.Generator,
                   choices: Optional[Sequence[float]] = None) -> Optional[int]:
    """Draw a bit rate for ``codec`` from ``rng``: log-uniform over ``choices`` =
    ``(low, high)`` (or the codec's range), uniform over a discrete codec's values or over
    ``choices`` given as a longer list; None for fixed codecs."""
    spec = codec_spec(codec)
    if _native_vorbis(spec) or not spec.bitrates:
        return None
    if choices is not None:
        values = list(choices)
        if len(values) == 2 and not spec.discrete:
            low, high = sorted(float(v) for v in values)
            return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        return int(values[int(rng.integers(len(values)))])
    if spec.discrete:
        return int(spec.bitrates[int(rng.integers(len(spec.bitrates)))])
    low, high = spec.bitrates
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``: linear phase, no delay), float32."""
    if src == dst:
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(int(src), int(dst))
    return resample_poly(np.asarray(x, dtype=np.float64), dst // g, src // g).astype(np.float32)


def _frame_array(chunk: np.ndarray, fmt: str, channels: int) -> np.ndarray:
    planar = fmt.endswith("p")
    if fmt.startswith("s16"):
        data = np.clip(np.round(chunk * 32768.0), -32768, 32767).astype(np.int16)
    elif fmt.startswith("s32"):
        data = np.clip(np.round(chunk * 2147483648.0), -2147483648, 2147483647).astype(np.int32)
    else:
        data = chunk.astype(np.float32)
    if planar:
        return np.ascontiguousarray(np.tile(data, (channels, 1)))
    return np.ascontiguousarray(np.repeat(data, channels)[None])


def _frame_samples(frame: av.AudioFrame) -> np.ndarray:
    a = frame.to_ndarray()
    channels = frame.layout.nb_channels if hasattr(frame.layout, "nb_channels") \
        else len(frame.layout.channels)
    a = a[0] if frame.format.is_planar else a.reshape(-1, channels)[:, 0]
    if a.dtype == np.int16:
        return a.astype(np.float32) / 32768.0
    if a.dtype == np.int32:
        return a.astype(np.float32) / 2147483648.0
    if a.dtype == np.uint8:
        return (a.astype(np.float32) - 128.0) / 128.0
    return a.astype(np.float32)


_PREFERRED = ("fltp", "flt", "s16", "s16p", "s32p", "s32")


def _roundtrip(x: np.ndarray, spec: CodecSpec, rate: int, bitrate: Optional[int]) -> np.ndarray:
    """Encode ``x`` (float32 at ``rate``) into an in-memory file and decode it back (at
    ``rate``); no delay removal, any length."""
    encoder = _encoder(spec.name)
    native_vorbis = encoder == "vorbis"
    layout = "stereo" if native_vorbis else "mono"
    channels = 2 if native_vorbis else 1
    buf = io.BytesIO()
    with av.open(buf, "w", format=spec.container) as out:
        stream = out.add_stream(encoder, rate=rate)
        cc = stream.codec_context
        cc.layout = layout
        formats = [f.name for f in (cc.codec.audio_formats or ())]
        cc.format = next((f for f in _PREFERRED if f in formats), formats[0] if formats else "s16")
        cc.time_base = Fraction(1, rate)
        if bitrate is not None and spec.bitrates:
            cc.bit_rate = int(bitrate)
        options = dict(spec.options)
        if native_vorbis:
            options["strict"] = "-2"
        if options:
            cc.options = options
        cc.open()
        fmt = cc.format.name
        step = cc.frame_size or 1024
        padded = np.concatenate([x, np.zeros((-len(x)) % step, np.float32)])
        for start in range(0, len(padded), step):
            frame = av.AudioFrame.from_ndarray(_frame_array(padded[start:start + step], fmt,
                                                            channels), format=fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    parts: list[np.ndarray] = []
    rates: set[int] = set()
    with av.open(buf, "r", format=spec.container) as inp:
        for frame in inp.decode(audio=0):
            rates.add(frame.sample_rate)
            parts.append(_frame_samples(frame))
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if rates and rates != {rate}:
        if len(rates) > 1:
            raise RuntimeError(f"{spec.name}: the decoder changed sample rate mid-stream "
                               f"({sorted(rates)})")
        y = resample(y, rates.pop(), rate)
    return y


def _probe(rate: int, seconds: float = 1.5) -> np.ndarray:
    """A fixed speech-like probe at ``rate``: voiced segments with a gliding pitch and
    noise, band-limited to what narrowband codecs carry (200-3000 Hz)."""
    rng = np.random.default_rng(20240611)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 110 + 70 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25) if k * 180 < 0.45 * rate)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.3 * t) ** 2
    x = envelope * voiced + 0.3 * rng.standard_normal(n)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[(freqs < 200) | (freqs > min(3000, 0.45 * rate))] = 0
    x = np.fft.irfft(spectrum, n)
    return (0.25 * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def _lag(reference: np.ndarray, decoded: np.ndarray, max_lag: int, min_lag: int = -256
         ) -> tuple[float, float]:
    """Lag (samples, decoded later = positive; sub-sample by a parabola through the peak)
    of the largest cross-correlation and its normalised height."""
    n = len(reference) + len(decoded)
    size = 1 << int(math.ceil(math.log2(max(n, 2))))
    corr = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(min_lag, 0)]
    values = corr[lags]
    best = int(lags[int(np.argmax(values))])
    a, b, c = corr[best - 1], corr[best], corr[(best + 1) % size]
    curvature = a - 2 * b + c
    frac = 0.5 * (a - c) / curvature if curvature < 0 else 0.0
    norm = math.sqrt(float(np.dot(reference, reference)) * float(np.dot(decoded, decoded))) or 1.0
    return best + float(np.clip(frac, -0.5, 0.5)), float(b / norm)


_DELAYS: dict[tuple[str, int], float] = {}
_DELAY_LOCK = threading.Lock()


def codec_delay(codec: str, rate: int) -> float:
    """The delay (samples at ``rate``, to 0.01 sample) the codec's round trip adds,
    measured once per (codec, rate) by cross-correlating a probe signal (the peak
    refined by a parabola), then cached.

    Raises:
        RuntimeError: the decoded probe does not correlate with the input (the codec
            failed), naming the codec.
    """
    spec = codec_spec(codec)
    key = (spec.name, int(rate))
    with _DELAY_LOCK:
        if key in _DELAYS:
            return _DELAYS[key]
    probe = _probe(rate)
    tail = 8192 + rate // 10
    bitrate = resolve_bitrate(spec.name, None, rate)
    decoded = _roundtrip(np.concatenate([probe, np.zeros(tail, np.float32)]), spec, rate,
                         bitrate)
    lag, height = _lag(probe, decoded, max_lag=tail - 1)
    if height < 0.3:
        raise RuntimeError(f"cannot measure the delay of {spec.name} at {rate} Hz: the decoded "
                           f"probe correlates only {height:.2f} with the input")
    lag = round(lag, 2) + 0.0  # no -0.0
    with _DELAY_LOCK:
        _DELAYS[key] = lag
    return lag


def _check_signal(x: Any, sample_rate: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a 1-D float array (time,) of mono samples, got "
                         f"{x.dtype} of shape {x.shape}; mix channels down first")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    return np.nan_to_num(x.astype(np.float32, copy=False))


def encode_decode_info(x: np.ndarray, sample_rate: int, codec: str,
                       bitrate: Optional[float] = None, *, codec_rate_hz: Optional[int] = None
                       ) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`encode_decode` that also returns what was used: ``{"codec", "bitrate",
    "codec_rate", "delay"}`` (bit/s, Hz, the removed delay in samples at the codec
    rate)."""
    x = _check_signal(x, sample_rate)
    spec = codec_spec(codec)
    rate = int(codec_rate_hz) if codec_rate_hz else codec_rate(spec.name, int(sample_rate),
                                                               None if bitrate is None
                                                               else int(bitrate))
    if spec.rates is not None and rate not in spec.rates:
        raise ValueError(f"codec_rate: {spec.name} takes {', '.join(map(str, spec.rates))} Hz, "
                         f"got {rate}")
    used = resolve_bitrate(spec.name, bitrate, rate)
    info = {"codec": spec.name, "bitrate": used, "codec_rate": rate}
    n = len(x)
    if n == 0:
        info["delay"] = 0
        return x.copy(), info
    delay = codec_delay(spec.name, rate)
    info["delay"] = delay
    xr = resample(x, int(sample_rate), rate)
    tail = int(max(delay, 0)) + 4096
    y = _roundtrip(np.concatenate([xr, np.zeros(tail, np.float32)]), spec, rate, used)
    y = resample(y, rate, int(sample_rate))
    # the delay is removed at the input rate, rounded there (a fraction of a codec-rate
    # sample, as AMR-NB's, is then at most half an input sample)
    shift = int(round(delay * int(sample_rate) / rate))
    if shift >= 0:
        out = y[shift:shift + n]
    else:
        out = np.concatenate([np.zeros(-shift, np.float32), y])[:n]
    if len(out) < n:
        out = np.concatenate([out, np.zeros(n - len(out), np.float32)])
    return out.astype(np.float32, copy=False), info


def encode_decode(x: np.ndarray, sample_rate: int, codec: str,
                  bitrate: Optional[float] = None, *,
                  codec_rate_hz: Optional[int] = None) -> np.ndarray:
    """Pass one utterance through a real codec; same length, time-aligned.

    Args:
        x: float mono samples ``(time,)`` in [-1, 1].
        sample_rate: Hz of ``x`` (and of the output).
        codec: a name of ``CODECS`` or an alias (``available_codecs()`` lists those this
            machine has).
        bitrate: bit/s (None: the codec's default); see :func:`resolve_bitrate`.
        codec_rate_hz: run the codec at this rate instead of :func:`codec_rate`'s choice.

    Returns:
        float32 ``(time,)`` at ``sample_rate``.

    Raises:
        ValueError: unknown or unavailable codec (naming those available), or a bitrate
            or rate the codec cannot take.
    """
    return encode_decode_info(x, sample_rate, codec, bitrate, codec_rate_hz=codec_rate_hz)[0]
