"""Robustness grids (curate.train.degrade) and `curate eval --degrade`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.augment.chain.errors import ChainError
from curate.catalog.db import CatalogRef, open_catalog
from curate.errors import CurateError
from curate.train.condition_scores import (condition_file, condition_scores,
                                           stored_conditions)
from curate.train.degrade import (CLEAN, degrade_waveform, evaluate_degraded, load_grid,
                                  parse_grid)
from curate.train.evaluate import read_score_file

SHIPPED = Path(__file__).resolve().parents[1] / "recipes" / "degrade" / "grid.toml"

GRID = """
seed = 3
[[condition]]
name = "lowpass_1k"
[[condition.step]]
name = "bandlimit"
min_cutoff_hz = 1000.0
max_cutoff_hz = 1000.0

[[condition]]
name = "unity_gain"
[[condition.step]]
name = "gain"
min_gain_db = 0.0
max_gain_db = 0.0

[[condition]]
name = "noise_0db"
[[condition.step]]
name = "audiomentations.AddGaussianSNR"
min_snr_db = 0.0
max_snr_db = 0.0
"""


def _band_energy(x: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_shipped_grid_conditions_change_the_audio():
    grid = load_grid(SHIPPED, 16000)
    assert grid.names[0] == CLEAN and len(grid.names) == len(set(grid.names)) > 10
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    for condition in grid.conditions:
        y = degrade_waveform(noise, 16000, condition, "c:u1")
        assert y.shape == noise.shape and y.dtype == np.float32
        if condition.name == CLEAN:
            np.testing.assert_array_equal(y, noise)
        else:
            assert np.abs(y - noise).max() > 1e-3, condition.name
    by_name = {c.name: c for c in grid.conditions}
    # band limits remove what lies above their band: > 20 dB less energy there
    for name, edge in (("lowpass_4k", 4500.0), ("telephone_band", 3800.0)):
        y = degrade_waveform(noise, 16000, by_name[name], "c:u1")
        ratio = _band_energy(y, 16000, edge, 8000) / _band_energy(noise, 16000, edge, 8000)
        assert ratio < 0.01, name
    # white noise at 5 dB SNR: the added part has about 10^(-5/10) of the clip's power
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    added = degrade_waveform(tone, 16000, by_name["noise_5db"], "c:u1") - tone
    snr = 10 * np.log10(np.mean(tone ** 2) / np.mean(added ** 2))
    assert snr == pytest.approx(5.0, abs=0.3)


def test_degradation_is_a_function_of_condition_and_utterance():
    grid = parse_grid({"condition": [{"name": "n", "step": [
        {"name": "audiomentations.AddGaussianSNR", "min_snr_db": 5.0, "max_snr_db": 5.0}]}]})
    noisy = grid.conditions[1]
    x = np.zeros(4000, np.float32) + 0.1
    a, b = degrade_waveform(x, 16000, noisy, "u1"), degrade_waveform(x, 16000, noisy, "u1")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, degrade_waveform(x, 16000, noisy, "u2"))


@pytest.mark.parametrize("text, words", [
    ('[[condition]]\nname = "x"\n[[condition.step]]\nname = "warble"\n',
     ["condition 'x'", "unknown step 'warble'"]),
    ('[[condition]]\nname = "x"\n[[condition.step]]\nname = "codec"\ncodecs = ["mp9"]\n',
     ["condition 'x'", "step 1 (codec)", "mp9"]),
    ('[[condition]]\nname = "x"\n[[condition.step]]\nname = "bandlimit"\np = 0.5\n',
     ["condition 'x'", "p = 0.5", "leave p out"]),
    ('[[condition]]\nname = "clean"\n[[condition.step]]\nname = "gain"\n',
     ["'clean' is the undegraded audio"]),
    ('[[condition]]\nname = "x"\nchain = "nowhere.toml"\n', ["nowhere.toml does not exist"]),
    ('[[condition]]\nname = "x"\nrate = 3\n[[condition.step]]\nname = "gain"\n',
     ["unknown key 'rate'"]),
    ('[[condition]]\nname = "x"\n[[condition.step]]\nname = "gain"\n'
     '[[condition]]\nname = "x"\n[[condition.step]]\nname = "clip"\n', ["appears twice"]),
    ('sample_rate = 8000\n[[condition]]\nname = "x"\n[[condition.step]]\nname = "gain"\n',
     ["8000 Hz", "16000 Hz"]),
    ('seed = 1\n', ["no conditions"]),
    ('[[condition]]\nname = "a b"\n[[condition.step]]\nname = "gain"\n', ["condition 1"]),
    ('[[condition]]\nname = "x"\nchain = "empty.toml"\n', ["empty.toml has no [[step]]"]),
])
def test_bad_grids_are_one_sentence_naming_file_and_key(tmp_path, text, words):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    (tmp_path / "empty.toml").write_text("seed = 3\n")  # a chain file without steps
    with pytest.raises(ChainError) as info:
        load_grid(path, 16000)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message


def test_a_condition_may_reference_a_chain_file(tmp_path):
    (tmp_path / "chain.toml").write_text(
        'sample_rate = 16000\nseed = 9\n[[step]]\nname = "bandlimit"\np = 0.1\n'
        'min_cutoff_hz = 2000.0\nmax_cutoff_hz = 2000.0\n')
    (tmp_path / "grid.toml").write_text('[[condition]]\nname = "ref"\nchain = "chain.toml"\n')
    condition = load_grid(tmp_path / "grid.toml", 16000).conditions[1]
    assert [s.p for s in condition.chain.steps] == [1.0]  # p = 1 unless the grid says so
    noise = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    y = degrade_waveform(noise, 16000, condition, "u")
    assert _band_energy(y, 16000, 3000, 8000) < 0.01 * _band_energy(noise, 16000, 3000, 8000)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny CNN run (2 steps) on the tone selection: (db, run_id, run_dir)."""
    from conftest import train_tiny_run

    return train_tiny_run(tmp_path_factory.mktemp("degrade"))


def _scores(db, run_id, eval_set="sel"):
    with open_catalog(db, read_only=True) as catalog:
        return catalog.df("SELECT utt_id, score FROM scores WHERE run_id = ? AND eval_set = ? "
                          "ORDER BY utt_id", [run_id, eval_set])


def _results(db, run_id, eval_set="sel"):
    with open_catalog(db, read_only=True) as catalog:
        return catalog.df("SELECT eval_group, metric, value FROM results WHERE run_id = ? "
                          "AND eval_set = ?", [run_id, eval_set])


def test_grid_scores_and_stores_each_condition(tiny_run, tmp_path):
    from curate.train.eval_run import evaluate_run

    db, run_id, run_dir = tiny_run
    evaluate_run(CatalogRef(db), run_id, "sel", "all")
    plain, plain_results = _scores(db, run_id), _results(db, run_id)
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    seen = []
    outcome = evaluate_degraded(CatalogRef(db), run_id, "sel", "all", grid,
                                progress=lambda name, done, total: seen.append(name))
    assert list(dict.fromkeys(seen)) == ["clean", "lowpass_1k", "unity_gain", "noise_0db"]
    # the clean condition is the plain evaluation, bit for bit
    clean = _scores(db, run_id)
    np.testing.assert_array_equal(clean["score"], plain["score"])
    results = _results(db, run_id)
    eer = {g: v for g, m, v in results.itertuples(index=False) if m == "eer"}
    plain_eer = {g: v for g, m, v in plain_results.itertuples(index=False) if m == "eer"}
    assert {g: eer[g] for g in plain_eer} == plain_eer
    assert eer["condition=clean"] == eer["all"]
    for name in ("lowpass_1k", "unity_gain", "noise_0db"):
        assert f"condition={name}" in eer
        assert f"condition={name}/generator=tones:g0" in eer
        assert f"condition={name}/generator=tones:g1" in eer
    # condition score files; a unit gain reads exactly the clips the clean scoring reads
    files = outcome.score_files
    assert set(files) == {"lowpass_1k", "unity_gain", "noise_0db"}
    unity = read_score_file(files["unity_gain"])["cm-score"].to_numpy()
    lowpass = read_score_file(files["lowpass_1k"])["cm-score"].to_numpy()
    assert len(unity) == len(lowpass) == len(plain)
    np.testing.assert_allclose(unity, plain["score"].to_numpy(), atol=2e-6)
    # the spoofs are tones >= 2.5 kHz: a 1 kHz low-pass changes what the model sees
    assert np.abs(lowpass - plain["score"].to_numpy()).max() > 1e-3
    assert files["lowpass_1k"].name == "sel.condition=lowpass_1k.tsv"
    # read back next to the eval set's rows, in their order
    assert stored_conditions(run_dir, "sel") == ["lowpass_1k", "noise_0db", "unity_gain"]
    assert condition_file(run_dir, "sel", "lowpass_1k") == files["lowpass_1k"]
    back = condition_scores(clean, files["lowpass_1k"])
    np.testing.assert_allclose(back["score"].to_numpy(), lowpass)
    assert back["utt_id"].tolist() == clean["utt_id"].tolist()
    with pytest.raises(CurateError, match="another scoring of the set"):
        condition_scores(clean.iloc[:-1], files["lowpass_1k"])
    assert files["lowpass_1k"].parent == Path(run_dir) / "scores"
    table = outcome.table
    assert table["condition"].tolist() == ["clean", "lowpass_1k", "unity_gain", "noise_0db"]
    assert table.loc[0, "eer_delta"] == 0.0
    assert table.loc[2, "eer"] == pytest.approx(eer["all"])
    assert outcome.plot == Path(run_dir) / "scores" / "sel.degrade.png"
    assert outcome.plot.stat().st_size > 0
    # scoring the eval set again replaces every result, the condition groups included
    evaluate_run(CatalogRef(db), run_id, "sel", "all")
    assert not _results(db, run_id)["eval_group"].str.startswith("condition=").any()


def test_eval_degrade_command(tiny_run, tmp_path, run_cli):
    db, run_id, _ = tiny_run
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    code, out, err = run_cli("eval", run_id, "--on", "sel", "--split", "all", "--db", db,
                             "--degrade", grid)
    assert code == 0, err
    for name in ("clean", "lowpass_1k", "unity_gain", "noise_0db", "eer_delta"):
        assert name in out
    assert "sel.degrade.png" in out
    # the histograms of a condition's scores, read back from its score file
    code, out, err = run_cli("plot", "scores", run_id, "--on", "sel", "--db", db,
                             "--condition", "lowpass_1k", "--out", tmp_path)
    assert code == 0, err
    assert (tmp_path / "sel.condition=lowpass_1k.histograms.png").stat().st_size > 0
    code, out, err = run_cli("plot", "scores", run_id, "--on", "sel", "--db", db,
                             "--condition", "lowpass_2k")
    assert code != 0 and "lowpass_1k, noise_0db, unity_gain" in err and "clean" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('[[condition]]\nname = "x"\n[[condition.step]]\nname = "warble"\n')
    code, out, err = run_cli("eval", run_id, "--on", "sel", "--split", "all", "--db", db,
                             "--degrade", bad)
    assert code != 0 and "warble" in err and "Traceback" not in err
