"""ASVspoof 2021 speech deepfake evaluation data (see ``_asvspoof2021`` for the layout)."""

from __future__ import annotations

from curate.recipes.corpora._asvspoof2021 import read_df as read

__all__ = ["read"]
