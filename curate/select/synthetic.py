"""A synthetic catalog of any size, made in SQL (for `curate bench select` and tests).

Rows look like a real multi-corpus catalog: 5 corpora, 12 languages, 30 % bonafide,
8 generators per corpus, 50 utterances per speaker, artifacts linked to a genuine
source, 2 % repeated audio (shared content hashes), 2 % rows not ok, durations
1-10 s. Deterministic in ``seed``.
"""

from __future__ import annotations

from curate.catalog.db import Catalog

LANGUAGES = ["eng", "deu", "fra", "spa", "ita", "pol", "por", "nld", "rus", "hin", "cmn", "jpn"]

_INSERT = """
INSERT INTO utterances (utt_id, corpus, subset, path, label, label_raw, artifact, generator,
                        language, speaker, source_corpus, source_utt, duration_s, sample_rate,
                        channels, num_samples, format, content_hash, status)
SELECT 'syn' || (i % 5) || ':' || i AS utt_id,
       'syn' || (i % 5) AS corpus,
       CASE WHEN h % 10 < 8 THEN 'train' WHEN h % 10 < 9 THEN 'dev' ELSE 'eval' END AS subset,
       'audio/' || i || '.flac' AS path,
       CASE WHEN h % 100 < 30 THEN 'bonafide' ELSE 'spoof' END AS label,
       CASE WHEN h % 100 < 30 THEN 'bonafide' ELSE 'spoof' END AS label_raw,
       CASE WHEN h % 100 < 30 THEN NULL ELSE 'tts' END AS artifact,
       CASE WHEN h % 100 < 30 THEN NULL
            ELSE 'syn' || (i % 5) || ':A' || lpad(CAST((h // 100) % 8 AS VARCHAR), 2, '0') END,
       ($languages::VARCHAR[])[1 + (i // 1000) % 12] AS language,
       CAST(i // 50 AS VARCHAR) AS speaker,
       CASE WHEN h % 100 < 30 THEN NULL ELSE 'syn' || (i % 5) END AS source_corpus,
       CASE WHEN h % 100 < 30 THEN NULL
            ELSE 'syn' || (i % 5) || ':' || ((i // 10) * 10 + 5 * (i % 2)) END AS source_utt,
       1.0 + (h % 9000) / 1000.0 AS duration_s,
       16000, 1, CAST(16000 * (1.0 + (h % 9000) / 1000.0) AS BIGINT), 'flac',
       CASE WHEN h % 50 = 0 THEN 'dup' || (h % 997) ELSE md5(CAST(i AS VARCHAR)) END,
       CASE WHEN (h // 7) % 50 = 0 THEN 'unreadable' ELSE 'ok' END AS status
FROM (SELECT i, hash(i + $seed) AS h FROM range($rows) t(i))
"""
_CORPORA = """
INSERT OR REPLACE INTO corpora (name, root, recipe, recipe_hash, kind, n_utterances, built_at)
SELECT 'syn' || k, '/synthetic/syn' || k, 'synthetic', 'synthetic', 'mixed',
       (SELECT count(*) FROM utterances WHERE corpus = 'syn' || k), now()
FROM range(5) t(k)
"""


def make_synthetic_catalog(catalog: Catalog, rows: int, *, seed: int = 0) -> None:
    """Fill ``catalog`` with ``rows`` synthetic utterances (in one transaction)."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    with catalog.transaction() as con:
        con.execute(_INSERT, {"rows": rows, "seed": seed, "languages": LANGUAGES})
        con.execute(_CORPORA)
