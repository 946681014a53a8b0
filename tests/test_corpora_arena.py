"""Recipes of public benchmark (Speech Deepfake Arena) test sets, on miniatures of their layouts.

Layouts follow the authors' READMEs and loaders (SONAR and LibriSeVoc as the SONAR code
reads them, ShiftySpeech's README, DEEP-VOICE's Kaggle release, the WildSVDD release);
files are empty placeholders: these tests read layouts, not audio. Also: the Codecfake
(Xie et al.) recipe's LibriTTS sources, and recipe-wide rules of the lineage and usage
keys.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.spec import ALL_SUBSETS, builtin_corpus_recipes, load_recipe, parse_recipe

ARENA = ("deepvoice", "librisevoc", "sonar", "shiftyspeech", "wildsvdd")


def read(recipe: str, root: Path, **kwargs) -> pd.DataFrame:
    rows = engine.read_corpus(load_recipe(recipe), root, **kwargs)
    assert set(rows["artifact"].dropna()) <= set(load_recipe(recipe).artifacts)
    return rows.set_index("utt_id")


def touch(root: Path, *paths: str) -> None:
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"placeholder")


@pytest.mark.parametrize("name", ARENA)
def test_arena_recipes_document_themselves(name, tmp_path):
    recipe = load_recipe(name)
    assert recipe.title and recipe.url and recipe.layout and recipe.notes and recipe.checked
    assert recipe.usage("antideepfake") is None  # test sets, not training data
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurateError, match="ROOT|no file matches"):
        engine.read_corpus(recipe, tmp_path / "empty")


def test_deepvoice_originals_and_segments(tmp_path):
    root = tmp_path / "AUDIO"
    touch(root, "REAL/biden-original.wav", "FAKE/biden-to-taylor.wav",
          "FAKE/musk-to-biden.wav", "FAKE/notes.txt")
    rows = read("deepvoice", root)
    assert len(rows) == 3
    fake = rows.loc["deepvoice:FAKE/biden-to-taylor"]
    assert (fake["label"], fake["artifact"], fake["speaker"], fake["source_utt"]) == \
        ("spoof", "vc", "taylor", "deepvoice:REAL/biden-original")
    assert fake["source_utt"] in rows.index
    assert rows.loc["deepvoice:REAL/biden-original", "speaker"] == "biden"
    segments = tmp_path / "AUDIO_SEGMENTS"
    touch(segments, "REAL/biden-original_seg_62.wav", "FAKE/biden-to-taylor_seg_62.wav")
    seg = read("deepvoice", segments)
    assert seg.loc["deepvoice:FAKE/biden-to-taylor_seg_62", "source_utt"] == \
        "deepvoice:REAL/biden-original_seg_62"
    assert set(seg.loc["deepvoice:FAKE/biden-to-taylor_seg_62", "source_utt"].split(":")[1:]) \
        <= {i.split(":", 1)[1] for i in seg.index}


def test_librisevoc_splits_follow_the_genuine_lists(tmp_path):
    root = tmp_path / "LibriSeVoc"
    touch(root, "gt/27_123349_000006_000000.wav", "gt/19_198_000000_000003.wav",
          "melgan/27_123349_000006_000000_gen.wav", "wavernn/19_198_000000_000003_gen.wav",
          "diffwave/27_123349_000006_000000_gen.wav")
    (root / "train.txt").write_text("27_123349_000006_000000.wav\n")
    (root / "test.txt").write_text("19_198_000000_000003.wav\n")
    rows = read("librisevoc", root)
    assert Counter(rows["label"]) == {"bonafide": 2, "spoof": 3}
    mel = rows.loc["librisevoc:melgan/27_123349_000006_000000_gen"]
    assert (mel["subset"], mel["speaker"], mel["source_utt"], mel["generator"]) == \
        ("train", "27", "libritts:27_123349_000006_000000", "librisevoc:melgan")
    assert rows.loc["librisevoc:wavernn/19_198_000000_000003_gen", "subset"] == "test"
    gt = rows.loc["librisevoc:gt/27_123349_000006_000000"]
    assert gt["label"] == "bonafide" and pd.isna(gt["artifact"]) and gt["subset"] == "train"


def test_sonar(tmp_path):
    root = tmp_path / "SONAR_dataset"
    touch(root, "real_samples/r1.wav", "VALLE/a.wav", "OpenAI/b.mp3", "SeedTTS/c.flac",
          "SeedTTS/readme.md")
    rows = read("sonar", root)
    assert Counter(rows["label"]) == {"bonafide": 1, "spoof": 3}
    assert rows.loc["sonar:OpenAI/b.mp3", "generator"] == "sonar:OpenAI"
    assert pd.isna(rows.loc["sonar:real_samples/r1.wav", "generator"])
    assert (rows["language"] == "und").all()


def test_shiftyspeech(tmp_path):
    root = tmp_path / "ShiftySpeech"
    touch(root, "Vocoders/hifigan/aishell/S0002/BAC009S0002W0122.flac",
          "Vocoders/bigvgan/jsut/BASIC5000_0001.wav", "Vocoders/hifigan/youtube/x.wav",
          "TTS/Grad-TTS/LJSpeech/LJ001-0001.wav")
    rows = read("shiftyspeech", root)
    voc = rows.loc["shiftyspeech:Vocoders/hifigan/aishell/S0002/BAC009S0002W0122"]
    assert (voc["artifact"], voc["generator"], voc["language"], voc["subset"],
            voc["source_corpus"]) == ("copy_synthesis", "shiftyspeech:hifigan", "cmn",
                                      "aishell", "aishell1")
    tts = rows.loc["shiftyspeech:TTS/Grad-TTS/LJSpeech/LJ001-0001"]
    assert (tts["artifact"], tts["generator"], tts["language"]) == ("tts",
                                                                   "shiftyspeech:Grad-TTS",
                                                                   "eng")
    assert rows.loc["shiftyspeech:Vocoders/bigvgan/jsut/BASIC5000_0001", "language"] == "jpn"
    assert rows.loc["shiftyspeech:Vocoders/hifigan/youtube/x", "language"] == "und"
    assert (rows["label"] == "spoof").all()


def test_wildsvdd(tmp_path):
    root = tmp_path / "WildSVDD_Data_Sep2024_Processed"
    touch(root, "train/mixture/bonafide_Salibi_1.flac", "train/vocals/bonafide_Salibi_1.flac",
          "test_A/mixture/deepfake_Someone_3.flac", "test_B/vocals/deepfake_Other_12.flac")
    rows = read("wildsvdd", root)
    assert Counter(rows["subset"]) == {"train_mixture": 1, "train_vocals": 1,
                                       "test_A_mixture": 1, "test_B_vocals": 1}
    fake = rows.loc["wildsvdd:test_A/mixture/deepfake_Someone_3"]
    assert (fake["label"], fake["label_raw"], fake["artifact"]) == ("spoof", "deepfake",
                                                                     "unknown")
    assert rows.loc["wildsvdd:train/vocals/bonafide_Salibi_1", "label"] == "bonafide"


def test_codecfake_xie_links_libritts_sources(tmp_path):
    root = tmp_path / "Codecfake"
    (root / "label").mkdir(parents=True)
    (root / "label/train.txt").write_text("84_121123_000007_000001.wav real 0\n"
                                          "F04_84_121123_000007_000001.wav fake 4\n")
    touch(root, "train/84_121123_000007_000001.wav")
    rows = read("codecfake", root)
    fake = rows.loc["codecfake:train/F04_84_121123_000007_000001"]
    assert (fake["source_utt"], fake["speaker"], fake["language"], fake["generator"]) == \
        ("libritts:84_121123_000007_000001", "84", "eng", "codecfake:F04")


# ------------------------------------------------------------------ lineage and usage keys


def test_every_corpus_recipe_declares_lineage_artifacts_and_checks():
    names = builtin_corpus_recipes()
    lineage = {"asvspoof2019_la": {"vctk"}, "wavefake": {"ljspeech", "jsut"},
               "mlaad": {"m_ailabs"}, "asvspoof5": {"mls"}, "libritts_r": {"libritts"},
               "libritts": {"librispeech"}, "spoofceleb": {"voxceleb1"},
               "partialspoof": {"asvspoof2019_la"}, "codecfake_plus": {"vctk"},
               "cvoicefake": {"commonvoice"}, "voxceleb2_vocoded": {"voxceleb2"}}
    for name, sources in lineage.items():
        assert set(load_recipe(name).sources) == sources, name
    for name in names:
        recipe = load_recipe(name)
        if recipe.kind == "generic":
            continue
        assert name not in recipe.sources
        if recipe.kind in ("artifact", "mixed"):
            assert recipe.artifacts, f"{name}: declare the artifact kinds of its spoofs"
        else:
            assert not recipe.artifacts
    # the AntiDeepfake table: 29 databases, each named once
    users = [load_recipe(n).usage("antideepfake") for n in names]
    databases = sorted(u.database for u in users if u is not None)
    assert len(databases) == 29 and len(set(databases)) == 29


def test_spec_keys_are_checked():
    base = 'name = "x"\nfunction = "folder"\n'
    recipe = parse_recipe(base + 'sources = ["vctk"]\nartifacts = ["tts"]\n'
                          'checked = "documentation"\n[used_by.antideepfake]\n'
                          'database = "X"\ntrain = ["train"]\nvalid = ["dev"]\n', "x.toml")
    usage = recipe.usage("antideepfake")
    assert (recipe.sources, recipe.artifacts, recipe.checked) == (("vctk",), ("tts",),
                                                                  "documentation")
    assert (usage.split_of("train"), usage.split_of("dev"), usage.split_of("eval"),
            usage.split_of(None)) == ("train", "valid", None, None)
    everything = parse_recipe(base + f'[used_by.mix]\ntrain = ["{ALL_SUBSETS}"]\n', "x.toml")
    assert everything.usage("mix").split_of(None) == "train"
    bad = {
        'sources = "vctk"\n': r"key 'sources' must be a list",
        'sources = ["VCTK"]\n': r"key 'sources' holds 'VCTK'",
        'sources = ["vctk", "vctk"]\n': r"key 'sources' names 'vctk' twice",
        'checked = "yes"\n': r"key 'checked' is 'yes'; say \"documentation\"",
        'checked = "real file: "\n': r"key 'checked' is",
        '[used_by.antideepfake]\ntrain = ["a"]\nvalid = ["a"]\n': r"both train and valid",
        '[used_by.antideepfake]\ntrain = "a"\n': r"train must be a list",
        '[used_by.antideepfake]\nsplit = ["a"]\n': r"unknown key\(s\) split",
        '[used_by.antideepfake]\ndatabase = "X"\n': r"names no subsets",
    }
    for text, message in bad.items():
        with pytest.raises(CurateError, match=r"x\.toml: .*" + message):
            parse_recipe(base + text, "x.toml")
