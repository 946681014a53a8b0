"""Recipes read against real metadata files (../shared/realdata, skipped where absent).

Each test builds a miniature corpus in the real on-disk layout from a real metadata
file: the file verbatim (or a verbatim subset of its lines), audio generated with
``write_tone`` for a few utterances (the rest are rows marked missing: nothing is
dropped). It then checks what the recipe reads against the facts the realdata README
lists: labels, speakers, genders, languages, transcripts verbatim, generators,
subsets and source links.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_tone
from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.spec import builtin_corpus_recipes, load_recipe


def read(recipe: str, root: Path) -> pd.DataFrame:
    rows = engine.read_corpus(load_recipe(recipe), root)
    assert rows["label"].isin(["bonafide", "spoof"]).all()
    return rows.set_index("utt_id")


def copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ------------------------------------------------------------------------ ASVspoof 2019 LA


@pytest.mark.parametrize("name, subset, bona, spoof", [
    ("ASVspoof2019.LA.cm.train.trn.txt", "train", 2580, 22800),
    ("ASVspoof2019.LA.cm.dev.trl.txt", "dev", 2548, 22296)])
def test_asvspoof2019_la_real_protocols(realdata, tmp_path, name, subset, bona, spoof):
    source = realdata / "asvspoof2019_la" / name
    root = tmp_path / "LA"
    copy(source, root / "ASVspoof2019_LA_cm_protocols" / name)
    fields = [line.split() for line in lines_of(source)]
    first = fields[0][1]
    write_tone(root / f"ASVspoof2019_LA_{subset}/flac/{first}.flac", 0.2)
    rows = read("asvspoof2019_la", root)
    assert Counter(rows["label"]) == {"bonafide": bona, "spoof": spoof}
    assert (rows["subset"] == subset).all()
    generators = Counter(rows["generator"].dropna())
    assert set(generators) == {f"asvspoof2019_la:A0{i}" for i in range(1, 7)}
    assert set(generators.values()) == {spoof // 6}  # 3,800 (train) / 3,716 (dev) each
    assert rows["speaker"].nunique() == 20
    # the attack id is column 4 (the README numbers it otherwise); '-' for bona fide
    expected = {f"asvspoof2019_la:{f[1]}": f for f in fields}
    for utt, row in rows.sample(200, random_state=0).iterrows():
        f = expected[utt]
        assert (row["speaker"], row["label_raw"]) == (f[0], f[4])
        assert (row["generator"] if f[4] == "spoof" else "-") == (
            f"asvspoof2019_la:{f[3]}" if f[4] == "spoof" else f[3])
    assert rows.loc[rows["label"] == "bonafide", "artifact"].isna().all()
    assert set(rows.loc[rows["label"] == "spoof", "artifact"]) == {"tts", "vc"}
    assert (rows["language"] == "eng").all()
    assert rows.loc[f"asvspoof2019_la:{first}", "status"] == "pending"
    assert (rows.drop(index=f"asvspoof2019_la:{first}")["status"] == "missing").all()
    readme = (realdata / "asvspoof2019_la" / "README.LA.txt").read_text()
    assert name in readme


# ---------------------------------------------------------------------------------- VCTK


def test_vctk_real_speaker_info_and_transcript(realdata, tmp_path):
    root = tmp_path / "VCTK-Corpus-0.92"
    copy(realdata / "vctk/speaker-info.txt", root / "speaker-info.txt")
    copy(realdata / "vctk/p225_001.txt", root / "txt/p225/p225_001.txt")
    table = [line.split() for line in lines_of(realdata / "vctk/speaker-info.txt")[1:]]
    assert len(table) == 109
    for i, fields in enumerate(table):  # one file per speaker, ids as the audio names them
        write_tone(root / f"wav48_silence_trimmed/p{fields[0]}/p{fields[0]}_001_mic1.flac",
                   0.1, seed=i)
    write_tone(root / "wav48_silence_trimmed/p225/p225_001_mic2.flac", 0.1, seed=999)
    rows = read("vctk", root)
    assert len(rows) == 110 and rows["speaker"].nunique() == 109
    genders = {f"p{f[0]}": {"F": "female", "M": "male"}[f[2]] for f in table}
    assert rows.groupby("speaker")["gender"].first().to_dict() == genders
    assert Counter(genders.values()) == {"female": 62, "male": 47}
    # the real transcript verbatim, for both microphones of p225_001
    text = (realdata / "vctk/p225_001.txt").read_text().strip()
    assert rows.loc["vctk:p225_001_mic1", "transcript"] == text == "Please call Stella."
    assert rows.loc["vctk:p225_001_mic2", "transcript"] == text
    assert rows.drop(index=["vctk:p225_001_mic1", "vctk:p225_001_mic2"])[
        "transcript"].isna().all()
    assert (rows["language"] == "eng").all() and rows["subset"].isna().all()


# ------------------------------------------------------------------------------ LJSpeech


def test_ljspeech_real_metadata(realdata, tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    copy(realdata / "ljspeech/metadata.csv", root / "metadata.csv")
    write_tone(root / "wavs/LJ001-0001.wav", 0.2, sample_rate=22050)
    rows = read("ljspeech", root)
    fields = [line.split("|") for line in lines_of(realdata / "ljspeech/metadata.csv")]
    assert len(rows) == len(fields) == 13100
    quoted = [f for f in fields if '"' in f[1] or '"' in f[2]]
    assert len(quoted) == 523
    for f in fields:  # every transcript verbatim: the normalized text, quotes included
        assert rows.loc[f"ljspeech:{f[0]}", "transcript"] == (f[2] or f[1])
    assert set(rows["speaker"]) == {"LJ"} and set(rows["gender"]) == {"female"}
    assert set(rows["language"]) == {"eng"} and rows["subset"].isna().all()
    assert rows.loc["ljspeech:LJ001-0001", "status"] == "pending"
    assert "Linda Johnson" in (realdata / "ljspeech/README").read_text()


# --------------------------------------------------------------------------- LibriSpeech


def test_librispeech_real_speakers_and_transcript(realdata, tmp_path):
    root = tmp_path / "LibriSpeech"
    copy(realdata / "librispeech/SPEAKERS.TXT", root / "SPEAKERS.TXT")
    trans = copy(realdata / "librispeech/1272-128104.trans.txt",
                 root / "dev-clean/1272/128104/1272-128104.trans.txt")
    write_tone(root / "dev-clean/1272/128104/1272-128104-0000.flac", 0.2)
    rows = read("librispeech", root)
    lines = lines_of(trans)
    assert len(rows) == len(lines) == 15
    for line in lines:
        utt, text = line.split(" ", 1)
        row = rows.loc[f"librispeech:{utt}"]
        assert row["transcript"] == text
        assert (row["speaker"], row["gender"], row["subset"]) == ("1272", "male", "dev-clean")
    assert Counter(rows["status"]) == {"pending": 1, "missing": 14}

    from curate.recipes.corpora.librispeech import speaker_genders

    genders = speaker_genders(root / "SPEAKERS.TXT")
    assert len(genders) == 2484
    assert Counter(genders.values()) == {"female": 1201, "male": 1283}
    assert genders["60"] == "male"  # reader 60's name lost its pipes in this copy
    readers = [line.split("|") for line in lines_of(root / "SPEAKERS.TXT")
               if not line.startswith(";")]
    assert Counter(f[2].strip() for f in readers) == {
        "train-other-500": 1166, "train-clean-360": 921, "train-clean-100": 251,
        "dev-clean": 40, "test-clean": 40, "dev-other": 33, "test-other": 33}


# ----------------------------------------------------------------------------- AISHELL-3


def test_aishell3_real_speaker_info_and_content(realdata, tmp_path):
    root = tmp_path / "data_aishell3"
    copy(realdata / "aishell3/spk-info.txt", root / "spk-info.txt")
    content = copy(realdata / "aishell3/content_sample.txt", root / "train/content.txt")
    write_tone(root / "train/wav/SSB0139/SSB01390001.wav", 0.2, sample_rate=44100)
    rows = read("aishell3", root)
    lines = lines_of(content)
    assert len(rows) == len(lines) == 476
    for line in lines:
        name, annotated = line.split("\t")
        tokens = annotated.split()
        row = rows.loc[f"aishell3:{name[:-4]}"]
        assert row["transcript"] == "".join(tokens[0::2])  # characters, pinyin dropped
        assert row["path"] == f"train/wav/SSB0139/{name}"
    assert set(rows["speaker"]) == {"SSB0139"} and set(rows["gender"]) == {"male"}
    assert rows.loc["aishell3:SSB01390001", "transcript"] == "我知道你不习惯"
    assert (rows["language"] == "cmn").all() and (rows["subset"] == "train").all()

    from curate.recipes.corpora.aishell3 import speaker_genders

    genders = speaker_genders(root / "spk-info.txt")  # '#' lines, a blank line, 'female '
    assert len(genders) == 218
    assert Counter(genders.values()) == {"female": 176, "male": 42}
    # the ReadMe names the file spk_info.txt; the archive holds spk-info.txt
    assert "spk_info.txt" in (realdata / "aishell3/ReadMe.txt").read_text()
    shutil.move(root / "spk-info.txt", root / "spk_info.txt")
    assert set(read("aishell3", root)["gender"]) == {"male"}


# ----------------------------------------------------------------------------- VoxCeleb2


def test_voxceleb2_real_meta_with_bom_and_trailing_spaces(realdata, tmp_path):
    root = tmp_path / "voxceleb2"
    meta = copy(realdata / "voxceleb2/vox2_meta.csv", root / "vox2_meta.csv")
    raw = meta.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"id00012 ,n000012 ,m ,dev " in raw
    write_tone(root / "dev/aac/id00012/21Uxsk56VDQ/00001.wav", 0.2)
    write_tone(root / "test/aac/id09272/abcdefghijk/00001.wav", 0.2, seed=1)
    rows = read("voxceleb2", root)
    assert list(rows.index) == ["voxceleb2:id00012/21Uxsk56VDQ/00001",
                                "voxceleb2:id09272/abcdefghijk/00001"]
    assert list(rows["gender"]) == ["male", "male"] and list(rows["subset"]) == ["dev", "dev"]

    from curate.recipes.corpora.voxceleb1 import speakers

    table = speakers(root, "vox2_meta.csv", ["id", "vggface_id", "gender", "set"])
    assert len(table) == 6114 and Counter(table["set"]) == {"dev": 5994, "test": 120}
    assert set(table["gender"]) == {"male", "female"}
    assert table.index.str.match(r"^id\d{5}$").all()  # no BOM, no trailing space left


# ----------------------------------------------------------------------------- M-AILABS


def test_m_ailabs_real_book_csv_and_json(realdata, tmp_path):
    source = realdata / "m_ailabs/en_US/by_book"
    book = "female/judy_bieber/dorothy_and_wizard_oz"
    root = tmp_path / "m-ailabs"
    target = root / "en_US/by_book"
    for rel in ("info.txt", "female/judy_bieber/info.txt", "male/elliot_miller/info.txt",
                f"{book}/metadata.csv", f"{book}/metadata_mls.json"):
        copy(source / rel, target / rel)
    write_tone(target / book / "wavs/dorothy_and_wizard_oz_01_f000001.wav", 0.2)
    rows = read("m_ailabs", root)
    fields = [line.split("|") for line in lines_of(source / book / "metadata.csv")]
    assert len(rows) == len(fields) == 2046
    prefix = f"m_ailabs:en_US/by_book/{book}/wavs/"
    for f in fields:  # ids without .wav in the CSV; transcript = the clean text verbatim
        row = rows.loc[prefix + f[0]]  # (but for blanks around it: one line starts with one)
        assert row["transcript"] == (f[2].strip() or f[1].strip())
        assert row["path"] == f"en_US/by_book/{book}/wavs/{f[0]}.wav"
    assert set(rows["speaker"]) == {"judy_bieber"} and set(rows["gender"]) == {"female"}
    assert set(rows["language"]) == {"eng"} and rows["subset"].isna().all()

    # The same book described by metadata_mls.json only (ids with .wav, unordered):
    # the same ids and transcripts.
    (target / book / "metadata.csv").unlink()
    from_json = read("m_ailabs", root)
    assert sorted(from_json.index) == sorted(rows.index)
    pd.testing.assert_series_equal(from_json["transcript"].sort_index(),
                                   rows["transcript"].sort_index())
    clean = json.loads((source / book / "metadata_mls.json").read_text())
    assert all(name.endswith(".wav") for name in clean)

    # The speaker is the folder name: info.txt spells the same reader "Eliot".
    assert "Eliot Miller" in (source / "male/elliot_miller/info.txt").read_text()
    assert "Elliot Miller" in (source / "info.txt").read_text()


# ----------------------------------------------------------------------- Common Voice (old)


def test_commonvoice_old_schema_real_tsv(realdata, tmp_path):
    locale = tmp_path / "cv-corpus-5.1-2020-06-22" / "tr"
    tsv = copy(realdata / "commonvoice_tr_oldschema/validated.tsv", locale / "validated.tsv")
    header, *body = [line.split("\t") for line in lines_of(tsv)]
    assert header == ["client_id", "path", "sentence", "up_votes", "down_votes", "age",
                      "gender", "accent"]
    first = body[0][1]
    assert "." not in first  # a bare hash: the clip is clips/<hash>.mp3
    rows = read("commonvoice", tmp_path / "cv-corpus-5.1-2020-06-22")
    assert len(rows) == len(body) == 8791
    row = rows.loc[f"commonvoice:tr/{first}"]
    assert row["path"] == f"tr/clips/{first}.mp3" and row["subset"] == "validated"
    assert row["speaker"] == body[0][0] and row["transcript"] == body[0][2]
    quoted = [f for f in body if '"' in f[2]]
    assert len(quoted) == 1118
    for f in quoted:  # sentences with quotes, verbatim (read with quoting off)
        assert rows.loc[f"commonvoice:tr/{f[1]}", "transcript"] == f[2]
    assert Counter(rows["gender"].fillna("<null>")) == {"male": 6274, "female": 1019,
                                                        "<null>": 1498}
    assert (rows["language"] == "tur").all() and (rows["status"] == "missing").all()


# ------------------------------------------------------------------------- PartialSpoof


def test_partialspoof_real_lists(realdata, tmp_path):
    root = tmp_path / "database"
    for subset in ("train", "dev"):
        copy(realdata / f"partialspoof/{subset}.lst", root / f"{subset}/con_data/{subset}.lst")
    write_tone(root / "train/con_wav/CON_T_0000000.wav", 0.2)
    rows = read("partialspoof", root)
    counts = rows.groupby(["subset", "label"]).size().to_dict()
    assert counts == {("dev", "bonafide"): 2548, ("dev", "spoof"): 22296,
                      ("train", "bonafide"): 2580, ("train", "spoof"): 22800}
    spoof = rows[rows["label"] == "spoof"]
    assert spoof.index.str.match(r"^partialspoof:CON_[TD]_\d{7}$").all()
    assert (spoof["artifact"] == "partial").all() and spoof["source_utt"].isna().all()
    bona = rows[rows["label"] == "bonafide"]
    assert (bona["source_utt"] == "asvspoof2019_la:" + bona.index.str.slice(13)).all()
    assert (rows["source_corpus"] == "asvspoof2019_la").all()
    assert rows.loc["partialspoof:CON_T_0000000", "path"] == "train/con_wav/CON_T_0000000.wav"
    # the bona fide ids are the ASVspoof 2019 LA ids: each is bona fide in that protocol
    for subset, name in (("train", "ASVspoof2019.LA.cm.train.trn.txt"),
                         ("dev", "ASVspoof2019.LA.cm.dev.trl.txt")):
        protocol = [line.split() for line in
                    lines_of(realdata / "asvspoof2019_la" / name)]
        bona_2019 = {f"asvspoof2019_la:{f[1]}" for f in protocol if f[4] == "bonafide"}
        assert set(bona.loc[bona["subset"] == subset, "source_utt"]) == bona_2019

    # A list holding an id of another shape is reported with its line.
    with open(root / "dev/con_data/dev.lst", "a") as handle:
        handle.write("LA_D_1 extra\n")
    with pytest.raises(CurateError, match=r"dev\.lst:24845: "):
        read("partialspoof", root)


# ------------------------------------------------------------------- ASVspoof 2021 README


def test_asvspoof2021_key_columns_of_the_real_readme(realdata, tmp_path):
    """The organisers' README gives the first key line of LA and DF; the recipes read
    those lines with the columns and codec names the README explains."""
    readme = (realdata / "asvspoof2021/eval-package/README.md").read_text()
    la_line = re.search(r"^(LA_0009 LA_E_9332881 .*)$", readme, re.MULTILINE).group(1)
    df_line = re.search(r"^(LA_0023 DF_E_2000011 .*)$", readme, re.MULTILINE).group(1)
    assert len(la_line.split()) == 8 and len(df_line.split()) == 13
    codecs = dict(re.findall(r"\* `(\w+)`\s*: ((?:LA|DF)-C\d)", readme))
    assert len(codecs) == 16
    for track, line in (("la", la_line), ("df", df_line)):
        root = tmp_path / track
        (root / "keys/CM").mkdir(parents=True)
        (root / "keys/CM/trial_metadata.txt").write_text(line + "\n")
        trial = line.split()[1]
        write_tone(root / f"ASVspoof2021_{track.upper()}_eval/flac/{trial}.flac", 0.1)
        row = read(f"asvspoof2021_{track}", root).iloc[0]
        assert (row["label"], row["subset"], row["status"]) == ("spoof", line.split()[7],
                                                                 "pending")
        assert row["generator"] == f"asvspoof2021_{track}:{line.split()[4]}"
        assert row["speaker"] == line.split()[0] and row["source_corpus"] == "asvspoof2019_la"
        # every codec condition the README lists, one trial each
        fields = line.split()
        names = [c for c, cond in codecs.items() if cond[:2] == track.upper()]
        keys = [" ".join(fields[:1] + [f"{trial}{i}", codec] + fields[3:])
                for i, codec in enumerate(names)]
        (root / "keys/CM/trial_metadata.txt").write_text("\n".join(keys) + "\n")
        coded = read(f"asvspoof2021_{track}", root)
        got = dict(zip(coded.index.str.split(":").str[1].str.slice(len(trial)).astype(int),
                       zip(coded["codec"].fillna("-"), coded["codec_quality"].fillna("-"))))
        if track == "la":
            assert [got[i][0] for i in range(len(names))] == ["-"] + names[1:]  # none
            assert {q for _c, q in got.values()} == {"ita_tx"}  # the transmission
        else:
            assert [got[i] for i in range(len(names))] == [
                ("-", "-"), ("mp3", "low"), ("mp3", "high"), ("m4a", "low"), ("m4a", "high"),
                ("ogg", "low"), ("ogg", "high"), ("mp3m4a", "-"), ("oggm4a", "-")]
    la = read("asvspoof2021_la", tmp_path / "la")
    assert set(la["artifact"]) == {"tts"}  # A07
    df = read("asvspoof2021_df", tmp_path / "df")
    assert set(df["artifact"]) == {"vc"}  # A14


# ------------------------------------------------------------ which recipes were checked


def test_checked_says_real_file_exactly_where_a_test_reads_one():
    real = {name for name in builtin_corpus_recipes()
            if load_recipe(name).checked.startswith("real file: ")}
    assert {"asvspoof2019_la", "vctk", "ljspeech", "librispeech", "aishell3", "voxceleb1",
            "voxceleb2", "m_ailabs", "commonvoice", "partialspoof", "asvspoof2021_la",
            "asvspoof2021_df", "asvspoof5", "mlaad", "codecfake_plus"} == real
    for name in builtin_corpus_recipes():
        recipe = load_recipe(name)
        if recipe.kind != "generic":
            assert recipe.checked, f"{name}: say what the recipe was checked against"


# ----------------------------------------------------------------------------- CodecFake+


def test_codecfake_plus_real_protocols(realdata, tmp_path):
    source = realdata / "codecfake_plus"
    root = tmp_path / "CodecFake+"
    for rel in ("training/dev_mult_learn.txt", "training/test_mult_learn.txt",
                "evaluation/CoSG_ALL.txt", "evaluation/CoSG_SEEN.txt"):
        copy(source / rel, root / "metadata" / rel)
    write_tone(root / "all_data_16k/p226_261.wav", 0.2)
    write_tone(root / "SLMdemos_16k/VIOLA/audios_entts_ref_14.flac", 0.2, seed=1)
    rows = read("codecfake_plus", root)
    dev = [line.split() for line in lines_of(source / "training/dev_mult_learn.txt")]
    test = [line.split() for line in lines_of(source / "training/test_mult_learn.txt")]
    cosg = [line.split() for line in lines_of(source / "evaluation/CoSG_ALL.txt")]
    assert Counter(len(f) for f in cosg) == {4: 221, 5: 1576}  # 4- and 5-field lines mixed
    assert len(rows) == len(dev) + len(test) + len(cosg)  # CoSG_SEEN lies inside CoSG_ALL
    counts = rows.groupby(["subset", "label"]).size().to_dict()
    assert counts == {("cosg", "bonafide"): 866, ("cosg", "spoof"): 931,
                      ("dev", "bonafide"): 735, ("dev", "spoof"): 735,
                      ("test", "bonafide"): 755, ("test", "spoof"): 755}
    for f in dev[:50] + test[-50:]:
        row = rows.loc[f"codecfake_plus:{f[1]}"]
        assert (row["speaker"], row["label_raw"]) == (f[0], f[6])
        assert row["source_utt"] == "vctk:" + "_".join(f[1].split("_")[:2])
        if f[6] == "spoof":
            codec = f[1].split("_", 2)[2]
            assert row["generator"] == f"codecfake_plus:{codec}"
            assert row["artifact"] == "neural_codec"
        else:
            assert pd.isna(row["generator"]) and f[3:6] == ["REAL", "REAL", "REAL"]
    assert rows.loc["codecfake_plus:p226_261_FunCodec_en-libritts-16k-gr1nq32ds320",
                    "generator"] == "codecfake_plus:FunCodec_en-libritts-16k-gr1nq32ds320"
    cors = rows[rows["subset"] != "cosg"]
    assert (cors["source_corpus"] == "vctk").all() and (cors["language"] == "eng").all()
    assert cors["generator"].nunique() > 30
    viola = rows.loc["codecfake_plus:cosg/VIOLA/audios_entts_ref_14"]
    assert (viola["label"], viola["path"], viola["status"]) == (
        "bonafide", "SLMdemos_16k/VIOLA/audios_entts_ref_14.flac", "pending")
    spoof = rows[(rows["subset"] == "cosg") & (rows["label"] == "spoof")]
    assert set(spoof["generator"]) == {f"codecfake_plus:{f[0]}" for f in cosg
                                       if f[-1] == "spoof"}
    assert (spoof["artifact"] == "tts").all() and spoof["speaker"].isna().all()
    assert rows.loc["codecfake_plus:p226_261", "status"] == "pending"

    # The typo label 'spoofs' reads as spoof and stays in label_raw; another word is
    # an error naming the line.
    extra = root / "metadata/evaluation/CoSG_EXTRA.txt"
    extra.write_text("VALLE extra_1 - MVQ spoofs\n")
    typo = read("codecfake_plus", root).loc["codecfake_plus:cosg/VALLE/extra_1"]
    assert (typo["label"], typo["label_raw"]) == ("spoof", "spoofs")
    extra.write_text("VALLE extra_1 - MVQ spoof\nVALLE extra_2 - fake\n")
    with pytest.raises(CurateError, match=r"CoSG_EXTRA\.txt:2: key 'fake'"):
        read("codecfake_plus", root)
