"""Decoding (curate.audio.decode) and probing (curate.audio.probe) of single files."""

from __future__ import annotations

import fractions
import hashlib
import math
import pickle
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import xxhash

from curate.audio import decode
from curate.audio.decode import AudioReadError, read_audio, read_header
from curate.audio.probe import (
    CLIP_LEVEL,
    DEFAULT_HASH,
    HASH_ALGORITHMS,
    PROBE_COLUMNS,
    clip_ratio,
    content_hash,
    integrated_loudness,
    peak_dbfs,
    probe_file,
    silence_ratio,
)

SR = 16000


def sine(seconds: float, *, sr: int = SR, freq: float = 440.0, amplitude: float = 0.5,
         channels: int = 1) -> np.ndarray:
    """A sine, float32, shape (time, channels)."""
    t = np.arange(int(round(seconds * sr))) / sr
    x = amplitude * np.sin(2 * np.pi * freq * t)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def encode_av(path: Path, x: np.ndarray, sr: int, codec: str, container_format=None) -> Path:
    """Encode mono float samples with PyAV (e.g. aac into .m4a, libmp3lame into .mp3)."""
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=sr, layout="mono")
        frame_size = stream.codec_context.frame_size or 1024
        mono = np.ascontiguousarray(x[:, 0], dtype=np.float32)
        for start in range(0, mono.size, frame_size):
            chunk = mono[start:start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.rate = sr
            frame.pts = start
            frame.time_base = fractions.Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One file per case, written once for the module."""
    d = tmp_path_factory.mktemp("audio")
    f = {}
    # int16 in: libsndfile rounds float -> PCM16 differently for WAV and FLAC
    tone = np.round(sine(1.0) * 32767).astype(np.int16)
    f["wav"] = d / "tone.wav"
    sf.write(f["wav"], tone, SR, subtype="PCM_16")
    f["flac"] = d / "tone.flac"
    sf.write(f["flac"], tone, SR, subtype="PCM_16")
    f["nan"] = d / "nan.wav"
    bad = sine(0.5)
    bad[100:110] = np.nan
    sf.write(f["nan"], bad, SR, subtype="FLOAT")
    f["zero"] = d / "zero.wav"
    sf.write(f["zero"], np.zeros((0, 1), np.float32), SR, subtype="PCM_16")
    f["short"] = d / "short.wav"
    sf.write(f["short"], sine(0.05), SR, subtype="PCM_16")
    f["truncated"] = d / "truncated.wav"
    f["truncated"].write_bytes(f["wav"].read_bytes()[:30])  # cut inside the header
    f["garbage"] = d / "garbage.flac"
    f["garbage"].write_bytes(bytes(range(256)) * 20)
    f["text"] = d / "readme.wav"
    f["text"].write_text("this is not audio\n" * 100)
    f["zero_bytes"] = d / "zero_bytes.wav"
    f["zero_bytes"].write_bytes(b"")
    f["m4a"] = encode_av(d / "tone.m4a", sine(1.5, amplitude=0.3), SR, "aac")
    f["mp3"] = encode_av(d / "tone.mp3", sine(1.0, amplitude=0.3), SR, "libmp3lame")
    f["missing"] = d / "nope.wav"
    return f


# ------------------------------------------------------------------------------ decode


def test_read_header_wav_and_flac(files):
    for key, fmt in (("wav", "wav"), ("flac", "flac")):
        h = read_header(files[key])
        assert h == {"sample_rate": SR, "channels": 1, "num_samples": SR, "duration_s": 1.0,
                     "format": fmt}


def test_read_audio_shape_dtype_and_scale(files):
    x, sr = read_audio(files["wav"])
    assert sr == SR and x.shape == (SR, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x, sine(1.0), atol=2 / 32768)
    x64, _ = read_audio(files["wav"], dtype="float64")
    assert x64.dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        read_audio(files["wav"], dtype="int16")


def test_m4a_goes_through_pyav_fallback(files):
    with pytest.raises(RuntimeError):
        sf.info(files["m4a"])  # libsndfile cannot read it
    h = read_header(files["m4a"])
    assert h["format"] == "m4a" and h["sample_rate"] == SR and h["channels"] == 1
    assert abs(h["duration_s"] - 1.5) < 0.03
    x, sr = read_audio(files["m4a"])
    assert sr == SR and x.dtype == np.float32 and x.shape[1] == 1
    assert abs(x.shape[0] / sr - 1.5) < 0.03
    assert abs(np.max(np.abs(x)) - 0.3) < 0.05


def test_mp3_reads(files):
    h = read_header(files["mp3"])
    assert h["format"] == "mp3" and h["sample_rate"] == SR
    assert abs(h["duration_s"] - 1.0) < 0.06
    x, sr = read_audio(files["mp3"])
    assert sr == SR and abs(x.shape[0] / sr - 1.0) < 0.06


def test_pyav_packed_int16_matches_soundfile(tmp_path):
    """The FFmpeg path converts packed s16 stereo to the same floats as libsndfile."""
    x = np.stack([sine(0.3)[:, 0], sine(0.3, freq=1000, amplitude=0.2)[:, 0]], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    ref, _ = sf.read(path, dtype="float32", always_2d=True)
    got, sr = decode._av_decode(str(path), np.dtype("float32"))
    assert sr == SR and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("key", ["truncated", "garbage", "text", "missing"])
def test_read_errors_are_short(files, key):
    with pytest.raises(AudioReadError) as info:
        read_audio(files[key])
    message = str(info.value)
    assert str(files[key]) not in message and len(message) < 200
    with pytest.raises(AudioReadError):
        read_header(files[key])


def test_audio_read_error_pickles():
    err = pickle.loads(pickle.dumps(AudioReadError("file not found", "/x.wav")))
    assert str(err) == "file not found" and err.path == "/x.wav"


# ------------------------------------------------------------------------ measurements


def test_peak_dbfs():
    assert peak_dbfs(sine(0.2, amplitude=0.5)) == pytest.approx(-6.0206, abs=0.01)
    assert peak_dbfs(np.zeros((100, 2), np.float32)) is None
    assert peak_dbfs(np.ones((10, 1), np.float32)) == 0.0


def test_clip_ratio_counts_full_scale_samples():
    x = sine(0.5, amplitude=0.5, channels=2)  # 16000 samples over 2 channels
    x[10:15, 0] = 1.0
    x[20:22, 1] = -1.0
    x[30, 1] = CLIP_LEVEL  # 32767 / 32768 counts
    x[31, 1] = 0.999  # just below does not
    assert clip_ratio(x) == pytest.approx(8 / x.size)
    assert clip_ratio(sine(0.1, amplitude=0.5)) == 0.0


def test_silence_ratio_half_silent():
    x = np.concatenate([np.zeros((SR // 2, 1), np.float32), sine(0.5)])
    assert silence_ratio(x, SR) == pytest.approx(0.5, abs=0.03)
    assert silence_ratio(sine(0.5), SR) == 0.0
    assert silence_ratio(np.full((SR, 1), 1e-4, np.float32), SR) == 1.0  # -80 dBFS


def test_silence_ratio_partial_last_frame():
    frame = SR // 50  # 20 ms
    loud = sine(0.04)  # 2 loud frames
    # a 12 ms quiet tail counts as a third (silent) frame, an 8 ms one does not
    tail12 = np.concatenate([loud, np.zeros((frame * 6 // 10, 1), np.float32)])
    tail8 = np.concatenate([loud, np.zeros((frame * 4 // 10, 1), np.float32)])
    assert silence_ratio(tail12, SR) == pytest.approx(1 / 3)
    assert silence_ratio(tail8, SR) == 0.0
    assert silence_ratio(np.zeros((10, 1), np.float32), SR) is None


def test_silence_ratio_is_the_float64_definition_over_frames_and_channels():
    rng = np.random.default_rng(5)
    frame = SR // 50
    levels_db = rng.uniform(-75, -45, size=(40, 1, 1))  # per frame RMS, both sides of -60
    x = (rng.standard_normal((40, frame, 2)) * 10 ** (levels_db / 20)).astype(np.float32)
    x = np.concatenate([x.reshape(-1, 2), x[0, : frame // 2]])  # + a 10 ms tail frame
    mean_sq = [np.mean(np.square(x[i:i + frame].astype(np.float64)))
               for i in range(0, len(x), frame)]
    assert min(abs(10 * np.log10(m) + 60) for m in mean_sq) > 0.01  # none on the edge
    expected = np.mean(10 * np.log10(mean_sq) < -60)
    assert 0.2 < expected < 0.8
    assert silence_ratio(x, SR) == pytest.approx(expected)
    assert silence_ratio(x.astype(np.float64), SR) == pytest.approx(expected)
    assert silence_ratio(np.ascontiguousarray(x[:, 0]), SR) == pytest.approx(
        np.mean([np.mean(np.square(x[i:i + frame, 0].astype(np.float64))) < 1e-6
                 for i in range(0, len(x), frame)]))


def test_integrated_loudness_matches_pyloudnorm():
    x = sine(2.0, freq=1000.0, amplitude=0.1)
    lufs, note = integrated_loudness(x, SR)
    expected = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    assert note is None and lufs == pytest.approx(expected, abs=0.05)  # the contract
    assert lufs == pytest.approx(20 * math.log10(0.1) - 3.01, abs=0.2)  # sine: RMS -3 dB


def test_integrated_loudness_none_with_note():
    assert integrated_loudness(sine(0.2), SR) == (None, "shorter than one 400 ms gating block")
    assert integrated_loudness(np.zeros((SR, 1), np.float32), SR) == (None, "silent")
    lufs, note = integrated_loudness(sine(1.0, channels=6), SR)
    assert lufs is None and "five channels" in note


def _reference_hash(x: np.ndarray, sample_rate: int, algorithm: str) -> str:
    """The hash definition written out: header, then little-endian float32 samples."""
    h = hashlib.blake2b(digest_size=16) if algorithm == "blake2b-128" else xxhash.xxh3_128()
    h.update(b"curate.pcm.f32le.v1" + sample_rate.to_bytes(8, "little")
             + x.shape[1].to_bytes(8, "little") + x.astype("<f4").tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("algorithm", HASH_ALGORITHMS)
def test_content_hash(algorithm):
    x = sine(0.3)
    h = content_hash(x, SR, algorithm)
    assert len(h) == 32 and h == content_hash(x.copy(), SR, algorithm)
    assert h == _reference_hash(x, SR, algorithm)
    assert h == content_hash(x[:, 0], SR, algorithm)  # 1-D is mono
    assert h == content_hash(x.astype(np.float64), SR, algorithm)  # hashed as float32
    assert h != content_hash(x, 22050, algorithm)
    assert h != content_hash(sine(0.3, freq=441.0), SR, algorithm)
    assert h != content_hash(np.repeat(x, 2, axis=1), SR, algorithm)


def test_content_hash_algorithms_differ_and_the_default_is_xxh3():
    x = sine(0.3)
    assert DEFAULT_HASH == "xxh3-128"
    assert content_hash(x, SR) == content_hash(x, SR, "xxh3-128")
    assert content_hash(x, SR, "xxh3-128") != content_hash(x, SR, "blake2b-128")
    with pytest.raises(ValueError, match="^algorithm must be one of xxh3-128, blake2b-128, "
                                         "got 'md5'$"):
        content_hash(x, SR, "md5")


def test_measurement_argument_errors():
    with pytest.raises(ValueError, match="x must have shape"):
        peak_dbfs(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="sample_rate"):
        silence_ratio(sine(0.1), 0)
    with pytest.raises(ValueError, match="sample_rate"):
        content_hash(sine(0.1), 16000.5)


# ------------------------------------------------------------------------------- probe


def test_probe_ok_wav(files):
    row = probe_file(files["wav"])
    assert tuple(row) == PROBE_COLUMNS
    assert row["status"] == "ok" and row["error"] is None and row["probe_note"] is None
    assert row["duration_s"] == 1.0 and row["sample_rate"] == SR and row["channels"] == 1
    assert row["num_samples"] == SR and row["format"] == "wav"
    assert row["peak_dbfs"] == pytest.approx(-6.02, abs=0.01)
    assert row["clip_ratio"] == 0.0 and row["silence_ratio"] == 0.0
    assert row["loudness_lufs"] == pytest.approx(-9.0, abs=1.0)
    assert isinstance(row["content_hash"], str)


@pytest.mark.parametrize("algorithm", HASH_ALGORITHMS)
def test_wav_and_flac_of_same_pcm_hash_equal(files, tmp_path, algorithm):
    def probe(path):
        return probe_file(path, hash_algorithm=algorithm)

    wav, flac = probe(files["wav"]), probe(files["flac"])
    assert flac["format"] == "flac" and flac["status"] == "ok"
    assert wav["content_hash"] == flac["content_hash"]
    samples = sf.read(files["wav"], dtype="float32", always_2d=True)[0]
    assert wav["content_hash"] == _reference_hash(samples, SR, algorithm)
    resampled = tmp_path / "tone_8k.wav"  # same samples, other sample rate
    sf.write(resampled, sf.read(files["wav"], dtype="int16")[0], 8000, subtype="PCM_16")
    assert probe(resampled)["content_hash"] != wav["content_hash"]
    other = tmp_path / "other.wav"
    sf.write(other, sine(1.0, freq=300.0), SR, subtype="PCM_16")
    assert probe(other)["content_hash"] != wav["content_hash"]


def test_probe_file_hashes_with_the_named_algorithm(files):
    fast, slow = (probe_file(files["wav"], hash_algorithm=name)["content_hash"]
                  for name in ("xxh3-128", "blake2b-128"))
    assert probe_file(files["wav"])["content_hash"] == fast != slow
    assert probe_file(files["wav"], level="header")["content_hash"] is None
    with pytest.raises(ValueError, match="hash_algorithm must be one of xxh3-128, "
                                         "blake2b-128, got 'sha1'"):
        probe_file(files["wav"], hash_algorithm="sha1")


@pytest.mark.parametrize("key,status", [
    ("missing", "missing"),
    ("truncated", "unreadable"),
    ("garbage", "unreadable"),
    ("text", "unreadable"),
    ("zero", "empty"),
    ("zero_bytes", "empty"),
    ("nan", "nan"),
    ("short", "too_short"),
])
def test_probe_statuses(files, key, status):
    for level in ("header", "full"):
        row = probe_file(files[key], level=level)
        assert tuple(row) == PROBE_COLUMNS
        expected = "ok" if (status == "nan" and level == "header") else status
        assert row["status"] == expected, (level, row)
        assert (row["error"] is None) == (expected == "ok")


def test_probe_failure_details(files):
    row = probe_file(files["text"])
    assert row["error"].startswith("cannot read audio") and row["duration_s"] is None
    nan = probe_file(files["nan"])
    assert nan["error"] == "10 of 8000 samples are NaN or inf"
    assert nan["duration_s"] == 0.5 and nan["content_hash"] is not None
    assert nan["peak_dbfs"] is None and nan["loudness_lufs"] is None
    short = probe_file(files["short"])
    assert short["duration_s"] == pytest.approx(0.05) and short["sample_rate"] == SR
    assert short["peak_dbfs"] is not None and short["loudness_lufs"] is None
    assert short["probe_note"] == "loudness: shorter than one 400 ms gating block"
    assert probe_file(files["short"], min_duration_s=0.01)["status"] == "ok"
    zero = probe_file(files["zero"])
    assert zero["num_samples"] == 0 and zero["sample_rate"] == SR and zero["format"] == "wav"


def test_probe_header_level_leaves_measurements_none(files):
    row = probe_file(files["wav"], level="header")
    assert row["status"] == "ok" and row["duration_s"] == 1.0 and row["format"] == "wav"
    for key in ("content_hash", "loudness_lufs", "peak_dbfs", "clip_ratio", "silence_ratio"):
        assert row[key] is None


def test_probe_m4a_and_mp3(files):
    m4a = probe_file(files["m4a"])
    assert m4a["status"] == "ok" and m4a["format"] == "m4a" and m4a["sample_rate"] == SR
    assert abs(m4a["duration_s"] - 1.5) < 0.03
    assert m4a["peak_dbfs"] == pytest.approx(20 * math.log10(0.3), abs=0.5)
    mp3 = probe_file(files["mp3"])
    assert mp3["status"] == "ok" and mp3["format"] == "mp3"
    assert abs(mp3["duration_s"] - 1.0) < 0.06


def test_probe_argument_errors(files):
    with pytest.raises(ValueError, match="level must be one of"):
        probe_file(files["wav"], level="deep")
    with pytest.raises(ValueError, match="min_duration_s"):
        probe_file(files["wav"], min_duration_s=-1)


def test_probe_directory_is_unreadable(tmp_path):
    row = probe_file(tmp_path)
    assert row["status"] == "unreadable" and row["error"] == "not a regular file"
