"""Naming rules shared by the catalog's named things, in one place.

Two rules exist today:

- :data:`IDENTIFIER_RE`, a lowercase identifier (``^[a-z][a-z0-9_]*$``, e.g.
  ``asvspoof2019_la``): corpus recipe names and the catalog names of corpora
  (``curate prepare --name``, ``name`` in a build file). A corpus name prefixes every
  ``utt_id`` and ``generator`` as ``corpus:ID``, so it can never hold ``:``, and it is a
  folder name under an export or ``curate augment --selection`` output.
- :data:`NAME_RE` (``^[A-Za-z][A-Za-z0-9_.-]*$``, e.g. ``train_v1``): selection,
  experiment and ablation names. No ``:`` and no ``/`` either.
"""

from __future__ import annotations

import re

from curate.errors import CurateError

__all__ = ["IDENTIFIER_RE", "NAME_RE", "is_identifier", "check_corpus_name"]

#: A lowercase identifier: corpus and recipe names.
IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Selection, experiment and ablation names: letters, digits, ``_ . -``; a letter first.
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def is_identifier(name: object) -> bool:
    """True when ``name`` is a string matching :data:`IDENTIFIER_RE`."""
    return isinstance(name, str) and IDENTIFIER_RE.match(name) is not None


def check_corpus_name(name: object, where: str) -> str:
    """Return ``name`` when it is a valid corpus name, else raise a :class:`CurateError`.

    Args:
        name: the catalog name of a corpus.
        where: what gave the name, for the message (``"--name"``, ``"corpora.toml:
            [[corpus]] #2: name"``).
    """
    if not is_identifier(name):
        raise CurateError(f"{where} is {name!r}; a corpus name must be a lowercase "
                          "identifier like 'my_corpus' (a-z, 0-9, _; a letter first; no ':')")
    return str(name)
