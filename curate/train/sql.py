"""The training stage's SQL (runs, scores, results), in one place; values bound."""

SELECTION_HASH = "SELECT spec_hash FROM selections WHERE name = ?"
RUN_STATUS = "SELECT status FROM runs WHERE run_id = ?"
DELETE_RUN = "DELETE FROM runs WHERE run_id = ?"
INSERT_RUN = """
INSERT INTO runs (run_id, name, config, seed, code_version, status, started_at)
VALUES (?, ?, ?, ?, ?, 'running', now())
"""
FINISH_RUN = "UPDATE runs SET status = ?, finished_at = now() WHERE run_id = ?"
DELETE_RUN_OUTPUTS_SCORES = "DELETE FROM scores WHERE run_id = ?"
DELETE_RUN_OUTPUTS_RESULTS = "DELETE FROM results WHERE run_id = ?"
INSERT_SCORES = """
INSERT INTO scores (run_id, eval_set, utt_id, score)
SELECT run_id, eval_set, utt_id, score FROM _scores
"""
INSERT_RESULTS = """
INSERT INTO results (run_id, eval_set, eval_group, metric, value)
SELECT run_id, eval_set, eval_group, metric, value FROM _results
"""
RUN_RESULTS = """
SELECT eval_set, eval_group, metric, value FROM results WHERE run_id = ?
ORDER BY eval_set, eval_group = 'all' DESC, eval_group, metric
"""
RUN_SCORES = """
SELECT s.utt_id, s.score, u.label, u.generator, u.language, u.corpus
FROM scores s JOIN utterances u USING (utt_id)
WHERE s.run_id = ? AND s.eval_set = ?
ORDER BY s.utt_id
"""
