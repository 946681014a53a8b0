"""The demo's SQL, in one place; values bound."""

# Per cell: results on the test set of the ablation's finished runs (the results table).
DEMO_RESULTS = """
SELECT ar.cell, res.eval_group, res.metric, res.value
FROM ablation_runs ar JOIN results res USING (run_id) JOIN runs r USING (run_id)
WHERE ar.ablation = ? AND res.eval_set = 'test' AND r.status = 'finished'
"""
# The ablation's finished runs with their stored config (run_dir) in grid order.
FINISHED_ABLATION_RUNS = """
SELECT ar.run_id, ar.cell, ar.repeat, r.config
FROM ablation_runs ar JOIN runs r USING (run_id)
WHERE ar.ablation = ? AND r.status = 'finished' ORDER BY ar.cell, ar.repeat
"""
