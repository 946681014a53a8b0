-- The curate catalog: the one DDL source of the current schema.
-- A new catalog is created from this file; an older catalog is brought to this
-- version by the numbered files in migrations/ (see curate/catalog/db.py).
-- schema_version: 4

-- Facts about the catalog itself, one value per key: `schema_version` (stamped by
-- curate/catalog/db.py) and `content_hash`, the algorithm of every
-- utterances.content_hash in this catalog (version 4). It is recorded once and never
-- changes, so hashes probed at any time compare: a new catalog hashes with xxh3-128;
-- a catalog migrated from version 3 or older keeps blake2b-128 (0004_content_hash.sql).
CREATE TABLE IF NOT EXISTS schema_info (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
INSERT OR IGNORE INTO schema_info VALUES ('content_hash', 'xxh3-128');

-- One row per prepared corpus. `root` is the only absolute path in the catalog:
-- change it to relocate a corpus.
CREATE TABLE IF NOT EXISTS corpora (
    name         VARCHAR PRIMARY KEY,
    root         VARCHAR NOT NULL,
    recipe       VARCHAR NOT NULL,   -- recipe name (built-in) or the TOML file it came from
    recipe_hash  VARCHAR NOT NULL,   -- blake2b of the recipe text and its options
    title        VARCHAR,
    kind         VARCHAR,            -- genuine | artifact | mixed
    n_utterances BIGINT,
    built_at     TIMESTAMP,
    recipe_name  VARCHAR,             -- the recipe's name (version 3: lineage)
    sources      VARCHAR[]            -- corpora its audio derives from (recipe `sources`)
);

-- One row per audio file of every corpus (the manifest contract).
-- utt_id is unique across the catalog (namespaced `corpus:id`); uniqueness is
-- enforced by the recipe engine before insert, not by an index, so bulk
-- replacement of a corpus stays fast.
CREATE TABLE IF NOT EXISTS utterances (
    utt_id        VARCHAR NOT NULL,
    corpus        VARCHAR NOT NULL,
    subset        VARCHAR,
    path          VARCHAR NOT NULL,   -- relative to corpora.root
    label         VARCHAR NOT NULL CHECK (label IN ('bonafide', 'spoof')),
    label_raw     VARCHAR,
    artifact      VARCHAR,            -- tts, vc, vocoder, codec, ...; NULL for bonafide
    generator     VARCHAR,            -- namespaced `corpus:ID`
    language      VARCHAR NOT NULL DEFAULT 'und',  -- ISO 639-3
    speaker       VARCHAR,
    gender        VARCHAR,
    source_corpus VARCHAR,
    source_utt    VARCHAR,
    transcript    VARCHAR,
    codec         VARCHAR,
    codec_quality VARCHAR,
    -- probe facts
    duration_s    DOUBLE,
    sample_rate   INTEGER,
    channels      INTEGER,
    num_samples   BIGINT,
    format        VARCHAR,
    loudness_lufs DOUBLE,
    peak_dbfs     DOUBLE,
    clip_ratio    DOUBLE,
    silence_ratio DOUBLE,
    content_hash  VARCHAR,
    status        VARCHAR NOT NULL DEFAULT 'pending',  -- pending | ok | missing | unreadable | empty | nan | too_short | silent | removed
    error         VARCHAR,
    probe_note    VARCHAR,            -- non-fatal notes (why loudness is NULL, ...)
    probe_level   VARCHAR,            -- header | full
    file_size     BIGINT,             -- bytes, at probe time (resume key)
    file_mtime    DOUBLE,             -- seconds since the epoch, at probe time (resume key)
    probed_at     TIMESTAMP
);

CREATE TABLE IF NOT EXISTS selections (
    name       VARCHAR PRIMARY KEY,
    spec       VARCHAR NOT NULL,      -- the spec as JSON
    spec_hash  VARCHAR NOT NULL,
    seed       BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    n_items    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS selection_items (
    selection VARCHAR NOT NULL,
    utt_id    VARCHAR NOT NULL,
    split     VARCHAR NOT NULL,
    weight    DOUBLE NOT NULL DEFAULT 1.0
);

CREATE TABLE IF NOT EXISTS runs (
    run_id       VARCHAR PRIMARY KEY,
    name         VARCHAR NOT NULL,
    config       VARCHAR NOT NULL,    -- JSON
    seed         BIGINT,
    code_version VARCHAR,
    status       VARCHAR NOT NULL,    -- running | finished | failed
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP
);

CREATE TABLE IF NOT EXISTS scores (
    run_id   VARCHAR NOT NULL,
    eval_set VARCHAR NOT NULL,
    utt_id   VARCHAR NOT NULL,
    score    DOUBLE NOT NULL          -- higher = more bonafide
);

CREATE TABLE IF NOT EXISTS results (
    run_id     VARCHAR NOT NULL,
    eval_set   VARCHAR NOT NULL,
    eval_group VARCHAR NOT NULL,      -- 'all' or 'column=value'
    metric     VARCHAR NOT NULL,
    value      DOUBLE
);

CREATE TABLE IF NOT EXISTS augment_log (
    run_id VARCHAR NOT NULL,
    epoch  INTEGER NOT NULL,
    utt_id VARCHAR NOT NULL,
    steps  VARCHAR NOT NULL           -- JSON list of {step, params}
);

CREATE TABLE IF NOT EXISTS segments (
    utt_id  VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s   DOUBLE NOT NULL,
    label   VARCHAR NOT NULL CHECK (label IN ('bonafide', 'spoof'))
);

-- Ablations (version 2): the grid's runs and their factor levels.
CREATE TABLE IF NOT EXISTS ablations (
    name       VARCHAR PRIMARY KEY,
    spec       VARCHAR NOT NULL,      -- the ablation file's text
    spec_hash  VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS ablation_runs (
    ablation VARCHAR NOT NULL,
    run_id   VARCHAR NOT NULL,
    cell     VARCHAR NOT NULL,        -- "factor=level,factor=level"
    levels   VARCHAR NOT NULL,        -- JSON object factor -> level
    repeat   INTEGER NOT NULL,
    seed     BIGINT
);
