"""G.711 tensor transforms: bit-exact to FFmpeg's pcm_mulaw / pcm_alaw over every input."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from curate.augment.codec import (G711, alaw_decode_table, encode_table, g711, g711_decode,
                                  g711_encode, mulaw_decode_table)

FFMPEG = {"mu": "pcm_mulaw", "a": "pcm_alaw"}
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def _pyav_encode(law: str, samples: np.ndarray) -> np.ndarray:
    cc = av.CodecContext.create(FFMPEG[law], "w")
    cc.sample_rate = 8000
    cc.layout = "mono"
    cc.format = "s16"
    cc.time_base = Fraction(1, 8000)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    packets = list(cc.encode(frame)) + list(cc.encode(None))
    return np.frombuffer(b"".join(bytes(p) for p in packets), dtype=np.uint8)


def _pyav_decode(law: str, codes: np.ndarray) -> np.ndarray:
    cc = av.CodecContext.create(FFMPEG[law], "r")
    cc.sample_rate = 8000
    cc.layout = "mono"
    frames = cc.decode(av.Packet(codes.tobytes()))
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


@pytest.fixture(scope="module")
def ffmpeg_tables():
    return {law: (_pyav_encode(law, ALL_INT16), _pyav_decode(law, np.arange(256, dtype=np.uint8)))
            for law in FFMPEG}


@pytest.mark.parametrize("law", ["mu", "a"])
def test_decode_table_matches_ffmpeg(law, ffmpeg_tables):
    ours = alaw_decode_table() if law == "a" else mulaw_decode_table()
    np.testing.assert_array_equal(ours, ffmpeg_tables[law][1])


@pytest.mark.parametrize("law", ["mu", "a"])
def test_encoder_bit_exact_over_every_16bit_value(law, ffmpeg_tables):
    x = torch.from_numpy(ALL_INT16.astype(np.float32) / 32768)
    codes = g711_encode(x, law).numpy()
    np.testing.assert_array_equal(codes, ffmpeg_tables[law][0])


@pytest.mark.parametrize("law", ["mu", "a"])
def test_roundtrip_equals_ffmpeg_encode_then_decode(law, ffmpeg_tables):
    encoded, decode = ffmpeg_tables[law]
    expected = decode[encoded].astype(np.float32) / 32768
    x = torch.from_numpy(ALL_INT16.astype(np.float32) / 32768)
    np.testing.assert_array_equal(g711(x, law).numpy(), expected)
    np.testing.assert_array_equal(g711_decode(g711_encode(x, law), law).numpy(), expected)


def test_tables_follow_the_standard_segments():
    # A-law: segment 0 steps of 16 (16-bit units) from 8; the largest level 32256.
    a = alaw_decode_table()
    assert a[0xD5] == 8 and a[0xD5 ^ 0x01] == 24 and a.max() == 32256 and a.min() == -32256
    # mu-law: zero is a level; the largest is 32124.
    mu = mulaw_decode_table()
    assert mu[0xFF] == 0 and mu.max() == 32124 and mu.min() == -32124
    for law in ("mu", "a"):
        table = encode_table(law)
        assert table.shape == (16384,) and table.dtype == np.uint8
        assert len(np.unique(table)) >= 255


def test_batch_with_lengths_and_per_row_laws():
    gen = torch.Generator().manual_seed(0)
    x = 0.3 * torch.randn(3, 500, generator=gen)
    lengths = torch.tensor([500, 320, 0])
    y = g711(x, ["mu", "a", "mu"], lengths)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.equal(y[0], g711(x[0], "mu"))
    assert torch.equal(y[1, :320], g711(x[1, :320], "a"))
    assert y[1, 320:].abs().sum() == 0 and y[2].abs().sum() == 0
    # the error is G.711's: a few percent of the value for mid-range samples
    mid = (x[0].abs() > 0.05) & (x[0].abs() < 0.9)
    assert ((y[0] - x[0]).abs()[mid] / x[0].abs()[mid]).max() < 1 / 16


def test_float64_and_clipping_and_module():
    x = torch.tensor([[-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]], dtype=torch.float64)
    y = G711("a")(x)
    assert y.dtype == torch.float64
    assert y[0, 0] == y[0, 1] and y[0, -1] == y[0, -2]     # clipped to full scale
    assert float(y.abs().max()) == 32256 / 32768


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="law"):
        g711(torch.zeros(1, 4), "x")
    with pytest.raises(ValueError, match="one law per row"):
        g711(torch.zeros(2, 4), ["mu"])
    with pytest.raises(ValueError, match="float"):
        g711_encode(torch.zeros(4, dtype=torch.int16))
    with pytest.raises(ValueError, match="uint8"):
        g711_decode(torch.zeros(4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = torch.from_numpy(ALL_INT16.astype(np.float32) / 32768)
    for law in ("mu", "a"):
        assert torch.equal(g711(x.cuda(), law).cpu(), g711(x, law))
