"""Channel simulations: batched, masked past lengths, aligned, deterministic, replayable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from curate.augment.channel.band import bandlimit, telephone
from curate.augment.channel.level import bit_depth, clip, gain
from curate.augment.channel.packets import packet_loss
from curate.augment.channel.resample import downsample
from curate.augment.channel.steps import (TENSOR_STEPS, Bandlimit, BitDepth, Clip, Downsample,
                                          Gain, PacketLoss, Telephone)

SR = 16000


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread_module):
    yield


def _noise(batch: int, time: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.2 * torch.randn(batch, time, generator=gen)


def _band_energy(y: torch.Tensor, low: float, high: float) -> float:
    spec = torch.fft.rfft(y.double()).abs() ** 2
    freqs = torch.fft.rfftfreq(y.shape[-1], 1 / SR)
    band = (freqs >= low) & (freqs < high)
    return float(spec[..., band].sum() / spec.sum())


def _lag(x: torch.Tensor, y: torch.Tensor, max_lag: int = 50) -> int:
    x, y = x.double().numpy(), y.double().numpy()
    lags = range(-max_lag, max_lag + 1)
    return max(lags, key=lambda d: float(np.dot(x[max(0, -d):len(x) - max(0, d)],
                                                y[max(0, d):len(y) - max(0, -d)])))


@pytest.mark.parametrize("name", sorted(TENSOR_STEPS))
def test_every_step_masks_replays_and_is_deterministic(name):
    step = TENSOR_STEPS[name](sample_rate=SR)
    x = _noise(4, 4000)
    lengths = torch.tensor([4000, 2500, 1, 0])
    y, params = step(x, lengths, torch.Generator().manual_seed(3))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert y[1, 2500:].abs().sum() == 0 and y[2, 1:].abs().sum() == 0 and y[3].abs().sum() == 0
    json.dumps(params)                                           # plain data
    assert torch.equal(step.apply(x, lengths, params), y)        # replay is exact
    y2, params2 = step(x, lengths, torch.Generator().manual_seed(3))
    assert params2 == params and torch.equal(y2, y)
    # a row alone gives what it gives in the batch (batch-vs-single consistency)
    alone = step.apply(x[1:2, :2500], lengths[1:2], params[1:2])
    torch.testing.assert_close(alone[0], y[1, :2500], atol=2e-6, rtol=0)


def test_padding_never_leaks_into_the_valid_part():
    x = _noise(1, 3000)
    padded = torch.cat([x, 5 * torch.ones(1, 1000)], dim=1)
    lengths = torch.tensor([3000])
    for name, cls in TENSOR_STEPS.items():
        step = cls(sample_rate=SR)
        params = step.sample_params(1, torch.Generator().manual_seed(1))
        a = step.apply(x, lengths, params)
        b = step.apply(padded, lengths, params)[:, :3000]
        torch.testing.assert_close(a, b, atol=2e-6, rtol=0, msg=name)


def test_telephone_band_and_alignment():
    x = _noise(1, 16000)
    y = telephone(x, None, SR, law=None)
    assert _band_energy(y, 3800, 8000) < 1e-4
    assert _band_energy(y, 0, 150) < 1e-3
    assert _band_energy(y, 500, 3000) > 0.7
    assert _lag(bandlimit(x, None, 3000.0, SR)[0], y[0]) == 0
    coded = telephone(x, None, SR, law="a")
    assert not torch.equal(coded, y)
    assert _lag(y[0], coded[0]) == 0


def test_bandlimit_cutoff_per_row():
    x = _noise(2, 16000)
    y = bandlimit(x, None, [2000.0, 6000.0], SR)
    assert _band_energy(y[0], 2500, 8000) < 1e-3
    assert _band_energy(y[1], 6500, 8000) < 1e-3
    assert _band_energy(y[1], 2500, 5500) > 0.4
    assert _lag(x[1], y[1]) == 0


def test_bit_depth_grid_and_downsample():
    x = _noise(2, 2000)
    y = bit_depth(x, None, [4, 8])
    assert torch.equal(y[0] * 8, torch.round(y[0] * 8))
    assert torch.equal(y[1] * 128, torch.round(y[1] * 128))
    x = _noise(1, 16000)
    sinc = downsample(x, None, [4000], SR, "sinc")
    assert _band_energy(sinc, 2200, 8000) < 1e-3
    assert _lag(bandlimit(x, None, 2000.0, SR)[0], sinc[0]) == 0
    hold = downsample(x, None, [4000], SR, "hold")
    assert torch.equal(hold[0, 0::4], hold[0, 1::4]) and torch.equal(hold[0, 0::4], x[0, 0::4])


def test_packet_loss_drops_frames_and_conceals():
    x = _noise(2, 16000) + 0.5                       # no exact zeros in the input
    y = packet_loss(x, None, SR, [20, 20], [0.3, 0.3], torch.tensor([7, 7]), ["zero", "repeat"])
    frames = y[0].reshape(-1, 320)
    lost = (frames == 0).all(dim=1)
    assert 0.1 < float(lost.float().mean()) < 0.5 and ((frames == 0).any(1) == lost).all()
    repeated = y[1].reshape(-1, 320)
    source = x[1].reshape(-1, 320)
    for k in torch.nonzero(lost).flatten().tolist():
        kept = [j for j in range(k) if not lost[j]]
        expected = source[kept[-1]] if kept else torch.zeros(320)
        assert torch.equal(repeated[k], expected)
    # the same drops for the same seed in another batch, and on a shorter row
    alone = packet_loss(x[:1, :9000], None, SR, 20, 0.3, 7, "zero")
    assert torch.equal(alone[0], y[0, :9000])


def test_gain_and_clip():
    x = torch.tensor([[0.1, -0.5, 0.9]])
    assert torch.allclose(gain(x, None, [6.0], clip=False), x * 10 ** 0.3)
    assert float(gain(x, None, [12.0]).abs().max()) == 1.0
    y = clip(x, None, [-6.0])
    level = 0.9 * 10 ** (-6 / 20)
    assert torch.allclose(y, torch.tensor([[0.1, -level, level]]))


def test_draw_ranges_and_choices():
    gen = torch.Generator().manual_seed(0)
    drawn = Bandlimit(min_cutoff_hz=3000, max_cutoff_hz=4000).sample_params(200, gen)
    assert all(3000 <= p["cutoff_hz"] <= 4000 for p in drawn)
    assert {p["bits"] for p in BitDepth(min_bits=5, max_bits=6).sample_params(100, gen)} == {5, 6}
    laws = {p["law"] for p in Telephone(law=["mu", "a", "none"]).sample_params(100, gen)}
    assert laws == {"mu", "a", "none"}
    pl = PacketLoss(min_frame_ms=10, max_frame_ms=60).sample_params(200, gen)
    assert min(p["frame_ms"] for p in pl) >= 10 and max(p["frame_ms"] for p in pl) <= 60
    assert {p["rate"] for p in Downsample(rates=(8000, 11025)).sample_params(50, gen)} == \
        {8000, 11025}
    assert all(-3 <= p["gain_db"] <= 3 for p in Gain(min_gain_db=-3, max_gain_db=3)
               .sample_params(50, gen))


@pytest.mark.parametrize("make, word", [
    (lambda: Bandlimit(min_cutoff_hz=9000, max_cutoff_hz=9500), "min_cutoff_hz"),
    (lambda: Bandlimit(taps=100), "taps"),
    (lambda: BitDepth(min_bits=12, max_bits=4), "min_bits"),
    (lambda: Telephone(law="ulaw"), "law"),
    (lambda: Downsample(rates=(48000,)), "rates"),
    (lambda: PacketLoss(max_loss=1.5), "max_loss"),
    (lambda: PacketLoss(conceal="interpolate"), "conceal"),
    (lambda: Clip(max_clip_db=3), "max_clip_db"),
    (lambda: Gain(sample_rate=0), "sample_rate"),
])
def test_bad_settings_name_the_argument(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_bad_calls():
    step = Gain()
    with pytest.raises(ValueError, match="generator"):
        step.sample_params(2, None)
    with pytest.raises(ValueError, match="rows"):
        step.apply(torch.zeros(2, 10), None, [{"gain_db": 1.0}])
    with pytest.raises(ValueError, match=r"\(batch, time\)"):
        step.apply(torch.zeros(10), None, [{"gain_db": 1.0}])
    with pytest.raises(ValueError, match="lengths"):
        step.apply(torch.zeros(2, 10), torch.zeros(3, dtype=torch.int64), [{}, {}])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = _noise(3, 8000)
    lengths = torch.tensor([8000, 5000, 100])
    for name, cls in TENSOR_STEPS.items():
        step = cls(sample_rate=SR)
        params = step.sample_params(3, torch.Generator().manual_seed(2))
        cpu = step.apply(x, lengths, params)
        gpu = step.apply(x.cuda(), lengths.cuda(), params).cpu()
        torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=0, msg=name)


def test_packet_loss_draws_from_the_shared_counter_generator():
    from curate.augment.channel.packets import PACKET_LOSS_STREAM
    from curate.augment.counter_rng import uniform_frames

    x = torch.ones(2, 1600)
    y = packet_loss(x, None, SR, 10, [0.5, 0.2], torch.tensor([7, 8]))
    u = uniform_frames(torch.tensor([7, 8]), 10, PACKET_LOSS_STREAM)
    lost = (y.reshape(2, 10, 160) == 0).all(dim=-1)
    assert torch.equal(lost, u < torch.tensor([[0.5], [0.2]], dtype=torch.float64))
    assert 0 < int(lost.sum()) < 20
