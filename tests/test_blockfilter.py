"""The block-matrix filter (curate.audio.blockfilter) against scipy's per-sample sosfilt."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from curate.audio import blockfilter, loudness


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.5 * np.sin(2 * np.pi * 60 * t) + 0.2 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("n", [0, 1, 5, 31, 32, 33, 64 * 192 + 7, 64_000])
def test_k_weighting_equals_sosfilt_at_any_length(n):
    sos = loudness.k_weighting_sos(16000)
    x = _signal(n)
    y = blockfilter.apply(blockfilter.design(sos), x)
    assert y.dtype == np.float32 and y.shape == (n,)
    if n:  # scipy's sosfilt refuses an empty input
        np.testing.assert_allclose(y, sosfilt(sos, x.astype(np.float64)), rtol=0, atol=1e-5)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000, 192000])
def test_k_weighting_equals_sosfilt_at_every_rate(rate):
    sos = loudness.k_weighting_sos(rate)
    x = _signal(rate, seed=1)  # one second
    expected = sosfilt(sos, x.astype(np.float64))
    np.testing.assert_allclose(loudness.k_weight(x, rate)[:, 0], expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("block", [1, 4, 32, 50])
def test_other_filters_and_blocks(block):
    sos = butter(6, 0.1, output="sos")  # three sections, a low-pass
    x = _signal(3000, seed=2)
    y = blockfilter.apply(blockfilter.design(sos, block), x)
    np.testing.assert_allclose(y, sosfilt(sos, x.astype(np.float64)), rtol=0, atol=1e-5)


def test_segments_carry_the_state(monkeypatch):
    sos = loudness.k_weighting_sos(16000)
    f = blockfilter.design(sos)
    x = _signal(10_000, seed=3)
    whole = blockfilter.apply(f, x)
    monkeypatch.setattr(blockfilter, "SEGMENT", 100)  # 96 samples a segment: 3 blocks
    pieces = blockfilter.apply(f, x)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pieces, sosfilt(sos, x.astype(np.float64)), rtol=0, atol=1e-5)


def test_out_argument_and_impulse_response():
    sos = loudness.k_weighting_sos(16000)
    f = blockfilter.design(sos)
    impulse = np.zeros(200, np.float32)
    impulse[0] = 1.0
    out = np.full(200, np.nan, np.float32)
    assert blockfilter.apply(f, impulse, out=out) is out
    np.testing.assert_allclose(out, sosfilt(sos, impulse.astype(np.float64)), atol=1e-6)


def test_argument_errors():
    with pytest.raises(ValueError, match="sos must have shape"):
        blockfilter.design(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="block must be >= 1"):
        blockfilter.design(loudness.k_weighting_sos(16000), 0)
    with pytest.raises(ValueError, match=r"x must have shape \(time,\)"):
        blockfilter.apply(blockfilter.design(loudness.k_weighting_sos(16000)),
                          np.zeros((4, 2)))
