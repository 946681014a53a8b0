-- Version 2: ablations and the runs they own.
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
