"""The four artifact generators: shape, finiteness, change, determinism, alignment."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from curate.demo.artifacts import GENERATORS, MAX_PEAK, codec_resynthesis
from curate.demo.espeak import synthesize

SR = 16000


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread_module):
    """Short clips: one intra-op thread is faster, and immune to a busy machine."""


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    x = synthesize("Please leave the spare keys under the blue pot.", "en+m3", sample_rate=SR)
    return (x / np.max(np.abs(x)) * 0.7).astype(np.float32)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_keeps_length_and_is_finite(speech, name):
    y = GENERATORS[name](speech, SR, np.random.default_rng(0))
    assert y.shape == speech.shape
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert 0.0 < np.max(np.abs(y)) <= MAX_PEAK + 1e-6


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_changes_the_signal(speech, name):
    y = GENERATORS[name](speech, SR, np.random.default_rng(0))
    rel_err = np.linalg.norm(y - speech) / np.linalg.norm(speech)
    assert rel_err > 0.05


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_is_deterministic_under_seed(speech, name):
    a = GENERATORS[name](speech, SR, np.random.default_rng(123))
    b = GENERATORS[name](speech, SR, np.random.default_rng(123))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_does_not_touch_input(speech, name):
    before = speech.copy()
    GENERATORS[name](speech, SR, np.random.default_rng(1))
    np.testing.assert_array_equal(speech, before)


@pytest.mark.parametrize("seed", range(6))
def test_codec_resynthesis_is_time_aligned(speech, seed):
    y = codec_resynthesis(speech, SR, np.random.default_rng(seed))
    max_lag = 400
    c = scipy.signal.correlate(y.astype(np.float64), speech.astype(np.float64), mode="full")
    zero = speech.size - 1
    lag = int(np.argmax(c[zero - max_lag : zero + max_lag + 1])) - max_lag
    assert abs(lag) <= 1


def test_generators_work_at_other_rates():
    x = synthesize("The library closes early on Sundays.", "en", sample_rate=22050)
    for name, gen in GENERATORS.items():
        y = gen(x, 22050, np.random.default_rng(2))
        assert y.shape == x.shape and np.all(np.isfinite(y)), name


def test_bad_arguments_raise_value_error(speech):
    gen = GENERATORS["lpc"]
    with pytest.raises(ValueError, match="rng"):
        gen(speech, SR, 0)
    with pytest.raises(ValueError, match="mono"):
        gen(np.stack([speech, speech]), SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least"):
        gen(speech[:100], SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sample_rate"):
        gen(speech, 100, np.random.default_rng(0))
