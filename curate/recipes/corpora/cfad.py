"""CFAD (Ma et al., 2023): a Chinese fake audio detection dataset in three versions.

Layout (ROOT is the inner ``CFAD`` folder of the release)::

    <version>/<partition>/<fake_x|real_x>/<system or source>/<file>.wav
    clean_version/train_clean/fake_clean/hifigan/SSB00050001_hifigan.wav
    codec_version/test_seen_codec/fake_codec/lpcnet/SSB09660003_lpcnet_m4a.wav
    noisy_version/dev_noise/real_noise/aishell1/BAC009S0002W0122_....wav

``version`` is ``clean_version``, ``codec_version`` or ``noisy_version``; ``partition``
is ``train_*``, ``dev_*``, ``test_seen_*`` or ``test_unseen_*`` (suffix ``clean``,
``codec`` or ``noise``). Under ``fake_*`` the folder names the generating system (a
vocoder or TTS system); under ``real_*`` the source database of the genuine speech.
The first ``_`` field of a file name is the source utterance; in the codec version the
last field names the codec.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import list_audio
from curate.recipes.corpora._spoof import finish

VERSIONS = ("clean_version", "codec_version", "noisy_version")


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """One row per wav four folders below a version folder."""
    root = Path(root)
    rows = []
    for version in VERSIONS:
        for rel in list_audio(root / version, ("wav",), depth=3):
            partition, kind, system, name = rel.split("/")
            if not kind.startswith(("fake", "real")):
                continue  # not a label folder
            stem = name.rsplit(".", 1)[0]
            fields = stem.split("_")
            fake = kind.startswith("fake")
            rows.append({
                "utt_id": f"{version}/{partition}/{kind}/{system}/{stem}",
                "subset": partition,
                "path": f"{version}/{rel}",
                "label": "spoof" if fake else "bonafide",
                "label_raw": kind,
                "artifact": "unknown" if fake else None,
                "generator": system if fake else None,
                "language": "cmn",
                "source_corpus": None if fake else system.lower(),
                "codec": fields[-1] if version == "codec_version" and len(fields) > 1
                else None,
            })
    if not rows:
        raise layout_error(recipe, root, "no <version>/<partition>/<fake_*|real_*>/<folder>/"
                                         "*.wav (clean_version/, codec_version/, "
                                         "noisy_version/)")
    return finish(pd.DataFrame(rows))
