"""The message of the engine's label check: which words are not a label, and where.

Recipes map a corpus's label words onto ``bonafide`` / ``spoof`` and keep the word as
the corpus wrote it in ``label_raw``. A word the mapping does not know becomes null
(an SQL ``CASE`` without ``ELSE``) or is passed through unchanged. Either way the user
needs the word itself and the rows that hold it, not ``<null>``: the message shows
``label_raw`` where the label is null, and the first utt_ids of each word.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["bad_label_message"]

NO_LABEL = "<no label>"


def _word(label, raw) -> str:
    """How one bad row's label is shown: the label, else the raw word, else a marker."""
    if not pd.isna(label):
        if not pd.isna(raw) and str(raw) != str(label):
            return f"{str(label)!r} (label_raw {str(raw)!r})"
        return repr(str(label))
    if not pd.isna(raw) and str(raw).strip():
        return repr(str(raw))
    return NO_LABEL


def bad_label_message(source: str, label: pd.Series, label_raw: pd.Series,
                      utt_id: pd.Series, *, words: int = 5, ids: int = 3) -> str:
    """One sentence naming the label words that are not bonafide/spoof and where.

    Args:
        source: the recipe (file or name) the message starts with.
        label, label_raw, utt_id: the offending rows only (aligned Series).
        words: at most this many distinct words are shown (the rest are counted).
        ids: at most this many utt_ids are shown per word.

    Returns:
        ``"SOURCE: label must be 'bonafide' or 'spoof'; found 'Spoof' (1 row: utt_id
        'LA_T_2'), ... ; map ... or fix ..."``, words in order of first appearance.
    """
    shown = [_word(lab, raw) for lab, raw in zip(label.tolist(), label_raw.tolist())]
    table = pd.DataFrame({"word": shown, "utt_id": utt_id.astype("string").fillna("<none>")
                          .tolist()})
    parts = []
    groups = table.groupby("word", sort=False)["utt_id"]
    for word, members in list(groups)[:words]:
        n = len(members)
        examples = ", ".join(repr(v) for v in members.iloc[:ids])
        more = ", ..." if n > ids else ""
        parts.append(f"{word} ({n} row{'s' if n != 1 else ''}: utt_id {examples}{more})")
    rest = groups.ngroups - len(parts)
    if rest > 0:
        parts.append(f"{rest} more word{'s' if rest != 1 else ''}")
    unmapped = any(pd.isna(lab) and not pd.isna(raw) for lab, raw in
                   zip(label.tolist(), label_raw.tolist()))
    note = " (words from label_raw that the recipe mapped to no label)" if unmapped else ""
    return (f"{source}: label must be 'bonafide' or 'spoof'; found {', '.join(parts)}{note}; "
            f"map each word to bonafide or spoof in the recipe and keep it in label_raw, "
            f"or fix those rows of the corpus's label file")
