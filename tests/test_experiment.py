"""Experiment files: parsing, unknown keys, --set overrides; curate train / eval through
the command line on a tiny catalog, with stop, resume and the augmentation log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_tone_catalog
from curate.ablate.grid import apply_overrides
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.recipes.spec import builtin_recipes_dir
from curate.select.freeze import freeze
from curate.select.spec import parse_selection
from curate.train.experiment import (
    apply_sets,
    load_experiment,
    parse_experiment,
    parse_set,
)

MINIMAL = {"name": "x", "data": {"selection": "sel"}}


def test_shipped_experiments_parse():
    files = sorted((builtin_recipes_dir() / "experiments").glob("*.toml"))
    assert {f.stem for f in files} >= {"demo", "xlsr_sam"}
    for path in files:
        experiment = load_experiment(path)
        spec = experiment.run_spec()
        assert spec.name == experiment.name and spec.config.steps > 0
    ssl = load_experiment(builtin_recipes_dir() / "experiments" / "xlsr_sam.toml")
    config = ssl.train_config()
    assert config.model == "ssl" and config.sam and config.regime == "long"
    assert config.max_batch_seconds == 240.0 and config.eval_max_seconds is None
    assert config.augment.endswith("rawboost_codec.toml") and Path(config.augment).is_file()
    assert config.select == "best" and ssl.run_spec().dev_split == "dev"


def test_sections_map_onto_the_loop_settings():
    experiment = parse_experiment({
        "name": "e", "seed": 3, "precision": "bf16",
        "data": {"selection": "s", "dev": "dev", "test": "test", "eval": ["other:test", "itw"],
                 "sampler": "temperature", "sampler_by": "language", "temperature": 2},
        "batching": {"regime": "long", "max_batch_seconds": 60, "grad_accum": 2,
                     "eval_max_seconds": 0},
        "model": {"name": "small_cnn", "n_mels": 40, "channels": [8, 16]},
        "optim": {"name": "sgd", "lr": 0.1, "grad_clip": 0, "schedule": "linear"},
        "sam": {"enabled": True, "rho": 0.1, "adaptive": True},
        "train": {"epochs": 2.5},
        "checkpoint": {"every": 100, "eval_every": 50, "keep_best": 2, "select": "best"},
    })
    spec = experiment.run_spec()
    c = spec.config
    assert (c.sam, c.sam_rho, c.sam_adaptive) == (True, 0.1, True)
    assert c.seed == 3 and c.precision == "bf16" and c.temperature == 2.0
    assert c.grad_clip is None and c.eval_max_seconds is None and c.epochs == 2.5
    assert c.max_batch_seconds == 60.0 and c.model_kwargs == {"n_mels": 40, "channels": [8, 16]}
    assert (c.checkpoint_every, c.eval_every, c.keep_best) == (100, 50, 2)
    assert spec.eval_splits == ("test",) and spec.dev_split == "dev"
    assert [name for _, _, name in spec.eval_refs()] == ["test", "other:test", "itw"]
    # to_dict is a valid experiment again
    again = parse_experiment(experiment.to_dict())
    assert again.run_spec() == spec


@pytest.mark.parametrize("data, message", [
    ({**MINIMAL, "sam": {"rhoo": 1}}, r"unknown key\(s\) sam.rhoo; known keys in \[sam\]: "
                                      r"enabled, rho, adaptive"),
    ({**MINIMAL, "optimiser": {}}, r"unknown key\(s\) or section\(s\) optimiser"),
    ({**MINIMAL, "model": {"name": "small_cnn", "n_mel": 4}}, r"model.n_mel for model "
                                                              r"'small_cnn'.*n_mels"),
    ({**MINIMAL, "model": {"name": "resnet"}}, r"model.name must be one of"),
    ({**MINIMAL, "optim": {"lr": "fast"}}, r"optim.lr must be a number"),
    ({**MINIMAL, "sam": {"enabled": 1}}, r"sam.enabled must be true or false"),
    ({**MINIMAL, "batching": {"batch_size": 0}}, r"batching.batch_size must be an integer >= 1"),
    ({**MINIMAL, "optim": {"name": "lion"}}, r"optim.name must be one of adamw, adam, sgd"),
    ({"name": "x"}, r"data.selection is missing"),
    ({**MINIMAL, "name": "bad name"}, r"name must be an identifier"),
    ({**MINIMAL, "augment": "no_such_chain"}, r"augment chain 'no_such_chain' not found"),
    ({**MINIMAL, "checkpoint": {"select": "best"}}, r"checkpoint.select 'best' needs"),
])
def test_bad_experiments_are_one_clear_sentence(data, message):
    with pytest.raises(CurateError, match=message) as info:
        parse_experiment(data, "exp.toml")
    assert str(info.value).startswith("exp.toml: ")


def test_set_overrides():
    assert parse_set("optim.lr=3e-4") == ("optim.lr", 3e-4)
    assert parse_set("sam.enabled=true") == ("sam.enabled", True)
    assert parse_set("data.test=[\"test\", \"dev\"]") == ("data.test", ["test", "dev"])
    assert parse_set("device=cuda:1") == ("device", "cuda:1")  # a bare word is a string
    data = apply_sets(MINIMAL, ["sam.enabled=true", "sam.rho=0.1", "seed=7"])
    assert data["sam"] == {"enabled": True, "rho": 0.1} and data["seed"] == 7
    assert "sam" not in MINIMAL  # not modified
    with pytest.raises(CurateError, match="key=value"):
        parse_set("sam.enabled")
    with pytest.raises(CurateError, match="not a section"):
        apply_sets(MINIMAL, ["name.x=1"])
    with pytest.raises(CurateError, match=r"unknown key\(s\) sam.rhoo"):
        parse_experiment(apply_sets(MINIMAL, ["sam.rhoo=0.1"]))


def test_augment_chain_is_found_next_to_the_file_or_in_the_recipes(tmp_path):
    (tmp_path / "mine.toml").write_text("sample_rate = 16000\n")
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "x"\naugment = "mine.toml"\n[data]\nselection = "s"\n')
    assert load_experiment(exp).augment == str((tmp_path / "mine.toml").resolve())
    shipped = load_experiment(exp, ["augment=rawboost5"]).augment
    assert shipped == str((builtin_recipes_dir() / "augment" / "rawboost5.toml").resolve())
    assert load_experiment(exp, ["augment="]).train_config().augment is None


def test_an_ablation_cell_is_an_experiment():
    base = {"name": "exp", "seed": 3, "sam": {"enabled": False, "rho": 0.05}, "augment": "",
            "data": {"selection": "s"}}
    cell = apply_overrides(base, {"augment": "rawboost5.toml", "sam.enabled": True,
                                  "sam.rho": 0.01, "seed": 4})
    config = parse_experiment(cell, "cell").train_config()
    assert config.sam and config.sam_rho == 0.01 and config.seed == 4
    assert config.augment.endswith("rawboost5.toml")


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def tone_db(tmp_path):
    """Bonafide = low tones, spoof = high tones + noise; 10 speakers, two generators."""
    with make_tone_catalog(tmp_path, speakers=10, per_speaker=4, seconds=0.6) as catalog:
        freeze(catalog, parse_selection({
            "name": "sel", "seed": 1, "split": {"by": "speaker", "fractions": {
                "train": 0.6, "dev": 0.2, "test": 0.2}}}))
    return tmp_path / "c.duckdb"


EXPERIMENT = """\
name = "tiny"
seed = 0
device = "cpu"
[data]
selection = "sel"
dev = "dev"
test = ["test"]
eval = ["sel:dev"]
[batching]
crop_seconds = 0.4
batch_size = 8
[model]
name = "small_cnn"
channels = [8, 16]
n_mels = 32
[optim]
lr = 3e-3
warmup_steps = 2
[train]
steps = 8
log_every = 4
[checkpoint]
every = 4
"""


def test_train_eval_through_the_cli(tone_db, tmp_path, run_cli):
    exp = tmp_path / "tiny.toml"
    exp.write_text(EXPERIMENT)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("train", exp, "--db", tone_db, "--out", out, "--stop-at", "4")
    assert code == 0, stderr
    assert "stopped at step 4" in stdout and "--resume" in stdout
    with open_catalog(tone_db, read_only=True) as catalog:
        (run_id, status, config), = catalog.execute(
            "SELECT run_id, status, config FROM runs").fetchall()
    assert status == "stopped" and json.loads(config)["run_dir"] == str(out / "runs" / run_id)
    code, stdout, stderr = run_cli("train", exp, "--db", tone_db, "--out", out, "--resume")
    assert code == 0, stderr
    assert f"results of run {run_id}" in stdout
    with open_catalog(tone_db, read_only=True) as catalog:
        assert catalog.execute("SELECT status FROM runs").fetchall() == [("finished",)]
        sets = {r[0] for r in catalog.execute(
            "SELECT DISTINCT eval_set FROM results WHERE run_id = ?", [run_id]).fetchall()}
        metrics = {r[0] for r in catalog.execute(
            "SELECT DISTINCT metric FROM results").fetchall()}
    assert sets == {"test", "dev"}  # "sel:dev" is the run's own selection: named "dev"
    assert {"eer", "min_dcf", "act_dcf", "cllr"} <= metrics
    score_file = out / "runs" / run_id / "scores" / "test.tsv"
    assert score_file.read_text().splitlines()[0] == "filename\tcm-score"

    # the same experiment again: the finished run is reused
    code, stdout, _ = run_cli("train", exp, "--db", tone_db, "--out", out)
    assert code == 0 and "already finished" in stdout

    code, stdout, stderr = run_cli("eval", run_id, "--on", "sel", "--split", "all",
                                   "--db", tone_db)
    assert code == 0, stderr
    with open_catalog(tone_db, read_only=True) as catalog:
        n = catalog.execute("SELECT count(*) FROM scores WHERE run_id = ? AND eval_set = 'sel'",
                            [run_id]).fetchone()[0]
    assert n == 40
    assert (out / "runs" / run_id / "scores" / "sel.tsv").is_file()

    code, stdout, stderr = run_cli("sharpness", run_id, "--on", "sel", "--split", "test",
                                   "--m", "4", "--batches", "2", "--db", tone_db)
    assert code == 0, stderr
    with open_catalog(tone_db, read_only=True) as catalog:
        rows = dict(catalog.execute(
            "SELECT metric, value FROM results WHERE run_id = ? AND eval_set = 'test' AND "
            "eval_group = 'all' AND metric LIKE 'sharpness%'", [run_id]).fetchall())
    assert rows["sharpness_rho"] == 0.05 and rows["sharpness_m"] == 4
    assert rows["sharpness_batches"] == 2 and np.isfinite(rows["sharpness"])
    code, stdout, stderr = run_cli("sharpness", "--correlate", "--db", tone_db)
    assert code == 0 and "spearman" in stdout

    code, _, stderr = run_cli("train", exp, "--db", tone_db, "--set", "optim.lrr=1")
    assert code == 2 and "unknown key(s) optim.lrr" in stderr
    code, _, stderr = run_cli("eval", "nope-123", "--on", "sel", "--db", tone_db)
    assert code == 2 and "no run 'nope-123'" in stderr


def test_augmentation_is_logged_per_epoch(tone_db, tmp_path):
    pytest.importorskip("curate.augment.chain")
    from curate.train.run import run_experiment

    chain = tmp_path / "gain.toml"
    chain.write_text('sample_rate = 16000\nseed = 0\n[[step]]\nname = "gain"\np = 0.5\n')
    exp = tmp_path / "aug.toml"
    exp.write_text(EXPERIMENT.replace('device = "cpu"', 'device = "cpu"\naugment = "gain.toml"\n'
                                      'log_augmentation = true'))
    spec = load_experiment(exp, ["train.steps=4", "data.dev=", "data.eval=[]"]).run_spec()
    with open_catalog(tone_db) as catalog:
        outcome = run_experiment(catalog, spec, tmp_path / "out")
        rows = catalog.df("SELECT epoch, utt_id, steps FROM augment_log WHERE run_id = ?",
                          [outcome.run_id])
    assert len(rows) == 4 * 8  # every item of every batch
    assert set(rows.epoch) <= {0, 1, 2}
    steps = [json.loads(s) for s in rows.steps]
    applied = [s for s in steps if s]
    assert applied and all(s[0]["step"] == "gain" for s in applied)
    assert len(applied) < len(steps)  # p = 0.5
