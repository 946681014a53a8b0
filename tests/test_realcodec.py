"""Real codecs through PyAV: same length, time-aligned (cross-correlation), clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curate.augment import realcodec
from curate.augment.codec import g711
from curate.augment.realcodec import (available_codecs, codec_delay, codec_spec,
                                      encode_decode, encode_decode_info, resolve_bitrate)

SR = 16000
EXPECTED = ("mp3", "aac", "opus", "g722", "g726", "amr_nb", "g711_mu", "g711_a")


@pytest.fixture(scope="module")
def speech():
    """2 s of a speech-like test signal (not the probe the delays are measured with)."""
    rng = np.random.default_rng(5)
    t = np.arange(2 * SR) / SR
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.5 * t + 1.0)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * phase + k) / k for k in range(1, 20))
    x = (0.6 + 0.4 * np.sin(2 * np.pi * 2.1 * t)) * voiced + 0.2 * rng.standard_normal(t.size)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    spectrum[(freqs < 150) | (freqs > 3300)] = 0
    x = np.fft.irfft(spectrum, x.size)
    return (0.2 * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def _lag(x: np.ndarray, y: np.ndarray, max_lag: int = 64) -> tuple[float, float]:
    """Sub-sample lag of y against x (parabolic peak) and the normalised peak height."""
    size = 1 << math.ceil(math.log2(len(x) + len(y)))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    best = int(lags[np.argmax(corr[lags])])
    a, b, c = corr[best - 1], corr[best], corr[(best + 1) % size]
    frac = 0.5 * (a - c) / (a - 2 * b + c)
    return best + frac, float(b / math.sqrt(np.dot(x, x) * np.dot(y, y)))


def test_the_usual_codecs_are_available():
    missing = [c for c in EXPECTED if c not in available_codecs()]
    assert not missing, f"PyAV lacks {missing}"


CASES = [("mp3", 32000), ("mp3", 160000), ("mp3", 256000), ("aac", 24000), ("aac", 96000),
         ("opus", 12000), ("opus", 64000), ("vorbis", None), ("g722", None), ("g726", 16000),
         ("g726", 40000), ("amr_nb", 4750), ("amr_nb", 12200), ("g711_mu", None),
         ("g711_a", None)]


@pytest.mark.parametrize("codec, bitrate", CASES)
def test_output_has_the_input_length_and_is_time_aligned(codec, bitrate, speech):
    if codec not in available_codecs():
        pytest.skip(f"{codec} is not available here")
    for x in (speech, speech[:12345]):
        y, info = encode_decode_info(x, SR, codec, bitrate)
        assert y.shape == x.shape and y.dtype == np.float32
        lag, height = _lag(x, y)
        # aligned to within one sample at the codec's rate (two input samples at 8 kHz)
        tolerance = SR / min(info["codec_rate"], SR)
        assert abs(lag) < tolerance, \
            f"{codec}: residual lag {lag:.2f} samples (delay {info['delay']})"
        # CELP (AMR) keeps the voiced part, not the waveform of the noise in it
        assert height > (0.5 if codec == "amr_nb" else 0.7), f"{codec}: correlation {height:.2f}"
    assert info["codec"] == codec
    if bitrate is not None and codec not in ("mp3", "aac"):
        assert info["bitrate"] == bitrate


def test_delays_are_measured_once_and_cached(speech):
    delays = {c: codec_delay(c, realcodec.codec_rate(c, SR)) for c in available_codecs()}
    assert all(isinstance(d, float) and -256 <= d < 8192 for d in delays.values())
    assert realcodec._DELAYS[("g722", 16000)] == delays["g722"]
    # removing nothing would leave the raw codec delay visible
    raw = realcodec._roundtrip(realcodec.resample(speech, SR, 8000), codec_spec("amr_nb"), 8000,
                               12200)
    lag, _ = _lag(realcodec.resample(speech, SR, 8000), raw[:8000 * 2], max_lag=200)
    assert abs(lag - delays["amr_nb"]) < 1.5 and delays["amr_nb"] > 10


def test_pyav_g711_equals_the_tensor_g711(speech):
    x8 = realcodec.resample(speech, SR, 8000)
    x8 = np.round(x8 * 32768).clip(-32768, 32767).astype(np.float32) / 32768
    for codec, law in (("g711_mu", "mu"), ("g711_a", "a")):
        y = encode_decode(x8, 8000, codec)
        np.testing.assert_array_equal(y, g711(torch.from_numpy(x8), law).numpy())


def test_bitrate_resolution_and_errors():
    assert resolve_bitrate("mp3", 100000, 16000) == 96000          # nearest legal MPEG-2 rate
    assert resolve_bitrate("mp3", 256000, 32000) == 256000
    assert resolve_bitrate("aac", 200000, 16000) == 96000           # 6 bit/sample at 16 kHz
    assert resolve_bitrate("amr_nb", None, 8000) == 12200
    assert resolve_bitrate("g722", None, 16000) == 64000
    assert realcodec.codec_rate("mp3", 16000, 256000) == 32000
    assert realcodec.codec_rate("opus", 22050) == 48000
    assert realcodec.codec_rate("g711_mu", 16000) == 8000
    with pytest.raises(ValueError, match=r"4750.*12200"):
        resolve_bitrate("amr_nb", 9000, 8000)
    with pytest.raises(ValueError, match="8000-320000"):
        encode_decode(np.zeros(100, np.float32), SR, "mp3", 400000)
    with pytest.raises(ValueError, match="fixed"):
        encode_decode(np.zeros(100, np.float32), SR, "g722", 48000)


def test_unknown_and_unavailable_codecs_name_the_available_ones(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown codec 'speex'.*mp3"):
        encode_decode(np.zeros(100, np.float32), SR, "speex")
    monkeypatch.setitem(realcodec.CODECS, "gsm_fr", realcodec.CodecSpec(
        "gsm_fr", ("libgsm_not_here",), "gsm", "wav", (8000,), 8000, (), False, None, "GSM"))
    with pytest.raises(ValueError, match=r"'gsm_fr' is not available.*available codecs: mp3"):
        encode_decode(np.zeros(100, np.float32), SR, "gsm_fr")
    assert "gsm_fr" not in available_codecs()


def test_aliases_input_checks_and_empty_input():
    assert codec_spec("m4a").name == "aac" and codec_spec("PCM_MULAW").name == "g711_mu"
    with pytest.raises(ValueError, match="1-D"):
        encode_decode(np.zeros((2, 100), np.float32), SR, "mp3")
    with pytest.raises(ValueError, match="sample_rate"):
        encode_decode(np.zeros(100, np.float32), 0, "mp3")
    assert encode_decode(np.zeros(0, np.float32), SR, "mp3").shape == (0,)


def test_sample_bitrate_draws_inside_the_ranges():
    rng = np.random.default_rng(0)
    draws = [realcodec.sample_bitrate("opus", rng, [8000, 32000]) for _ in range(200)]
    assert 8000 <= min(draws) and max(draws) <= 32000
    assert {realcodec.sample_bitrate("amr_nb", rng) for _ in range(200)} == \
        set(realcodec.AMR_NB_BITRATES)
    assert realcodec.sample_bitrate("g711_a", rng) is None


def test_opus_bitrate_range_is_what_libopus_takes_for_mono():
    from curate.augment.realcodec import bitrate_range, encode_decode

    low, high = bitrate_range("opus")
    x = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    for bitrate in (low, high):  # both ends of the advertised range must encode
        assert encode_decode(x, 16000, "opus", bitrate=bitrate).shape == x.shape
