"""AntiDeepfake CSVs (the post-training recipe's protocol format): ``SPLIT.csv`` with
exactly the header ``ID,Label,Duration,SampleRate,Path,Attack,Speaker,Proportion,
AudioChannel,AudioEncoding,AudioBitSample,Language``, as that project's
``protocols/*.py`` scripts write them and its ``dataio`` reads them:

- ID: the utt_id; Label: ``real`` (bonafide) or ``fake`` (spoof), the only two words
  its data loader accepts;
- Duration: seconds (3 decimals); SampleRate, AudioChannel: from the probe;
- Path: absolute, or ``$ROOT/RELATIVE`` with ``path_root`` (its loader replaces
  ``$ROOT`` with the ``data_folder`` hyper-parameter);
- Attack: the generator id, ``-`` for bonafide; Speaker: ``-`` when unknown;
- Proportion: the corpus's own subset (train/dev/eval, ...), ``-`` when it has none;
- AudioEncoding: the container format upper-cased (``FLAC``, ``WAV``, ``MP3``;
  ``PCM_S`` for audio transcoded to 16-bit WAV); AudioBitSample: ``16`` for transcoded
  audio, else empty (the probe does not record bit depth);
- Language: upper-case ISO 639-1 where the language has one (``EN``), else the
  upper-case ISO 639-3 code; ``-`` when undetermined.
"""

from __future__ import annotations

import csv

from curate.export.common import ExportJob, Writer
from curate.recipes.languages import ISO1_TO_ISO3

HEADER = ("ID", "Label", "Duration", "SampleRate", "Path", "Attack", "Speaker", "Proportion",
          "AudioChannel", "AudioEncoding", "AudioBitSample", "Language")
_ISO3_TO_ISO1 = {}
for _iso1, _iso3 in sorted(ISO1_TO_ISO3.items()):
    _ISO3_TO_ISO1.setdefault(_iso3, _iso1)


def language(code: str | None) -> str:
    if not code or code == "und":
        return "-"
    return _ISO3_TO_ISO1.get(code, code).upper()


def csv_row(job: ExportJob, row: dict) -> list:
    path = row["path"]
    if job.options.path_root is not None:
        path = "$ROOT/" + path
    if job.options.transcode:
        encoding, bits = "PCM_S", 16
    else:
        encoding, bits = (row["format"] or "").upper(), ""
    return [row["utt_id"], "real" if row["label"] == "bonafide" else "fake",
            f"{float(row['duration_s']):.3f}", int(row["sample_rate"]), path,
            row["generator"] if row["label"] == "spoof" and row["generator"] else "-",
            row["speaker"] or "-", row["subset"] or "-", int(row["channels"] or 1),
            encoding, bits, language(row["language"])]


def write(job: ExportJob) -> None:
    for split in job.splits:
        with open(job.file(f"{split}.csv"), "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(HEADER)
            for row in job.rows(split):
                writer.writerow(csv_row(job, row))


WRITER = Writer(
    name="antideepfake", write=write, audio="paths",
    description="AntiDeepfake protocol CSVs per split (Label real/fake; Path with $ROOT "
                "when --path-root is given).",
    usage="""
```yaml
# AntiDeepfake hparams
data_folder: PATH_ROOT          # replaces $ROOT in Path
train_csv: {out}/{split}.csv
```
""")
