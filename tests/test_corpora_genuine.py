"""Built-in recipes of genuine-speech corpora, on miniature copies of their real layouts.

Each test writes a handful of short files in the corpus's on-disk layout, metadata
with the real columns and quirks, and checks what the recipe reads. Where
../shared/realdata holds a real metadata file (Common Voice Polish, VoxCeleb1), a
test reads it too.
"""

from __future__ import annotations

import fractions
import io
import shutil
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from conftest import write_tone
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.corpora.voxceleb1 import read_meta
from curate.recipes.spec import load_recipe

GENUINE = ("m_ailabs", "commonvoice", "mls", "librispeech", "libritts", "vctk", "ljspeech",
           "aishell3", "fleurs", "voxceleb1", "voxceleb2")


def read(recipe: str, root: Path) -> pd.DataFrame:
    rows = engine.read_corpus(load_recipe(recipe), root)
    assert (rows["label"] == "bonafide").all() and (rows["label_raw"] == "bonafide").all()
    assert rows["artifact"].isna().all() and rows["generator"].isna().all()
    return rows.set_index("utt_id")


def encode(path: Path, codec: str, seconds: float = 0.4, seed: int = 0,
           sample_rate: int = 16000) -> None:
    """A short tone encoded with PyAV (libmp3lame -> .mp3, aac -> .m4a)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = (0.3 * np.sin(2 * np.pi * (200 + 20 * seed) * t)
         + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=sample_rate, layout="mono")
        size = stream.codec_context.frame_size or 1024
        for start in range(0, x.size, size):
            frame = av.AudioFrame.from_ndarray(x[None, start:start + size], format="fltp",
                                               layout="mono")
            frame.rate, frame.pts = sample_rate, start
            frame.time_base = fractions.Fraction(1, sample_rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def write(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))


# ----------------------------------------------------------------------------- M-AILABS


def make_m_ailabs(root: Path) -> Path:
    book = root / "de_DE/by_book/female/eva_k/grune_haus"
    write(book / "metadata.csv",
          "grune_haus_01_f000001|Das grüne Haus, 1.|Das grüne Haus, eins.\n"
          'grune_haus_01_f000002|"Ja", sagte sie.|"Ja", sagte sie.\n'
          "grune_haus_01_f000003|Fehlt auf der Platte.|\n")
    write_tone(book / "wavs/grune_haus_01_f000001.wav", 0.3, seed=1)
    write_tone(book / "wavs/grune_haus_01_f000002.wav", 0.3, seed=2)
    write_tone(book / "wavs/grune_haus_01_f000099.wav", 0.3, seed=3)  # in no metadata.csv
    mix = root / "de_DE/by_book/mix/das_buch"
    write(mix / "metadata.csv", "das_buch_01|Erster Satz.|Erster Satz.\n")
    write_tone(mix / "wavs/das_buch_01.wav", 0.3, seed=4)
    uk = root / "uk_UK/by_book/male/sumno/kaminnyi_khrest"
    write(uk / "metadata.csv", "kaminnyi_khrest_01_f000001|Текст.|Текст.\n")
    write_tone(uk / "wavs/kaminnyi_khrest_01_f000001.wav", 0.3, seed=5)
    en = root / "en_UK/by_book/female/elizabeth_klett/jane_eyre"
    write(en / "metadata.csv", "jane_eyre_01_f000001|Chapter 1.|Chapter one.\n")
    write_tone(en / "wavs/jane_eyre_01_f000001.wav", 0.3, seed=6)
    return root


def test_m_ailabs(tmp_path):
    root = make_m_ailabs(tmp_path / "m-ailabs")
    rows = read("m_ailabs", root)
    eva = "m_ailabs:de_DE/by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f"
    assert sorted(rows.index) == sorted([
        eva + "000001", eva + "000002", eva + "000003",
        "m_ailabs:de_DE/by_book/mix/das_buch/wavs/das_buch_01",
        "m_ailabs:en_UK/by_book/female/elizabeth_klett/jane_eyre/wavs/jane_eyre_01_f000001",
        "m_ailabs:uk_UK/by_book/male/sumno/kaminnyi_khrest/wavs/kaminnyi_khrest_01_f000001"])
    first = rows.loc[eva + "000001"]
    assert first["path"] == "de_DE/by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f000001.wav"
    assert (first["speaker"], first["gender"], first["language"]) == ("eva_k", "female", "deu")
    assert first["transcript"] == "Das grüne Haus, eins."
    assert rows.loc[eva + "000002", "transcript"] == '"Ja", sagte sie.'
    assert rows.loc[eva + "000003", "transcript"] == "Fehlt auf der Platte."  # raw text
    assert rows.loc[eva + "000003", "status"] == "missing"
    mix = rows.loc["m_ailabs:de_DE/by_book/mix/das_buch/wavs/das_buch_01"]
    assert pd.isna(mix["speaker"]) and pd.isna(mix["gender"])
    assert Counter(rows["language"]) == {"deu": 4, "ukr": 1, "eng": 1}
    assert Counter(rows["gender"].dropna()) == {"female": 4, "male": 1}
    assert rows["subset"].isna().all()

    # One locale folder as ROOT: the same ids, paths relative to it.
    single = read("m_ailabs", root / "de_DE")
    assert set(single.index) == {i for i in rows.index if i.startswith("m_ailabs:de_DE/")}
    assert single.loc[eva + "000001", "path"] == \
        "by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f000001.wav"
    assert (single["status"] == rows.loc[single.index, "status"]).all()

    with open(root / "uk_UK/by_book/male/sumno/kaminnyi_khrest/metadata.csv", "a") as f:
        f.write("kaminnyi_khrest_01_f000002\n")
    with pytest.raises(CurateError, match=r"kaminnyi_khrest/metadata.csv:2: expected 3 fields"):
        read("m_ailabs", root)


# -------------------------------------------------------------------------- Common Voice

CV13 = ("client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\t"
        "gender\taccents\tvariant\tlocale\tsegment\n")
CV10 = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment\n"


def cv13(client: str, clip: str, sentence: str, gender: str = "") -> str:
    return f"{client}\t{clip}\tsid{clip[-6:-4]}\t{sentence}\t\t2\t0\tthirties\t{gender}\t\t\tpl\t\n"


def make_commonvoice(root: Path) -> Path:
    pl = root / "pl"
    a = cv13("c1", "common_voice_pl_000001.mp3", '"Tak," powiedział.', "male_masculine")
    b = cv13("c1", "common_voice_pl_000002.mp3", "Drugie zdanie", "male_masculine")
    c = cv13("c2", "common_voice_pl_000003.mp3", "Trzecie", "female_feminine")
    d = cv13("c3", "common_voice_pl_000004.mp3", "Czwarte")
    e = cv13("c4", "common_voice_pl_000005.mp3", "Piąte", "do_not_wish_to_say")
    f = cv13("c4", "common_voice_pl_000006.mp3", "Szóste", "intersex")
    write(pl / "validated.tsv", CV13 + a + b + c)
    write(pl / "train.tsv", CV13 + a)
    write(pl / "test.tsv", CV13 + b)
    write(pl / "dev.tsv", CV13)
    write(pl / "other.tsv", CV13 + d + f)
    write(pl / "invalidated.tsv", CV13 + e)
    write(pl / "clip_durations.tsv", "clip\tduration[ms]\ncommon_voice_pl_000001.mp3\t400\n")
    for i in (1, 2, 3, 4, 5, 7):  # 6 is listed but absent; 7 is in no TSV
        encode(pl / f"clips/common_voice_pl_00000{i}.mp3", "libmp3lame", seed=i)
    sv = root / "sv-SE"
    write(sv / "validated.tsv", CV10
          + "s1\tcommon_voice_sv-SE_000001.mp3\tHej då\t2\t0\ttwenties\tfemale\t\tsv-SE\t\n"
          + "s2\tcommon_voice_sv-SE_000002.mp3\tTack\t3\t1\t\tmale\t\tsv-SE\t\n")
    write(sv / "dev.tsv", CV10
          + "s2\tcommon_voice_sv-SE_000002.mp3\tTack\t3\t1\t\tmale\t\tsv-SE\t\n")
    return root


def test_commonvoice(tmp_path):
    root = make_commonvoice(tmp_path / "cv-corpus-17.0-2024-03-15")
    rows = read("commonvoice", root)
    pl = "commonvoice:pl/common_voice_pl_00000"
    sv = "commonvoice:sv-SE/common_voice_sv-SE_00000"
    assert sorted(rows.index) == [pl + str(i) for i in range(1, 7)] + [sv + "1", sv + "2"]
    assert rows["subset"].to_dict() == {
        pl + "1": "train", pl + "2": "test", pl + "3": "validated", pl + "4": "other",
        pl + "5": "invalidated", pl + "6": "other", sv + "1": "validated", sv + "2": "dev"}
    assert rows.loc[pl + "1", "transcript"] == '"Tak," powiedział.'
    assert rows.loc[pl + "1", "path"] == "pl/clips/common_voice_pl_000001.mp3"
    assert rows.loc[pl + "1", "speaker"] == "c1"
    genders = rows["gender"].to_dict()
    assert [genders[pl + str(i)] for i in (1, 3, 6)] == ["male", "female", "intersex"]
    assert pd.isna(genders[pl + "4"]) and pd.isna(genders[pl + "5"])  # empty, withheld
    assert rows.loc[sv + "1", "gender"] == "female"
    assert Counter(rows["language"]) == {"pol": 6, "swe": 2}
    assert rows.loc[pl + "6", "status"] == "missing"
    assert (rows.drop(index=pl + "6").loc[lambda r: r.index.str.startswith(pl), "status"]
            == "pending").all()

    single = read("commonvoice", root / "pl")
    assert set(single.index) == {i for i in rows.index if i.startswith(pl)}
    assert single.loc[pl + "1", "path"] == "clips/common_voice_pl_000001.mp3"

    with open(root / "pl/other.tsv", "a") as f:
        f.write("c9\tcommon_voice_pl_000009.mp3\tsid\tcut short\n")
    with pytest.raises(CurateError, match=r"pl/other.tsv:4: expected 13 fields, found 4"):
        read("commonvoice", root)


def test_commonvoice_real_polish_tsvs(realdata, tmp_path):
    source = realdata / "commonvoice_pl"
    locale = tmp_path / "cv-corpus" / "pl"
    locale.mkdir(parents=True)
    for name in ("validated.tsv", "other.tsv", "invalidated.tsv", "clip_durations.tsv",
                 "reported.tsv"):
        shutil.copy(source / name, locale / name)
    rows = read("commonvoice", tmp_path / "cv-corpus")
    assert Counter(rows["subset"]) == {"validated": 510, "other": 467, "invalidated": 24}
    validated = rows[rows["subset"] == "validated"]
    assert validated["transcript"].str.startswith('"').sum() == 100
    assert Counter(validated["gender"].fillna("<null>")) == {"<null>": 251, "male": 242,
                                                             "female": 17}
    assert validated["speaker"].nunique() == 41
    assert (rows["language"] == "pol").all()
    assert rows.index.str.match(r"^commonvoice:pl/common_voice_pl_\d+$").all()
    assert (rows["status"] == "missing").all()  # no audio here: nothing dropped


# ---------------------------------------------------------------------------------- MLS


def make_mls(root: Path) -> Path:
    de = root / "mls_german"
    write(de / "metainfo.txt",
          "SPEAKER   |   GENDER   | PARTITION  |  MINUTES   |  BOOK ID   |"
          "             TITLE              |            CHAPTER            \n"
          "  1844    |     F      |   train    |   21.03    |    1041    | "
          "Ein \"Buch\" | Titel            | Kapitel 1\n"
          "  1844    |     F      |   train    |   10.00    |    1042    | Zweites | 2\n"
          "  2146    |     M      |    dev     |   12.50    |    2047    | Anderes | 1\n")
    write(de / "train/transcripts.txt",
          "1844_1041_000001\tsie sagte \"ja\" und ging\n1844_1042_000002\tzweiter satz\n")
    write(de / "dev/transcripts.txt", "2146_2047_000003\tdritter satz\n")
    write_tone(de / "train/audio/1844/1041/1844_1041_000001.flac", 0.3, seed=1)
    write_tone(de / "dev/audio/2146/2047/2146_2047_000003.flac", 0.3, seed=2)
    write_tone(de / "dev/audio/2146/2047/2146_2047_000004.flac", 0.3, seed=3)  # unlisted
    pl = root / "mls_polish_opus"
    write(pl / "test/transcripts.txt", "3000_100_000001\tzdanie\n")
    return root


def test_mls(tmp_path):
    root = make_mls(tmp_path / "mls")
    rows = read("mls", root)
    assert sorted(rows.index) == ["mls:deu/1844_1041_000001", "mls:deu/1844_1042_000002",
                                  "mls:deu/2146_2047_000003", "mls:pol/3000_100_000001"]
    first = rows.loc["mls:deu/1844_1041_000001"]
    assert first["path"] == "mls_german/train/audio/1844/1041/1844_1041_000001.flac"
    assert (first["subset"], first["speaker"], first["gender"]) == ("train", "1844", "female")
    assert first["transcript"] == 'sie sagte "ja" und ging'
    assert rows.loc["mls:deu/2146_2047_000003", "gender"] == "male"
    assert rows.loc["mls:pol/3000_100_000001", "path"] == \
        "mls_polish_opus/test/audio/3000/100/3000_100_000001.opus"
    assert pd.isna(rows.loc["mls:pol/3000_100_000001", "gender"])  # no metainfo.txt
    assert Counter(rows["language"]) == {"deu": 3, "pol": 1}
    assert Counter(rows["status"]) == {"pending": 2, "missing": 2}

    single = read("mls", root / "mls_german")
    assert set(single.index) == {i for i in rows.index if i.startswith("mls:deu/")}
    assert single.loc["mls:deu/1844_1041_000001", "path"] == \
        "train/audio/1844/1041/1844_1041_000001.flac"

    # A renamed copy: one clear error, and a recipe with base = "mls" that names the language.
    renamed = tmp_path / "german_copy"
    shutil.copytree(root / "mls_german", renamed)
    with pytest.raises(CurateError, match=r"cannot tell the language .* base = \"mls\""):
        read("mls", renamed)
    own = tmp_path / "mls_de.toml"
    own.write_text('name = "mls_de"\nbase = "mls"\n[options]\nlanguage = "de"\n')
    mine = engine.read_corpus(load_recipe(str(own)), renamed).set_index("utt_id")
    assert "mls_de:deu/1844_1041_000001" in mine.index and (mine["language"] == "deu").all()

    write(root / "mls_german/dev/transcripts.txt", "2146_2047_000003\tok\nbroken line\tx\n")
    with pytest.raises(CurateError, match=r"dev/transcripts.txt:2: utterance id 'broken line'"):
        read("mls", root)


# --------------------------------------------------------------------------- LibriSpeech

SPEAKERS_TXT = """; Some pipe(|) separated metadata about all LibriVox readers, whose work was used
; in the corpus.
;
;ID  |SEX| SUBSET           |MINUTES| NAME
60   | M | train-clean-100  | 20.18 | |CBW|Simon
84   | F | dev-clean        | 8.02  | Christie Nowak
"""


def make_librispeech(root: Path) -> Path:
    write(root / "SPEAKERS.TXT", SPEAKERS_TXT)
    chapter = root / "dev-clean/84/121123"
    write(chapter / "84-121123.trans.txt",
          "84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n")
    write_tone(chapter / "84-121123-0000.flac", 0.3, seed=1)
    write_tone(chapter / "84-121123-0001.flac", 0.3, seed=2)
    train = root / "train-clean-100/60/121082"
    write(train / "60-121082.trans.txt", "60-121082-0000 THE LAST OF THE MOHICANS\n")
    write_tone(train / "60-121082-0000.flac", 0.3, seed=3)
    other = root / "test-other/1688/142285"
    write(other / "1688-142285.trans.txt", "1688-142285-0000 THERE 'S IRON THEY SAY\n")
    return root


def test_librispeech(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    rows = read("librispeech", root)
    assert sorted(rows.index) == ["librispeech:1688-142285-0000", "librispeech:60-121082-0000",
                                  "librispeech:84-121123-0000", "librispeech:84-121123-0001"]
    first = rows.loc["librispeech:84-121123-0001"]
    assert first["path"] == "dev-clean/84/121123/84-121123-0001.flac"
    assert (first["subset"], first["speaker"], first["gender"]) == ("dev-clean", "84", "female")
    assert first["transcript"] == "BUT IN LESS THAN FIVE MINUTES"
    assert rows.loc["librispeech:60-121082-0000", "gender"] == "male"  # name holds '|'
    assert pd.isna(rows.loc["librispeech:1688-142285-0000", "gender"])  # not in SPEAKERS.TXT
    assert rows.loc["librispeech:1688-142285-0000", "status"] == "missing"
    assert Counter(rows["subset"]) == {"dev-clean": 2, "train-clean-100": 1, "test-other": 1}
    assert (rows["language"] == "eng").all()

    single = read("librispeech", root / "dev-clean")
    assert list(single.index) == ["librispeech:84-121123-0000", "librispeech:84-121123-0001"]
    assert single.loc["librispeech:84-121123-0000", "path"] == "84/121123/84-121123-0000.flac"
    assert (single["gender"] == "female").all()  # SPEAKERS.TXT beside the subset folder


# ------------------------------------------------------------------------------ LibriTTS


def make_libritts(root: Path) -> Path:
    write(root / "speakers.tsv", "READER\tGENDER\tSUBSET\tNAME\n84\tF\tdev-clean\tChristie Nowak\n"
                                 "14\tM\ttrain-clean-360\n")
    chapter = root / "dev-clean/84/121123"
    for i, utt in enumerate(["84_121123_000007_000001", "84_121123_000008_000000"]):
        write_tone(chapter / f"{utt}.wav", 0.3, sample_rate=24000, seed=i)
        write(chapter / f"{utt}.normalized.txt", f"Sentence number {i}.")
        write(chapter / f"{utt}.original.txt", f"Sentence no. {i}.")
    write(chapter / "84_121123_000009_000000.original.txt", "Only the original text.")
    write(chapter / "84_121123.trans.tsv", "84_121123_000007_000001\tSentence no. 0.\t"
                                           "Sentence number 0.\n")
    write_tone(root / "train-clean-360/14/208/14_208_000001_000000.wav", 0.3, seed=5)
    return root


def test_libritts(tmp_path):
    root = make_libritts(tmp_path / "LibriTTS")
    rows = read("libritts", root)
    assert sorted(rows.index) == ["libritts:14_208_000001_000000",
                                  "libritts:84_121123_000007_000001",
                                  "libritts:84_121123_000008_000000",
                                  "libritts:84_121123_000009_000000"]
    first = rows.loc["libritts:84_121123_000007_000001"]
    assert first["path"] == "dev-clean/84/121123/84_121123_000007_000001.wav"
    assert (first["subset"], first["speaker"], first["gender"]) == ("dev-clean", "84", "female")
    assert first["transcript"] == "Sentence number 0."
    text_only = rows.loc["libritts:84_121123_000009_000000"]
    assert text_only["transcript"] == "Only the original text." and text_only["status"] == "missing"
    no_text = rows.loc["libritts:14_208_000001_000000"]
    assert pd.isna(no_text["transcript"]) and no_text["gender"] == "male"
    assert no_text["subset"] == "train-clean-360" and no_text["status"] == "pending"

    # LibriTTS-R: the same layout, restored audio; the label follows the policy.
    own = tmp_path / "libritts_r.toml"
    own.write_text('name = "libritts_r"\nbase = "libritts"\n[options]\nrestored = true\n')
    restored = engine.read_corpus(load_recipe(str(own)), root)
    assert (restored["artifact"] == "restored").all() and (restored["label"] == "spoof").all()
    kept = engine.read_corpus(load_recipe(str(own)), root, restored_label="bonafide")
    assert (kept["label"] == "bonafide").all()


# ---------------------------------------------------------------------------------- VCTK


def test_vctk(tmp_path):
    root = tmp_path / "VCTK-Corpus-0.92"
    write(root / "speaker-info.txt",
          "ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n"
          "p225  23  F    English    Southern  England\n"
          "p280  25  F    France     Paris (mic2 files unavailable)\n"
          "p315  23  M    American    Connecticut (Text missing)\n")
    for mic in (1, 2):
        write_tone(root / f"wav48_silence_trimmed/p225/p225_001_mic{mic}.flac", 0.3, seed=mic)
    write_tone(root / "wav48_silence_trimmed/p280/p280_002_mic1.flac", 0.3, seed=3)
    write_tone(root / "wav48_silence_trimmed/p315/p315_001_mic1.flac", 0.3, seed=4)
    write(root / "txt/p225/p225_001.txt", "Please call Stella.\n")
    write(root / "txt/p280/p280_002.txt", "Ask her to bring these things.\n")
    write(root / "txt/p225/p225_999.txt", "No audio for this one.\n")
    rows = read("vctk", root)
    assert sorted(rows.index) == ["vctk:p225_001_mic1", "vctk:p225_001_mic2",
                                  "vctk:p280_002_mic1", "vctk:p315_001_mic1"]
    assert rows.loc["vctk:p225_001_mic2", "path"] == "wav48_silence_trimmed/p225/p225_001_mic2.flac"
    assert rows.loc["vctk:p225_001_mic2", "transcript"] == "Please call Stella."
    assert pd.isna(rows.loc["vctk:p315_001_mic1", "transcript"])
    assert rows["gender"].to_dict() == {"vctk:p225_001_mic1": "female",
                                        "vctk:p225_001_mic2": "female",
                                        "vctk:p280_002_mic1": "female",
                                        "vctk:p315_001_mic1": "male"}
    assert (rows["language"] == "eng").all() and (rows["status"] == "pending").all()

    old = tmp_path / "VCTK-Corpus"  # release 0.80: wav48/*.wav, ids without 'p'
    write(old / "speaker-info.txt", "ID  AGE  GENDER  ACCENTS  REGION\n226  22  M    English"
                                    "    Surrey\n")
    write_tone(old / "wav48/p226/p226_003.wav", 0.3, seed=6)
    write(old / "txt/p226/p226_003.txt", "Six spoons.")
    legacy = read("vctk", old)
    assert list(legacy.index) == ["vctk:p226_003"]
    assert tuple(legacy.iloc[0][["speaker", "gender", "transcript"]]) == ("p226", "male",
                                                                         "Six spoons.")
    write(old / "speaker-info.txt", "ID  AGE  GENDER\n226 22\n")
    with pytest.raises(CurateError, match=r"speaker-info.txt:2: expected at least 3 fields"):
        read("vctk", old)


# ------------------------------------------------------------------------------ LJSpeech


def test_ljspeech(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    write(root / "metadata.csv",
          "LJ001-0001|Printing, in the only sense|Printing, in the only sense\n"
          'LJ001-0002|"in being comparatively modern."|"in being comparatively modern."\n'
          "LJ050-0278|the recommendations of 1964|the recommendations of nineteen sixty-four\n")
    write_tone(root / "wavs/LJ001-0001.wav", 0.3, sample_rate=22050, seed=1)
    write_tone(root / "wavs/LJ001-0002.wav", 0.3, sample_rate=22050, seed=2)
    rows = read("ljspeech", root)
    assert list(rows.index) == ["ljspeech:LJ001-0001", "ljspeech:LJ001-0002",
                                "ljspeech:LJ050-0278"]
    assert rows.loc["ljspeech:LJ001-0002", "transcript"] == '"in being comparatively modern."'
    assert rows.loc["ljspeech:LJ050-0278", "transcript"] == \
        "the recommendations of nineteen sixty-four"
    assert rows.loc["ljspeech:LJ001-0001", "path"] == "wavs/LJ001-0001.wav"
    assert set(rows["speaker"]) == {"LJ"} and set(rows["gender"]) == {"female"}
    assert set(rows["language"]) == {"eng"} and rows["subset"].isna().all()
    assert list(rows["status"]) == ["pending", "pending", "missing"]
    with open(root / "metadata.csv", "a") as f:
        f.write("LJ050-0279|only two fields\n")
    with pytest.raises(CurateError, match=r"ljspeech: reading .* failed: .*metadata.csv:4: expected 3 columns"):
        read("ljspeech", root)


# ----------------------------------------------------------------------------- AISHELL-3


def test_aishell3(tmp_path):
    root = tmp_path / "data_aishell3"
    write(root / "spk-info.txt", "# AISHELL-3 speaker info\n# SPEAKER AGE GENDER ACCENT\n"
                                 "SSB0005\tA\tfemale\tnorth\nSSB1863\tB\tmale\tsouth\n")
    write(root / "train/content.txt",
          "SSB00050001.wav\t广 guang3 州 zhou1 女 nv3 大 da4 学 xue2 生 sheng1\n"
          "SSB00050002.wav\t登 deng1 山 shan1\n")
    write(root / "test/content.txt", "SSB18630001.wav\t你 ni3 好 hao3\n")
    write_tone(root / "train/wav/SSB0005/SSB00050001.wav", 0.3, sample_rate=44100, seed=1)
    write_tone(root / "train/wav/SSB0005/SSB00050003.wav", 0.3, sample_rate=44100, seed=2)
    write_tone(root / "test/wav/SSB1863/SSB18630001.wav", 0.3, sample_rate=44100, seed=3)
    rows = read("aishell3", root)
    assert sorted(rows.index) == ["aishell3:SSB00050001", "aishell3:SSB00050002",
                                  "aishell3:SSB00050003", "aishell3:SSB18630001"]
    first = rows.loc["aishell3:SSB00050001"]
    assert first["path"] == "train/wav/SSB0005/SSB00050001.wav"
    assert first["transcript"] == "广州女大学生"
    assert (first["subset"], first["speaker"], first["gender"]) == ("train", "SSB0005", "female")
    assert rows.loc["aishell3:SSB18630001", "gender"] == "male"
    assert rows.loc["aishell3:SSB18630001", "subset"] == "test"
    assert rows.loc["aishell3:SSB00050002", "status"] == "missing"  # listed, no wav
    assert pd.isna(rows.loc["aishell3:SSB00050003", "transcript"])  # wav, not listed
    assert (rows["language"] == "cmn").all()


# -------------------------------------------------------------------------------- FLEURS


def fleurs_line(sid: int, name: str, raw: str, gender: str) -> str:
    return f"{sid}\t{name}.wav\t{raw}\t{raw.lower()}\t{'|'.join(raw.lower())}\t96000\t{gender}\n"


def test_fleurs(tmp_path):
    root = tmp_path / "fleurs" / "data"
    en = root / "en_us"
    write(en / "train.tsv", fleurs_line(1906, "10004088536354799741", '"Quoted," he said.', "MALE")
          + fleurs_line(1906, "10005333396355399851", '"Quoted," he said.', "FEMALE"))
    write(en / "dev.tsv", fleurs_line(1675, "1000541427716113001", "Another one.", "OTHER"))
    write_tone(en / "audio/train/10004088536354799741.wav", 0.3, seed=1)
    write_tone(en / "audio/train/10005333396355399851.wav", 0.3, seed=2)
    write_tone(en / "audio/train/99999.wav", 0.3, seed=3)  # in no TSV
    zh = root / "cmn_hans_cn"
    write(zh / "test.tsv", fleurs_line(1, "1234", "你好。", "FEMALE"))
    rows = read("fleurs", root)
    assert sorted(rows.index) == ["fleurs:cmn_hans_cn/test/1234",
                                  "fleurs:en_us/dev/1000541427716113001",
                                  "fleurs:en_us/train/10004088536354799741",
                                  "fleurs:en_us/train/10005333396355399851"]
    first = rows.loc["fleurs:en_us/train/10004088536354799741"]
    assert first["path"] == "en_us/audio/train/10004088536354799741.wav"
    assert (first["subset"], first["gender"], first["language"]) == ("train", "male", "eng")
    assert first["transcript"] == '"Quoted," he said.'
    assert rows.loc["fleurs:en_us/dev/1000541427716113001", "gender"] == "other"
    assert rows.loc["fleurs:cmn_hans_cn/test/1234", "language"] == "cmn"
    assert Counter(rows["status"]) == {"pending": 2, "missing": 2}
    assert rows["speaker"].isna().all()
    single = read("fleurs", en)
    assert set(single.index) == {i for i in rows.index if "en_us" in i}
    assert single.loc["fleurs:en_us/dev/1000541427716113001", "path"] == \
        "audio/dev/1000541427716113001.wav"


# ----------------------------------------------------------------------------- VoxCeleb


def test_voxceleb1_split_archives_and_official_meta(tmp_path):
    root = tmp_path / "voxceleb1"
    write(root / "vox1_meta.csv",
          "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
          "id10001\tA.J._Buckley\tm\tIreland\tdev\n"
          'id10002\t"A.R.\tRahman"\tm\tIndia\tdev\n'
          "id10270\tEartha_Kitt\tf\tUSA\ttest \n", newline="\r\n")
    for i, rel in enumerate(["vox1_dev_wav/wav/id10001/1zcIwhmdeo4/00001.wav",
                             "vox1_dev_wav/wav/id10001/1zcIwhmdeo4/00002.wav",
                             "vox1_dev_wav/wav/id10002/xTV-jFAUKcw/00001.wav",
                             "vox1_test_wav/wav/id10270/5r0dWxy17C8/00001.wav",
                             "vox1_test_wav/wav/id10999/abcdefghijk/00001.wav"]):
        write_tone(root / rel, 0.3, seed=i)
    rows = read("voxceleb1", root)
    assert sorted(rows.index) == ["voxceleb1:id10001/1zcIwhmdeo4/00001",
                                  "voxceleb1:id10001/1zcIwhmdeo4/00002",
                                  "voxceleb1:id10002/xTV-jFAUKcw/00001",
                                  "voxceleb1:id10270/5r0dWxy17C8/00001",
                                  "voxceleb1:id10999/abcdefghijk/00001"]
    assert rows.loc["voxceleb1:id10270/5r0dWxy17C8/00001", "path"] == \
        "vox1_test_wav/wav/id10270/5r0dWxy17C8/00001.wav"
    assert rows["subset"].to_dict() == dict(zip(rows.index, ["dev", "dev", "dev", "test",
                                                             "test"]))
    assert rows["gender"].fillna("<null>").tolist() == ["male", "male", "male", "female",
                                                        "<null>"]  # id10999: not in the meta
    assert list(rows["speaker"]) == ["id10001", "id10001", "id10002", "id10270", "id10999"]
    assert (rows["language"] == "und").all() and rows["transcript"].isna().all()
    meta = read_meta(root / "vox1_meta.csv", ["id", "name", "gender", "nationality", "set"])
    assert meta.loc[1, "name"] == "A.R.\tRahman"  # a quoted tab stays in its field


def test_voxceleb1_real_meta(realdata, tmp_path):
    root = tmp_path / "vox1"
    root.mkdir()
    shutil.copy(realdata / "voxceleb1" / "vox1_meta.csv", root / "vox1_meta.csv")
    meta = read_meta(root / "vox1_meta.csv", ["id", "name", "gender", "nationality", "set"])
    assert len(meta) == 1251 and meta["id"].is_unique
    assert Counter(meta["set"]) == {"dev": 1211, "test": 40}
    assert set(meta["gender"]) == {"m", "f"}
    write_tone(root / "wav/id10001/1zcIwhmdeo4/00001.wav", 0.3, seed=1)
    write_tone(root / "wav/id10309/0cYFdtyWVds/00001.wav", 0.3, seed=2)
    rows = read("voxceleb1", root)
    expected = meta.set_index("id")
    for utt, row in rows.iterrows():
        speaker = row["speaker"]
        assert row["subset"] == expected.loc[speaker, "set"]
        assert row["gender"] == {"m": "male", "f": "female"}[expected.loc[speaker, "gender"]]
    assert set(rows["subset"]) == {"dev", "test"}


def make_voxceleb2(root: Path) -> Path:
    write(root / "vox2_meta.csv", "VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n"
                                  "id00012 ,n000012 ,m ,dev \nid00017 ,n000017 ,f ,test \n")
    encode(root / "dev/aac/id00012/21Uxsk56VDQ/00001.m4a", "aac", seed=1)
    encode(root / "test/aac/id00017/01dfn2spqyE/00001.m4a", "aac", seed=2)
    return root


def test_voxceleb2(tmp_path):
    root = make_voxceleb2(tmp_path / "voxceleb2")
    rows = read("voxceleb2", root)
    assert list(rows.index) == ["voxceleb2:id00012/21Uxsk56VDQ/00001",
                                "voxceleb2:id00017/01dfn2spqyE/00001"]
    assert list(rows["path"]) == ["dev/aac/id00012/21Uxsk56VDQ/00001.m4a",
                                  "test/aac/id00017/01dfn2spqyE/00001.m4a"]
    assert list(rows["subset"]) == ["dev", "test"] and list(rows["gender"]) == ["male", "female"]
    assert (rows["language"] == "und").all() and (rows["status"] == "pending").all()


# ------------------------------------------------------------------------- all of them


@pytest.mark.parametrize("recipe", GENUINE)
def test_wrong_root_is_one_clear_error(recipe, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurateError, match=r"ROOT") as caught:
        engine.read_corpus(load_recipe(recipe), tmp_path / "empty")
    assert load_recipe(recipe).layout[:30] in str(caught.value)


def test_recipes_carry_their_metadata():
    for name in GENUINE:
        recipe = load_recipe(name)
        assert recipe.kind == "genuine"
        assert recipe.title and recipe.url and recipe.licence and recipe.layout
        assert recipe.obtain and recipe.notes and recipe.languages


def test_prepare_probe_and_stats(tmp_path, run_cli):
    db = tmp_path / "catalog.duckdb"
    roots = {"m_ailabs": make_m_ailabs(tmp_path / "m-ailabs"),
             "commonvoice": make_commonvoice(tmp_path / "cv-corpus"),
             "voxceleb2": make_voxceleb2(tmp_path / "voxceleb2")}
    for name, root in roots.items():
        code, out, err = run_cli("prepare", name, root, "--db", db)
        assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        rows = catalog.df("SELECT * FROM utterances ORDER BY utt_id").set_index("utt_id")
    assert Counter(rows["corpus"]) == {"m_ailabs": 6, "commonvoice": 8, "voxceleb2": 2}
    statuses = rows.groupby(["corpus", "status"]).size().to_dict()
    assert statuses == {("commonvoice", "missing"): 3, ("commonvoice", "ok"): 5,
                        ("m_ailabs", "missing"): 1, ("m_ailabs", "ok"): 5,
                        ("voxceleb2", "ok"): 2}
    ok = rows[rows["status"] == "ok"]
    assert set(ok.loc[ok["corpus"] == "commonvoice", "format"]) == {"mp3"}
    assert set(ok.loc[ok["corpus"] == "voxceleb2", "format"]) == {"m4a"}
    assert ok["duration_s"].between(0.25, 0.5).all()
    code, out, _ = run_cli("stats", "--db", db, "--by", "corpus,language,label", "--json")
    assert code == 0
    stats = pd.read_json(io.StringIO(out)).set_index(["corpus", "language", "label"])
    assert stats["utterances"].to_dict() == {
        ("commonvoice", "pol", "bonafide"): 6, ("commonvoice", "swe", "bonafide"): 2,
        ("m_ailabs", "deu", "bonafide"): 4, ("m_ailabs", "eng", "bonafide"): 1,
        ("m_ailabs", "ukr", "bonafide"): 1, ("voxceleb2", "und", "bonafide"): 2}
