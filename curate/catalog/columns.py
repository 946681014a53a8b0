"""Column groups of the ``utterances`` table (the manifest contract)."""

from __future__ import annotations

# What a recipe returns (utt_id, path and label are required).
RECIPE_COLUMNS: tuple[str, ...] = (
    "utt_id", "corpus", "subset", "path", "label", "label_raw", "artifact", "generator",
    "language", "speaker", "gender", "source_corpus", "source_utt", "transcript",
    "codec", "codec_quality",
)
REQUIRED_RECIPE_COLUMNS: tuple[str, ...] = ("utt_id", "path", "label")

# What the probe measures (see curate.audio.probe.PROBE_COLUMNS).
PROBE_FACTS: tuple[str, ...] = (
    "duration_s", "sample_rate", "channels", "num_samples", "format", "loudness_lufs",
    "peak_dbfs", "clip_ratio", "silence_ratio", "content_hash",
)
PROBE_STATE: tuple[str, ...] = (
    "status", "error", "probe_note", "probe_level", "file_size", "file_mtime", "probed_at",
)
UTTERANCE_COLUMNS: tuple[str, ...] = RECIPE_COLUMNS + PROBE_FACTS + PROBE_STATE

LABELS: tuple[str, ...] = ("bonafide", "spoof")
STATUSES: tuple[str, ...] = (
    "pending", "ok", "missing", "unreadable", "empty", "nan", "too_short", "silent",
    "removed",  # no longer found by a re-prepare, kept because a selection holds it
)
# Columns a user may group or filter by in `curate stats --by`.
GROUPABLE: tuple[str, ...] = (
    "corpus", "subset", "label", "label_raw", "artifact", "generator", "language",
    "speaker", "gender", "source_corpus", "codec", "codec_quality", "format",
    "sample_rate", "channels", "status",
)
