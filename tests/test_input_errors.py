"""Bad input is one sentence naming the file, key or line and the fix (issue 12).

Each case goes through the command line where that is practical: exit code 2, no
traceback, and the words that locate the problem and say how to fix it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from conftest import make_asvspoof2019, make_tone_catalog, write_tone
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.recipes.engine import read_corpus
from curate.recipes.label_errors import bad_label_message
from curate.recipes.spec import load_recipe
from curate.select.freeze import freeze
from curate.select.spec import parse_selection
from curate.train import experiment as exp_module
from curate.train.data import NonFiniteAudioError, check_finite
from curate.train.experiment import INT64_MAX, parse_experiment
from curate.train.models import MODELS, model_argument_types

MINIMAL = {"name": "x", "data": {"selection": "sel"}}


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


# --------------------------------------------------------------------- 1. option types


EXPERIMENT = """\
name = "tiny"
seed = {seed}
device = "cpu"
[data]
selection = "sel"
[batching]
crop_seconds = 0.4
batch_size = 4
[model]
name = "small_cnn"
channels = [8]
n_mels = {n_mels}
[train]
steps = {steps}
log_every = 1
"""


def test_wrong_model_option_type_names_key_value_and_type(tmp_path, run_cli):
    exp = tmp_path / "exp.toml"
    exp.write_text(EXPERIMENT.format(seed=0, n_mels='"many"', steps=2))
    code, _, err = run_cli("train", exp, "--db", tmp_path / "c.duckdb")
    err = _one_line_error(code, err)
    assert str(exp) in err and "model.n_mels must be an integer, got 'many'" in err
    assert "the default is 64" in err
    assert not (tmp_path / "c.duckdb").exists()  # refused before the catalog is opened


def _typed_options() -> list[tuple[str, object]]:
    """Every bool/int/float option of every section and of every model's arguments."""
    out = []
    for section, cls in exp_module._SECTIONS.items():
        if cls is exp_module.ModelSection:
            continue
        for f in dataclasses.fields(cls):
            tp = typing.get_type_hints(cls)[f.name]
            if tp in (bool, int, float):
                out.append((f"{section}.{f.name}", tp))
    for model in sorted(MODELS):
        for name, (tp, _default) in model_argument_types(model).items():
            if name != "sample_rate" and (tp in (bool, int, float) or typing.get_args(tp)):
                out.append((f"model.{name}@{model}", tp))
    for name in ("seed", "log_augmentation"):
        out.append((name, exp_module._TOP[name]))
    return out


@pytest.mark.parametrize("key, tp", _typed_options(), ids=lambda v: str(v))
def test_every_typed_option_rejects_a_string(key, tp):
    key, _, model = key.partition("@")
    data = {**copy.deepcopy(MINIMAL), "model": {"name": model or "small_cnn"}}
    *sections, last = key.split(".")
    node = data
    for part in sections:
        node = node.setdefault(part, {})
    if not _accepts_string(tp):
        node[last] = "oops"
        with pytest.raises(CurateError, match=rf"exp.toml: {key} must be .*, got 'oops'"):
            parse_experiment(data, "exp.toml")
    if not _accepts(tp, True) and not _accepts_string(tp):
        node[last] = True  # a bool is not a number
        with pytest.raises(CurateError, match=rf"{key} must be .*, got True"):
            parse_experiment(data, "exp.toml")


def _accepts_string(tp) -> bool:
    return tp is str or str in typing.get_args(tp)


def _accepts(tp, value) -> bool:
    return exp_module._matches(value, tp)


def test_list_and_union_model_options():
    bad = {**MINIMAL, "model": {"name": "small_cnn", "channels": [8, "x"]}}
    with pytest.raises(CurateError, match=r"model.channels must be a list of integers, "
                                          r"got \[8, 'x'\] \(the default is \[8, 16, 32, 64\]\)"):
        parse_experiment(bad, "exp.toml")
    bad = {**MINIMAL, "model": {"name": "ssl", "layers": 1.5}}
    with pytest.raises(CurateError, match=r"model.layers must be a string or an integer"):
        parse_experiment(bad, "exp.toml")
    good = {**MINIMAL, "model": {"name": "small_cnn", "f_max": 7000, "channels": [4, 8],
                                 "dropout": 0}}
    assert parse_experiment(good, "exp.toml").model.kwargs["f_max"] == 7000
    huge = {**MINIMAL, "train": {"steps": 2 ** 70}}
    with pytest.raises(CurateError, match=r"train.steps = \d+ is out of range; integers must"):
        parse_experiment(huge, "exp.toml")


# --------------------------------------------------------------------- 2. seed range


def test_seed_beyond_64_bits_is_refused_at_load(tmp_path, run_cli):
    exp = tmp_path / "exp.toml"
    for seed in (2 ** 64, 2 ** 63, -1):
        exp.write_text(EXPERIMENT.format(seed=seed, n_mels=16, steps=2))
        code, _, err = run_cli("train", exp, "--db", tmp_path / "c.duckdb")
        err = _one_line_error(code, err)
        assert f"seed must be an integer from 0 to {INT64_MAX}" in err and str(seed) in err
    assert not (tmp_path / "c.duckdb").exists()
    assert parse_experiment({**MINIMAL, "seed": INT64_MAX}).seed == INT64_MAX


# --------------------------------------------------------------------- 3. NaN audio


@pytest.fixture
def tone_db(tmp_path):
    with make_tone_catalog(tmp_path, speakers=2, per_speaker=4, seconds=0.5) as catalog:
        freeze(catalog, parse_selection({"name": "sel", "seed": 1, "split": {
            "by": "speaker", "fractions": {"train": 0.5, "test": 0.5}}}))
        train = catalog.execute(
            "SELECT u.utt_id, u.path FROM selection_items s JOIN utterances u USING (utt_id) "
            "WHERE s.split = 'train' ORDER BY u.utt_id").fetchall()
    return tmp_path / "c.duckdb", train


def _poison(path: Path) -> None:
    """Every 50th sample NaN: any training crop of the file holds some."""
    x, rate = sf.read(path, dtype="float32")
    x[::50] = np.nan
    sf.write(path, x, rate, subtype="FLOAT")


def test_nan_training_audio_names_the_utterance_and_the_fix(tone_db, tmp_path, run_cli):
    db, train = tone_db
    utt_id, rel = train[1]
    _poison(tmp_path / "tones" / rel)
    exp = tmp_path / "exp.toml"
    exp.write_text(EXPERIMENT.format(seed=0, n_mels=16, steps=4))
    code, _, err = run_cli("train", exp, "--db", db, "--out", tmp_path / "out")
    err = _one_line_error(code, err)
    assert f"utt_id '{utt_id}'" in err and rel in err and "NaN or inf" in err
    assert "curate probe" in err and "'nan'" in err and "freeze the selection again" in err
    assert "TrainConfig" not in err and "learning rate" not in err  # not the optimiser
    with open_catalog(db, read_only=True) as catalog:
        assert catalog.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    # the fix the message names: re-probing marks the file
    code, _, err = run_cli("probe", "--db", db)
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        status, = catalog.execute("SELECT status FROM utterances WHERE utt_id = ?",
                                  [utt_id]).fetchone()
    assert status == "nan"


def test_check_finite_finds_only_the_bad_rows():
    x = torch.zeros(4, 10)
    check_finite(x, lambda row: f"row{row}")  # finite: nothing happens
    x[1, 3] = math.inf
    x[3, 0] = math.nan
    with pytest.raises(NonFiniteAudioError, match=r"training audio of row1, row3 holds NaN"):
        check_finite(x, lambda row: f"row{row}")
    x[:] = math.nan
    with pytest.raises(NonFiniteAudioError, match=r"of u0, u1, u2 and 1 more holds") as info:
        check_finite(x, lambda row: f"u{row}")
    with pytest.raises(NonFiniteAudioError, match=r"of u, v holds"):  # repeats named once
        check_finite(x, lambda row: "u" if row < 3 else "v")
    assert isinstance(info.value, CurateError)


def test_scoring_names_a_non_finite_file(tmp_path):
    from curate.train.loop import score
    from curate.train.models import build_model

    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    write_tone(good, 0.3)
    write_tone(bad, 0.3)
    _poison(bad)
    model = build_model("small_cnn", sample_rate=16000, n_mels=16, channels=[4])
    with pytest.raises(NonFiniteAudioError, match=rf"scored audio of {re.escape(str(bad))} "
                                                  r"holds NaN"):
        score(model, [good, bad], batch_size=1, device="cpu")
    assert np.isfinite(score(model, [good], device="cpu")).all()


# --------------------------------------------------------------------- 4. table recipe


TABLE = ('name = "mine"\nbase = "table"\n[options]\nfile = "meta.csv"\npath = "{file}"\n'
         '[options.map]\nlabel_raw = "label"\n[options.constants]\nlanguage = "eng"\n')


def _table_corpus(tmp_path: Path, meta: str) -> tuple[Path, Path]:
    root = tmp_path / "corpus"
    for i in range(3):
        write_tone(root / f"a{i}.wav", 0.1, seed=i)
    (root / "meta.csv").write_text(meta)
    recipe = tmp_path / "mine.toml"
    recipe.write_text(TABLE)
    return recipe, root


@pytest.mark.parametrize("meta, expected", [
    ("file,label,speaker\na0.wav,bonafide,s1\na1.wav,spoof\na2.wav,fake,s2\n",
     "meta.csv:3: expected 3 fields, found 2: 'a1.wav,spoof'; the line is truncated"),
    ("file,label\na0.wav,bonafide\na1.wav,\"spoof\na2.wav,fake\n",
     "meta.csv:3: a quote opened on this line is never closed; remove the stray quote"),
    ("file,label\na0.wav,bonafide\na1.wav,spoof,extra\n",
     "meta.csv:3: expected 2 fields, found 3"),
])
def test_table_recipe_reports_file_and_line(tmp_path, run_cli, meta, expected):
    recipe, root = _table_corpus(tmp_path, meta)
    code, _, err = run_cli("prepare", recipe, root, "--db", tmp_path / "c.duckdb",
                           "--no-probe")
    err = _one_line_error(code, err)
    assert expected in err and "sniffing" not in err and "search space" not in err


def test_table_recipe_line_numbers_count_skipped_lines(tmp_path):
    recipe, root = _table_corpus(tmp_path, "# exported 2024\nfile,label\na0.wav,bonafide\n"
                                           "a1.wav\n")
    recipe.write_text(TABLE.replace('path = "{file}"', 'path = "{file}"\nskip = 1'))
    with pytest.raises(CurateError, match=r"meta.csv:4: expected 2 fields, found 1"):
        read_corpus(load_recipe(str(recipe)), root)


# --------------------------------------------------------------------- 5. label words


def test_unknown_protocol_label_shows_the_raw_words_and_ids(tmp_path, run_cli):
    root = make_asvspoof2019(tmp_path / "LA", {"train": [
        "LA_0079 LA_T_1 - - bonafide", "LA_0079 LA_T_2 - A01 Spoof",
        "LA_0080 LA_T_3 - A02 fake", "LA_0080 LA_T_4 - A02 fake"]})
    code, _, err = run_cli("prepare", "asvspoof2019_la", root, "--db", tmp_path / "c.duckdb",
                           "--no-probe")
    err = _one_line_error(code, err)
    assert "<null>" not in err
    assert "'Spoof' (1 row: utt_id 'LA_T_2')" in err
    assert "'fake' (2 rows: utt_id 'LA_T_3', 'LA_T_4')" in err
    assert "mapped to no label" in err and "keep it in label_raw" in err


def test_bad_label_message_is_pure_and_bounded():
    label = pd.Series([None, "fake", None, None] + [f"w{i}" for i in range(6)], dtype="string")
    raw = pd.Series(["Spoof", "FAKE", None, "Spoof"] + [None] * 6, dtype="string")
    ids = pd.Series([f"u{i}" for i in range(10)], dtype="string")
    message = bad_label_message("r.toml", label, raw, ids, words=3, ids=1)
    assert message.startswith("r.toml: label must be 'bonafide' or 'spoof'; found ")
    assert "'Spoof' (2 rows: utt_id 'u0', ...)" in message
    assert "'fake' (label_raw 'FAKE') (1 row: utt_id 'u1')" in message
    assert "<no label> (1 row: utt_id 'u2')" in message
    assert "6 more words" in message and "w0" not in message


@pytest.mark.parametrize("recipe", ["asvspoof2019_la", "asvspoof5", "add2023"])
def test_asvspoof_style_recipes_keep_the_raw_word(tmp_path, recipe):
    tables = {
        "asvspoof2019_la": ("ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt",
                            "LA_0079 LA_T_1 - - bonafide\nLA_0079 LA_T_2 - A01 Spoofed\n"),
        "asvspoof5": ("ASVspoof5.train.tsv", "T_4850 T_0000000000 F - - - AC3 A05 Spoofed -\n"
                                             "T_4850 T_0000000001 F - - - - bonafide bonafide -\n"),
        "add2023": ("label.txt", "a.wav genuine\nb.wav Spoofed\n"),
    }
    rel, text = tables[recipe]
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(text)
    with pytest.raises(CurateError, match=r"found 'Spoofed' \(1 row: utt_id "):
        read_corpus(load_recipe(recipe), tmp_path)


# --------------------------------------------------------------------- 6. blank lines


MESSY_2019 = ("LA_0079 LA_T_1138215 - - bonafide\n"
              "\n"
              "LA_0079  LA_T_1271820  -  A01  spoof\n"
              "LA_0080\tLA_T_1272637 - A02 spoof   \r\n"
              "LA_0080 LA_T_1276960 - - bonafide\n"
              "\n"
              "  \n")


def test_blank_lines_and_double_spaces_in_asvspoof2019_protocols(tmp_path, run_cli):
    ids = ["LA_T_1138215", "LA_T_1271820", "LA_T_1272637", "LA_T_1276960"]
    root = make_asvspoof2019(tmp_path / "LA", {"train": [f"S {u} - - bonafide" for u in ids]})
    (root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt").write_text(
        MESSY_2019)
    db = tmp_path / "c.duckdb"
    code, out, err = run_cli("prepare", "asvspoof2019_la", root, "--db", db, "--no-probe")
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        rows = catalog.df("SELECT utt_id, label, generator, speaker, status FROM utterances "
                          "ORDER BY utt_id")
    assert list(rows["utt_id"]) == [f"asvspoof2019_la:{u}" for u in ids]
    assert list(rows["label"]) == ["bonafide", "spoof", "spoof", "bonafide"]
    assert list(rows["generator"].fillna("-")) == ["-", "asvspoof2019_la:A01",
                                                   "asvspoof2019_la:A02", "-"]
    assert list(rows["speaker"]) == ["LA_0079", "LA_0079", "LA_0080", "LA_0080"]
    assert set(rows["status"]) == {"pending"}  # every path points at its file


def test_a_real_protocol_with_blank_lines_and_double_spaces(realdata, tmp_path):
    lines = (realdata / "asvspoof2019_la" / "ASVspoof2019.LA.cm.train.trn.txt"
             ).read_text().splitlines()
    messy = []
    for i, line in enumerate(lines):
        messy.append(line.replace(" ", "  ") if i % 3 == 0 else line)
        if i % 1000 == 0:
            messy.append("")
    folder = tmp_path / "ASVspoof2019_LA_cm_protocols"
    folder.mkdir()
    (folder / "ASVspoof2019.LA.cm.train.trn.txt").write_text("\n".join(messy) + "\n\n \n")
    rows = read_corpus(load_recipe("asvspoof2019_la"), tmp_path)  # no audio: all missing
    assert len(rows) == 25380
    assert (rows["label"] == "bonafide").sum() == 2580
    assert rows["speaker"].nunique() == 20


def test_asvspoof5_and_add2023_read_runs_of_blanks(tmp_path):
    (tmp_path / "a5").mkdir()
    (tmp_path / "a5" / "ASVspoof5.train.tsv").write_text(
        "T_4850  T_0000000000 F - - - AC3 A05 spoof -\n\n"
        "T_4850 T_0000000001 F - - -  - bonafide bonafide -  \n")
    rows = read_corpus(load_recipe("asvspoof5"), tmp_path / "a5")
    assert list(rows["label"]) == ["spoof", "bonafide"]
    assert list(rows["generator"].fillna("-")) == ["asvspoof5:A05", "-"]
    (tmp_path / "add").mkdir()
    (tmp_path / "add" / "label.txt").write_text("a.wav  genuine\n\nb.wav\tfake\n")
    rows = read_corpus(load_recipe("add2023"), tmp_path / "add")
    assert list(rows["label"]) == ["bonafide", "spoof"]
    assert list(rows["path"]) == ["wav/a.wav", "wav/b.wav"]
    (tmp_path / "add" / "label.txt").write_text("a.wav genuine\n\nb.wav\n")
    with pytest.raises(CurateError, match=r"label.txt:3: expected 2 columns, found 1: 'b.wav'; "
                                          r"the line is truncated"):
        read_corpus(load_recipe("add2023"), tmp_path / "add")


# --------------------------------------------------------------------- 7. '..' paths


@pytest.mark.parametrize("path", ["../outside.wav", "sub/../../outside.wav", "{root}/../x.wav"])
def test_table_paths_leaving_root_through_dotdot_are_refused(tmp_path, run_cli, path):
    recipe, root = _table_corpus(tmp_path, "")
    write_tone(tmp_path / "outside.wav", 0.1)
    (root / "meta.csv").write_text(f"file,label\na0.wav,bonafide\n{path.format(root=root)},"
                                   f"spoof\n")
    code, _, err = run_cli("prepare", recipe, root, "--db", tmp_path / "c.duckdb",
                           "--no-probe")
    err = _one_line_error(code, err)
    assert str(recipe) in err and "paths must lie under ROOT" in err and "'..'" in err
    assert "1 row(s)" in err and "pass the folder that holds them all as ROOT" in err


def test_dotdot_inside_root_is_kept(tmp_path):
    recipe, root = _table_corpus(tmp_path, "file,label\nsub/../a0.wav,bonafide\n")
    (root / "sub").mkdir()
    rows = read_corpus(load_recipe(str(recipe)), root)
    assert list(rows["status"]) == ["pending"]


def test_a_diverging_loss_is_one_sentence_naming_the_settings(tmp_path):
    from curate.train.loop import DivergedError, TrainConfig, train

    files = []
    for i in range(4):
        files.append(tmp_path / f"{i}.wav")
        write_tone(files[-1], 0.3, seed=i)

    class Blowup:
        """A device stage that turns the (finite) batch into inf."""
        has_cpu_steps, has_device_steps = False, True

        def device_stage(self, x, lengths, generator):
            return x * math.inf, None

    config = TrainConfig(steps=2, batch_size=2, crop_seconds=0.2, device="cpu", log_every=1,
                         model_kwargs={"n_mels": 16, "channels": [4]})
    with pytest.raises(DivergedError, match=r"loss became nan by step 1 although the input "
                                            r"audio is finite; lower the learning rate "
                                            r"\(optim.lr") as info:
        train(config, files, [1, 0, 1, 0], chain=Blowup())
    assert isinstance(info.value, CurateError) and isinstance(info.value, FloatingPointError)
