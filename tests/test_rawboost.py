"""Batched RawBoost: parity with the published algorithm, batching, replay, devices.

The parity tests compare :func:`reference_compatible` with an implementation of the
published algorithm written here from its description (numpy/scipy, one utterance at a
time, every random number from numpy's global legacy generator after
``numpy.random.seed``), so the library is not compared with itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import torch

from curate.augment import rawboost as rb
from curate.augment.rawboost_reference import rawboost_reference

pytestmark = pytest.mark.usefixtures("one_torch_thread_module")

FS = 16000
PUBLISHED = dict(nBands=5, minF=20, maxF=8000, minBW=100, maxBW=1000, minCoeff=10,
                 maxCoeff=100, minG=0, maxG=0, minBiasLinNonLin=5, maxBiasLinNonLin=20,
                 N_f=5, P=10, g_sd=2, SNRmin=10, SNRmax=40)


# ------------------------------------------------- the published algorithm, from its text

def _published(x: np.ndarray, algo: int, fs: int = FS, **override) -> np.ndarray:
    """RawBoost on one utterance, drawing from numpy's global generator (seed it first)."""
    cfg = {**PUBLISHED, **override}

    def U(low, high):
        return np.random.uniform(low=low, high=high)

    def cascade(g_low, g_high):
        b = np.array([1.0])
        for _band in range(cfg["nBands"]):
            fc, bw = U(cfg["minF"], cfg["maxF"]), U(cfg["minBW"], cfg["maxBW"])
            c = int(U(cfg["minCoeff"], cfg["maxCoeff"]))
            c = c + 1 if c % 2 == 0 else c
            f1 = max(fc - bw / 2, 1e-3)
            f2 = min(fc + bw / 2, fs / 2 - 1e-3)
            band = scipy.signal.firwin(c, [f1, f2], window="hamming", fs=fs)
            b = np.convolve(b, band)
        gain = U(g_low, g_high)
        _w, h = scipy.signal.freqz(b, 1, fs=fs)
        return b * 10 ** (gain / 20) / np.max(np.abs(h))

    def fir(sig, b):
        pad = len(b) + 1
        out = scipy.signal.lfilter(b, [1.0], np.concatenate([sig, np.zeros(pad)]))
        return out[int(pad / 2):int(len(out) - pad / 2)]

    def peak_if_over_one(y):
        top = np.max(np.abs(y))
        return y / top if top > 1 else y

    def lnl(sig):
        y = np.zeros(len(sig))
        for k in range(1, cfg["N_f"] + 1):
            if k == 1:
                b = cascade(cfg["minG"], cfg["maxG"])
            else:
                b = cascade(cfg["minG"] - cfg["minBiasLinNonLin"],
                            cfg["maxG"] - cfg["maxBiasLinNonLin"])
            y += fir(sig ** k, b)
        return peak_if_over_one(y - y.mean())

    def isd(sig):
        beta = U(0, cfg["P"])
        n = int(len(sig) * (beta / 100))
        p = np.random.permutation(len(sig))[:n]
        u1 = np.random.rand(n)
        u2 = np.random.rand(n)
        y = sig.copy()
        y[p] = sig[p] + cfg["g_sd"] * sig[p] * ((2 * u1 - 1) * (2 * u2 - 1))
        return peak_if_over_one(y)

    def ssi(sig):
        noise = np.random.normal(0, 1, len(sig))
        b = cascade(cfg["minG"], cfg["maxG"])
        noise = fir(noise, b)
        noise = noise / np.max(np.abs(noise))
        snr = U(cfg["SNRmin"], cfg["SNRmax"])
        noise = noise / np.linalg.norm(noise) * np.linalg.norm(sig) / 10.0 ** (0.05 * snr)
        return sig + noise

    x = np.asarray(x, dtype=np.float64)
    if algo == 8:
        return peak_if_over_one(lnl(x) + isd(x))
    steps = {1: [lnl], 2: [isd], 3: [ssi], 4: [lnl, isd, ssi], 5: [lnl, isd],
             6: [lnl, ssi], 7: [isd, ssi]}[algo]
    for step in steps:
        x = step(x)
    return x


def _speechlike(n: int, seed: int) -> np.ndarray:
    """Harmonics with a moving pitch plus some noise, peak about 0.6."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    f0 = 120 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / FS
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.05 * rng.standard_normal(n)
    return 0.6 * x / np.abs(x).max()


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ------------------------------------------------------------------------------ parity

@pytest.mark.parametrize("algo", range(1, 9))
def test_reference_compatible_equals_the_published_algorithm(algo):
    for n in (4001, 8000):
        x = _speechlike(n, seed=n)
        for seed in (0, 1, 1234):
            np.random.seed(seed)
            expected = _published(x, algo)
            got = rb.reference_compatible(x, FS, algo, seed)
            assert got.shape == x.shape and got.dtype == np.float64
            if algo == 2:
                np.testing.assert_array_equal(got, expected)  # ISD exactly
            else:
                assert _rel(got, expected) < 1e-5, (algo, n, seed)


@pytest.mark.parametrize("algo", range(1, 9))
def test_reference_compatible_batches_utterances_of_any_length(algo):
    utterances = [_speechlike(n, seed=n) for n in (3000, 6001, 1500)]
    np.random.seed(5)
    expected = [_published(u, algo) for u in utterances]      # one after the other
    got = rb.reference_compatible(utterances, FS, algo, 5)
    assert [g.shape for g in got] == [u.shape for u in utterances]
    for g, e in zip(got, expected):
        assert _rel(g, e) < 1e-5


def test_reference_compatible_takes_the_published_names_and_other_settings():
    x = _speechlike(4000, seed=3)
    custom = dict(nBands=3, minCoeff=5, maxCoeff=40, minG=-3, maxG=2, N_f=3, P=30,
                  SNRmin=0, SNRmax=5)
    for algo in (4, 8):
        np.random.seed(11)
        expected = _published(x, algo, **custom)
        assert _rel(rb.reference_compatible(x, FS, algo, 11, **custom), expected) < 1e-5
        snake = dict(n_bands=3, min_coeff=5, max_coeff=40, min_g=-3, max_g=2, n_f=3, p=30,
                     snr_min=0, snr_max=5)
        assert _rel(rb.reference_compatible(x, FS, algo, 11, **snake), expected) < 1e-5


def test_reference_compatible_at_8_khz():
    x = _speechlike(3000, seed=8)
    np.random.seed(2)
    expected = _published(x, 4, fs=8000, maxF=4000)
    assert _rel(rb.reference_compatible(x, 8000, 4, 2, maxF=4000), expected) < 1e-5


@pytest.mark.parametrize("algo", range(1, 9))
def test_the_numpy_baseline_is_the_published_algorithm(algo):
    x = _speechlike(5000, seed=9)
    np.random.seed(3)
    expected = _published(x, algo)
    got = rawboost_reference(x, algo, np.random.RandomState(3))
    assert _rel(got, expected) < 1e-9


# --------------------------------------------------------------- the batched torch path

def _batch(seed: int = 0, rows: int = 4, time: int = 8000):
    gen = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.from_numpy(_speechlike(time, seed=seed + i)) for i in range(rows)])
    lengths = torch.tensor([time, time - 1234, time // 3, 7][:rows])
    x = x * (torch.arange(time) < lengths[:, None])
    return x.float(), lengths, gen


@pytest.mark.parametrize("algo", range(1, 9))
def test_batch_equals_each_item_alone(algo):
    x, lengths, gen = _batch(seed=algo)
    y, params = rb.rawboost(x, lengths, algo, gen)
    assert y.shape == x.shape and y.dtype == x.dtype
    for i in range(x.shape[0]):
        n = int(lengths[i])
        alone = rb.apply(x[i:i + 1, :n], None, params.select([i]))[0]
        torch.testing.assert_close(alone, y[i, :n], rtol=0, atol=2e-6 * float(y[i].abs().max()))
        assert torch.all(y[i, n:] == 0)
    # float64 gives the same up to float32 rounding
    y64 = rb.apply(x.double(), lengths, params)
    assert float((y64 - y.double()).abs().max() / y64.abs().max()) < 1e-5


@pytest.mark.parametrize("algo", [2, 4, 5, 8])
def test_padding_never_influences_the_valid_part(algo):
    x, lengths, gen = _batch(seed=10)
    params = rb.sample_params(x.shape[0], algo, gen)
    junk = x + 5.0 * (torch.arange(x.shape[1]) >= lengths[:, None])   # garbage past ends
    clean = rb.apply(x, lengths, params)
    dirty = rb.apply(junk, lengths, params)
    torch.testing.assert_close(clean, dirty, rtol=0, atol=0)
    assert torch.all(clean[torch.arange(x.shape[1]) >= lengths[:, None]] == 0)


@pytest.mark.parametrize("algo", range(1, 9))
def test_params_are_plain_data_and_replay(algo):
    x, lengths, gen = _batch(seed=20 + algo, rows=3)
    y, params = rb.rawboost(x, lengths, algo, gen)
    items = json.loads(json.dumps(params.to_list()))
    assert len(items) == 3 and items[0]["algo"] == algo
    again = rb.apply(x, lengths, items)
    torch.testing.assert_close(again, y, rtol=0, atol=0)
    if "lnl" in items[0]:
        assert len(items[0]["lnl"]) == 5 and len(items[0]["lnl"][0]["fc_hz"]) == 5
    if "isd" in items[0]:
        assert 0 <= items[0]["isd"]["beta_pct"] <= 10
    if "ssi" in items[0]:
        assert 10 <= items[0]["ssi"]["snr_db"] <= 40


def test_sampled_values_follow_the_published_ranges():
    gen = torch.Generator().manual_seed(1)
    params = rb.sample_params(64, 4, gen)
    taps = params.lnl.taps
    assert torch.all(taps % 2 == 1) and int(taps.min()) >= 11 and int(taps.max()) <= 99
    assert torch.all((params.lnl.fc_hz >= 20) & (params.lnl.fc_hz < 8000))
    assert torch.all((params.lnl.bw_hz >= 100) & (params.lnl.bw_hz < 1000))
    gains = params.lnl.gain_db
    assert torch.all(gains[:, 0] == 0)                       # U(0, 0)
    assert torch.all((gains[:, 1:] <= -5) & (gains[:, 1:] > -20))   # U(-5, -20)
    assert torch.all((params.isd_beta >= 0) & (params.isd_beta < 10))
    assert torch.all((params.ssi_snr_db >= 10) & (params.ssi_snr_db < 40))


def test_isd_hits_int_t_beta_distinct_samples():
    gen = torch.Generator().manual_seed(4)
    x = torch.full((6, 5000), 0.01, dtype=torch.float64)
    lengths = torch.tensor([5000, 4000, 2500, 10, 1, 0])
    x = x * (torch.arange(5000) < lengths[:, None])
    for p in (10.0, 90.0):
        y, params = rb.rawboost(x, lengths, 2, gen, p=p)
        for i in range(6):
            n = int(int(lengths[i]) * (float(params.isd_beta[i]) / 100))
            assert int((y[i] != x[i]).sum()) == n


def test_ssi_noise_has_the_drawn_snr():
    x, lengths, gen = _batch(seed=30, rows=2)
    x, lengths = x.double(), torch.tensor([8000, 5000])
    x = x * (torch.arange(8000) < lengths[:, None])
    y, params = rb.rawboost(x, lengths, 3, gen)
    noise = y - x
    snr = 10 * torch.log10((x ** 2).sum(1) / (noise ** 2).sum(1))
    torch.testing.assert_close(snr, params.ssi_snr_db, rtol=0, atol=1e-9)


def test_randomness_comes_only_from_the_generator():
    x, lengths, _ = _batch(seed=40, rows=2)
    torch.manual_seed(0)
    a, _ = rb.rawboost(x, lengths, 4, torch.Generator().manual_seed(7))
    torch.manual_seed(1)
    np.random.seed(1)
    b, _ = rb.rawboost(x, lengths, 4, torch.Generator().manual_seed(7))
    c, _ = rb.rawboost(x, lengths, 4, torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_half_precision_in_half_precision_out():
    x, lengths, gen = _batch(seed=50, rows=2)
    y, _ = rb.rawboost(x.half(), lengths, 5, gen)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("algo", range(1, 9))
def test_cpu_and_cuda_agree(algo):
    x, lengths, gen = _batch(seed=60 + algo)
    params = rb.sample_params(x.shape[0], algo, gen)
    on_cpu = rb.apply(x, lengths, params)
    on_gpu = rb.apply(x.cuda(), lengths.cuda(), params)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=0, atol=1e-5)
    # float64 on both: agreement to rounding
    d64 = rb.apply(x.double().cuda(), lengths.cuda(), params).cpu() \
        - rb.apply(x.double(), lengths, params)
    assert float(d64.abs().max()) < 1e-10
    # a CUDA generator draws on the GPU
    y, _ = rb.rawboost(x.cuda(), lengths.cuda(), algo, torch.Generator("cuda").manual_seed(0))
    assert y.device.type == "cuda" and torch.isfinite(y).all()


# ------------------------------------------------------------------ module and errors

def test_module_draws_from_its_own_generator_and_checkpoints_it():
    x, lengths, _ = _batch(seed=70, rows=2)
    layer = rb.RawBoost(algo=5, seed=3)
    state = layer.state_dict()
    first = layer(x, lengths)
    assert layer.last_params is not None and len(layer.last_params) == 2
    second = layer(x, lengths)
    assert not torch.equal(first, second)
    layer.load_state_dict(state)                      # generator state restored
    torch.testing.assert_close(layer(x, lengths), first, rtol=0, atol=0)
    replay = rb.apply(x, lengths, layer.last_params.to_list())
    torch.testing.assert_close(replay, first, rtol=0, atol=0)


def test_module_from_a_toml_table():
    layer = rb.RawBoost.from_config({"name": "rawboost", "algo": 3, "SNRmin": 5, "snr_max": 6})
    assert layer.algo == 3 and layer.settings.snr_min == 5 and layer.settings.snr_max == 6
    with pytest.raises(ValueError, match="rawboost step: unknown key 'snr'"):
        rb.RawBoost.from_config({"algo": 3, "snr": 5})
    with pytest.raises(ValueError, match="rawboost step: algo must be one of 1-8"):
        rb.RawBoost.from_config({"algo": 9})


def test_chain_step_draws_plain_dicts_and_replays():
    x, lengths, _ = _batch(seed=80, rows=2)
    step = rb.RawBoostStep(algo=3, snr_min=5, snr_max=6)
    assert step.name == "rawboost" and {"algo", "sample_rate", "snr_min"} <= set(step.keys())
    y, params = step(x, lengths, torch.Generator().manual_seed(0))
    assert isinstance(params, list) and 5 <= params[0]["ssi"]["snr_db"] < 6
    torch.testing.assert_close(step.apply(x, lengths, params), y, rtol=0, atol=0)
    drawn = step.sample_params(2, torch.Generator().manual_seed(0))
    assert drawn == params
    with pytest.raises(ValueError, match="lower max_f to 4000"):
        rb.RawBoostStep(sample_rate=8000)


@pytest.mark.parametrize("call, message", [
    (lambda: rb.sample_params(2, 0, torch.Generator()), "algo must be one of 1-8"),
    (lambda: rb.sample_params(2, 5, torch.Generator(), nbands=3),
     "unknown RawBoost parameter 'nbands'"),
    (lambda: rb.sample_params(2, 5, torch.Generator(), nBands=3, n_bands=3), "given twice"),
    (lambda: rb.sample_params(2, 5, torch.Generator(), sample_rate=8000), "lower max_f to 4000"),
    (lambda: rb.sample_params(2, 5, torch.Generator(), p=150), "p must be a percentage"),
    (lambda: rb.sample_params(2, 5, torch.Generator(), n_f=0), "n_f must be an integer >= 1"),
    (lambda: rb.sample_params(2, 5, None), "generator must be a torch.Generator"),
    (lambda: rb.rawboost(torch.zeros(8000), None, 5, torch.Generator()), r"use x\[None\]"),
    (lambda: rb.rawboost(torch.zeros(2, 80), torch.tensor([80, 81]), 5, torch.Generator()),
     r"lengths must lie in \[0, 80\]"),
    (lambda: rb.apply(torch.zeros(3, 80), None, rb.sample_params(2, 5, torch.Generator())),
     "params hold 2 items but x has 3 rows"),
    (lambda: rb.RawBoostParams.from_list([]), "items is empty"),
    (lambda: rb.RawBoostParams.from_list([{"algo": 5}]), "no 'sample_rate'"),
    (lambda: rb.RawBoostParams.from_list(
        rb.sample_params(1, 5, torch.Generator()).to_list()
        + rb.sample_params(1, 5, torch.Generator(), n_bands=3).to_list()),
     "do not share one shape"),
    (lambda: rb.RawBoostParams.from_list(
        rb.sample_params(1, 2, torch.Generator()).to_list()
        + rb.sample_params(1, 5, torch.Generator()).to_list()),
     "mix several values of 'algo'"),
])
def test_errors_name_the_argument_and_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_and_tiny_inputs():
    gen = torch.Generator().manual_seed(0)
    for algo in range(1, 9):
        y, _ = rb.rawboost(torch.zeros(0, 100), None, algo, gen)
        assert y.shape == (0, 100)
        y, _ = rb.rawboost(torch.zeros(2, 0), None, algo, gen)
        assert y.shape == (2, 0)
        y, _ = rb.rawboost(torch.zeros(2, 3), torch.tensor([3, 0]), algo, gen)
        assert torch.isfinite(y).all() and torch.all(y[1] == 0)


def test_figures_render_small_pngs(tmp_path):
    from curate.augment.figures import rawboost_figures

    x = _speechlike(8000, seed=90).astype(np.float32)
    paths = rawboost_figures(tmp_path, algos=[3, 5], x=x)
    assert [p.name for p in paths] == ["rawboost_algo3.png", "rawboost_algo5.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size < 150_000
               for p in paths)


# --------------------------------------------------- bounds known on the host, counter RNG

def test_filter_width_is_the_settings_bound_and_replays_exactly():
    x, lengths, gen = _batch(seed=91, rows=3)
    y, params = rb.rawboost(x, lengths, 6, gen, max_coeff=40)
    assert params.max_taps == 41 and params.max_beta_pct is None
    items = params.to_list()
    assert {item["max_taps"] for item in items} == {41}
    torch.testing.assert_close(rb.apply(x, lengths, items), y, rtol=0, atol=0)
    # items logged without it (before it existed) replay with their largest tap count:
    # another FFT geometry, the same result up to float rounding
    for item in items:
        del item["max_taps"]
    again = rb.apply(x, lengths, items)
    torch.testing.assert_close(again, y, rtol=0, atol=2e-6 * float(y.abs().max()))
    # ISD positions do not depend on the draw budget as long as it bounds every beta
    p2 = rb.sample_params(3, 2, torch.Generator().manual_seed(5), p=30)
    assert p2.max_beta_pct == 30
    wide = rb.apply(x, lengths, p2)
    p2.max_beta_pct = float(p2.isd_beta.max())
    torch.testing.assert_close(rb.apply(x, lengths, p2), wide, rtol=0, atol=0)


def test_the_counter_generator_keeps_its_stream():
    """Logged seeds replay forever only if the hash never changes: pinned words."""
    from curate.augment.counter_rng import hash_words, normal

    seed = torch.tensor([12345, 2 ** 62 - 1])
    assert hash_words(seed, (0, 3), 4).tolist() == [
        [[3133488203, 3964080843, 162399807, 1580085380],
         [2304743005, 934967761, 803814940, 465226439]],
        [[2914332599, 2593334523, 482639347, 4241355303],
         [4146180103, 1076972080, 2121985657, 3297888379]]]
    # the CPU path hashes in chunks: any chunking gives the same words
    long = hash_words(seed, (1,), 300_000)
    assert torch.equal(hash_words(seed, (1,), 1000), long[:, :, :1000])   # a prefix
    assert torch.equal(hash_words(seed[1:], (1,), 300_000), long[1:])     # other chunks
    noise = normal(torch.tensor([7] * 4), 64_001, torch.float64, torch.device("cpu"))
    assert torch.equal(noise[0], noise[3])
    assert abs(float(noise.mean())) < 0.02 and abs(float(noise.std()) - 1) < 0.02
