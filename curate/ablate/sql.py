"""The report stage's SQL, in one place; values bound."""

COMPOSITION = """
SELECT corpus, language, label, count(*) AS utterances,
       round(sum(duration_s) / 60.0, 2) AS minutes
FROM utterances WHERE status = 'ok'
GROUP BY ALL ORDER BY corpus, language, label
"""
SELECTION_COMPOSITION = """
SELECT i.split, u.label, coalesce(u.generator, '-') AS generator, count(*) AS utterances,
       round(sum(u.duration_s) / 60.0, 2) AS minutes
FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ? GROUP BY ALL ORDER BY i.split, u.label, generator
"""
RUN_INFO = "SELECT run_id, name, config, status, code_version FROM runs WHERE run_id = ?"
RESULTS_WIDE = """
SELECT eval_set, eval_group,
       max(value) FILTER (WHERE metric = 'eer') AS eer,
       max(value) FILTER (WHERE metric = 'min_dcf') AS min_dcf,
       max(value) FILTER (WHERE metric = 'eer_ci_low') AS eer_ci_low,
       max(value) FILTER (WHERE metric = 'eer_ci_high') AS eer_ci_high,
       max(value) FILTER (WHERE metric = 'min_dcf_ci_low') AS min_dcf_ci_low,
       max(value) FILTER (WHERE metric = 'min_dcf_ci_high') AS min_dcf_ci_high,
       max(value) FILTER (WHERE metric = 'n_bonafide') AS n_bonafide,
       max(value) FILTER (WHERE metric = 'n_spoof') AS n_spoof,
       max(value) FILTER (WHERE metric = 'overlap_corpora') AS overlap_corpora,
       max(value) FILTER (WHERE metric = 'overlap_related') AS overlap_related,
       max(value) FILTER (WHERE metric = 'overlap_speakers') AS overlap_speakers,
       max(value) FILTER (WHERE metric = 'overlap_sources') AS overlap_sources,
       max(value) FILTER (WHERE metric = 'overlap_content') AS overlap_content
FROM results WHERE run_id = ?
GROUP BY eval_set, eval_group ORDER BY eval_set, eval_group = 'all' DESC, eval_group
"""

# --- ablations ---------------------------------------------------------------------
UPSERT_ABLATION = """
INSERT OR REPLACE INTO ablations (name, spec, spec_hash, created_at) VALUES (?, ?, ?, now())
"""
ABLATION_INFO = "SELECT name, spec, spec_hash, created_at FROM ablations WHERE name = ?"
DELETE_ABLATION_RUN = "DELETE FROM ablation_runs WHERE ablation = ? AND cell = ? AND repeat = ?"
INSERT_ABLATION_RUN = """
INSERT INTO ablation_runs (ablation, run_id, cell, levels, repeat, seed) VALUES (?, ?, ?, ?, ?, ?)
"""
ABLATION_RUNS = """
SELECT ar.run_id, ar.cell, ar.levels, ar.repeat, ar.seed, r.status, r.config,
       date_diff('millisecond', r.started_at, r.finished_at) / 1000.0 AS seconds
FROM ablation_runs ar LEFT JOIN runs r USING (run_id)
WHERE ar.ablation = ? ORDER BY ar.cell, ar.repeat
"""
ABLATION_RESULTS = """
SELECT ar.run_id, ar.cell, ar.levels, ar.repeat, res.eval_set, res.eval_group, res.metric,
       res.value
FROM ablation_runs ar JOIN results res USING (run_id) JOIN runs r USING (run_id)
WHERE ar.ablation = ? AND r.status = 'finished'
"""
SELECTION_SPLIT_HOURS = """
SELECT u.corpus, u.language, u.label, count(*) AS utterances,
       round(sum(u.duration_s) / 3600.0, 4) AS hours
FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ? AND i.split = ?
GROUP BY ALL ORDER BY ALL
"""

# --- multi-seed summaries and evaluation sections ------------------------------------
FINISHED_RUNS = """
SELECT run_id, name, config, seed FROM runs WHERE status = 'finished' ORDER BY name, run_id
"""
RESULTS_OF_GROUP = """
SELECT run_id, eval_set, eval_group, metric, value FROM results
WHERE eval_group = ? AND list_contains(?, metric)
"""
DELETE_INTERVALS = """
DELETE FROM results WHERE run_id = ? AND eval_set = ? AND eval_group = 'all'
  AND metric IN ('eer_ci_low', 'eer_ci_high', 'min_dcf_ci_low', 'min_dcf_ci_high')
"""
ALL_RUNS = "SELECT run_id, name, status, seed FROM runs ORDER BY name, run_id"
