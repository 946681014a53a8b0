"""The vectorised BS.1770-4 loudness (curate.audio.loudness) against pyloudnorm."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import sosfilt

from curate.audio import loudness
from curate.audio.loudness import (block_powers, gated_loudness, integrated_loudness,
                                   k_weight, k_weighting_sos)
from curate.audio.probe import integrated_loudness as probe_loudness


def speech_like(seconds: float, rate: int, *, channels: int = 1, seed: int = 0,
                level: float = 0.2) -> np.ndarray:
    """Voiced bursts (harmonics of a gliding f0) between pauses, plus a little noise:
    loudness varies from block to block so both gates matter. ``(time, channels)``."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.4 * t) + 10 * seed
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = np.clip(np.sin(2 * np.pi * (2.5 + 0.3 * seed) * t), 0, None) ** 2
    envelope *= 1.0 + 0.8 * np.sin(2 * np.pi * 0.3 * t)  # loud and soft phrases
    x = level * voiced * envelope + 0.002 * rng.standard_normal(n)
    gains = np.linspace(1.0, 0.4, channels)
    return (x[:, None] * gains[None, :]).astype(np.float32)


def reference(x: np.ndarray, rate: int) -> float:
    return pyloudnorm.Meter(rate).integrated_loudness(np.asarray(x, dtype=np.float64))


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("seconds", [0.4, 0.43, 1.0, 2.345, 6.0])
def test_agrees_with_pyloudnorm_on_speech_like_signals(rate, seconds):
    for seed in range(2):
        x = speech_like(seconds, rate, seed=seed)
        assert integrated_loudness(x, rate) == pytest.approx(reference(x, rate), abs=0.05)


@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_agrees_with_pyloudnorm_on_multichannel(channels):
    x = speech_like(3.0, 16000, channels=channels, seed=channels)
    x[:, -1] *= 0.3  # channels of different levels (surround weights 1.41 in 5.0)
    got = integrated_loudness(x, 16000)
    assert got == pytest.approx(reference(x, 16000), abs=0.05)
    if channels == 5:  # the surround weight counts: dropping it changes the result
        flat = gated_loudness(block_powers(k_weight(x, 16000), 16000), weights=(1.0,) * 5)
        assert abs(flat - got) > 0.01


def test_edge_cases_match_pyloudnorm():
    rate = 16000
    # silence: every block below the absolute gate
    assert integrated_loudness(np.zeros((rate, 1), np.float32), rate) == -math.inf
    assert reference(np.zeros((rate, 1)), rate) == -math.inf
    quiet = np.full((rate, 1), 1e-5, np.float32)  # -100 dBFS DC: below the gate
    assert integrated_loudness(quiet, rate) == -math.inf
    # exactly one block, and one block plus a sample
    for n in (int(0.4 * rate), int(0.4 * rate) + 1):
        x = speech_like(n / rate, rate)[:n]
        assert integrated_loudness(x, rate) == pytest.approx(reference(x, rate), abs=0.05)
    # speech then a long silence: the relative gate drops the silent blocks
    x = np.concatenate([speech_like(1.0, rate), np.zeros((5 * rate, 1), np.float32)])
    assert integrated_loudness(x, rate) == pytest.approx(reference(x, rate), abs=0.05)
    assert integrated_loudness(x, rate) == pytest.approx(
        integrated_loudness(x[:rate], rate), abs=1.0)


def test_sine_reads_its_level():
    rate = 48000
    t = np.arange(2 * rate) / rate
    for amplitude in (1.0, 0.1, 0.01):
        x = (amplitude * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
        # a 1 kHz sine of amplitude A: 20 log10(A) - 3.01 dB (RMS), K-weighting ~0 dB there
        assert integrated_loudness(x, rate) == pytest.approx(20 * math.log10(amplitude) - 3.01,
                                                             abs=0.1)
    # ten times the amplitude is 20 LU louder
    x = speech_like(2.0, 16000)
    assert integrated_loudness(10 * x, 16000) - integrated_loudness(x, 16000) == \
        pytest.approx(20.0, abs=1e-3)


def test_k_weighting_is_float32_sections_from_rest():
    rate = 16000
    sos = k_weighting_sos(rate)
    assert sos.shape == (2, 6) and sos.dtype == np.float64 and np.all(sos[:, 3] == 1.0)
    x = speech_like(1.0, rate, channels=2)
    y = k_weight(x, rate)
    assert y.dtype == np.float32 and y.shape == x.shape
    expected = sosfilt(sos, x.astype(np.float64), axis=0)
    np.testing.assert_allclose(y, expected, atol=5e-5)  # float32 rounding, signal ~0.2
    np.testing.assert_array_equal(k_weight(x[:, 0], rate)[:, 0], y[:, 0])  # mono as 1-D
    # +4 dB shelf above ~1.5 kHz, high-pass at 38 Hz (the gains of BS.1770's filter)
    t = np.arange(4 * rate) / rate
    gain = {f: 20 * np.log10(np.std(k_weight(np.sin(2 * np.pi * f * t), rate)[rate:])
                             / np.std(np.sin(2 * np.pi * f * t)[rate:]))
            for f in (20.0, 1000.0, 6000.0)}
    assert gain[6000.0] == pytest.approx(4.0, abs=0.3)
    assert abs(gain[1000.0]) < 0.8 and gain[20.0] < -5.0


def test_block_powers_are_the_gating_blocks():
    rate = 16000
    y = np.random.default_rng(3).standard_normal((int(1.05 * rate), 2)).astype(np.float32)
    powers = block_powers(y, rate)
    # pyloudnorm's count: round((T - 0.4) / 0.1) + 1 blocks of 400 ms, 100 ms apart
    assert powers.shape == (2, 7)  # (1.05 - 0.4) / 0.1 = 6.5 rounds to 6 (half to even)
    block = int(0.4 * rate)
    for j in (0, 3, 6):
        start = j * rate // 10
        expected = np.sum(np.square(y[start:start + block].astype(np.float64)), axis=0) / block
        np.testing.assert_allclose(powers[:, j], expected, rtol=1e-5)
    # the general path (a rate whose hop is not a whole number of samples) agrees
    odd = 11025
    z = np.random.default_rng(4).standard_normal((odd * 2, 1)).astype(np.float32)
    bounds = loudness._block_bounds(len(z), odd)
    expected = [np.sum(np.square(z[lo:hi, 0].astype(np.float64))) / (0.4 * odd)
                for lo, hi in zip(*bounds)]
    np.testing.assert_allclose(block_powers(z, odd)[0], expected, rtol=1e-6)


def test_argument_errors_name_the_fix():
    with pytest.raises(ValueError, match="five channels or fewer"):
        integrated_loudness(np.zeros((16000, 6), np.float32), 16000)
    with pytest.raises(ValueError, match="shorter than one 400 ms gating block"):
        integrated_loudness(np.zeros((100, 1), np.float32), 16000)
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        integrated_loudness(np.zeros((16000, 1), np.float32), 0)
    with pytest.raises(ValueError, match="pass at least 6400 samples"):
        block_powers(np.zeros((10, 1), np.float32), 16000)
    with pytest.raises(ValueError, match="x must have shape"):
        k_weight(np.zeros((2, 2, 2)), 16000)


def test_probe_wrapper_notes():
    x = speech_like(1.0, 16000)
    lufs, note = probe_loudness(x, 16000)
    assert note is None and lufs == pytest.approx(reference(x, 16000), abs=0.05)
    assert probe_loudness(np.zeros((16000, 1), np.float32), 16000) == (None, "silent")
    lufs, note = probe_loudness(np.zeros((16000, 6), np.float32), 16000)
    assert lufs is None and "five channels" in note
