"""AntiDeepfake CSVs (the post-training recipe's protocol format): ``SPLIT.csv`` with
exactly the header ``ID,Label,Duration,SampleRate,Path,Attack,Speaker,Proportion,
AudioChannel,AudioEncoding,AudioBitSample,Language``, as that project's
``protocols/*.py`` scripts write them (pandas ``to_csv``) and its ``dataio`` reads them.

For the corpora those scripts cover (the 29 databases of its training set and its
test sets ADD 2023, DEEP-VOICE, Fake-or-Real and In-the-Wild; plus WildSVDD) each
column is computed as that corpus's script computes it, so a row is byte for byte the
row the script writes for the same file:

- ID: the script's prefix (``ASV19LA-``, ``LJ-``, ``MLAAD-`` ...) and its file id
  (``ASV19LA-LA_T_1138215``, ``MLAAD-de-<model folder>-<file>``);
- Label: ``real`` / ``fake``; Duration: ``round(frames / rate, 2)`` as Python prints it
  (``3.1``, ``2.0``); SampleRate, AudioChannel: integers;
- Path: ``$ROOT/`` and the path below ``--path-root`` (set it to the folder the
  scripts call ``root_folder``, e.g. the data root of ``recipes/builds/antideepfake.toml``);
- Attack, Speaker, Language: the script's values (``-`` where it writes ``-``);
- Proportion: ``train``, ``valid``, ``test`` or ``-`` from the corpus's own subset;
- AudioEncoding, AudioBitSample: what ``torchaudio.info`` reports, read from the file
  header (``PCM_S`` 16 for 16-bit WAV, ``FLAC`` 16, ``MP3`` 0, ...).

Other corpora get curate's generic columns: the namespaced utt_id, the namespaced
generator, Duration with 3 decimals, the container format upper-cased with an empty
AudioBitSample, Proportion from the subset's name, Language as ISO 639-1 upper-cased
(else ISO 639-3; ``-`` for und). With ``--sample-rate`` the audio is 16-bit PCM WAV:
``PCM_S`` and 16 for every row. Rows are written in Path order (the scripts' order
for the corpora they walk).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Callable

from curate.export.common import ExportJob, Writer, local_id
from curate.recipes.languages import ISO1_TO_ISO3

HEADER = ("ID", "Label", "Duration", "SampleRate", "Path", "Attack", "Speaker", "Proportion",
          "AudioChannel", "AudioEncoding", "AudioBitSample", "Language")
_ISO3_TO_ISO1 = {}
for _iso1, _iso3 in sorted(ISO1_TO_ISO3.items()):
    _ISO3_TO_ISO1.setdefault(_iso3, _iso1)


def language(code: str | None) -> str:
    """``eng`` -> ``EN`` (ISO 639-1 upper-cased where one exists), ``und`` -> ``-``."""
    if not code or code == "und":
        return "-"
    return _ISO3_TO_ISO1.get(code, code).upper()


def proportion(subset: str | None) -> str:
    """The scripts' Proportion of a corpus subset: train / valid / test, else ``-``."""
    name = (subset or "").lower()
    if "train" in name:
        return "train"
    if "dev" in name or "valid" in name:
        return "valid"
    if "test" in name or "eval" in name:
        return "test"
    return "-"


# ------------------------------------------------------------------- header facts


_PCM = {"PCM_S8": ("PCM_S", 8), "PCM_16": ("PCM_S", 16), "PCM_24": ("PCM_S", 24),
        "PCM_32": ("PCM_S", 32), "PCM_U8": ("PCM_U", 8), "FLOAT": ("PCM_F", 32),
        "DOUBLE": ("PCM_F", 64), "ULAW": ("ULAW", 8), "ALAW": ("ALAW", 8)}
_COMPRESSED = {"MPEG_LAYER_III": "MP3", "VORBIS": "VORBIS", "OPUS": "OPUS"}


def header_encoding(path: str) -> tuple[str, int]:
    """``(encoding, bits per sample)`` of an audio file as ``torchaudio.info`` names them.

    Read from the header with soundfile (PyAV for what libsndfile cannot open): PCM
    WAV -> ``PCM_S``/``PCM_U``/``PCM_F`` with its bit depth, FLAC -> ``FLAC`` with its
    bit depth, lossy codecs (MP3, VORBIS, OPUS, AAC ...) -> their name with 0 bits.
    """
    import soundfile as sf

    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError):
        import av

        with av.open(path) as container:
            codec = container.streams.audio[0].codec_context.name
        return codec.upper(), 0
    if info.subtype in _COMPRESSED:
        return _COMPRESSED[info.subtype], 0
    encoding, bits = _PCM.get(info.subtype, (info.subtype, 0))
    if info.format == "FLAC":
        return "FLAC", bits
    return encoding, bits


# --------------------------------------------------------- per-corpus profiles


@dataclass(frozen=True)
class Row:
    """What a profile reads of one exported row."""

    local: str  # utt_id without the corpus namespace
    rel: str  # path relative to the corpus root
    subset: str | None
    generator: str | None  # without the corpus namespace
    speaker: str | None
    language: str | None
    spoof: bool
    source: str | None = None  # source_corpus

    @property
    def parts(self) -> list[str]:
        return self.rel.split("/")

    @property
    def name(self) -> str:
        return self.parts[-1]

    @property
    def stem(self) -> str:
        return os.path.splitext(self.name)[0]


@dataclass(frozen=True)
class Profile:
    """How one corpus's AntiDeepfake script fills ID, Attack, Speaker, Proportion and
    Language (each a function of the row; a string is a constant)."""

    prefix: str
    id: Callable[[Row], str]
    attack: Callable[[Row], str] | str = "-"
    speaker: Callable[[Row], str] | str = "-"
    proportion: Callable[[Row], str] | str = "-"
    lang: Callable[[Row], str] | str = "-"


def _value(field, row: Row) -> str:
    return field(row) if callable(field) else field


def _gen(default: str = "-") -> Callable[[Row], str]:
    return lambda r: r.generator or default


def _spk(default: str = "-") -> Callable[[Row], str]:
    return lambda r: r.speaker or default


def _part(i: int) -> Callable[[Row], str]:
    return lambda r: r.parts[i]


def _by_subset(mapping: dict[str, str]) -> Callable[[Row], str]:
    return lambda r: mapping.get(r.subset or "", "-")


def _subset_prop(r: Row) -> str:
    return proportion(r.subset)


# FLEURS locale folders -> the scripts' language codes (FLEURS_FOLDER_TO_SHORT); others
# are the folder's first field upper-cased, which is what that table holds for them.
_FLEURS = {"cmn_hans_cn": "CN", "yue_hant_hk": "YUE_HANT"}
_MLS = {"ita": "IT", "nld": "NL", "eng": "EN", "fra": "FR", "deu": "DE", "spa": "ES",
        "pol": "PL", "por": "PT"}
_DSD = {"kor": "KO", "eng": "EN", "jpn": "JA"}


def _fleurs_lang(r: Row) -> str:
    folder = r.local.split("/", 1)[0]
    return _FLEURS.get(folder, folder.split("_", 1)[0].upper())


def _cfad_id(r: Row) -> str:
    version, partition, kind = r.parts[0], r.parts[1], r.parts[2]
    split = "test" if "test" in partition else "valid" if "dev" in partition else "train"
    label = "fake" if "fake" in kind else "real"
    return f"{version}-{split}-{label}-{r.stem}"


def _cvoice_lang(r: Row) -> str:
    return "ZH" if "CN" in r.parts[0] else r.parts[0]


def _decro_lang(r: Row) -> str:
    return "ZH" if (r.subset or "").startswith("ch") else "EN"


def _diffssd_speaker(r: Row) -> str:
    folder = r.parts[2] if len(r.parts) > 2 else r.name
    return folder if "speaker" in folder else "-"


def _mlaad_lang(r: Row) -> str:
    folder = r.parts[1]
    return "ZH" if "zh-cn" in folder else folder.upper()


def _mlaad_id(r: Row) -> str:
    folder = r.parts[1]
    folder = "ZH" if "zh-cn" in folder else folder
    return f"{folder}-{r.parts[2]}-{r.stem}"


def _wavefake_lang(r: Row) -> str:
    folder = r.parts[0]
    return "JA" if "jsut" in folder else "EN" if "ljspeech" in folder else "-"


def _vcc_attack(r: Row) -> str:
    gen = r.generator or "-"
    return gen.split("_", 1)[1] if gen.startswith("vcc") and "_" in gen else gen


def _codecfake_attack(r: Row) -> str:
    gen = r.generator or ""
    return gen if len(gen) == 3 and gen.startswith("F") and gen[1:].isdigit() else "-"


_THREE = {"train": "train", "dev": "valid", "eval": "test"}

PROFILES: dict[str, Profile] = {
    "aishell3": Profile("AIShell3-", lambda r: f"{r.speaker}-{r.stem}", speaker=_spk(),
                        proportion=_subset_prop, lang="ZH"),
    "asvspoof2019_la": Profile("ASV19LA-", lambda r: r.local, attack=_gen(), speaker=_spk(),
                               proportion=_by_subset(_THREE), lang="EN"),
    # the 2021 keys write "bonafide" in the attack column of bona fide trials
    "asvspoof2021_la": Profile("ASV21LA-", lambda r: r.local, attack=_gen("bonafide"),
                               speaker=_spk(), proportion="test", lang="EN"),
    "asvspoof2021_df": Profile("ASV21DF-", lambda r: r.local,
                               attack=lambda r: _vcc_attack(r) if r.spoof else "bonafide",
                               speaker=_spk(), proportion="test", lang="EN"),
    # the ASVspoof 5 protocols write "bonafide" as the attack label of bona fide trials;
    # its script forgets Language: the intended EN is written
    "asvspoof5": Profile("ASV5-", lambda r: f"{r.generator or 'bonafide'}-{r.local}",
                         attack=_gen("bonafide"), speaker=_spk(),
                         proportion=_by_subset(_THREE), lang="EN"),
    "cfad": Profile("CFAD-", _cfad_id, attack=_part(3),
                    speaker=lambda r: r.name.split("_")[0], proportion=_subset_prop,
                    lang="ZH"),
    "cnceleb2": Profile("CNCeleb2-", lambda r: f"{r.speaker}-{r.stem}", speaker=_spk(),
                        lang="ZH"),
    "codecfake": Profile("Codecf-", lambda r: r.stem, attack=_codecfake_attack,
                         proportion=_by_subset({"train": "train", "dev": "valid",
                                                "C7": "test"})),
    "codecfake_wu": Profile("CodecF-", lambda r: r.stem, attack=_gen(), speaker=_spk(),
                            lang="EN"),
    "cvoicefake": Profile("CVoice-", lambda r: f"{r.parts[0]}-{r.parts[1]}-{r.stem}",
                          attack=_part(1), lang=_cvoice_lang),
    "decro": Profile("DECRO-",
                     lambda r: f"{_subset_prop(r)}-{_decro_lang(r)}-{r.stem}",
                     attack=lambda r: r.generator or r.source or "-",
                     speaker=_spk("unknown"),
                     proportion=_subset_prop, lang=_decro_lang),
    "dfadd": Profile("DFADD-", lambda r: f"{r.parts[0]}-{r.stem}", attack=_part(0),
                     speaker=lambda r: r.name.split("_")[0],
                     proportion=lambda r: r.subset or "-", lang="EN"),
    "diffssd": Profile("DiffSSD-",
                       lambda r: f"{r.parts[1]}-{_diffssd_speaker(r)}-EN-{r.stem}",
                       attack=_part(1), speaker=_diffssd_speaker, lang="EN"),
    "diffusion_deepfake": Profile("DiffFake-", lambda r: f"{r.parts[0]}-{r.stem}",
                                  attack=_part(0), speaker=lambda r: r.name.split("_")[0],
                                  lang="EN"),
    "dsd": Profile("DSD-", lambda r: r.stem, attack=_gen(), speaker=_spk(),
                   proportion=_by_subset(_THREE), lang=lambda r: _DSD.get(r.language or "",
                                                                          "-")),
    "fleurs": Profile("FLEURS-", lambda r: f"{_fleurs_lang(r)}-{r.stem}",
                      proportion=_subset_prop, lang=_fleurs_lang),
    "fleurs_r": Profile("FLEURS-R-", lambda r: f"{_fleurs_lang(r)}-{r.stem}",
                        proportion=_subset_prop, lang=_fleurs_lang),
    "habla": Profile("HABLA-", lambda r: f"{'fake' if r.spoof else 'real'}-{r.stem}",
                     attack=_part(0), speaker=_part(2), lang="ES"),
    "libritts": Profile("Libri-", lambda r: r.stem, speaker=lambda r: r.parts[-3],
                        proportion=_subset_prop, lang="EN"),
    "libritts_r": Profile("Libri-R-", lambda r: r.stem, speaker=lambda r: r.parts[-3],
                          proportion=_subset_prop, lang="EN"),
    "libritts_vocoded": Profile("LibriTTS-Vo-", lambda r: f"{r.parts[0]}-{r.stem}",
                                attack=_part(0), speaker=_part(2), proportion=_subset_prop,
                                lang="EN"),
    "ljspeech": Profile("LJ-", lambda r: r.stem, speaker=lambda r: r.name.split("-")[0],
                        lang="EN"),
    "mlaad": Profile("MLAAD-", _mlaad_id, attack=_part(2), lang=_mlaad_lang),
    "mls": Profile("MLS-", lambda r: f"{_MLS.get(r.language or '', '-')}-{r.stem}",
                   speaker=lambda r: r.parts[-3], proportion=_subset_prop,
                   lang=lambda r: _MLS.get(r.language or "", "-")),
    # its script forgets Language and never sets it: "-"
    "spoofceleb": Profile("SpoofCeleb-", lambda r: r.local.split("/", 1)[1],
                          attack=lambda r: r.generator or "a00", speaker=_spk(),
                          proportion=_by_subset({"train": "train", "development": "valid",
                                                 "evaluation": "test"})),
    "voicemos": Profile("VoiceMOS-", lambda r: r.stem),  # ID gets its file index in front
    "voxceleb2": Profile("VoxCeleb2-", lambda r: "-".join(r.local.split("/")),
                         speaker=_spk()),
    "voxceleb2_vocoded": Profile("VoxCeleb2-Vo-",
                                 lambda r: f"{r.parts[0]}-{r.parts[3]}-{r.parts[4]}-{r.stem}",
                                 attack=_part(0), speaker=_part(3)),
    "wavefake": Profile("WF-", lambda r: f"{r.parts[0]}_{r.stem}", attack=_part(0),
                        lang=_wavefake_lang),
    # AntiDeepfake's test sets (and WildSVDD)
    "add2023": Profile("ADD2023-", lambda r: r.name, proportion="test"),
    "in_the_wild": Profile("ItW-", lambda r: r.stem, speaker=_spk(), lang="EN"),
    "fakeorreal": Profile("FoR-", lambda r: f"{r.parts[0]}-{r.parts[1]}-{r.stem}",
                          proportion=_subset_prop, lang="EN"),
    "deepvoice": Profile("DeepVoice-", lambda r: f"VC_{r.stem}", attack="VC", lang="EN"),
    "wildsvdd": Profile("WildSVDD-", lambda r: f"{r.parts[0]}-{r.parts[1]}-{r.stem}",
                        proportion=lambda r: "train" if r.parts[0] == "train" else "test",
                        lang=_part(0)),
}


def _duration(row: dict) -> str:
    return repr(round(int(row["num_samples"]) / int(row["sample_rate"]), 2))


def csv_row(job: ExportJob, row: dict, index: dict[str, int] | None = None) -> list:
    """One CSV row; ``index`` maps VoiceMOS utt_ids to their file index."""
    path = row["path"]
    if job.options.path_root is not None:
        path = "$ROOT/" + path
    corpus = row["corpus"]
    profile = PROFILES.get(corpus)
    spoof = row["label"] == "spoof"
    label = "fake" if spoof else "real"
    rate, channels = int(row["sample_rate"]), int(row["channels"] or 1)
    if job.options.transcode:
        encoding, bits = "PCM_S", 16
    elif profile is not None:
        encoding, bits = header_encoding(row["abspath"])
    else:
        encoding, bits = (row["format"] or "").upper(), ""
    if profile is None:
        return [row["utt_id"], label, f"{float(row['duration_s']):.3f}", rate, path,
                row["generator"] if spoof and row["generator"] else "-",
                row["speaker"] or "-", proportion(row["subset"]), channels, encoding, bits,
                language(row["language"])]
    view = Row(local=local_id(row["utt_id"], corpus), rel=row["rel_path"],
               subset=row["subset"], generator=local_id(row["generator"], corpus)
               if row["generator"] else None, speaker=row["speaker"],
               language=row["language"], spoof=spoof, source=row["source_corpus"])
    file_id = profile.id(view)
    if corpus == "voicemos" and index is not None:
        file_id = f"{index[row['utt_id']]}-{file_id}"
    return [profile.prefix + file_id, label, _duration(row), rate, path,
            _value(profile.attack, view), _value(profile.speaker, view),
            _value(profile.proportion, view), channels, encoding, bits,
            _value(profile.lang, view)]


def _voicemos_index(job: ExportJob) -> dict[str, int]:
    """VoiceMOS ids carry the file's position among the corpus's files (its script counts
    them in path order): position among the selection's VoiceMOS rows in path order."""
    table = job.table
    rows = [(p, u) for p, u, c in zip(table.column("rel_path").to_pylist(),
                                      table.column("utt_id").to_pylist(),
                                      table.column("corpus").to_pylist())
            if c == "voicemos" and p is not None]
    return {utt: i for i, (_p, utt) in enumerate(sorted(rows))}


def write(job: ExportJob) -> None:
    index = _voicemos_index(job)
    for split in job.splits:
        rows = [csv_row(job, row, index) for row in job.rows(split)]
        rows.sort(key=lambda r: r[4])  # Path order, as the scripts walk the folders
        with open(job.file(f"{split}.csv"), "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(rows)


WRITER = Writer(
    name="antideepfake", write=write, audio="paths",
    description="AntiDeepfake protocol CSVs per split (its scripts' ID, Attack, Speaker, "
                "Proportion and Language for the corpora they cover; Path with $ROOT "
                "when --path-root is given).",
    usage="""
```yaml
# AntiDeepfake hparams
data_folder: PATH_ROOT          # replaces $ROOT in Path
train_csv: {out}/{split}.csv
```
""")
