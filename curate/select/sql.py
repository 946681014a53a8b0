"""The selection stage's SQL, in one place. Every user value is a bound parameter.

A freeze is one query, a chain of CTEs, each reading the one before:

``restricted`` -> ``filtered`` -> ``dedup_hash`` -> ``dedup_source`` -> ``quota``
-> ``temperature`` -> ``balanced`` -> ``assigned`` (split) -> final (holdout policy).

Stages the spec does not ask for are left out of the chain. Randomness is a key
per row, the upper 64 bits of md5(seed:utt_id), and per split group, of
md5(seed:group) (``md5_number_upper``; ties broken by id): the same spec,
seed and catalog always give the same items. Split groups are ordered by key and
cut at the cumulative item fractions, so a group never crosses splits; with
``by = "subset"`` the corpus's own subsets are mapped to splits instead.

Identifiers that vary (group-by columns) come from the validated whitelist
``curate.catalog.columns.GROUPABLE``; the ``where`` expression is checked by
``curate.select.where``. ``restricted`` applies every structured filter (status,
corpora, languages, labels, generators, subsets, durations); the user's ``where`` is
applied only in ``filtered``, which reads ``restricted``, so no text in it can reach a
row the other filters leave out (``(...) OR (1=1)`` widens nothing).
"""

from __future__ import annotations

from curate.select.spec import SelectionSpec

# Grouping keys for [split] by; fixed SQL fragments chosen by a validated name.
GROUP_KEYS = {
    "speaker": "coalesce('spk:' || corpus || ':' || speaker, 'src:' || source_utt, "
               "'utt:' || utt_id)",
    "source_utt": "'src:' || coalesce(source_utt, utt_id)",
    "utt": "'utt:' || utt_id",
    "subset": "NULL",
}

_IN_CORPORA = "(len($corpora::VARCHAR[]) = 0 OR list_contains($corpora::VARCHAR[], corpus))"
# The [filter] lists; every list is "any of", an empty list keeps every row.
_LIST_FILTER = _IN_CORPORA + """
  AND (len($languages::VARCHAR[]) = 0 OR list_contains($languages::VARCHAR[], language))
  AND (len($labels::VARCHAR[]) = 0 OR list_contains($labels::VARCHAR[], label))
  AND (len($generators::VARCHAR[]) = 0 OR list_contains($generators::VARCHAR[], generator))
  AND (len($subsets::VARCHAR[]) = 0 OR list_contains($subsets::VARCHAR[], subset))"""
_FILTER = """
      ($status = 'any' OR status = $status)
  AND """ + _LIST_FILTER + """
  AND ($min_duration_s::DOUBLE IS NULL OR duration_s >= $min_duration_s::DOUBLE)
  AND ($max_duration_s::DOUBLE IS NULL OR duration_s <= $max_duration_s::DOUBLE)"""

_HOLDOUT = """(list_contains($h_generators::VARCHAR[], generator)
            OR list_contains($h_languages::VARCHAR[], language)
            OR list_contains($h_corpora::VARCHAR[], corpus)) IS TRUE"""


def _null_safe_join(left: str, right: str, columns: tuple[str, ...]) -> str:
    return " AND ".join(f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" for c in columns) or "TRUE"


def freeze_query(spec: SelectionSpec) -> str:
    """The query returning ``(utt_id, split, weight)`` of ``spec``'s selection."""
    quota, balance, split = spec.quota, spec.balance, spec.split
    extra = set(quota.by) | set(balance.by)
    if quota.temperature is not None:
        extra.add(quota.temperature_by)
    base = ("utt_id", "label", "subset", "source_utt", "content_hash")
    keep = ", ".join(base + tuple(sorted(extra - set(base))))
    # The user's where (checked: balanced parentheses, no comments or statements) sees
    # only `restricted`, the rows every other filter keeps: it can narrow, never widen.
    where = f"\n    WHERE ({spec.filter.where})" if spec.filter.where else ""
    ctes = [f"""restricted AS (
    SELECT * FROM utterances
    WHERE {_FILTER}
)""", f"""filtered AS (
    SELECT {keep}, coalesce(duration_s, 0) AS dur, {GROUP_KEYS[split.by]} AS grp,
           {_HOLDOUT} AS holdout,
           md5_number_upper(CAST($seed AS VARCHAR) || ':' || utt_id) AS rkey
    FROM restricted{where}
)"""]
    prev = "filtered"

    if spec.dedup.content_hash:
        ctes.append(f"""dedup_hash AS (
    SELECT * FROM {prev}
    QUALIFY content_hash IS NULL
         OR row_number() OVER (PARTITION BY content_hash ORDER BY utt_id) = 1
)""")
        prev = "dedup_hash"
    if spec.dedup.source_utt:
        ctes.append(f"""dedup_source AS (
    SELECT * FROM {prev}
    QUALIFY label = 'bonafide' OR source_utt IS NULL
         OR row_number() OVER (PARTITION BY source_utt ORDER BY rkey, utt_id) = 1
)""")
        prev = "dedup_source"

    if quota.active:
        unit = "dur / 3600.0" if quota.unit == "hours" else "1"
        caps = [f"coalesce(($capv_{i}::DOUBLE[])[list_position($capk_{i}::VARCHAR[], "
                f"CAST({column} AS VARCHAR))], $cap_default::DOUBLE)"
                for i, column in enumerate(sorted({c for c, _, _ in quota.caps}))]
        cap = f"least({', '.join(caps)})" if caps else "$cap_default::DOUBLE"
        ctes.append(f"""quota AS (
    SELECT * FROM {prev}
    QUALIFY sum({unit}) OVER (PARTITION BY {', '.join(quota.by)} ORDER BY rkey, utt_id
                              ROWS UNBOUNDED PRECEDING) <= {cap} * (1 + 1e-12)
)""")
        prev = "quota"

    if quota.temperature is not None:
        col = quota.temperature_by
        ctes.append(f"""t_sizes AS (
    SELECT coalesce(CAST({col} AS VARCHAR), '') AS tg, sum(dur) / 3600.0 AS n
    FROM {prev} GROUP BY 1
),
t_shares AS (
    SELECT tg, n, pow(n, 1.0 / $temperature) / sum(pow(n, 1.0 / $temperature)) OVER () AS p
    FROM t_sizes WHERE n > 0
),
t_budget AS (SELECT coalesce($total_hours::DOUBLE, min(n / p)) AS budget FROM t_shares),
temperature AS (
    SELECT r.* FROM {prev} r
    JOIN t_shares t ON t.tg = coalesce(CAST(r.{col} AS VARCHAR), '') CROSS JOIN t_budget b
    QUALIFY sum(r.dur / 3600.0) OVER (PARTITION BY t.tg ORDER BY r.rkey, r.utt_id
                                      ROWS UNBOUNDED PRECEDING)
            <= least(t.n, b.budget * t.p) * (1 + 1e-9)
)""")
        prev = "temperature"

    if balance.ratio is not None:
        group_cols = ", ".join(balance.by)
        counts_select = f"{group_cols}, " if balance.by else ""
        counts_group = f"GROUP BY {group_cols}" if balance.by else ""
        partition = ", ".join(f"r.{c}" for c in balance.by + ("label",))
        ctes.append(f"""b_counts AS (
    SELECT {counts_select}count(*) FILTER (WHERE label = 'bonafide') AS nb,
           count(*) FILTER (WHERE label = 'spoof') AS ns
    FROM {prev} {counts_group}
),
b_ranked AS (
    SELECT r.*, c.nb, c.ns,
           row_number() OVER (PARTITION BY {partition} ORDER BY r.rkey, r.utt_id) AS rn
    FROM {prev} r JOIN b_counts c ON {_null_safe_join('r', 'c', balance.by)}
)""")
        if balance.method == "downsample":
            ctes.append("""balanced AS (
    SELECT * EXCLUDE (nb, ns, rn), 1.0 AS weight FROM b_ranked
    WHERE (label = 'bonafide' AND rn <= least(nb, $ratio * ns) + 1e-9)
       OR (label = 'spoof' AND rn <= least(ns, nb / $ratio) + 1e-9)
)""")
        else:
            ctes.append("""balanced AS (
    SELECT * EXCLUDE (nb, ns, rn),
           CASE WHEN nb = 0 OR ns = 0 THEN 1.0
                WHEN label = 'bonafide' THEN ($ratio / (1 + $ratio)) * (nb + ns) / nb
                ELSE (1 / (1 + $ratio)) * (nb + ns) / ns END AS weight
    FROM b_ranked
)""")
        prev = "balanced"
    weight = "weight" if balance.ratio is not None else "1.0"

    if split.by == "subset":
        ctes.append(f"""assigned AS (
    SELECT utt_id, holdout, {weight} AS weight,
           ($split_names::VARCHAR[])[list_position($subset_keys::VARCHAR[], subset)] AS split
    FROM {prev}
)""")
    else:
        ctes.append(f"""s_groups AS (
    SELECT grp, count(*) AS n, md5_number_upper(CAST($seed AS VARCHAR) || ':' || grp) AS key
    FROM {prev} GROUP BY grp
),
s_placed AS (
    SELECT grp, (sum(n) OVER (ORDER BY key, grp ROWS UNBOUNDED PRECEDING) - n / 2.0)
                / sum(n) OVER () AS pos
    FROM s_groups
),
assigned AS (
    SELECT r.utt_id, r.holdout, {weight.replace('weight', 'r.weight')} AS weight,
           ($split_names::VARCHAR[])[
               1 + len(list_filter($split_bounds::DOUBLE[], lambda b: b <= p.pos))] AS split
    FROM {prev} r JOIN s_placed p USING (grp)
)""")
    return "WITH " + ",\n".join(ctes) + """
SELECT utt_id,
       CASE WHEN NOT holdout THEN split
            WHEN split = 'test' OR $holdout_policy = 'test' THEN 'test' END AS split,
       weight
FROM assigned
WHERE split IS NOT NULL
  AND NOT (holdout AND split <> 'test' AND $holdout_policy = 'drop')
ORDER BY utt_id
"""


# The values a spec's ids are checked against (curate.select.check), in one pass:
# corpora of the whole catalog; generators, languages and subsets of the corpora
# [filter] names; corpora, generators and languages of the rows the [filter] lists keep
# (what [holdout] can reach). Every status counts: an unprobed row still exists.
ID_VALUES = """
SELECT list(DISTINCT corpus) FILTER (WHERE corpus IS NOT NULL) AS corpora,
       list(DISTINCT generator) FILTER (WHERE generator IS NOT NULL AND in_corpora)
           AS generators,
       list(DISTINCT language) FILTER (WHERE language IS NOT NULL AND in_corpora)
           AS languages,
       list(DISTINCT subset) FILTER (WHERE subset IS NOT NULL AND in_corpora) AS subsets,
       list(DISTINCT corpus) FILTER (WHERE corpus IS NOT NULL AND in_lists) AS kept_corpora,
       list(DISTINCT generator) FILTER (WHERE generator IS NOT NULL AND in_lists)
           AS kept_generators,
       list(DISTINCT language) FILTER (WHERE language IS NOT NULL AND in_lists)
           AS kept_languages
FROM (
    SELECT corpus, generator, language, subset,
           """ + _IN_CORPORA + """ AS in_corpora,
           (""" + _LIST_FILTER + """) AS in_lists
    FROM utterances
)
"""

DELETE_SELECTION_ITEMS = "DELETE FROM selection_items WHERE selection = ?"
DELETE_SELECTION = "DELETE FROM selections WHERE name = ?"
INSERT_SELECTION = """
INSERT INTO selections (name, spec, spec_hash, seed, created_at, n_items)
VALUES (?, ?, ?, ?, now(), ?)
"""
def insert_items_query(spec: SelectionSpec) -> str:
    """Insert the selection's items straight from the freeze query (no round trip)."""
    return ("INSERT INTO selection_items (selection, utt_id, split, weight)\n"
            "SELECT $selection_name, utt_id, split, weight FROM (" + freeze_query(spec) + ")")
SELECTION_SPLITS = """
SELECT i.split, count(*) AS utterances, round(sum(u.duration_s) / 3600.0, 4) AS hours,
       count(*) FILTER (WHERE u.label = 'bonafide') AS bonafide,
       count(*) FILTER (WHERE u.label = 'spoof') AS spoof
FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ? GROUP BY i.split ORDER BY i.split
"""
# The items of a selection (one split or all) whose audio can be read: status 'ok'.
# Items that are not (see UNAVAILABLE_ITEMS) are counted first and never dropped
# silently (curate.select.freeze.check_available).
SELECTION_ROWS = """
SELECT i.utt_id, i.split, i.weight, u.corpus, u.path, u.label, u.language, u.generator,
       u.speaker, u.duration_s, c.root || '/' || u.path AS abspath
FROM selection_items i JOIN utterances u USING (utt_id) JOIN corpora c ON c.name = u.corpus
WHERE i.selection = ? AND (? IS NULL OR i.split = ?) AND u.status = 'ok'
ORDER BY i.utt_id
"""
# Items no longer 'ok' by status ('absent': the utterance row itself is gone, which
# only a catalog from before the 'removed' status can hold).
UNAVAILABLE_ITEMS = """
SELECT coalesce(u.status, 'absent') AS status, count(*) AS n
FROM selection_items i LEFT JOIN utterances u USING (utt_id)
WHERE i.selection = ? AND (? IS NULL OR i.split = ?) AND u.status IS DISTINCT FROM 'ok'
GROUP BY 1 ORDER BY n DESC, 1
"""
SELECTION_EXISTS = "SELECT spec_hash FROM selections WHERE name = ?"
COUNT_ITEMS = "SELECT count(*) FROM selection_items WHERE selection = ?"
SELECTIONS_LIST = """
SELECT s.name, i.split, count(*) AS utterances,
       round(sum(u.duration_s) / 3600.0, 4) AS hours,
       count(*) FILTER (WHERE u.label = 'bonafide') AS bonafide,
       count(*) FILTER (WHERE u.label = 'spoof') AS spoof,
       count(*) FILTER (WHERE u.status IS DISTINCT FROM 'ok') AS not_ok,
       left(s.spec_hash, 12) AS spec_hash, s.created_at
FROM selections s JOIN selection_items i ON i.selection = s.name
LEFT JOIN utterances u USING (utt_id)
GROUP BY ALL ORDER BY s.name, i.split
"""


def selection_stats_query(by: tuple[str, ...]) -> str:
    """Counts and hours of one selection grouped by ``by`` (validated identifiers;
    ``split`` is the selection's split, the others utterances columns)."""
    cols = ", ".join("i.split" if c == "split" else f"u.{c}" for c in by)
    return f"""
SELECT {cols}, count(*) AS utterances, round(sum(u.duration_s) / 3600.0, 4) AS hours
FROM selection_items i JOIN utterances u USING (utt_id)
WHERE i.selection = ?
GROUP BY ALL ORDER BY ALL
"""
