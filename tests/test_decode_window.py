"""One decoder for training, scoring and probing: a window of any probed-ok format equals
the same samples of a full decode (soundfile where it reads the file, FFmpeg otherwise,
seeking to the window instead of decoding the whole file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from curate.audio.decode import read_audio
from curate.audio.window import read_window
from test_probe import encode_av

SR = 16000


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 0.5 * t)) / SR
    x = sum(np.sin(k * pitch) / k for k in range(1, 12)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = 0.3 * x / np.abs(x).max() + 0.01 * rng.standard_normal(t.size)
    return x.astype(np.float32)[:, None]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    x = _speechlike(6.0)
    out = {}
    out["wav"] = d / "a.wav"
    sf.write(out["wav"], x, SR, subtype="PCM_16")
    out["flac"] = d / "a.flac"
    sf.write(out["flac"], x, SR, subtype="PCM_16")
    out["mp3"] = encode_av(d / "a.mp3", x, SR, "libmp3lame")
    out["m4a"] = encode_av(d / "a.m4a", x, SR, "aac")
    # Opus runs at 48 kHz: the same waveform held for three samples each
    out["opus"] = encode_av(d / "a.ogg", np.repeat(x, 3, axis=0), 48000, "libopus")
    return out


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "m4a", "opus"])
def test_a_window_equals_the_same_samples_of_a_full_decode(files, fmt):
    full, sr = read_audio(files[fmt])
    n = full.shape[0]
    for start, count in ((0, 4000), (int(2.3 * sr), int(1.5 * sr)), (n - 3000, -1),
                         (int(0.2 * sr), 100)):
        got, rate = read_window(files[fmt], lambda frames, rate_, s=start, c=count: (s, c))
        assert rate == sr
        want = full[start:] if count < 0 else full[start:start + count]
        assert got.shape == want.shape, (fmt, start, count)
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{fmt} at {start}")


def test_choose_sees_the_length_and_rate(files):
    seen = {}

    def choose(frames, rate):
        seen["frames"], seen["rate"] = frames, rate
        return 0, 10

    read_window(files["m4a"], choose)
    full, sr = read_audio(files["m4a"])
    assert seen["rate"] == sr and abs(seen["frames"] - full.shape[0]) <= 2048


@pytest.mark.parametrize("fmt", ["m4a", "opus"])
def test_ffmpeg_windows_seek_instead_of_decoding_everything(files, fmt, monkeypatch):
    import curate.audio.window as window

    full, sr = read_audio(files[fmt])
    monkeypatch.setattr(window, "read_audio", lambda *a, **k: pytest.fail("full decode"))
    decoded = []
    original = window._frame_to_array

    def counting(frame, dtype):
        decoded.append(frame.samples)
        return original(frame, dtype)

    monkeypatch.setattr(window, "_frame_to_array", counting)
    got, _ = read_window(files[fmt], lambda frames, rate: (int(4.0 * sr), 8000))
    np.testing.assert_allclose(got, full[int(4.0 * sr):int(4.0 * sr) + 8000], atol=1e-6)
    assert sum(decoded) < full.shape[0] / 2  # far less than the file was converted


def test_training_and_scoring_read_every_format(files, tmp_path):
    """A training set that mixes FLAC, WAV, MP3, M4A/AAC and Opus trains and scores."""
    from curate.train.loop import TrainConfig, score, train

    paths = [str(files[f]) for f in ("wav", "flac", "mp3", "m4a", "opus")] * 2
    labels = [1, 0] * 5
    config = TrainConfig(model_kwargs={"channels": (8, 16), "n_mels": 32}, crop_seconds=1.0,
                         batch_size=4, steps=2, warmup_steps=1, device="cpu", log_every=1,
                         regime="fixed")
    result = train(config, paths, labels)
    assert len(result.losses) == 2 and np.isfinite(result.losses).all()
    scores = score(result.model, paths[:5], max_seconds=2.0, batch_size=5, device="cpu")
    assert scores.shape == (5,) and np.isfinite(scores).all()
