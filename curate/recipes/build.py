"""Build files: several corpora and their roots in one TOML file.

::

    [[corpus]]
    recipe = "asvspoof2019_la"      # built-in name, or a recipe .toml (relative to this file)
    root = "/data/LA"
    name = "asvspoof2019_la"        # optional catalog name
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError
from curate.names import check_corpus_name
from curate.tomlfile import read_toml

ENTRY_KEYS = {"recipe", "root", "name"}


@dataclass(frozen=True)
class BuildEntry:
    """One ``[[corpus]]`` table: its recipe, root and optional catalog name."""

    recipe: str
    root: Path
    name: str | None = None
    index: int = 1  # 1-based position among the file's [[corpus]] tables
    source: Path | None = None  # the build file

    def describe(self) -> str:
        """``corpora.toml: [[corpus]] #2 (recipe 'x', root /data/x)``, for messages."""
        where = f"{self.source}: " if self.source is not None else ""
        return f"{where}[[corpus]] #{self.index} (recipe {self.recipe!r}, root {self.root})"


def load_build(path: Path) -> list[BuildEntry]:
    """Parse a build file; relative roots are taken relative to the file.

    Every entry is checked here, before any corpus is prepared: known keys only,
    ``recipe`` and ``root`` present, ``name`` a corpus name (:mod:`curate.names`).
    """
    path = Path(path)
    data = read_toml(path, "build file")
    unknown = sorted(set(data) - {"corpus"})
    if unknown:
        raise CurateError(f"{path}: unknown key(s) {', '.join(unknown)}; list corpora as "
                          f"[[corpus]] tables")
    entries = []
    tables = data.get("corpus", [])
    if not isinstance(tables, list):
        raise CurateError(f"{path}: 'corpus' must be a list of tables; write each corpus as "
                          f"a [[corpus]] table")
    for i, item in enumerate(tables, start=1):
        if not isinstance(item, dict):
            raise CurateError(f"{path}: corpus entry #{i} is not a table; write each corpus "
                              f"as a [[corpus]] table with recipe and root")
        bad = sorted(set(item) - ENTRY_KEYS)
        if bad:
            raise CurateError(f"{path}: [[corpus]] #{i} has unknown key(s) {', '.join(bad)}; "
                              f"allowed: recipe, root, name")
        if "recipe" not in item or "root" not in item:
            raise CurateError(f"{path}: [[corpus]] #{i} needs 'recipe' and 'root'")
        root = Path(str(item["root"])).expanduser()
        if not root.is_absolute():
            root = path.parent / root
        name = item.get("name")
        if name is not None:
            check_corpus_name(name, f"{path}: [[corpus]] #{i}: name")
        entries.append(BuildEntry(str(item["recipe"]), root, name, i, path))
    if not entries:
        raise CurateError(f"{path}: no [[corpus]] entries")
    return entries
