"""User-facing errors.

A :class:`CurateError` is a mistake the user can fix (bad TOML, unknown corpus,
wrong root, catalog in use). The CLI prints its message as one sentence and exits
with ``exit_code``; it never shows a traceback for these.
"""

from __future__ import annotations


class CurateError(Exception):
    """An error the user can fix; the message names the file/key and the fix."""

    exit_code = 2


class CatalogLockedError(CurateError):
    """The catalog file is held by another writer process."""

    exit_code = 4


class UnavailableItemsError(CurateError):
    """A frozen selection holds items whose audio can no longer be read (status not
    ``ok``: removed by a re-prepare, missing, ...); refreeze or skip them explicitly."""

    exit_code = 2
