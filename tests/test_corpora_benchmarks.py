"""Built-in recipes of spoofing / deepfake corpora, on miniature copies of their layouts.

Each test writes a handful of short files in the corpus's on-disk layout, metadata with
the real columns and quirks, and checks what the recipe reads (through
``engine.read_corpus``; PartialSpoof's segments through ``read_corpus_data``). Where
../shared/realdata holds a real metadata file (ASVspoof 5 README and codec table,
ASVspoof 2021 DF keys README, MLAAD v5 source-tracing protocol), a test reads it too.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_tone
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.corpora.mlaad import mailabs_utt
from curate.recipes.spec import load_recipe

BENCHMARKS = ("asvspoof2021_la", "asvspoof2021_df", "asvspoof5", "in_the_wild", "wavefake",
              "fakeorreal", "codecfake", "spoofceleb", "deepfake_eval_2024", "partialspoof",
              "add2023", "mlaad")


def read(recipe: str, root: Path, **kwargs) -> pd.DataFrame:
    rows = engine.read_corpus(load_recipe(recipe), root, **kwargs)
    assert rows["label"].isin(["bonafide", "spoof"]).all()
    assert rows.loc[rows["label"] == "bonafide", "artifact"].isna().all() or \
        recipe == "wavefake"  # copy-synthesis relabelled bonafide keeps its artifact
    return rows.set_index("utt_id")


def write(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))


def touch(path: Path, data: bytes = b"not decoded by these tests") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_recipes_parse_and_document_themselves():
    for name in BENCHMARKS:
        recipe = load_recipe(name)
        assert recipe.title and recipe.url and recipe.licence and recipe.layout
        assert recipe.obtain and recipe.notes and recipe.languages
        assert recipe.kind in ("mixed", "artifact")


# ------------------------------------------------------------------------ ASVspoof 2021 LA

LA21_KEYS = """\
LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0009 LA_E_5464494 g722 sin_tx A13 spoof notrim progress
LA_0012 LA_E_1000001 none - bonafide bonafide notrim eval
LA_0012 LA_E_1000002 opus loc_tx - bonafide trim hidden
LA_0012 LA_E_1000003 gsm mad_tx A19 spoof notrim eval
"""


def make_asvspoof2021_la(root: Path) -> Path:
    write(root / "LA-keys-full/keys/LA/CM/trial_metadata.txt", LA21_KEYS)
    # The ASV protocol (other columns) and another track's keys lie beside it.
    write(root / "LA-keys-full/keys/LA/ASV/trial_metadata.txt",
          "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval target\n")
    write(root / "DF-keys-full/keys/DF/CM/trial_metadata.txt",
          "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress "
          "traditional_vocoder - - - -\n")
    for i, line in enumerate(LA21_KEYS.splitlines()):
        trial = line.split()[1]
        if trial != "LA_E_1000003":  # one trial without audio
            write_tone(root / f"ASVspoof2021_LA_eval/flac/{trial}.flac", 0.2, seed=i)
    return root


def test_asvspoof2021_la_miniature(tmp_path):
    rows = read("asvspoof2021_la", make_asvspoof2021_la(tmp_path / "LA21"))
    assert len(rows) == 5
    assert Counter(rows["label"]) == {"spoof": 3, "bonafide": 2}
    assert set(rows["label_raw"]) == {"spoof", "bonafide"}
    assert Counter(rows["subset"]) == {"eval": 3, "progress": 1, "hidden": 1}
    a = rows.loc["asvspoof2021_la:LA_E_9332881"]
    assert (a["generator"], a["artifact"], a["codec"], a["codec_quality"]) == \
        ("asvspoof2021_la:A07", "tts", "alaw", "ita_tx")
    assert rows.loc["asvspoof2021_la:LA_E_5464494", "artifact"] == "vc"
    assert rows.loc["asvspoof2021_la:LA_E_1000003", "artifact"] == "vc"  # A19
    bona = rows.loc["asvspoof2021_la:LA_E_1000001"]
    assert pd.isna(bona["generator"]) and pd.isna(bona["codec"])
    assert pd.isna(bona["codec_quality"])
    assert rows.loc["asvspoof2021_la:LA_E_1000002", "codec"] == "opus"
    assert rows.loc["asvspoof2021_la:LA_E_9332881", "path"] == \
        "ASVspoof2021_LA_eval/flac/LA_E_9332881.flac"
    assert rows.loc["asvspoof2021_la:LA_E_1000003", "status"] == "missing"
    assert (rows["language"] == "eng").all()
    assert (rows["source_corpus"] == "asvspoof2019_la").all()
    assert set(rows["speaker"]) == {"LA_0009", "LA_0012"}


def test_asvspoof2021_la_flac_directly_under_root_and_bad_key_line(tmp_path):
    root = tmp_path / "LA21"
    write(root / "keys/CM/trial_metadata.txt", LA21_KEYS)
    write_tone(root / "flac/LA_E_9332881.flac", 0.2)
    rows = read("asvspoof2021_la", root)
    assert rows.loc["asvspoof2021_la:LA_E_9332881", "path"] == "flac/LA_E_9332881.flac"
    assert rows.loc["asvspoof2021_la:LA_E_9332881", "status"] == "pending"

    write(root / "keys/CM/trial_metadata.txt",
          LA21_KEYS + "LA_0012 LA_E_1000009 none - bonafide bonafide eval\n")
    with pytest.raises(CurateError, match=r"keys/CM/trial_metadata\.txt:6: expected 8 "):
        read("asvspoof2021_la", root)
    write(root / "keys/CM/trial_metadata.txt",
          LA21_KEYS.replace("A07 spoof", "A07 spoofed"))
    with pytest.raises(CurateError, match=r"trial_metadata\.txt:1: key 'spoofed'"):
        read("asvspoof2021_la", root)


def test_asvspoof2021_wrong_root_is_one_sentence(tmp_path):
    write_tone(tmp_path / "x/flac/LA_E_1.flac", 0.1)
    with pytest.raises(CurateError, match=r"no keys/CM/trial_metadata\.txt .* check ROOT"):
        read("asvspoof2021_la", tmp_path / "x")
    write(tmp_path / "y/keys/CM/trial_metadata.txt", LA21_KEYS)
    with pytest.raises(CurateError, match=r"no ASVspoof2021_LA_eval/flac/"):
        read("asvspoof2021_la", tmp_path / "y")


# ------------------------------------------------------------------------ ASVspoof 2021 DF

DF21_KEYS = """\
LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -
TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive Task1 team20 FF E
TGF1 DF_E_2000024 mp3m4a vcc2020 Task2-team12 spoof notrim eval traditional_vocoder Task2 team12 FF G
LA_0031 DF_E_2000031 high_ogg asvspoof - bonafide notrim eval bonafide - - - -
TGF1 DF_E_2000032 nocodec vcc2020 - bonafide notrim hidden bonafide - - - -
SF1 DF_E_2000040 high_mp3 vcc2018 N10 spoof notrim eval unknown - - - -
LA_0024 DF_E_2000050 low_mp3 asvspoof A16 spoof notrim eval waveform_concatenation - - - -
"""


def test_asvspoof2021_df_miniature(tmp_path):
    root = tmp_path / "DF21"
    write(root / "DF-keys-full/keys/DF/CM/trial_metadata.txt", DF21_KEYS)
    # The four DF archive parts unpacked side by side: each trial is looked up.
    for i, line in enumerate(DF21_KEYS.splitlines()):
        trial = line.split()[1]
        part = f"ASVspoof2021_DF_eval_part0{i % 2}/ASVspoof2021_DF_eval/flac"
        write_tone(root / part / f"{trial}.flac", 0.2, seed=i)
    rows = read("asvspoof2021_df", root)
    assert len(rows) == 7
    assert Counter(rows["label"]) == {"spoof": 5, "bonafide": 2}
    assert (rows["status"] == "pending").all()  # every trial found in its part
    assert rows.loc["asvspoof2021_df:DF_E_2000013", "path"] == \
        "ASVspoof2021_DF_eval_part01/ASVspoof2021_DF_eval/flac/DF_E_2000013.flac"
    g = rows["generator"]
    assert g["asvspoof2021_df:DF_E_2000011"] == "asvspoof2021_df:A14"
    assert g["asvspoof2021_df:DF_E_2000013"] == "asvspoof2021_df:vcc2020_Task1-team20"
    assert g["asvspoof2021_df:DF_E_2000040"] == "asvspoof2021_df:vcc2018_N10"
    assert g[rows["label"] == "bonafide"].isna().all()
    art = rows["artifact"]
    assert (art["asvspoof2021_df:DF_E_2000011"], art["asvspoof2021_df:DF_E_2000050"],
            art["asvspoof2021_df:DF_E_2000024"]) == ("vc", "tts", "vc")
    src = rows["source_corpus"]
    assert (src["asvspoof2021_df:DF_E_2000011"], src["asvspoof2021_df:DF_E_2000013"],
            src["asvspoof2021_df:DF_E_2000040"]) == ("asvspoof2019_la", "vcc2020", "vcc2018")
    assert rows["source_utt"].isna().all()
    codec = rows[["codec", "codec_quality"]]
    assert tuple(codec.loc["asvspoof2021_df:DF_E_2000013"]) == ("m4a", "low")
    assert tuple(codec.loc["asvspoof2021_df:DF_E_2000031"]) == ("ogg", "high")
    assert codec.loc["asvspoof2021_df:DF_E_2000024", "codec"] == "mp3m4a"
    assert pd.isna(codec.loc["asvspoof2021_df:DF_E_2000024", "codec_quality"])
    assert codec.loc["asvspoof2021_df:DF_E_2000011"].isna().all()
    # Bona fide speech of a German VCC 2020 target speaker is German; converted speech
    # (English content) and everything else English.
    lang = rows["language"]
    assert lang["asvspoof2021_df:DF_E_2000032"] == "deu"
    assert lang["asvspoof2021_df:DF_E_2000024"] == "eng"
    assert (lang.drop("asvspoof2021_df:DF_E_2000032") == "eng").all()
    assert Counter(rows["subset"]) == {"eval": 5, "progress": 1, "hidden": 1}


def test_asvspoof2021_df_layout_of_the_real_keys_readme(realdata, tmp_path):
    """The official DF keys README: CM/trial_metadata.txt holds the CM keys and
    ASV/trial_metadata.txt the ASV protocol; the recipe reads the CM one only."""
    readme = (realdata / "asvspoof2021" / "DF-keys-full.README.txt").read_text()
    folders = re.findall(r"\|-\s+(\w+)\s", readme)
    assert "CM" in folders and "ASV" in folders
    assert re.search(r"CM\s*\n\|\s+\|-\s+trial_metadata\.txt", readme)
    root = tmp_path / "DF21"
    keys = root / "DF-keys-full/keys/DF"
    write(keys / "README.txt", readme)
    write(keys / "CM/trial_metadata.txt", DF21_KEYS)
    write(keys / "ASV/trial_metadata.txt", "LA_0023 DF_E_2000011 target\n")
    write_tone(root / "ASVspoof2021_DF_eval/flac/DF_E_2000011.flac", 0.1)
    rows = read("asvspoof2021_df", root)
    assert len(rows) == 7 and (rows["subset"].isin(["eval", "progress", "hidden"])).all()


# ------------------------------------------------------------------------------ ASVspoof 5

ASV5 = {
    "ASVspoof5.train.tsv": [
        "T_4850 T_0000000000 F - - - - bonafide bonafide -",
        "T_4850 T_0000000001 F - - - AC1 A01 spoof -",
        "T_1271 T_0000000002 M - - - AC2 A05 spoof -"],
    "ASVspoof5.dev.track_1.tsv": [
        "D_4461 D_0000000169 F - - - AC1 A14 spoof -",
        "D_0461 D_0000000190 M - - - - bonafide bonafide -"],
    "ASVspoof5.eval.track_1.tsv": [
        "E_0001 E_0000000001 M - - - - bonafide bonafide -",
        "E_0001 E_0000000002 M C01 3 E_0000000001 - bonafide bonafide -",
        "E_0002 E_0000000003 F C07 5 E_0000000004 AC3 A18 spoof -",
        "E_0002 E_0000000004 F - - - AC3 A18 spoof -",
        "E_0002 E_0000000005 F C11 6 E_0000000004 AC3 A18 spoof -"],
}
FLAC = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E_eval"}


def make_asvspoof5(root: Path, tables: dict[str, list[str]] = ASV5) -> Path:
    for name, lines in tables.items():
        write(root / name, "\n".join(lines) + "\n")
        subset = name.split(".")[1]
        for i, line in enumerate(lines):
            write_tone(root / FLAC[subset] / f"{line.split()[1]}.flac", 0.2, seed=i)
    # Track-2 lists have other columns and are not read.
    write(root / "ASVspoof5.dev.track_2.enroll.tsv", "D_4205 D_A0000000562,D_A0000000898\n")
    write(root / "ASVspoof5.dev.track_2.trial.tsv", "D_4205 D_0000000169 F A14 spoof\n")
    return root


def test_asvspoof5_miniature(tmp_path):
    rows = read("asvspoof5", make_asvspoof5(tmp_path / "ASVspoof5"))
    assert len(rows) == 10
    assert Counter(rows["subset"]) == {"train": 3, "dev": 2, "eval": 5}
    assert Counter(rows["label"]) == {"bonafide": 4, "spoof": 6}
    assert (rows["status"] == "pending").all()
    assert rows.loc["asvspoof5:D_0000000169", "path"] == "flac_D/D_0000000169.flac"
    assert rows.loc["asvspoof5:E_0000000003", "path"] == "flac_E_eval/E_0000000003.flac"
    spoof = rows[rows["label"] == "spoof"]
    assert set(spoof["generator"]) == {"asvspoof5:A01", "asvspoof5:A05", "asvspoof5:A14",
                                       "asvspoof5:A18"}
    assert (spoof["artifact"] == "unknown").all()
    assert rows.loc[rows["label"] == "bonafide", "generator"].isna().all()
    assert rows.loc["asvspoof5:T_0000000002", "gender"] == "male"
    assert rows.loc["asvspoof5:T_0000000000", "gender"] == "female"
    assert rows.loc["asvspoof5:T_0000000000", "speaker"] == "T_4850"
    coded = rows.loc["asvspoof5:E_0000000002"]
    assert (coded["codec"], coded["codec_quality"]) == ("opus_wb", "3")
    assert (coded["source_corpus"], coded["source_utt"]) == \
        ("asvspoof5", "asvspoof5:E_0000000001")
    assert rows.loc["asvspoof5:E_0000000003", "codec"] == "mp3_encodec_wb"
    assert rows.loc["asvspoof5:E_0000000005", "codec"] == "SGA12_bluetooth"
    plain = rows.loc["asvspoof5:E_0000000004"]
    assert pd.isna(plain["codec"]) and pd.isna(plain["source_utt"])
    assert (rows["language"] == "eng").all()


def test_asvspoof5_reports_a_malformed_line(tmp_path):
    tables = dict(ASV5)
    tables["ASVspoof5.train.tsv"] = ASV5["ASVspoof5.train.tsv"] + ["T_1 T_0000000009 F - - -"]
    root = make_asvspoof5(tmp_path / "ASVspoof5", tables)
    with pytest.raises(CurateError, match=r"asvspoof5: reading .* failed: .*"
                                          r"ASVspoof5\.train\.tsv:4: expected 10 columns"):
        read("asvspoof5", root)


def _official_codecs(config: Path) -> list[tuple[str, str, str]]:
    """(ID, CODEC_Q, name) rows of the first table of ASVspoof5.codec.config.csv."""
    out = []
    with open(config, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)  # ID,CODEC,CODEC_Q,Bitrate(kbps)
        for fields in reader:
            if not fields or not fields[0].strip():
                break  # a blank row, then the C7 combination table
            out.append((fields[0].strip(), fields[2].strip(), fields[1].strip()))
    return out


def test_asvspoof5_real_readme_and_codec_table(realdata, tmp_path):
    readme = (realdata / "asvspoof5" / "README.txt").read_text()
    # Audio folders and track-1 protocols as the official README names them.
    assert set(re.findall(r"a new directory (flac_\w+) will be created", readme)) == \
        set(FLAC.values())
    protocols = set(re.findall(r"(ASVspoof5\.[\w.]+\.tsv)", readme))
    track1 = {"ASVspoof5.train.tsv", "ASVspoof5.dev.track_1.tsv", "ASVspoof5.eval.track_1.tsv"}
    assert track1 <= protocols
    codecs = _official_codecs(realdata / "asvspoof5" / "ASVspoof5.codec.config.csv")
    assert len(codecs) == 58 and {c[0] for c in codecs} == {f"C{i}" for i in range(1, 12)}
    # One coded eval trial per (codec, quality) of the official table, plus every other
    # protocol file the README names (track-2 lists: other columns, not read).
    lines = [f"E_0001 E_{i:010d} M {cid} {q} E_9999999999 - bonafide bonafide -"
             for i, (cid, q, _name) in enumerate(codecs)]
    root = tmp_path / "ASVspoof5"
    write(root / "ASVspoof5.eval.track_1.tsv", "\n".join(lines) + "\n")
    write(root / "ASVspoof5.train.tsv", "T_4850 T_0000000000 F - - - - bonafide bonafide -\n")
    write(root / "ASVspoof5.dev.track_1.tsv", "D_0461 D_0000000190 M - - - - bonafide bonafide -\n")
    for name in protocols - track1:
        write(root / name, "D_4205 D_0000000169 F A14 spoof\n")
    rows = read("asvspoof5", root)
    assert len(rows) == 60
    for i, (cid, q, name) in enumerate(codecs):
        row = rows.loc[f"asvspoof5:E_{i:010d}"]
        assert (row["codec"], row["codec_quality"]) == (name, q), (cid, q)


# ------------------------------------------------------------------------------ In-the-Wild


def test_in_the_wild_miniature(tmp_path):
    root = tmp_path / "release_in_the_wild"
    write(root / "meta.csv",
          "file,speaker,label\n"
          "0.wav,Alec Guinness,spoof\n"
          "1.wav,Alec Guinness,bona-fide\n"
          '2.wav,"Martin Luther King, Jr.",bona-fide\n'
          "3.wav,Barack Obama,spoof\n", newline="\r\n")
    for i in range(3):
        write_tone(root / f"{i}.wav", 0.2, seed=i)
    rows = read("in_the_wild", root)
    assert len(rows) == 4
    assert Counter(rows["label"]) == {"spoof": 2, "bonafide": 2}
    assert set(rows["label_raw"]) == {"spoof", "bona-fide"}
    assert rows.loc["in_the_wild:2", "speaker"] == "Martin Luther King, Jr."
    assert rows.loc["in_the_wild:0", "path"] == "0.wav"
    assert rows.loc["in_the_wild:3", "status"] == "missing"
    assert (rows.loc[rows["label"] == "spoof", "artifact"] == "unknown").all()
    assert rows["generator"].isna().all() and (rows["language"] == "eng").all()
    assert rows["subset"].isna().all()


# -------------------------------------------------------------------------------- WaveFake

WAVEFAKE = {
    "ljspeech_melgan": ["LJ001-0001_gen.wav", "LJ001-0002_gen.wav"],
    "ljspeech_hifiGAN": ["LJ001-0001_generated.wav"],
    "ljspeech_waveglow": ["LJ001-0001.wav"],
    "ljspeech_melgan_large": ["LJ001-0003_gen.wav"],
    "jsut_parallel_wavegan": ["BASIC5000_0001_gen.wav"],
    "jsut_multi_band_melgan": ["BASIC5000_0002_gen.wav"],
    "common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech": ["gen_0.wav",
                                                                      "gen_13607.wav"],
}


def make_wavefake(root: Path) -> Path:
    for i, (folder, names) in enumerate(WAVEFAKE.items()):
        for j, name in enumerate(names):
            write_tone(root / folder / name, 0.2, seed=10 * i + j)
    tts = root / "common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech"
    write_tone(tts / "generated/gen_0.wav", 0.2, seed=99)  # duplicate copy: not read
    write(root / "README.txt", "not audio\n")
    return root


def test_wavefake_miniature(tmp_path):
    root = make_wavefake(tmp_path / "generated_audio")
    rows = read("wavefake", root)
    assert len(rows) == 9
    assert (rows["label"] == "spoof").all() and (rows["label_raw"] == "generated").all()
    assert set(rows["generator"]) == {f"wavefake:{f}" for f in WAVEFAKE}
    melgan = rows.loc["wavefake:ljspeech_melgan/LJ001-0001_gen"]
    assert (melgan["artifact"], melgan["source_corpus"], melgan["source_utt"]) == \
        ("copy_synthesis", "ljspeech", "ljspeech:LJ001-0001")
    assert rows.loc["wavefake:ljspeech_hifiGAN/LJ001-0001_generated", "source_utt"] == \
        "ljspeech:LJ001-0001"
    assert rows.loc["wavefake:ljspeech_waveglow/LJ001-0001", "source_utt"] == \
        "ljspeech:LJ001-0001"
    jsut = rows.loc["wavefake:jsut_parallel_wavegan/BASIC5000_0001_gen"]
    assert (jsut["language"], jsut["source_utt"], jsut["speaker"]) == \
        ("jpn", "jsut:BASIC5000_0001", "JSUT")
    tts = rows[rows["generator"].str.contains("conformer")]
    assert len(tts) == 2 and (tts["artifact"] == "tts").all()
    assert tts["source_utt"].isna().all() and (tts["language"] == "eng").all()
    assert (tts["speaker"] == "LJ").all()
    assert Counter(rows["language"]) == {"eng": 7, "jpn": 2}
    assert (rows["gender"] == "female").all() and rows["subset"].isna().all()
    # The label policy decides copy-synthesis, not the recipe: TTS stays spoof.
    policy = read("wavefake", root, restored_label="bonafide")
    copy = policy["artifact"] == "copy_synthesis"
    assert (policy.loc[copy, "label"] == "bonafide").all()
    assert (policy.loc[~copy, "label"] == "spoof").all() and (~copy).sum() == 2


# ---------------------------------------------------------------------------- Fake-or-Real


def test_fakeorreal_miniature(tmp_path):
    root = tmp_path / "for-original"
    for i, rel in enumerate(["training/real/file1.wav", "training/fake/file1.wav",
                             "training/fake/file1.mp3", "validation/real/file2.wav",
                             "testing/fake/file3.wav",
                             "testing/real/file10.mp3.wav_16k.wav_norm.wav_mono.wav_silence.wav"]):
        touch(root / rel)
    touch(root / "training/real/.DS_Store")
    touch(root / "training/notes/readme.wav")
    rows = read("fakeorreal", root)
    assert len(rows) == 6
    assert {"fakeorreal:training/fake/file1.wav", "fakeorreal:training/fake/file1.mp3"} <= \
        set(rows.index)
    assert Counter(rows["subset"]) == {"training": 3, "validation": 1, "testing": 2}
    assert Counter(rows["label"]) == {"bonafide": 3, "spoof": 3}
    assert set(rows["label_raw"]) == {"real", "fake"}
    assert (rows.loc[rows["label"] == "spoof", "artifact"] == "tts").all()
    assert (rows["language"] == "eng").all() and rows["generator"].isna().all()
    assert rows.loc["fakeorreal:training/fake/file1.mp3", "path"] == "training/fake/file1.mp3"


# ------------------------------------------------------------------------------- Codecfake


def test_codecfake_miniature(tmp_path):
    root = tmp_path / "Codecfake"
    write(root / "label/train.txt",
          "SSB13650058.wav real 0\nF01_SSB13650058.wav fake 1 \nF02_SSB13650058.wav fake 2 \n"
          "p225_001.wav real 0\nF03_p225_001.wav fake 3\n")
    write(root / "label/dev.txt", "p226_002.wav real 0\nF06_p226_002.wav fake 6\n")
    write(root / "label/C7.txt", "p227_003.wav real 0\nF07_p227_003.wav fake 7\n")
    write(root / "label/A1.txt", "alm_0001.wav fake 0\np227_003.wav real 0\n")
    for rel in ["train/SSB13650058.wav", "train/F01_SSB13650058.wav",
                "train/F02_SSB13650058.wav", "train/p225_001.wav", "train/F03_p225_001.wav",
                "dev/p226_002.wav", "dev/F06_p226_002.wav", "test/C7/p227_003.wav",
                "test/C7/F07_p227_003.wav", "A1/alm_0001.wav", "A1/p227_003.wav"]:
        touch(root / rel)
    rows = read("codecfake", root)
    assert len(rows) == 11
    assert (rows["status"] == "pending").all()  # test/C7 nested, A1 directly under ROOT
    assert Counter(rows["subset"]) == {"train": 5, "dev": 2, "C7": 2, "A1": 2}
    assert Counter(rows["label"]) == {"bonafide": 5, "spoof": 6}
    assert set(rows["label_raw"]) == {"real", "fake"}
    f01 = rows.loc["codecfake:train/F01_SSB13650058"]
    assert (f01["generator"], f01["artifact"], f01["language"], f01["speaker"]) == \
        ("codecfake:F01", "neural_codec", "cmn", "SSB1365")
    assert (f01["source_corpus"], f01["source_utt"]) == ("aishell3", "aishell3:SSB13650058")
    real = rows.loc["codecfake:train/SSB13650058"]
    assert real["source_utt"] == "aishell3:SSB13650058" and pd.isna(real["generator"])
    vctk = rows.loc["codecfake:C7/F07_p227_003"]
    assert (vctk["language"], vctk["speaker"], vctk["source_utt"], vctk["path"]) == \
        ("eng", "p227", "vctk:p227_003", "test/C7/F07_p227_003.wav")
    alm = rows.loc["codecfake:A1/alm_0001"]
    assert (alm["generator"], alm["artifact"], alm["language"], alm["path"]) == \
        ("codecfake:A1", "tts", "und", "A1/alm_0001.wav")
    assert pd.isna(alm["source_utt"])
    write(root / "label/dev.txt", "p226_002.wav real 0\nF06_p226_002.wav spoof 6\n")
    with pytest.raises(CurateError, match=r"label/dev\.txt:2: label 'spoof'"):
        read("codecfake", root)


# ------------------------------------------------------------------------------ SpoofCeleb


def test_spoofceleb_miniature(tmp_path):
    root = tmp_path / "spoofceleb"
    meta = {
        "train": ["a00/id10001/1zcIwhmdeo4-00001-001.flac,id10001,a00",
                  "a01/id10001/1zcIwhmdeo4-00001-001.flac,id10001,a01",
                  "a02/id10002/Ab-cD_eF-00003-002.flac,id10002,a02"],
        "development": ["a00/id10318/YYsxcZ5saac-00002-006.flac,id10318,a00",
                        "a06/id10318/YYsxcZ5saac-00002-006.flac,id10318,a06"],
        "evaluation": ["a17/id10270/5r0dWxy17C8-00001-001.flac,id10270,a17"],
    }
    for subset, lines in meta.items():
        write(root / f"metadata/{subset}.csv", "file,speaker,attack\n" + "\n".join(lines) + "\n")
        for line in lines:
            touch(root / "flac" / subset / line.split(",")[0])
    rows = read("spoofceleb", root)
    assert len(rows) == 6
    assert Counter(rows["subset"]) == {"train": 3, "development": 2, "evaluation": 1}
    assert Counter(rows["label"]) == {"bonafide": 2, "spoof": 4}
    r = rows.loc["spoofceleb:train/a01/id10001/1zcIwhmdeo4-00001-001"]
    assert (r["generator"], r["artifact"], r["label_raw"], r["speaker"], r["path"]) == \
        ("spoofceleb:a01", "tts", "a01", "id10001",
         "flac/train/a01/id10001/1zcIwhmdeo4-00001-001.flac")
    bona = rows[rows["label"] == "bonafide"]
    assert (bona["label_raw"] == "a00").all() and bona["generator"].isna().all()
    assert (rows["status"] == "pending").all() and (rows["language"] == "und").all()


# ---------------------------------------------------------------------- Deepfake-Eval-2024


def test_deepfake_eval_2024_miniature(tmp_path):
    root = tmp_path / "Deepfake-Eval-2024"
    write(root / "audio-metadata-publish.csv",
          "Filename,Finetuning Set,Ground Truth,Description\n"
          'a1.mp3,Train,Fake,"A politician, cloned"\n'
          "a2.m4a,Test,Real,interview\n"
          "a3.mp4,Train,Real,\n"
          'a4.wav,Test,Fake,"she said ""hi"""\n'
          "a5.wav,,Fake,no split\n")
    for name in ("a1.mp3", "a2.m4a", "a3.mp4", "a4.wav"):
        touch(root / "audio-data" / name)
    rows = read("deepfake_eval_2024", root)
    assert len(rows) == 5
    assert Counter(rows["label"]) == {"spoof": 3, "bonafide": 2}
    assert set(rows["label_raw"]) == {"Fake", "Real"}
    assert Counter(rows["subset"].dropna()) == {"train": 2, "test": 2}
    assert pd.isna(rows.loc["deepfake_eval_2024:a5.wav", "subset"])
    assert rows.loc["deepfake_eval_2024:a3.mp4", "path"] == "audio-data/a3.mp4"
    assert rows.loc["deepfake_eval_2024:a5.wav", "status"] == "missing"
    assert (rows.loc[rows["label"] == "spoof", "artifact"] == "unknown").all()
    assert (rows["language"] == "und").all()
    write(root / "audio-metadata-publish.csv",
          "Filename,Finetuning Set,Ground Truth\na1.mp3,Train,Fake\na2.m4a,Test,Unsure\n")
    with pytest.raises(CurateError, match=r"audio-metadata-publish\.csv:3: Ground Truth "
                                          r"'Unsure'"):
        read("deepfake_eval_2024", root)
    write(root / "audio-metadata-publish.csv", "Filename,Label\na1.mp3,Fake\n")
    with pytest.raises(CurateError, match=r"lacks column\(s\) 'Ground Truth', "
                                          r"'Finetuning Set'"):
        read("deepfake_eval_2024", root)


# ---------------------------------------------------------------------------- PartialSpoof

PS_PROTOCOLS = {
    "train.trn": ["LA_0079 CON_T_0000000 - CON spoof", "LA_0079 LA_T_1138215 - - bonafide"],
    "dev.trl": ["LA_0069 CON_D_0000001 - CON spoof", "LA_0069 LA_D_1000002 - - bonafide"],
    "eval.trl": ["LA_0039 CON_E_0000003 - CON spoof"],
}
PS_RTTM = {
    "train": ("SPEAKER CON_T_0000000 1 0.000 0.810 <NA> <NA> bonafide <NA> <NA>\n"
              "SPEAKER CON_T_0000000 1 0.810 0.42 <NA> <NA> spoof <NA> <NA>\n"
              "SPEAKER CON_T_0000000 1 1.230 0.0 <NA> <NA> spoof <NA> <NA>\n"
              "SPEAKER CON_T_0000000 1 1.230 0.3 <NA> <NA> nonspeech <NA> <NA>\n"
              "SPEAKER LA_T_1138215 1 0.000 1.5 <NA> <NA> bonafide <NA> <NA>\n"),
    "dev": "SPEAKER CON_D_0000001 1 0.25 0.5 <NA> <NA> spoof <NA> <NA>\n",
}


def make_partialspoof(root: Path) -> Path:
    proto = root / "protocols/PartialSpoof_LA_cm_protocols"
    for name, lines in PS_PROTOCOLS.items():
        write(proto / f"PartialSpoof.LA.cm.{name}.txt", "\n".join(lines) + "\n")
        subset = name.split(".")[0]
        for i, line in enumerate(lines):
            write_tone(root / subset / "con_wav" / f"{line.split()[1]}.wav", 0.3, seed=i)
    for subset, text in PS_RTTM.items():
        write(root / subset / "con_data/rttm_2cls_0sil", text)
    return root


def test_partialspoof_rows_and_segments(tmp_path):
    root = make_partialspoof(tmp_path / "database")
    data = engine.read_corpus_data(load_recipe("partialspoof"), root)
    rows = data.rows.set_index("utt_id")
    assert len(rows) == 5
    assert Counter(rows["subset"]) == {"train": 2, "dev": 2, "eval": 1}
    spoof = rows[rows["label"] == "spoof"]
    assert (spoof["artifact"] == "partial").all()
    assert (spoof["generator"] == "partialspoof:CON").all()
    bona = rows.loc["partialspoof:LA_T_1138215"]
    assert (bona["source_corpus"], bona["source_utt"]) == \
        ("asvspoof2019_la", "asvspoof2019_la:LA_T_1138215")
    assert pd.isna(rows.loc["partialspoof:CON_T_0000000", "source_utt"])
    assert rows.loc["partialspoof:CON_D_0000001", "path"] == "dev/con_wav/CON_D_0000001.wav"
    assert (rows["status"] == "pending").all() and (rows["language"] == "eng").all()
    seg = data.segments
    assert list(seg.columns) == ["utt_id", "start_s", "end_s", "label"]
    assert len(seg) == 4  # zero-length and non-speech lines are not segments
    con = seg[seg["utt_id"] == "partialspoof:CON_T_0000000"]
    assert list(con["label"]) == ["bonafide", "spoof"]
    assert con["start_s"].tolist() == [0.0, 0.81]
    assert con["end_s"].tolist() == pytest.approx([0.81, 1.23])
    assert seg[seg["utt_id"] == "partialspoof:CON_D_0000001"][["start_s", "end_s"]
                                                             ].values.tolist() == [[0.25, 0.75]]
    assert not seg["utt_id"].str.contains("CON_E").any()  # eval has no RTTM here

    write(root / "train/con_data/rttm_2cls_0sil",
          PS_RTTM["train"] + "SPEAKER CON_T_0000000 1 abc 0.3 <NA> <NA> spoof <NA> <NA>\n")
    with pytest.raises(CurateError, match=r"rttm_2cls_0sil:6: 'abc' is not a time"):
        engine.read_corpus_data(load_recipe("partialspoof"), root)


def test_partialspoof_prepare_and_stats_through_the_cli(tmp_path, run_cli):
    root = make_partialspoof(tmp_path / "database")
    db = tmp_path / "c.duckdb"
    code, out, err = run_cli("prepare", "partialspoof", root, "--db", db)
    assert code == 0, err
    assert "5 utterances (2 bonafide, 3 spoof)" in out and "ok 5" in out
    with open_catalog(db, read_only=True) as catalog:
        n_segments = catalog.execute("SELECT count(*) FROM segments").fetchone()[0]
        ok = catalog.execute("SELECT count(*) FROM utterances WHERE status = 'ok' "
                             "AND duration_s BETWEEN 0.29 AND 0.31").fetchone()[0]
    assert (n_segments, ok) == (4, 5)
    code, out, err = run_cli("stats", "--db", db, "--by", "corpus,subset,label,artifact",
                             "--json")
    assert code == 0, err
    stats = pd.DataFrame(json.loads(out))
    assert set(stats["corpus"]) == {"partialspoof"}
    spoof = stats[stats["label"] == "spoof"]
    assert set(spoof["artifact"]) == {"partial"} and set(stats["subset"]) == \
        {"train", "dev", "eval"}


# --------------------------------------------------------------------------------- ADD 2023


def test_add2023_track1_partition(tmp_path):
    root = tmp_path / "ADD2023/Track1.2/testR2"
    write(root / "label.txt",
          "ADD2023_T1.2R2_E_00000003.wav genuine\nADD2023_T1.2R2_E_00000004.wav fake\n"
          "ADD2023_T1.2R2_E_00000005.wav fake\n")
    write(root / "log.txt", "not a label file\n")
    for n in (3, 4, 5):
        touch(root / f"wav/ADD2023_T1.2R2_E_0000000{n}.wav")
    rows = read("add2023", root)
    assert len(rows) == 3 and (rows["subset"] == "testR2").all()
    assert Counter(rows["label"]) == {"bonafide": 1, "spoof": 2}
    assert set(rows["label_raw"]) == {"genuine", "fake"}
    assert rows.loc["add2023:ADD2023_T1.2R2_E_00000004", "path"] == \
        "wav/ADD2023_T1.2R2_E_00000004.wav"
    assert (rows["language"] == "cmn").all() and (rows["status"] == "pending").all()


# ------------------------------------------------------------------------------------ MLAAD

MLAAD_HEADER = ("path|original_file|language|is_original_language|duration|training_data|"
                "model_name|architecture|transcript")


def test_mlaad_miniature(tmp_path):
    root = tmp_path / "mlaad_v5"
    de = root / "fake/de/tts_models_multilingual_multi-dataset_xtts_v1.1"
    write(de / "meta.csv", MLAAD_HEADER + "\n"
          "./fake/de/tts_models_multilingual_multi-dataset_xtts_v1.1/grune_haus_01_f000001.wav|"
          "de_DE/by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f000001.wav|de|True|2.1|"
          "multi|tts_models/multilingual/multi-dataset/xtts_v1.1|xtts|Das grüne Haus.\n"
          "./fake/de/tts_models_multilingual_multi-dataset_xtts_v1.1/grune_haus_01_f000002.wav|"
          "./M-AILABS/de_DE/by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f000002.wav|de|"
          'True|1.4|multi|tts_models/multilingual/multi-dataset/xtts_v1.1|xtts|"Ja", sagte sie | '
          "leise.\n")
    zh = root / "fake/zh-cn/facebook_mms-tts-cmn"
    write(zh / "meta.csv", MLAAD_HEADER + "\n"
          "./fake/zh/facebook_mms-tts-cmn/jane_eyre_18_f000002.wav|"
          "en_US/by_book/female/judy_bieber/jane_eyre/wavs/jane_eyre_18_f000002.wav|zh-cn|"
          "False|3.0|x|facebook/mms-tts-cmn|vits|简体中文。\n", newline="\r\n")
    for folder, name in ((de, "grune_haus_01_f000001.wav"), (de, "grune_haus_01_f000002.wav"),
                         (zh, "jane_eyre_18_f000002.wav")):
        write_tone(folder / name, 0.2)
    rows = read("mlaad", root)
    assert len(rows) == 3 and (rows["status"] == "pending").all()
    assert (rows["label"] == "spoof").all() and (rows["artifact"] == "tts").all()
    first = rows.loc["mlaad:fake/de/tts_models_multilingual_multi-dataset_xtts_v1.1/"
                     "grune_haus_01_f000001"]
    assert first["generator"] == "mlaad:tts_models/multilingual/multi-dataset/xtts_v1.1"
    assert (first["source_corpus"], first["source_utt"]) == (
        "m_ailabs", "m_ailabs:de_DE/by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f000001")
    assert first["language"] == "deu" and first["transcript"] == "Das grüne Haus."
    second = rows.loc["mlaad:fake/de/tts_models_multilingual_multi-dataset_xtts_v1.1/"
                      "grune_haus_01_f000002"]
    assert second["source_utt"].endswith("de_DE/by_book/female/eva_k/grune_haus/wavs/"
                                         "grune_haus_01_f000002")
    assert second["transcript"] == '"Ja", sagte sie | leise.'
    chinese = rows.loc["mlaad:fake/zh-cn/facebook_mms-tts-cmn/jane_eyre_18_f000002"]
    assert chinese["path"] == "fake/zh-cn/facebook_mms-tts-cmn/jane_eyre_18_f000002.wav"
    assert (chinese["language"], chinese["generator"]) == ("cmn", "mlaad:facebook/mms-tts-cmn")
    assert chinese["source_utt"] == \
        "m_ailabs:en_US/by_book/female/judy_bieber/jane_eyre/wavs/jane_eyre_18_f000002"
    assert rows["speaker"].isna().all() and rows["subset"].isna().all()

    write(de / "meta.csv", "path|language\nx.wav|de\n")
    with pytest.raises(CurateError, match=r"meta\.csv: the header lacks column\(s\) "
                                          r"original_file, model_name"):
        read("mlaad", root)


def test_mlaad_source_ids_match_the_m_ailabs_recipe(tmp_path):
    """source_utt of MLAAD rows equals the utt_id the m_ailabs recipe gives the file."""
    root = tmp_path / "m_ailabs"
    book = root / "de_DE/by_book/female/eva_k/grune_haus"
    write(book / "metadata.csv", "grune_haus_01_f000001|Das Haus.|Das Haus.\n")
    write_tone(book / "wavs/grune_haus_01_f000001.wav", 0.2)
    ids = set(engine.read_corpus(load_recipe("m_ailabs"), root)["utt_id"])
    assert mailabs_utt("de_DE/by_book/female/eva_k/grune_haus/wavs/"
                       "grune_haus_01_f000001.wav") in ids
    assert mailabs_utt("/data/M-AILABS/de_DE/by_book/female/eva_k/grune_haus/wavs/"
                       "grune_haus_01_f000001.wav") in ids
    assert mailabs_utt("") is None and mailabs_utt("some/other/file.wav") is None


def test_mlaad_real_source_tracing_protocol(realdata, tmp_path):
    """The official MLAAD v5 source-tracing protocol (path,model_name): a miniature
    copy with two files per model folder reads back the same paths and models."""
    protocol = pd.read_csv(realdata / "mlaad_v5_source_tracing" / "train.csv", dtype=str)
    sample = protocol.groupby(protocol["path"].str.rsplit("/", n=1).str[0]).head(2)
    assert sample["path"].str.contains(r"_v1\.1/").any()  # folder names with dots
    root = tmp_path / "mlaad_v5"
    for folder, group in sample.groupby(sample["path"].str.rsplit("/", n=1).str[0]):
        language = folder.split("/")[2]
        lines = [MLAAD_HEADER]
        for path, model in zip(group["path"], group["model_name"]):
            stem = path.rsplit("/", 1)[1][:-4]
            book = stem.rsplit("_f", 1)[0]
            lines.append(f"{path}|en_US/by_book/female/judy_bieber/{book}/wavs/{stem}.wav|"
                         f"{language}|False|2.0|x|{model}|arch|A sentence.")
        write(root / folder.removeprefix("./") / "meta.csv", "\n".join(lines) + "\n")
    rows = engine.read_corpus(load_recipe("mlaad"), root)
    assert len(rows) == len(sample)
    got = dict(zip(rows["path"], rows["generator"]))
    expected = {p.removeprefix("./"): "mlaad:" + m
                for p, m in zip(sample["path"], sample["model_name"])}
    assert got == expected
    assert rows["language"].isin(["eng", "fra", "deu", "pol", "ita", "kor", "lit",
                                  "ara"]).all()
    assert rows["source_utt"].str.startswith("m_ailabs:en_US/by_book/").all()
