"""`curate export SEL --format antideepfake` against the AntiDeepfake protocol CSVs.

The expected files below are written by hand from the column definitions of the
AntiDeepfake protocol scripts (nii-yamagishilab/AntiDeepfake, protocols/*.py): ID
prefix and file id per corpus, Label real/fake, Duration round(frames / rate, 2),
Path under $ROOT, Attack, Speaker, Proportion train/valid/test/-, AudioChannel,
AudioEncoding and AudioBitSample as torchaudio.info reports them, Language. The
fixture is prepared with the shipped build file and selections, as a user would.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from conftest import make_asvspoof2019, write_tone
from curate.catalog.db import open_catalog
from curate.export import export_selection
from curate.export.antideepfake import PROFILES, Row, _value, header_encoding, proportion
from curate.recipes.spec import builtin_corpus_recipes, builtin_recipes_dir, load_recipe

ROOT = "$ROOT"
ASV = f"{ROOT}/ASVspoof2019-LA/LA"
TRAIN_CSV = f"""\
ID,Label,Duration,SampleRate,Path,Attack,Speaker,Proportion,AudioChannel,AudioEncoding,AudioBitSample,Language
ASV19LA-LA_E_1000001,fake,0.3,16000,{ASV}/ASVspoof2019_LA_eval/flac/LA_E_1000001.flac,A07,LA_0039,test,1,FLAC,16,EN
ASV19LA-LA_T_1000001,real,0.3,16000,{ASV}/ASVspoof2019_LA_train/flac/LA_T_1000001.flac,-,LA_0079,train,1,FLAC,16,EN
ASV19LA-LA_T_1000002,fake,0.3,16000,{ASV}/ASVspoof2019_LA_train/flac/LA_T_1000002.flac,A01,LA_0079,train,1,FLAC,16,EN
LJ-LJ001-0001,real,0.25,22050,{ROOT}/LJSpeech/LJSpeech-1.1/wavs/LJ001-0001.wav,-,LJ001,-,1,PCM_S,16,EN
VoxCeleb2-id00012-21Uxsk56VDQ-00001,real,0.5,16000,{ROOT}/VoxCeleb2/dev/aac/id00012/21Uxsk56VDQ/00001.wav,-,id00012,-,1,PCM_S,16,-
WF-ljspeech_melgan_LJ001-0001_gen,fake,0.4,16000,{ROOT}/WaveFake/generated_audio/ljspeech_melgan/LJ001-0001_gen.wav,ljspeech_melgan,-,-,2,PCM_S,16,EN
"""
VALID_CSV = f"""\
ID,Label,Duration,SampleRate,Path,Attack,Speaker,Proportion,AudioChannel,AudioEncoding,AudioBitSample,Language
ASV19LA-LA_D_1000001,fake,0.3,16000,{ASV}/ASVspoof2019_LA_dev/flac/LA_D_1000001.flac,A05,LA_0069,valid,1,FLAC,24,EN
"""
# A corpus the AntiDeepfake scripts do not cover: curate's generic columns.
OTHER_CSV = f"""\
ID,Label,Duration,SampleRate,Path,Attack,Speaker,Proportion,AudioChannel,AudioEncoding,AudioBitSample,Language
vctk:p225_001_mic1,real,0.300,16000,{ROOT}/VCTK-Corpus-0.92/wav48_silence_trimmed/p225/p225_001_mic1.flac,-,p225,-,1,FLAC,,EN
"""


def _data(root: Path) -> Path:
    make_asvspoof2019(root / "ASVspoof2019-LA" / "LA", {
        "train": ["LA_0079 LA_T_1000001 - - bonafide", "LA_0079 LA_T_1000002 - A01 spoof"],
        "dev": ["LA_0069 LA_D_1000001 - A05 spoof"],
        "eval": ["LA_0039 LA_E_1000001 - A07 spoof"]})
    dev = root / "ASVspoof2019-LA/LA/ASVspoof2019_LA_dev/flac/LA_D_1000001.flac"
    x, rate = sf.read(dev)
    sf.write(dev, x, rate, subtype="PCM_24")  # a 24-bit FLAC
    lj = root / "LJSpeech/LJSpeech-1.1"
    lj.mkdir(parents=True)
    (lj / "metadata.csv").write_text("LJ001-0001|Printing, in the only sense|Printing\n")
    write_tone(lj / "wavs/LJ001-0001.wav", 0.25, sample_rate=22050)
    write_tone(root / "VoxCeleb2/dev/aac/id00012/21Uxsk56VDQ/00001.wav", 0.5, seed=2)
    fake = root / "WaveFake/generated_audio/ljspeech_melgan/LJ001-0001_gen.wav"
    write_tone(fake, 0.4, seed=3)
    x, rate = sf.read(fake)
    sf.write(fake, np.stack([x, 0.5 * x], axis=1), rate)  # stereo
    write_tone(root / "VCTK-Corpus-0.92/wav48_silence_trimmed/p225/p225_001_mic1.flac", 0.3,
               seed=4)
    (root / "VCTK-Corpus-0.92/speaker-info.txt").write_text("ID  AGE  GENDER\np225  23  F\n")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The shipped build file and selections over a data folder of five corpora."""
    from curate.audio.runner import probe_corpus
    from curate.recipes.build import find_build, load_build, missing_roots
    from curate.recipes.engine import insert_corpus, read_corpus
    from curate.select.freeze import freeze
    from curate.select.spec import load_selection, parse_selection

    tmp = tmp_path_factory.mktemp("adf")
    data = _data(tmp / "data")
    present, missing = missing_roots(load_build(find_build("antideepfake"), data_root=data))
    assert {e.recipe for e in present} == {"asvspoof2019_la", "ljspeech", "voxceleb2",
                                           "wavefake"} and len(missing) == 25
    catalog = open_catalog(tmp / "c.duckdb")
    for entry in present + [type(present[0])("vctk", data / "VCTK-Corpus-0.92")]:
        recipe = load_recipe(entry.recipe)
        insert_corpus(catalog, read_corpus(recipe, entry.root), recipe, entry.root)
        probe_corpus(catalog, recipe.name)
    for name in ("antideepfake", "antideepfake_valid"):
        freeze(catalog, load_selection(builtin_recipes_dir() / "selections" / f"{name}.toml"))
    freeze(catalog, parse_selection({"name": "other", "filter": {"corpora": ["vctk"]},
                                     "split": {"by": "utt", "fractions": {"test": 1.0}}}))
    yield catalog, data, tmp
    catalog.close()


def test_protocol_csvs_match_byte_for_byte(built):
    catalog, data, tmp = built
    export_selection(catalog, "antideepfake", "antideepfake", tmp / "train", path_root=data)
    export_selection(catalog, "antideepfake_valid", "antideepfake", tmp / "valid",
                     path_root=data)
    export_selection(catalog, "other", "antideepfake", tmp / "other", path_root=data)
    assert (tmp / "train/train.csv").read_bytes() == TRAIN_CSV.encode()
    assert (tmp / "valid/valid.csv").read_bytes() == VALID_CSV.encode()
    assert (tmp / "other/test.csv").read_bytes() == OTHER_CSV.encode()
    # $ROOT/... resolves under the data folder, as the AntiDeepfake loader resolves it
    for line in TRAIN_CSV.splitlines()[1:]:
        assert Path(line.split(",")[4].replace(ROOT, str(data))).is_file()


def test_transcoded_audio_is_16_bit_pcm(built):
    catalog, data, tmp = built
    export_selection(catalog, "antideepfake_valid", "antideepfake", tmp / "pcm",
                     path_root=tmp / "pcm", copy_audio=True, sample_rate=16000)
    line = (tmp / "pcm/valid.csv").read_text().splitlines()[1].split(",")
    assert line[0] == "ASV19LA-LA_D_1000001" and line[9:11] == ["PCM_S", "16"]
    assert line[4].startswith("$ROOT/audio/valid/asvspoof2019_la/")


def _encode(path: Path, codec: str) -> None:
    rate = 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate // 4) / rate)).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        size = stream.codec_context.frame_size or 1024
        for start in range(0, x.size, size):
            frame = av.AudioFrame.from_ndarray(x[None, start:start + size], format="fltp",
                                               layout="mono")
            frame.rate, frame.pts = rate, start
            frame.time_base = fractions.Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_header_encoding_names_as_torchaudio(tmp_path):
    x = np.zeros(1600, dtype=np.float32)
    cases = {"a.wav": ("PCM_16", ("PCM_S", 16)), "b.wav": ("FLOAT", ("PCM_F", 32)),
             "c.wav": ("PCM_U8", ("PCM_U", 8)), "d.flac": ("PCM_24", ("FLAC", 24)),
             "e.flac": ("PCM_16", ("FLAC", 16)), "f.ogg": ("VORBIS", ("VORBIS", 0))}
    for name, (subtype, expected) in cases.items():
        sf.write(tmp_path / name, x, 16000, subtype=subtype)
        assert header_encoding(str(tmp_path / name)) == expected, name
    _encode(tmp_path / "g.mp3", "libmp3lame")
    _encode(tmp_path / "h.m4a", "aac")
    assert header_encoding(str(tmp_path / "g.mp3")) == ("MP3", 0)
    assert header_encoding(str(tmp_path / "h.m4a")) == ("AAC", 0)


def _row(rel: str, local: str, **kw) -> Row:
    return Row(local=local, rel=rel, subset=kw.get("subset"), generator=kw.get("generator"),
               speaker=kw.get("speaker"), language=kw.get("language"),
               spoof=kw.get("spoof", True), source=kw.get("source"))


# corpus, row, expected (ID, Attack, Speaker, Proportion, Language): from the scripts
CASES = [
    ("asvspoof5", _row("flac_T/T_0000000000.flac", "T_0000000000", subset="train",
                       speaker="T_4850", spoof=False),
     ("ASV5-bonafide-T_0000000000", "bonafide", "T_4850", "train", "EN")),
    ("asvspoof5", _row("flac_D/D_0000000169.flac", "D_0000000169", subset="dev",
                       generator="A14", speaker="D_4461"),
     ("ASV5-A14-D_0000000169", "A14", "D_4461", "valid", "EN")),
    ("asvspoof2021_df", _row("ASVspoof2021_DF_eval/flac/DF_E_2000013.flac", "DF_E_2000013",
                             subset="eval", generator="vcc2020_Task1-team20",
                             speaker="TEF2"),
     ("ASV21DF-DF_E_2000013", "Task1-team20", "TEF2", "test", "EN")),
    ("mlaad", _row("fake/zh-cn/tts_models_zh-CN_baker_tacotron2-DDC-GST/x_f000001.wav",
                   "fake/zh-cn/tts_models_zh-CN_baker_tacotron2-DDC-GST/x_f000001",
                   generator="tts_models/zh-CN/baker/tacotron2-DDC-GST", language="cmn"),
     ("MLAAD-ZH-tts_models_zh-CN_baker_tacotron2-DDC-GST-x_f000001",
      "tts_models_zh-CN_baker_tacotron2-DDC-GST", "-", "-", "ZH")),
    ("decro", _row("ch_dev/T0055G0019S0420.wav", "ch_dev/T0055G0019S0420", subset="ch_dev",
                   speaker="G0019", spoof=False, source="aidatatang"),
     ("DECRO-valid-ZH-T0055G0019S0420", "aidatatang", "G0019", "valid", "ZH")),
    ("decro", _row("en_eval/20032123.wav", "en_eval/20032123", subset="en_eval",
                   generator="baidu"),
     ("DECRO-test-EN-20032123", "baidu", "unknown", "test", "EN")),
    ("spoofceleb", _row("flac/development/a00/id10318/YYsxcZ5saac-00002-006.flac",
                        "development/a00/id10318/YYsxcZ5saac-00002-006",
                        subset="development", speaker="id10318", spoof=False),
     ("SpoofCeleb-a00/id10318/YYsxcZ5saac-00002-006", "a00", "id10318", "valid", "-")),
    ("cfad", _row("codec_version/test_seen_codec/fake_codec/lpcnet/SSB09660003_lpcnet_m4a.wav",
                  "x", subset="test_seen_codec", generator="lpcnet"),
     ("CFAD-codec_version-test-fake-SSB09660003_lpcnet_m4a", "lpcnet", "SSB09660003",
      "test", "ZH")),
    ("fleurs", _row("cmn_hans_cn/audio/train/1234.wav", "cmn_hans_cn/train/1234",
                    subset="train", language="cmn", spoof=False),
     ("FLEURS-CN-1234", "-", "-", "train", "CN")),
    ("fleurs_r", _row("ast_es/audio/dev/99.wav", "ast_es/dev/99", subset="dev",
                      language="ast"),
     ("FLEURS-R-AST-99", "-", "-", "valid", "AST")),
    ("habla", _row("CycleGAN/Venezuela-Argentina/vem_02484-arm_01523/CycleGAN-a-b.wav", "x",
                   generator="CycleGAN"),
     ("HABLA-fake-CycleGAN-a-b", "CycleGAN", "vem_02484-arm_01523", "-", "ES")),
    ("diffssd", _row("generated_speech/your_tts/speaker_1487/sentence_449.wav", "x"),
     ("DiffSSD-your_tts-speaker_1487-EN-sentence_449", "your_tts", "speaker_1487", "-",
      "EN")),
    ("diffusion_deepfake", _row("tacotron2-DCA_wavegrad/LJ044-0144.wav", "x"),
     ("DiffFake-tacotron2-DCA_wavegrad-LJ044-0144", "tacotron2-DCA_wavegrad",
      "LJ044-0144.wav", "-", "EN")),
    ("codecfake", _row("C7/F07_p227_003.wav", "C7/F07_p227_003", subset="C7",
                       generator="F07"),
     ("Codecf-F07_p227_003", "F07", "-", "test", "-")),
    ("cvoicefake", _row("CN/griffin_lim_generated/common_voice_zh-CN_1_Gen.mp3", "x"),
     ("CVoice-CN-griffin_lim_generated-common_voice_zh-CN_1_Gen", "griffin_lim_generated",
      "-", "-", "ZH")),
    ("libritts_vocoded", _row("hifigan/dev-clean/84/121123/84_121123_000007_000001.wav", "x",
                              subset="dev-clean"),
     ("LibriTTS-Vo-hifigan-84_121123_000007_000001", "hifigan", "84", "valid", "EN")),
    ("mls", _row("mls_italian/train/audio/1595/5616/1595_5616_000327.flac", "x",
                 subset="train", language="ita", spoof=False),
     ("MLS-IT-1595_5616_000327", "-", "1595", "train", "IT")),
    ("add2023", _row("wav/ADD2023_T1.2R2_E_00000003.wav", "x", spoof=False),
     ("ADD2023-ADD2023_T1.2R2_E_00000003.wav", "-", "-", "test", "-")),
    ("wildsvdd", _row("test_B/vocals/bonafide_Salibi_1.flac", "x", spoof=False),
     ("WildSVDD-test_B-vocals-bonafide_Salibi_1", "-", "-", "test", "test_B")),
]


@pytest.mark.parametrize("corpus, row, expected", CASES,
                         ids=[f"{c}-{i}" for i, (c, _r, _e) in enumerate(CASES)])
def test_profiles_follow_the_protocol_scripts(corpus, row, expected):
    profile = PROFILES[corpus]
    got = (profile.prefix + profile.id(row), _value(profile.attack, row),
           _value(profile.speaker, row), _value(profile.proportion, row),
           _value(profile.lang, row))
    assert got == expected


def test_every_corpus_of_the_mix_has_a_profile():
    users = {n for n in builtin_corpus_recipes() if load_recipe(n).usage("antideepfake")}
    assert users <= set(PROFILES)
    prefixes = [p.prefix for p in PROFILES.values()]
    assert len(set(prefixes)) == len(prefixes)
    assert [proportion(s) for s in ("train-clean-100", "dev", "development", "eval",
                                    "testing", None, "C1")] == \
        ["train", "valid", "valid", "test", "test", "-", "-"]
