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
       max(value) FILTER (WHERE metric = 'n_bonafide') AS n_bonafide,
       max(value) FILTER (WHERE metric = 'n_spoof') AS n_spoof
FROM results WHERE run_id = ?
GROUP BY eval_set, eval_group ORDER BY eval_set, eval_group = 'all' DESC, eval_group
"""
