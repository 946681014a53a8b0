"""Signal chains that turn genuine speech into "artifact" (spoof) speech.

Each generator is a pure function ``(x, sample_rate, rng) -> y``:

* ``x``: ``(num_samples,)`` float32 mono waveform in [-1, 1];
* ``sample_rate``: rate of ``x`` in Hz;
* ``rng``: a ``numpy.random.Generator``; every random choice (FFT size, codec,
  bitrate, semitones, noise) is drawn from it, so a fixed seed gives the same
  output;
* ``y``: float32, same length as ``x``, finite, with its peak matched to the
  peak of ``x`` but never above 0.95 (so level alone cannot tell the classes
  apart).

The four chains leave four different kinds of trace:

``griffin_lim``
    magnitude-only STFT resynthesis (optionally through an 80-band mel
    bottleneck), phase rebuilt by fast Griffin-Lim: phasiness, smeared
    transients, like early Tacotron-style TTS.
``lpc_vocoder``
    a source-filter vocoder: LPC envelope per frame, excitation from a pulse
    train at the tracked F0 or white noise: buzzy, robotic, like LPC-10 speech.
``codec_resynthesis``
    a low-bitrate lossy codec round trip (MP3 or Opus through PyAV), aligned
    back to the input sample by sample: band limitation, pre-echo, holes.
``pitch_shift``
    phase-vocoder time stretch plus resampling by 1-4 semitones: shifted
    formants, phase-vocoder smearing, like simple voice conversion.

``GENERATORS`` maps the short names used in manifests to the functions.
"""

from __future__ import annotations

import io
import math
from fractions import Fraction
from typing import Callable

import numpy as np
import scipy.signal
import torch
import torchaudio.functional as AF

__all__ = [
    "griffin_lim",
    "lpc_vocoder",
    "codec_resynthesis",
    "pitch_shift",
    "GENERATORS",
    "Generator",
    "MAX_PEAK",
    "MIN_SAMPLES",
]

Generator = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

MAX_PEAK = 0.95
"""Largest absolute sample value a generator returns."""

MIN_SAMPLES = 2048
"""Shortest input accepted (128 ms at 16 kHz)."""


# --------------------------------------------------------------------------- helpers


def _check(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Validate the common arguments; return ``x`` as contiguous float32."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            "rng must be a numpy.random.Generator; pass np.random.default_rng(seed)."
        )
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 8000:
        raise ValueError(f"sample_rate must be an int >= 8000 Hz, got {sample_rate!r}.")
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(
            f"x must be a mono 1-D waveform of shape (num_samples,), got shape {x.shape}; "
            "mix down or pick one channel first."
        )
    if x.size < MIN_SAMPLES:
        raise ValueError(
            f"x must have at least {MIN_SAMPLES} samples, got {x.size}; pad short clips."
        )
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf samples; clean the input first.")
    return x


def _finish(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Fix length to ``ref``, remove non-finite values, match peak (<= MAX_PEAK)."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n = ref.size
    y = y[:n] if y.size >= n else np.pad(y, (0, n - y.size))
    y = y - y.mean()
    peak = float(np.max(np.abs(y)))
    target = min(float(np.max(np.abs(ref))), MAX_PEAK)
    if target == 0.0:
        return np.zeros(n, np.float32)  # silent in, silent out
    if peak > 0.0:
        y = y * (target / peak)
    return y.astype(np.float32)


def _pow2_at_least(n: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1.0))))


def _fft_size(seconds: float, sample_rate: int, num_samples: int) -> int:
    """Power-of-two FFT size covering ``seconds``, at most half the signal length."""
    n_fft = _pow2_at_least(sample_rate * seconds)
    while n_fft > num_samples // 2:
        n_fft //= 2
    return n_fft


# --------------------------------------------------------------------------- Griffin-Lim


def griffin_lim(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Rebuild ``x`` from its STFT magnitude alone with fast Griffin-Lim.

    The FFT size is drawn from {16, 32, 64} ms (rounded up to a power of two),
    hop = n_fft / 4, Hann window. With probability 1/2 the magnitude first
    goes through an 80-band mel filterbank and back (pseudo-inverse), as in a
    mel-spectrogram TTS front end. Phase starts random (from ``rng``) and is
    refined by 32 iterations of the momentum update of
    ``torchaudio.functional.griffinlim`` (momentum 0.99).

    Args:
        x: ``(num_samples,)`` float32 mono waveform.
        sample_rate: rate of ``x`` in Hz.
        rng: source of the FFT size, mel choice and initial phase.

    Returns:
        ``(num_samples,)`` float32 waveform.
    """
    x = _check(x, sample_rate, rng)
    n_fft = _fft_size(float(rng.choice([0.016, 0.032, 0.064])), sample_rate, x.size)
    hop = n_fft // 4
    use_mel = bool(rng.random() < 0.5)
    n_iter, momentum = 32, 0.99

    window = torch.hann_window(n_fft)
    xt = torch.from_numpy(x)
    mag = torch.stft(xt, n_fft, hop, window=window, return_complex=True).abs()
    if use_mel:
        n_mels = min(80, n_fft // 8)
        fb = AF.melscale_fbanks(
            n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm="slaney"
        )  # (freq, mels)
        mel = fb.T @ mag
        mag = (torch.linalg.pinv(fb.T) @ mel).clamp_min(0.0)

    phase0 = rng.uniform(0.0, 2.0 * np.pi, size=tuple(mag.shape))
    angles = torch.polar(torch.ones_like(mag), torch.from_numpy(phase0).to(mag.dtype))
    tprev = torch.zeros_like(angles)
    for _ in range(n_iter):
        inverse = torch.istft(mag * angles, n_fft, hop, window=window, length=x.size)
        rebuilt = torch.stft(inverse, n_fft, hop, window=window, return_complex=True)
        angles = rebuilt - tprev * (momentum / (1.0 + momentum))
        angles = angles / (angles.abs() + 1e-16)
        tprev = rebuilt
    y = torch.istft(mag * angles, n_fft, hop, window=window, length=x.size)
    return _finish(y.numpy(), x)


# --------------------------------------------------------------------------- LPC vocoder


def _frames(x: np.ndarray, frame: int, hop: int, offset: int = 0) -> np.ndarray:
    """``(num_frames, frame)`` windows centred on ``k * hop + offset``, zero padded.

    ``num_frames = len(x) // hop + 1``; requires ``0 <= offset <= frame // 2``.
    """
    n_frames = x.size // hop + 1
    padded = np.pad(x, (frame // 2 - offset, frame // 2 + hop + offset))
    view = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    return view[:n_frames]


def _levinson(r: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Levinson-Durbin on ``(num_frames, order + 1)`` autocorrelations.

    Returns ``a`` of shape ``(num_frames, order + 1)`` with ``a[:, 0] == 1``
    (the inverse filter ``A(z)``) and the prediction-error power per frame.
    """
    n = r.shape[0]
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1 : 0 : -1], axis=1)
        k = -acc / err
        a_prev = a[:, 1:i].copy()
        a[:, 1:i] = a_prev + k[:, None] * a_prev[:, ::-1]
        a[:, i] = k
        err = err * (1.0 - k * k)
    return a, np.maximum(err, 0.0)


def _track_f0(
    x: np.ndarray, sample_rate: int, hop: int, f0_min: float = 60.0, f0_max: float = 400.0
) -> np.ndarray:
    """Autocorrelation pitch tracker: F0 in Hz per frame, 0 where unvoiced.

    Frames of 40 ms, Hann window, autocorrelation normalised by that of the
    window; a frame is voiced if its best normalised peak in the lag range
    ``[sr / f0_max, sr / f0_min]`` exceeds 0.45 and its RMS is within 35 dB of
    the loudest frame. A 3-frame median filter removes isolated errors.
    """
    frame = int(round(0.040 * sample_rate))
    win = np.hanning(frame)
    frames = _frames(x.astype(np.float64), frame, hop) * win
    nfft = _pow2_at_least(2 * frame)
    r = np.fft.irfft(np.abs(np.fft.rfft(frames, nfft, axis=1)) ** 2, nfft, axis=1)[:, :frame]
    rw = np.fft.irfft(np.abs(np.fft.rfft(win, nfft)) ** 2, nfft)[:frame]
    r = r / np.maximum(rw / rw[0], 1e-3)
    lo = max(2, int(sample_rate / f0_max))
    hi = min(frame - 1, int(sample_rate / f0_min))
    r0 = np.maximum(r[:, 0], 1e-12)
    seg = r[:, lo : hi + 1] / r0[:, None]
    lag = lo + np.argmax(seg, axis=1)
    peak = seg[np.arange(seg.shape[0]), lag - lo]
    rms = np.sqrt(r0)
    voiced = (peak > 0.45) & (rms > rms.max() * 10 ** (-35 / 20))
    f0 = np.where(voiced, sample_rate / lag, 0.0)
    return scipy.signal.medfilt(f0, 3)


def lpc_vocoder(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Resynthesise ``x`` with a pulse/noise-excited LPC source-filter vocoder.

    Analysis: pre-emphasis 0.97, 25 ms Hann frames every 10 ms, LPC of order
    16-20 (drawn from ``rng``) by Levinson-Durbin with a 60 Hz lag window.
    Source: an autocorrelation F0 track; voiced samples get a unit-power pulse
    train at the interpolated F0 (plus 5% breath noise), unvoiced samples white
    noise from ``rng``. Synthesis: all-pole filter ``g / A(z)`` per 10 ms block
    with its state carried across blocks, then de-emphasis.

    Args:
        x: ``(num_samples,)`` float32 mono waveform.
        sample_rate: rate of ``x`` in Hz.
        rng: source of the LPC order and the noise excitation.

    Returns:
        ``(num_samples,)`` float32 waveform.
    """
    x = _check(x, sample_rate, rng)
    order = int(rng.integers(16, 21))
    hop = int(round(0.010 * sample_rate))
    frame = int(round(0.025 * sample_rate))
    n = x.size

    xd = x.astype(np.float64)
    pre = scipy.signal.lfilter([1.0, -0.97], [1.0], xd)
    win = np.hanning(frame)
    # LPC frame k is centred on the middle of synthesis block k: [k * hop, (k + 1) * hop).
    frames = _frames(pre, frame, hop, offset=hop // 2) * win
    nfft = _pow2_at_least(2 * frame)
    r = np.fft.irfft(np.abs(np.fft.rfft(frames, nfft, axis=1)) ** 2, nfft, axis=1)
    r = r[:, : order + 1] / np.sum(win**2)
    lags = np.arange(order + 1)
    r = r * np.exp(-0.5 * (2 * np.pi * 60.0 * lags / sample_rate) ** 2)
    r[:, 0] = r[:, 0] * (1.0 + 1e-4) + 1e-10
    a, err = _levinson(r, order)
    gain = np.sqrt(err)

    f0 = _track_f0(xd, sample_rate, hop)
    n_frames = f0.size
    centers = np.arange(n_frames) * hop
    t = np.arange(n)
    voiced = np.interp(t, centers, (f0 > 0).astype(np.float64)) >= 0.5
    f0_filled = f0.copy()
    if np.any(f0 > 0):
        vidx = np.flatnonzero(f0 > 0)
        f0_filled = np.interp(np.arange(n_frames), vidx, f0[vidx])
    else:
        f0_filled[:] = 120.0
    f0_s = np.interp(t, centers, f0_filled)
    phase = np.cumsum(f0_s / sample_rate)
    pulses = np.diff(np.floor(phase), prepend=np.floor(phase[0]) - 1.0) > 0
    pulse_train = pulses * np.sqrt(sample_rate / f0_s)
    noise = rng.standard_normal(n)
    excitation = np.where(voiced, pulse_train + 0.05 * noise, noise)

    y = np.empty(n)
    zi = np.zeros(order)
    for k in range(0, (n + hop - 1) // hop):
        s = slice(k * hop, min(n, (k + 1) * hop))
        fi = min(k, n_frames - 1)
        y[s], zi = scipy.signal.lfilter([gain[fi]], a[fi], excitation[s], zi=zi)
    y = scipy.signal.lfilter([1.0], [1.0, -0.97], y)
    return _finish(y, x)


# --------------------------------------------------------------------------- codec


# (encoder, container, codec sample rate in Hz, bitrates in bit/s)
_CODECS: tuple[tuple[str, str, int, tuple[int, ...]], ...] = (
    ("libmp3lame", "mp3", 8000, (8000, 16000)),
    ("libmp3lame", "mp3", 16000, (16000, 24000)),
    ("libopus", "ogg", 8000, (6000, 8000)),
    ("libopus", "ogg", 16000, (8000, 12000)),
)


def _available_codecs() -> list[tuple[str, str, int, tuple[int, ...]]]:
    import av

    have = av.codecs_available
    return [c for c in _CODECS if c[0] in have]


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    if orig == new:
        return x
    return AF.resample(torch.from_numpy(np.ascontiguousarray(x, np.float32)), orig, new).numpy()


def _codec_round_trip(x: np.ndarray, codec: str, container: str, rate: int, bit_rate: int) -> np.ndarray:
    """Encode mono float32 ``x`` at ``rate`` Hz and decode it again (float32, ``rate`` Hz)."""
    import av

    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)[None, :]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for decoded in inp.decode(audio=0):
            for f in resampler.resample(decoded):
                chunks.append(f.to_ndarray().reshape(-1))
        for f in resampler.resample(None):
            chunks.append(f.to_ndarray().reshape(-1))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def _align(y: np.ndarray, ref: np.ndarray, max_lag: int) -> np.ndarray:
    """Shift ``y`` so that its cross-correlation with ``ref`` peaks at lag 0.

    Only lags in ``[-max_lag, max_lag]`` are considered; the result has the
    length of ``ref`` (trimmed or zero padded).
    """
    n = ref.size
    max_lag = max(0, min(max_lag, n - 1))
    yy = y[: n + max_lag] if y.size > n + max_lag else np.pad(y, (0, n + max_lag - y.size))
    c = scipy.signal.correlate(yy.astype(np.float64), ref.astype(np.float64), mode="full", method="fft")
    zero = ref.size - 1  # index of lag 0 in the full correlation
    window = c[zero - max_lag : zero + max_lag + 1]
    lag = int(np.argmax(window)) - max_lag  # y[t + lag] ~ ref[t]
    if lag >= 0:
        out = yy[lag : lag + n]
    else:
        out = np.concatenate([np.zeros(-lag), yy[: n + lag]])
    return np.pad(out, (0, n - out.size))


def codec_resynthesis(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Pass ``x`` through a low-bitrate lossy codec and back, time-aligned.

    One configuration is drawn from ``rng``: MP3 (LAME) at 8 kHz / 8-16 kbit/s
    or 16 kHz / 16-24 kbit/s, or Opus at 8 kHz / 6-8 kbit/s or 16 kHz / 8-12
    kbit/s. The signal is resampled to the codec rate, encoded and decoded in
    memory with PyAV, resampled back, and the encoder delay is removed by
    cross-correlation with the input (search range +-100 ms), so output
    sample ``t`` lines up with input sample ``t``.

    Args:
        x: ``(num_samples,)`` float32 mono waveform.
        sample_rate: rate of ``x`` in Hz.
        rng: source of the codec, rate and bitrate choice.

    Returns:
        ``(num_samples,)`` float32 waveform.

    Raises:
        RuntimeError: PyAV has neither the libmp3lame nor the libopus encoder.
    """
    x = _check(x, sample_rate, rng)
    codecs = _available_codecs()
    if not codecs:
        raise RuntimeError(
            "codec_resynthesis needs PyAV with the libmp3lame or libopus encoder; "
            "install the 'av' wheel from PyPI, which bundles both."
        )
    codec, container, rate, bitrates = codecs[int(rng.integers(len(codecs)))]
    bit_rate = int(rng.choice(bitrates))
    xc = _resample(x, sample_rate, rate)
    yc = _codec_round_trip(xc, codec, container, rate, bit_rate)
    y = _resample(yc, rate, sample_rate)
    y = _align(y, x, max_lag=int(0.1 * sample_rate))
    return _finish(y, x)


# --------------------------------------------------------------------------- pitch shift


def pitch_shift(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Shift the pitch of ``x`` by 1-4 semitones up or down, keeping its duration.

    The shift ``s`` is drawn from ``rng`` (sign and magnitude), and rounded so
    that the pitch ratio ``2 ** (s / 12)`` is a fraction ``p / q`` with small
    terms (at most 40): the signal is time-stretched by ``p / q`` with
    ``torchaudio.functional.phase_vocoder`` (n_fft 512 or 1024 scaled to the
    rate, hop n_fft / 4), then resampled by ``q / p`` back to its length, which
    raises every frequency, formants included, by ``p / q``.

    Args:
        x: ``(num_samples,)`` float32 mono waveform.
        sample_rate: rate of ``x`` in Hz.
        rng: source of the shift and the FFT size.

    Returns:
        ``(num_samples,)`` float32 waveform.
    """
    x = _check(x, sample_rate, rng)
    semitones = float(rng.uniform(1.0, 4.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    ratio = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(40)
    p, q = ratio.numerator, ratio.denominator
    n_fft = _fft_size(float(rng.choice([0.032, 0.064])), sample_rate, x.size)
    hop = n_fft // 4

    window = torch.hann_window(n_fft)
    xt = torch.from_numpy(x)
    spec = torch.stft(xt, n_fft, hop, window=window, return_complex=True)
    phase_advance = torch.linspace(0, math.pi * hop, n_fft // 2 + 1)[..., None]
    stretched = AF.phase_vocoder(spec, q / p, phase_advance)
    long_len = int(round(x.size * p / q))
    y = torch.istft(stretched, n_fft, hop, window=window, length=long_len)
    y = AF.resample(y, p, q)
    return _finish(y.numpy(), x)


GENERATORS: dict[str, Generator] = {
    "griffinlim": griffin_lim,
    "lpc": lpc_vocoder,
    "codec": codec_resynthesis,
    "pitchshift": pitch_shift,
}
"""Artifact generators by the short name used in manifests (``generator`` column)."""
