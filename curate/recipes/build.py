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
from curate.tomlfile import read_toml

ENTRY_KEYS = {"recipe", "root", "name"}


@dataclass(frozen=True)
class BuildEntry:
    recipe: str
    root: Path
    name: str | None = None


def load_build(path: Path) -> list[BuildEntry]:
    """Parse a build file; relative roots are taken relative to the file."""
    path = Path(path)
    data = read_toml(path, "build file")
    unknown = sorted(set(data) - {"corpus"})
    if unknown:
        raise CurateError(f"{path}: unknown key(s) {', '.join(unknown)}; list corpora as "
                          f"[[corpus]] tables")
    entries = []
    for i, item in enumerate(data.get("corpus", []), start=1):
        bad = sorted(set(item) - ENTRY_KEYS)
        if bad:
            raise CurateError(f"{path}: [[corpus]] #{i} has unknown key(s) {', '.join(bad)}; "
                              f"allowed: recipe, root, name")
        if "recipe" not in item or "root" not in item:
            raise CurateError(f"{path}: [[corpus]] #{i} needs 'recipe' and 'root'")
        root = Path(str(item["root"])).expanduser()
        if not root.is_absolute():
            root = path.parent / root
        entries.append(BuildEntry(str(item["recipe"]), root, item.get("name")))
    if not entries:
        raise CurateError(f"{path}: no [[corpus]] entries")
    return entries
