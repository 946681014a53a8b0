"""Recipes of the AntiDeepfake training corpora curate lacked, on miniatures of their layouts.

Layouts follow the authors' READMEs and the AntiDeepfake protocol scripts (one per
corpus, nii-yamagishilab/AntiDeepfake ``protocols/``). Each test writes a handful of
files in the corpus's on-disk layout (empty placeholder bytes: these tests read
layouts, not audio) and checks labels, generators, artifacts, speakers, languages,
subsets and source links.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.spec import load_recipe

NEW = ("cfad", "cnceleb2", "codecfake_wu", "cvoicefake", "decro", "dfadd", "diffssd",
       "diffusion_deepfake", "dsd", "fleurs_r", "habla", "libritts_r", "libritts_vocoded",
       "voicemos", "voxceleb2_vocoded")


def read(recipe: str, root: Path, **kwargs) -> pd.DataFrame:
    rows = engine.read_corpus(load_recipe(recipe), root, **kwargs)
    assert rows["label"].isin(["bonafide", "spoof"]).all()
    declared = set(load_recipe(recipe).artifacts)
    assert set(rows["artifact"].dropna()) <= declared, "artifact kinds the recipe does not declare"
    return rows.set_index("utt_id")


def touch(root: Path, *paths: str) -> None:
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"placeholder")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("name", NEW)
def test_recipes_declare_what_they_read(name, tmp_path):
    recipe = load_recipe(name)
    assert recipe.title and recipe.url and recipe.licence and recipe.layout
    assert recipe.obtain and recipe.notes and recipe.languages and recipe.checked
    usage = recipe.usage("antideepfake")
    assert usage is not None and usage.database and (usage.train or usage.valid)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurateError, match="ROOT|no file matches"):
        engine.read_corpus(recipe, tmp_path / "empty")


def test_cfad(tmp_path):
    root = tmp_path / "CFAD"
    touch(root, "clean_version/train_clean/fake_clean/hifigan/SSB00050001_hifigan.wav",
          "clean_version/train_clean/real_clean/aishell3/SSB00050001.wav",
          "clean_version/dev_clean/fake_clean/gl/BAC009S0002W0122_gl.wav",
          "codec_version/test_seen_codec/fake_codec/lpcnet/SSB09660003_lpcnet_m4a.wav",
          "noisy_version/test_unseen_noise/real_noise/thchs30/A2_0_white.wav",
          "clean_version/train_clean/notes.txt")
    rows = read("cfad", root)
    assert len(rows) == 5
    fake = rows.loc["cfad:codec_version/test_seen_codec/fake_codec/lpcnet/SSB09660003_lpcnet_m4a"]
    assert (fake["label"], fake["generator"], fake["codec"], fake["subset"]) == \
        ("spoof", "cfad:lpcnet", "m4a", "test_seen_codec")
    real = rows.loc["cfad:clean_version/train_clean/real_clean/aishell3/SSB00050001"]
    assert (real["label"], real["source_corpus"], real["label_raw"]) == \
        ("bonafide", "aishell3", "real_clean")
    assert pd.isna(real["generator"]) and pd.isna(real["codec"])
    assert set(rows["subset"]) == {"train_clean", "dev_clean", "test_seen_codec",
                                   "test_unseen_noise"}
    assert (rows["language"] == "cmn").all() and (rows["status"] == "pending").all()


def test_cnceleb2(tmp_path):
    root = tmp_path / "CN-Celeb2_flac"
    touch(root, "data/id10802/recitation-02-028.flac", "data/id10802/vlog-01-001.flac",
          "data/id10936/interview-01-002.flac")
    rows = read("cnceleb2", root)
    assert list(rows.index) == ["cnceleb2:id10802/recitation-02-028",
                                "cnceleb2:id10802/vlog-01-001",
                                "cnceleb2:id10936/interview-01-002"]
    assert list(rows["speaker"]) == ["id10802", "id10802", "id10936"]
    assert rows.loc["cnceleb2:id10936/interview-01-002", "path"] == \
        "data/id10936/interview-01-002.flac"
    assert (rows["label"] == "bonafide").all() and (rows["language"] == "cmn").all()


def test_codecfake_wu(tmp_path):
    root = tmp_path / "CodecFake"
    touch(root, "processed/train_part1/encodec_24khz+p272_103.wav",
          "processed/train_part1/dac_16k+p225_001.wav")
    rows = read("codecfake_wu", root)
    r = rows.loc["codecfake_wu:encodec_24khz+p272_103"]
    assert (r["generator"], r["speaker"], r["source_utt"], r["artifact"], r["path"]) == \
        ("codecfake_wu:encodec_24khz", "p272", "vctk:p272_103", "neural_codec",
         "processed/train_part1/encodec_24khz+p272_103.wav")
    assert (rows["label"] == "spoof").all() and (rows["source_corpus"] == "vctk").all()
    touch(root, "processed/train_part1/README.wav")
    with pytest.raises(CurateError, match=r"README\.wav: the name is not <codec>\+<VCTK"):
        read("codecfake_wu", root)


def test_cvoicefake(tmp_path):
    root = tmp_path / "CVoiceFake_Large"
    touch(root, "EN/Bonafide/common_voice_en_36752138.mp3",
          "EN/vctk_parallel_wavegan.v1_generated/common_voice_en_36752138_Gen.mp3",
          "CN/griffin_lim_generated/common_voice_zh-CN_18530000_Gen.mp3",
          "DE/Bonafide/common_voice_de_36934985.mp3")
    rows = read("cvoicefake", root)
    fake = rows.loc["cvoicefake:EN/vctk_parallel_wavegan.v1_generated/"
                    "common_voice_en_36752138_Gen"]
    assert (fake["generator"], fake["artifact"], fake["source_utt"], fake["language"]) == \
        ("cvoicefake:vctk_parallel_wavegan.v1", "copy_synthesis",
         "commonvoice:en/common_voice_en_36752138", "eng")
    real = rows.loc["cvoicefake:EN/Bonafide/common_voice_en_36752138"]
    assert real["label"] == "bonafide" and real["source_utt"] == fake["source_utt"]
    cn = rows.loc["cvoicefake:CN/griffin_lim_generated/common_voice_zh-CN_18530000_Gen"]
    assert (cn["language"], cn["source_utt"]) == ("cmn",
                                                 "commonvoice:zh-CN/common_voice_zh-CN_18530000")
    assert Counter(rows["language"]) == {"eng": 2, "cmn": 1, "deu": 1}


def test_decro(tmp_path):
    root = tmp_path / "petrichorwq-DECRO-dataset-6fc9884"
    write(root / "ch_dev.txt", "unknown 20032123 - baidu spoof \n"
                               "G0019 T0055G0019S0420 - aidatatang bonafide\n")
    write(root / "en_train.txt", "p225 p225_001 - - bonafide\n"
                                 "unknown 10000001 - tacotron spoof\n")
    touch(root, "ch_dev/20032123.wav", "ch_dev/T0055G0019S0420.wav", "en_train/p225_001.wav")
    rows = read("decro", root)
    assert len(rows) == 4 and Counter(rows["subset"]) == {"ch_dev": 2, "en_train": 2}
    spoof = rows.loc["decro:ch_dev/20032123"]
    assert (spoof["generator"], spoof["language"], spoof["path"]) == \
        ("decro:baidu", "cmn", "ch_dev/20032123.wav")
    assert pd.isna(spoof["speaker"]) and pd.isna(spoof["source_corpus"])
    bona = rows.loc["decro:ch_dev/T0055G0019S0420"]
    assert (bona["source_corpus"], bona["speaker"], bona["label_raw"]) == \
        ("aidatatang", "G0019", "bonafide")
    assert rows.loc["decro:en_train/10000001", "status"] == "missing"
    assert rows.loc["decro:en_train/p225_001", "language"] == "eng"
    write(root / "en_train.txt", "p225 p225_001 - bonafide\n")
    with pytest.raises(CurateError, match=r"en_train\.txt:1: expected 5 columns, found 4"):
        read("decro", root)


def test_dfadd(tmp_path):
    root = tmp_path / "DFADD"
    touch(root, "DATASET_VCTK_BONAFIDE/train/p345_251.wav",
          "DATASET_PflowTTS/train/p345_251_pflow.wav",
          "DATASET_GradTTS/valid/p225_003_gradtts.flac",
          "DATASET_MatchaTTS/test/p226_010_matcha.wav",
          "DATASET_MatchaTTS/test/readme.txt")
    rows = read("dfadd", root)
    assert len(rows) == 4
    pflow = rows.loc["dfadd:DATASET_PflowTTS/train/p345_251_pflow"]
    assert (pflow["generator"], pflow["artifact"], pflow["source_utt"], pflow["speaker"]) == \
        ("dfadd:PflowTTS", "tts", "vctk:p345_251", "p345")
    bona = rows.loc["dfadd:DATASET_VCTK_BONAFIDE/train/p345_251"]
    assert bona["label"] == "bonafide" and bona["source_utt"] == "vctk:p345_251"
    assert rows.loc["dfadd:DATASET_GradTTS/valid/p225_003_gradtts", "path"].endswith(".flac")
    assert Counter(rows["subset"]) == {"train": 2, "valid": 1, "test": 1}


def test_diffssd_and_diffusion_deepfake(tmp_path):
    root = tmp_path / "DiffSSD"
    touch(root, "generated_speech/grad_tts/sentence_1.wav",
          "generated_speech/your_tts/speaker_1487/sentence_449.wav")
    rows = read("diffssd", root)
    assert rows.loc["diffssd:your_tts/speaker_1487/sentence_449", "speaker"] == "speaker_1487"
    assert pd.isna(rows.loc["diffssd:grad_tts/sentence_1", "speaker"])
    assert set(rows["generator"]) == {"diffssd:grad_tts", "diffssd:your_tts"}
    assert (rows["artifact"] == "tts").all() and (rows["label"] == "spoof").all()

    root = tmp_path / "DiffusionDeepfake"
    touch(root, "tacotron2-DCA_wavegrad/LJ044-0144.wav", "DiffGAN-TTS_aux/LJ001-0001.wav",
          "WaveGrad/LJ001-0002.wav")
    rows = read("diffusion_deepfake", root)
    tts = rows.loc["diffusion_deepfake:tacotron2-DCA_wavegrad/LJ044-0144"]
    assert (tts["artifact"], tts["source_utt"], tts["speaker"], tts["generator"]) == \
        ("tts", "ljspeech:LJ044-0144", "LJ", "diffusion_deepfake:tacotron2-DCA_wavegrad")
    assert rows.loc["diffusion_deepfake:DiffGAN-TTS_aux/LJ001-0001", "artifact"] == "tts"
    assert rows.loc["diffusion_deepfake:WaveGrad/LJ001-0002", "artifact"] == "copy_synthesis"
    kept = read("diffusion_deepfake", root, restored_label="bonafide")
    assert kept.loc["diffusion_deepfake:WaveGrad/LJ001-0002", "label"] == "bonafide"
    assert kept.loc["diffusion_deepfake:DiffGAN-TTS_aux/LJ001-0001", "label"] == "spoof"


DSD_HEADER = ("Utterence name (file name),TTS or VC,Is multi-speaker?,Language,Noise type 1,"
              "Source link,utt,group,Speaker name,Gender,Age,label,Model,subset,duration\n")


def test_dsd(tmp_path):
    root = tmp_path / "DSD"
    write(root / "DSD_corpus_v1.csv", DSD_HEADER
          + "09MKIS0040_12815.wav,-,No,Korean,-,-,09MKIS0040_12815,AIHUB,09MKIS0040,Male,"
            "Adult,bonafide,-,train,6.25\n"
          + "12MWKH0048_000026.wav,TTS,No,Korean,-,-,12MWKH0048_000026,VITS-AIHUB,"
            "12MWKH0048,Male,Adult,spoof,VITS,eval,1.552\n"
          + "p225_001_vc.wav,VC,Yes,English,-,-,p225_001_vc,FreeVC-VCTK,p225,Female,Adult,"
            "spoof,FreeVC,dev,2.0\n")
    touch(root, "09MKIS0040_12815.wav", "12MWKH0048_000026.wav")
    rows = read("dsd", root)
    bona = rows.loc["dsd:09MKIS0040_12815"]
    assert (bona["label"], bona["language"], bona["gender"], bona["source_corpus"],
            bona["subset"]) == ("bonafide", "kor", "male", "aihub", "train")
    tts = rows.loc["dsd:12MWKH0048_000026"]
    assert (tts["artifact"], tts["generator"], tts["speaker"]) == ("tts", "dsd:VITS",
                                                                   "12MWKH0048")
    vc = rows.loc["dsd:p225_001_vc"]
    assert (vc["artifact"], vc["language"], vc["gender"], vc["status"]) == \
        ("vc", "eng", "female", "missing")
    write(root / "DSD_corpus_v1.csv", DSD_HEADER + "a.wav,-,No,Korean,-,-,a,AIHUB,x,Male,"
                                                   "Adult,real,-,train,1\n")
    with pytest.raises(CurateError, match=r"DSD_corpus_v1\.csv:2: label 'real'"):
        read("dsd", root)


def test_fleurs_r_and_libritts_r_link_to_what_they_restored(tmp_path):
    root = tmp_path / "fleurs-r" / "data"
    write(root / "en_us/dev.tsv", "1675\t1000541427716113001.wav\tAnother one.\tanother one."
                                  "\ta|n\t96000\tFEMALE\n")
    rows = read("fleurs_r", root)
    row = rows.loc["fleurs_r:en_us/dev/1000541427716113001"]
    assert (row["artifact"], row["label"], row["label_raw"], row["source_utt"]) == \
        ("restored", "spoof", "restored", "fleurs:en_us/dev/1000541427716113001")
    assert (row["language"], row["gender"], row["subset"]) == ("eng", "female", "dev")
    assert read("fleurs_r", root, restored_label="bonafide")["label"].eq("bonafide").all()

    root = tmp_path / "LibriTTS_R"
    chapter = root / "dev-clean/84/121123"
    touch(chapter, "84_121123_000007_000001.wav")
    write(chapter / "84_121123_000007_000001.normalized.txt", "Sentence number 0.")
    rows = read("libritts_r", root)
    row = rows.loc["libritts_r:84_121123_000007_000001"]
    assert (row["artifact"], row["label"], row["source_corpus"], row["source_utt"]) == \
        ("restored", "spoof", "libritts", "libritts:84_121123_000007_000001")
    assert row["transcript"] == "Sentence number 0." and row["subset"] == "dev-clean"


def test_habla(tmp_path):
    root = tmp_path / "FinalDataset_16khz"
    touch(root, "Real/Chile/clf_07508/clf_07508_00799857148.wav",
          "Real/Venezuela/vem_02484/vem_02484_00993837010.wav",
          "CycleGAN/Venezuela-Argentina/vem_02484-arm_01523/"
          "CycleGAN-vem_02484_00993837010-arm_01523_020267.wav",
          "TTS/Chile/clf_07508/tts_0001.wav")
    rows = read("habla", root)
    real = rows.loc["habla:Real/Chile/clf_07508/clf_07508_00799857148"]
    assert (real["label"], real["speaker"], real["gender"]) == ("bonafide", "clf_07508",
                                                                "female")
    vc = rows.loc["habla:CycleGAN/Venezuela-Argentina/vem_02484-arm_01523/"
                  "CycleGAN-vem_02484_00993837010-arm_01523_020267"]
    assert (vc["artifact"], vc["generator"], vc["speaker"], vc["gender"]) == \
        ("vc", "habla:CycleGAN", "arm_01523", "male")
    assert vc["source_utt"] == "habla:Real/Venezuela/vem_02484/vem_02484_00993837010"
    assert vc["source_utt"] in rows.index  # the conversion links to a row of the corpus
    other = rows.loc["habla:TTS/Chile/clf_07508/tts_0001"]
    assert (other["artifact"], other["speaker"]) == ("unknown", "clf_07508")
    assert pd.isna(other["source_utt"]) and (rows["language"] == "spa").all()


def test_libritts_and_voxceleb2_vocoded(tmp_path):
    root = tmp_path / "LibriTTS-Vocoded"
    touch(root, "hifigan/train-clean-360/2638/10172/2638_10172_000059_000002.wav",
          "hn_sinc_nsf/dev-clean/84/121123/84_121123_000007_000001.wav")
    rows = read("libritts_vocoded", root)
    r = rows.loc["libritts_vocoded:hifigan/train-clean-360/2638/10172/2638_10172_000059_000002"]
    assert (r["generator"], r["subset"], r["speaker"], r["source_utt"], r["artifact"]) == \
        ("libritts_vocoded:hifigan", "train-clean-360", "2638",
         "libritts:2638_10172_000059_000002", "copy_synthesis")
    assert set(rows["subset"]) == {"train-clean-360", "dev-clean"}

    root = tmp_path / "VoxCeleb2-Vocoded"
    touch(root, "hifigan/dev/aac/id04972/f9crVjbT1Eg/00255.wav",
          "hn_sinc_nsf/dev/aac/id00012/21Uxsk56VDQ/00001.wav")
    rows = read("voxceleb2_vocoded", root)
    r = rows.loc["voxceleb2_vocoded:hifigan/dev/aac/id04972/f9crVjbT1Eg/00255"]
    assert (r["generator"], r["subset"], r["speaker"], r["source_utt"], r["language"]) == \
        ("voxceleb2_vocoded:hifigan", "dev", "id04972", "voxceleb2:id04972/f9crVjbT1Eg/00255",
         "und")
    assert (rows["status"] == "pending").all()


def test_voicemos(tmp_path):
    root = tmp_path / "main"
    touch(root, "DATA/wav/sys64e2f-utt491a28a.wav", "DATA/wav/sys7ab3c-uttb2a9f13.wav",
          "DATA/wav/sysd7f04-utt0000001.wav")
    write(root / "DATA/sets/train_mos_list.txt", "sys64e2f-utt491a28a.wav,3.25\n")
    write(root / "DATA/sets/val_mos_list.txt", "sys7ab3c-uttb2a9f13.wav,2.5\n")
    rows = read("voicemos", root)
    assert rows["subset"].fillna("-").to_dict() == {
        "voicemos:sys64e2f-utt491a28a": "train", "voicemos:sys7ab3c-uttb2a9f13": "val",
        "voicemos:sysd7f04-utt0000001": "-"}
    assert set(rows["generator"]) == {"voicemos:sys64e2f", "voicemos:sys7ab3c",
                                      "voicemos:sysd7f04"}
    assert (rows["label"] == "spoof").all() and (rows["label_raw"] == "synthetic").all()
    assert rows.loc["voicemos:sys64e2f-utt491a28a", "path"] == \
        "DATA/wav/sys64e2f-utt491a28a.wav"
