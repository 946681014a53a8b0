"""The training stage's SQL (runs, scores, results, augment_log), in one place; values bound."""

SELECTION_HASH = "SELECT spec_hash FROM selections WHERE name = ?"
SELECTION_SPLITS = "SELECT DISTINCT split FROM selection_items WHERE selection = ? ORDER BY split"
SELECTION_CODECS = """
SELECT i.utt_id, u.codec FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ? AND (? IS NULL OR i.split = ?)
"""
RUN_STATUS = "SELECT status FROM runs WHERE run_id = ?"
RUN_ROW = "SELECT run_id, name, config, seed, status FROM runs WHERE run_id = ?"
DELETE_RUN = "DELETE FROM runs WHERE run_id = ?"
INSERT_RUN = """
INSERT INTO runs (run_id, name, config, seed, code_version, status, started_at)
VALUES (?, ?, ?, ?, ?, 'running', now())
"""
RESTART_RUN = "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?"
FINISH_RUN = "UPDATE runs SET status = ?, finished_at = now() WHERE run_id = ?"
DELETE_RUN_OUTPUTS_SCORES = "DELETE FROM scores WHERE run_id = ?"
DELETE_RUN_OUTPUTS_RESULTS = "DELETE FROM results WHERE run_id = ?"
DELETE_RUN_AUGMENT_LOG = "DELETE FROM augment_log WHERE run_id = ?"
DELETE_EVAL_SET_SCORES = "DELETE FROM scores WHERE run_id = ? AND eval_set = ?"
DELETE_EVAL_SET_RESULTS = """
DELETE FROM results WHERE run_id = ? AND eval_set = ? AND metric NOT LIKE 'sharpness%'
"""
DELETE_SHARPNESS = """
DELETE FROM results WHERE run_id = ? AND eval_set = ? AND metric LIKE 'sharpness%'
"""
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
# Sharpness next to EER for the same run, eval set and group (``curate sharpness
# --correlate``); the group is bound (NULL: every group).
SHARPNESS_VS_EER = """
SELECT s.run_id, s.eval_set, s.eval_group, s.value AS sharpness, e.value AS eer
FROM results s JOIN results e
  ON e.run_id = s.run_id AND e.eval_set = s.eval_set AND e.eval_group = s.eval_group
 AND e.metric = 'eer'
WHERE s.metric = 'sharpness' AND (? IS NULL OR s.eval_group = ?)
ORDER BY s.run_id, s.eval_set, s.eval_group
"""
CORPUS_ROOTS = "SELECT name, root FROM corpora ORDER BY name"
# Training-overlap restriction of an eval set: what it shares with the run's training
# items (_train_ids, _eval_ids: registered utt_id tables).
TRAIN_OVERLAP = """
WITH tr AS (SELECT u.* FROM utterances u JOIN _train_ids t USING (utt_id)),
     ev AS (SELECT u.* FROM utterances u JOIN _eval_ids e USING (utt_id))
SELECT
  (SELECT count(DISTINCT corpus) FROM ev WHERE corpus IN (SELECT corpus FROM tr)) AS corpora,
  (SELECT count(DISTINCT ev.corpus || ':' || ev.speaker) FROM ev JOIN tr
     ON ev.corpus = tr.corpus AND ev.speaker = tr.speaker) AS speakers,
  (SELECT count(DISTINCT ev.utt_id) FROM ev WHERE ev.source_utt IN (SELECT utt_id FROM tr)
     OR ev.source_utt IN (SELECT source_utt FROM tr WHERE source_utt IS NOT NULL)
     OR ev.utt_id IN (SELECT source_utt FROM tr WHERE source_utt IS NOT NULL)) AS sources,
  (SELECT count(DISTINCT ev.content_hash) FROM ev JOIN tr USING (content_hash)) AS content
"""
OVERLAP_CORPORA = """
SELECT DISTINCT 'train' AS side, u.corpus FROM utterances u JOIN _train_ids USING (utt_id)
UNION ALL
SELECT DISTINCT 'eval', u.corpus FROM utterances u JOIN _eval_ids USING (utt_id)
"""
# Calibration and fusion (curate calibrate / curate fuse).
RUN_EVAL_SETS = "SELECT DISTINCT eval_set FROM scores WHERE run_id = ? ORDER BY eval_set"
DELETE_CALIBRATION_RESULTS = """
DELETE FROM results WHERE run_id = ? AND eval_set = ? AND eval_group = 'all'
  AND metric IN ('cal_act_dcf', 'cal_cllr', 'min_cllr', 'cal_scale', 'cal_offset')
"""
INSERT_FINISHED_RUN = """
INSERT INTO runs (run_id, name, config, seed, code_version, status, started_at, finished_at)
VALUES (?, ?, ?, NULL, ?, 'finished', now(), now())
"""
