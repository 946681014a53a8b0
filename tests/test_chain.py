"""Chains: parsing with clear errors, two-stage placement, determinism, logs, the neural
hook, presets and the augment_log table."""

from __future__ import annotations

import json
import pickle
import random
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from curate.augment import presets, rawboost
from curate.augment.chain.errors import ChainError
from curate.augment.chain.parse import load_chain
from curate.augment.chain.seeds import batch_generator, utterance_rng
from curate.augment.log import utterances_with_step, write_augment_log
from curate.augment.neural import load_codec_model, neural_codec
from curate.catalog.db import open_catalog
from curate.errors import CurateError

SR = 16000
EXAMPLE = """
sample_rate = 16000
seed = 11
[[step]]
name = "rawboost"   # any step: rawboost, codec, g711, telephone, bandlimit, packet_loss, gain
p = 0.5             # probability per utterance
algo = 5
[[step]]
name = "codec"
p = 0.5
codecs = ["mp3", "opus", "g711_mu"]
"""


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread_module):
    yield


def _speech(n: int = 8000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 720 * t) \
        + 0.1 * rng.standard_normal(n)
    return (0.2 * x).astype(np.float32)


def _chain(tmp_path, text: str, name: str = "chain.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_chain(path)


# ----------------------------------------------------------------------------- parsing


def test_the_issue_example_parses_and_places_steps(tmp_path):
    chain = _chain(tmp_path, EXAMPLE)
    assert chain.sample_rate == 16000 and chain.seed == 11
    assert [s.name for s in chain.steps] == ["rawboost", "codec"]
    assert [s.stage for s in chain.steps] == ["device", "cpu"]
    assert chain.has_cpu_steps and chain.has_device_steps
    assert chain.reordered and "runs before the device steps" in chain.notes[0]
    assert [s.name for s in chain.cpu_steps] == ["codec"]


def test_stage_cpu_keeps_file_order(tmp_path):
    chain = _chain(tmp_path, EXAMPLE.replace('algo = 5', 'algo = 5\nstage = "cpu"'))
    assert not chain.reordered and not chain.has_device_steps and not chain.notes
    y, applied = chain.cpu_stage(_speech(), SR, np.random.default_rng(4))
    assert y.shape == (8000,)


@pytest.mark.parametrize("text, message", [
    ('[[step]]\nname = "reverb"\n', r"chain.toml: step 1 \(reverb\): unknown step 'reverb'"),
    ('[[step]]\nname = "gain"\n[[step]]\nname = "codec"\nbitrate = 3\n',
     r"step 2 \(codec\): unknown parameter 'bitrate'; allowed: bitrates, codec_rates, codecs"),
    ('[[step]]\nname = "telephone"\nlow = 200\n', r"step 1 \(telephone\): unknown parameter 'low'"),
    ('[[step]]\nname = "rawboost"\nalgo = 5\nsnr_mn = 3\n',
     r"step 1 \(rawboost\): unknown parameter 'snr_mn'"),
    ('[[step]]\nname = "rawboost"\nalgo = 9\n', r"step 1 \(rawboost\): algo must be one of 1-8"),
    ('[[step]]\nname = "codec"\ncodecs = ["mp3", "gsm"]\n',
     r"step 1 \(codec\): unknown codec 'gsm'; use one of mp3, aac"),
    ('[[step]]\nname = "codec"\ncodecs = ["mp3"]\n[step.bitrates]\nmp3 = [1000, 2000]\n',
     r"step 1 \(codec\): bitrate: mp3 takes 8000-320000"),
    ('[[step]]\nname = "audiomentations.AddNoise"\n',
     r"step 1 \(audiomentations.AddNoise\): unknown step .*AddGaussianNoise"),
    ('[[step]]\nname = "audiomentations.Gain"\nmin_gain = 1.0\n',
     r"step 1 \(audiomentations.Gain\): unknown parameter 'min_gain'.*min_gain_db"),
    ('[[step]]\nname = "gain"\np = 1.5\n', r"step 1 \(gain\): p must be a probability"),
    ('[[step]]\nname = "codec"\nstage = "device"\n', r"step 1 \(codec\): .*cannot have stage"),
    ('[[step]]\nname = "bandlimit"\nmax_cutoff_hz = 9000.0\n',
     r"step 1 \(bandlimit\): min_cutoff_hz=2000.0 .*max_cutoff_hz|max_cutoff_hz must lie"),
    ('[[step]]\np = 0.5\n', r"step 1 has no name"),
    ('sample_rat = 16000\n', r"unknown key 'sample_rat'"),
    ('[[step]]\nname = "preset"\npreset = "asvspoof2019"\n', r"unknown preset 'asvspoof2019'"),
    ('[[step]]\nname = "preset"\npreset = "asvspoof5"\nconditions = ["C04"]\n',
     r"C04 runs the neural-codec hook"),
    ('[[step]]\nname = "neural_codec"\nmodel = "missing.pt"\n', r"model missing.pt does not exist"),
])
def test_errors_name_the_file_the_step_and_the_parameter(tmp_path, text, message):
    with pytest.raises(ChainError, match=message) as info:
        _chain(tmp_path, text)
    assert isinstance(info.value, CurateError) and isinstance(info.value, ValueError)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(CurateError, match="does not exist"):
        load_chain(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[[step]\n")
    with pytest.raises(CurateError, match="invalid TOML"):
        load_chain(tmp_path / "bad.toml")


def test_shipped_recipes_parse():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "recipes" / "augment"
    names = sorted(p.name for p in folder.glob("*.toml"))
    assert {"rawboost5.toml", "rawboost_codec.toml"} <= set(names)
    for path in folder.glob("*.toml"):
        chain = load_chain(path)
        assert chain.steps, path


# ------------------------------------------------------------------------- running


def test_cpu_stage_is_deterministic_and_logs_plain_data(tmp_path):
    chain = _chain(tmp_path, """
        sample_rate = 16000
        seed = 3
        [[step]]
        name = "codec"
        p = 0.7
        codecs = ["mp3", "aac", "g711_a"]
        [[step]]
        name = "audiomentations.AddGaussianSNR"
        p = 0.7
        min_snr_db = 20.0
        max_snr_db = 30.0
        [[step]]
        name = "gain"
        stage = "cpu"
        p = 0.5
        """)
    x = _speech()
    state = (random.getstate(), np.random.get_state()[1].copy())
    runs = [chain.cpu_stage(x, SR, utterance_rng(3, 0, k)) for k in range(6)]
    again = [chain.cpu_stage(x, SR, utterance_rng(3, 0, k)) for k in range(6)]
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])
    for (y, log), (y2, log2) in zip(runs, again):
        assert np.array_equal(y, y2) and log == log2
        assert y.shape == x.shape and y.dtype == np.float32
        json.dumps(log)
    seen = {entry["step"] for _, log in runs for entry in log}
    assert seen == {"codec", "audiomentations.AddGaussianSNR", "gain"}
    codec_logs = [e["params"] for _, log in runs for e in log if e["step"] == "codec"]
    assert all({"codec", "bitrate", "codec_rate", "delay"} <= set(p) for p in codec_logs)
    # another seed gives other draws
    other = [chain.cpu_stage(x, SR, utterance_rng(4, 0, k))[1] for k in range(6)]
    assert other != [log for _, log in runs]


def test_device_stage_probability_determinism_and_replay(tmp_path):
    chain = _chain(tmp_path, """
        [[step]]
        name = "rawboost"
        p = 0.5
        algo = 3
        [[step]]
        name = "g711"
        p = 1.0
        law = ["mu", "a"]
        [[step]]
        name = "packet_loss"
        p = 0.0
        """)
    gen = torch.Generator().manual_seed(0)
    x = 0.2 * torch.randn(16, 4000, generator=gen)
    lengths = torch.randint(1000, 4001, (16,), generator=gen)
    y, applied = chain.device_stage(x, lengths, batch_generator(0, 1, 7))
    y2, applied2 = chain.device_stage(x, lengths, batch_generator(0, 1, 7))
    assert torch.equal(y, y2) and applied == applied2
    assert len(applied) == 16
    json.dumps(applied.to_list())
    boosted = [i for i, steps in enumerate(applied) if steps and steps[0]["step"] == "rawboost"]
    assert 0 < len(boosted) < 16
    assert all(steps[-1]["step"] == "g711" for steps in applied)
    assert not any(s["step"] == "packet_loss" for steps in applied for s in steps)
    for i in range(16):
        assert y[i, lengths[i]:].abs().sum() == 0
    # the log replays: RawBoost params from the log, then G.711 with the logged law
    i = boosted[0]
    params = rawboost.RawBoostParams.from_list([applied[i][0]["params"]])
    from curate.augment.codec import g711
    replay = g711(rawboost.apply(x[i:i + 1], lengths[i:i + 1], params),
                  applied[i][1]["params"]["law"], lengths[i:i + 1])
    torch.testing.assert_close(replay[0], y[i], atol=1e-6, rtol=0)


def test_apply_offline_is_the_two_training_stages(tmp_path):
    chain = _chain(tmp_path, EXAMPLE.replace("p = 0.5", "p = 1.0"))
    x = _speech()
    y, steps = chain.apply_offline(x, SR, utterance_rng(11, 0, "a"), batch_generator(11, 0, "a"))
    assert [s["step"] for s in steps] == ["codec", "rawboost"]
    y_cpu, first = chain.cpu_stage(x, SR, utterance_rng(11, 0, "a"))
    t, rest = chain.device_stage(torch.from_numpy(y_cpu)[None], torch.tensor([len(y_cpu)]),
                                 batch_generator(11, 0, "a"))
    assert np.array_equal(y, t[0].numpy()) and steps == first + rest[0]
    with pytest.raises(ValueError, match="22050 Hz"):
        chain.cpu_stage(x, 22050, utterance_rng(0, 0, 0))


def test_length_changing_steps_are_fitted_back(tmp_path):
    chain = _chain(tmp_path, """
        [[step]]
        name = "audiomentations.TimeStretch"
        min_rate = 1.5
        max_rate = 1.5
        leave_length_unchanged = false
        """)
    y, steps = chain.cpu_stage(_speech(4000), SR, utterance_rng(0, 0, 0))
    assert y.shape == (4000,) and steps[0]["params"]["rate"] == pytest.approx(1.5)
    assert np.all(y[-1000:] == 0)


def test_chains_pickle_for_loader_workers(tmp_path):
    chain = _chain(tmp_path, """
        [[step]]
        name = "codec"
        codecs = ["mp3"]
        [[step]]
        name = "audiomentations.Gain"
        [[step]]
        name = "rawboost"
        algo = 5
        """)
    clone = pickle.loads(pickle.dumps(chain))
    x = _speech()
    a = clone.apply_offline(x, SR, utterance_rng(0, 0, 1), batch_generator(0, 0, 1))
    b = chain.apply_offline(x, SR, utterance_rng(0, 0, 1), batch_generator(0, 0, 1))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


# --------------------------------------------------------------------- neural hook


class _TinyCodec(torch.nn.Module):
    """A random EnCodec-like model: strided conv encoder, rounded latents, transposed
    conv decoder."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.enc = torch.nn.Conv1d(1, channels, 8, stride=4, padding=2)
        self.dec = torch.nn.ConvTranspose1d(channels, 1, 8, stride=4, padding=2)

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(self.enc(x) * 8) / 8

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


FACTORY = textwrap.dedent('''
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self, gain=1.0):
            super().__init__()
            self.proj = torch.nn.Conv1d(1, 1, 3, padding=1)
            self.gain = gain

        def forward(self, x):
            return self.proj(x) * self.gain
''')


@pytest.fixture
def torchscript_model(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny_codec.ts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # torch 2.11 deprecates jit
        torch.jit.save(torch.jit.script(_TinyCodec()), str(path))
    return path


def test_neural_hook_torch_export_archive(tmp_path):
    torch.manual_seed(1)
    module = _TinyCodec()
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time", min=16)
    program = torch.export.export(module, (torch.randn(2, 1, 400),),
                                  dynamic_shapes=({0: batch, 2: 4 * time},))
    path = tmp_path / "tiny_codec.pt2"
    torch.export.save(program, str(path))
    model = load_codec_model(path)
    x = torch.from_numpy(np.stack([_speech(4000), _speech(4000, 1)]))
    y = neural_codec(x, None, model, SR)
    torch.testing.assert_close(y, neural_codec(x, None, module.eval(), SR), atol=1e-5, rtol=0)
    odd = neural_codec(x[:, :3999], None, model, SR, pad_multiple=4)   # 3999 -> 4000 inside
    assert odd.shape == (2, 3999)


def test_neural_hook_torchscript(tmp_path, torchscript_model):
    model = load_codec_model(torchscript_model)
    x = torch.from_numpy(np.stack([_speech(4001), _speech(4001, 1)]))
    lengths = torch.tensor([4001, 3000])
    y = neural_codec(x, lengths, model, SR, model_rate=24000)
    assert y.shape == x.shape and torch.isfinite(y).all() and y[1, 3000:].abs().sum() == 0
    assert not torch.equal(y, x)
    chain = _chain(tmp_path, f"""
        [[step]]
        name = "neural_codec"
        model = "{torchscript_model.name}"
        model_rate = 24000
        """)
    out, applied = chain.device_stage(x, lengths, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, y)
    assert applied[0][0]["params"]["model"] == "tiny_codec.ts"
    assert len(applied[0][0]["params"]["digest"]) == 16


def test_neural_hook_state_dict_with_factory(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tiny_factory.py").write_text(FACTORY)
    import importlib

    module = importlib.import_module("tiny_factory")
    torch.save(module.Tiny(gain=0.5).state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="factory"):
        load_codec_model(tmp_path / "weights.pt")
    model = load_codec_model(tmp_path / "weights.pt", factory="tiny_factory:Tiny",
                             factory_kwargs={"gain": 0.5})
    y = neural_codec(torch.ones(1, 100), None, model, SR)
    assert y.shape == (1, 100)
    with pytest.raises(ValueError, match="does not fit"):
        torch.save({"other.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
        load_codec_model(tmp_path / "wrong.pt", factory="tiny_factory:Tiny")


def test_preset_with_the_neural_hook(tmp_path, torchscript_model):
    chain = _chain(tmp_path, f"""
        [[step]]
        name = "preset"
        preset = "asvspoof5"
        conditions = ["C04", "C07"]
        model = "{torchscript_model.name}"
        """)
    x = _speech()
    for k in range(3):
        y, applied = chain.cpu_stage(x, SR, utterance_rng(0, 0, k))
        params = applied[0]["params"]
        assert params["condition"] in ("C04", "C07")
        assert params["ops"][-1]["op"] == "neural_codec" and y.shape == x.shape


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", presets.PRESET_NAMES)
def test_every_preset_condition_runs(name):
    x = _speech(4000)
    for cid, condition in presets.preset_conditions(name).items():
        if presets.needs_model(condition):
            continue
        y, params = presets.run_condition(x, SR, name, np.random.default_rng(1), [cid])
        assert y.shape == x.shape and np.isfinite(y).all(), cid
        assert params["condition"] == cid and len(params["ops"]) == len(condition.ops)
        json.dumps(params)
        again = presets.apply_condition(x, SR, presets.sample_condition(
            name, np.random.default_rng(1), [cid], SR))[0]
        assert np.array_equal(again, y), cid


def test_asvspoof5_bitrates_follow_the_published_table():
    table = presets.preset_conditions("asvspoof5")
    assert table["C01"].ops[0].bitrates == (6000, 12000, 18000, 24000, 30000)
    assert table["C06"].ops[0].bitrates == (16000, 32000, 64000, 96000, 128000)
    assert table["C08"].ops[0].codec_rate == 8000
    assert table["C03"].substitute and table["C04"].substitute
    assert not table["C01"].substitute


# ------------------------------------------------------------------------------ log


def test_write_augment_log_and_ask_which_utterances_got_mp3(tmp_path):
    chain = _chain(tmp_path, """
        [[step]]
        name = "codec"
        p = 0.6
        codecs = ["mp3", "g711_mu"]
        [[step]]
        name = "gain"
        p = 0.5
        """)
    x = _speech(2000)
    ids, steps = [], []
    for k in range(8):
        y, cpu = chain.cpu_stage(x, SR, utterance_rng(0, 2, k))
        _, dev = chain.device_stage(torch.from_numpy(y)[None], None,
                                    batch_generator(0, 2, k))
        ids.append(f"demo:{k}")
        steps.append(cpu + dev[0])
    with open_catalog(tmp_path / "c.duckdb") as catalog:
        n = write_augment_log(catalog, "run-1", 2, pd.DataFrame({"utt_id": ids, "steps": steps}))
        assert n == 8
        stored = catalog.df("SELECT * FROM augment_log ORDER BY utt_id")
        assert list(stored.epoch.unique()) == [2]
        assert [json.loads(s) for s in stored.steps] == steps
        mp3 = utterances_with_step(catalog, "run-1", "codec", "codec", "mp3")
        expected = [i for i, s in zip(ids, steps)
                    if any(e["step"] == "codec" and e["params"]["codec"] == "mp3" for e in s)]
        assert mp3 == sorted(expected) and mp3
        assert utterances_with_step(catalog, "run-1", "codec", epoch=3) == []
        with pytest.raises(ValueError, match="steps"):
            write_augment_log(catalog, "run-1", 2, pd.DataFrame({"utt_id": ["a"]}))


def test_rawboost_step_takes_the_published_names(tmp_path):
    chain = _chain(tmp_path, '[[step]]\nname = "rawboost"\nalgo = 7\nP = 30\nSNRmin = 5\n'
                             'snr_max = 6\n')
    step = chain.device_steps[0].runner.transform
    assert isinstance(step, rawboost.RawBoostStep)
    assert (step.algo, step.p, step.snr_min, step.snr_max) == (7, 30, 5, 6)
    x = torch.from_numpy(np.stack([_speech(4000), _speech(4000, 1)]))
    y, applied = chain.device_stage(x, None, torch.Generator().manual_seed(0))
    assert all(5 <= row[0]["params"]["ssi"]["snr_db"] < 6 for row in applied)
    assert all(row[0]["params"]["isd"]["beta_pct"] < 30 for row in applied)
