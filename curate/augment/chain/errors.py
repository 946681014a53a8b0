"""The error of a chain file that cannot be used."""

from __future__ import annotations

from curate.errors import CurateError


class ChainError(CurateError, ValueError):
    """A chain file that cannot be used; the message names the file, the step and the fix."""
