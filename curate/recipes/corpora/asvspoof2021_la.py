"""ASVspoof 2021 logical access evaluation data (see ``_asvspoof2021`` for the layout)."""

from __future__ import annotations

from curate.recipes.corpora._asvspoof2021 import read_la as read

__all__ = ["read"]
