"""Build files: several corpora and their roots in one TOML file.

::

    data_root = "/data"             # optional: where relative roots start (default: the
                                    # build file's folder; relative to that folder)
    optional = true                 # optional: default of every entry's `optional`

    [[corpus]]
    recipe = "asvspoof2019_la"      # built-in name, or a recipe .toml (relative to this file)
    root = "ASVspoof2019-LA/LA"     # absolute, or relative to data_root
    name = "asvspoof2019_la"        # optional catalog name
    optional = true                 # a missing root is listed, not an error (unless
                                    # `curate build --strict`)

The shipped ``recipes/builds/antideepfake.toml`` lists every corpus of a published
training mix with placeholder roots: ``curate build antideepfake --data-root DIR``
prepares the corpora found under DIR and lists the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError
from curate.names import check_corpus_name
from curate.tomlfile import read_toml

ENTRY_KEYS = {"recipe", "root", "name", "optional"}
TOP_KEYS = {"corpus", "data_root", "optional"}


@dataclass(frozen=True)
class BuildEntry:
    """One ``[[corpus]]`` table: its recipe, root and optional catalog name."""

    recipe: str
    root: Path
    name: str | None = None
    index: int = 1  # 1-based position among the file's [[corpus]] tables
    source: Path | None = None  # the build file
    optional: bool = False  # a missing root is listed rather than an error

    def describe(self) -> str:
        """``corpora.toml: [[corpus]] #2 (recipe 'x', root /data/x)``, for messages."""
        where = f"{self.source}: " if self.source is not None else ""
        return f"{where}[[corpus]] #{self.index} (recipe {self.recipe!r}, root {self.root})"


def builtin_builds() -> dict[str, Path]:
    """Shipped build files (``recipes/builds/*.toml``) by name."""
    from curate.recipes.spec import builtin_recipes_dir

    folder = builtin_recipes_dir() / "builds"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def find_build(name_or_path: Path | str) -> Path:
    """A build file by path, or a shipped one by name (``antideepfake``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = builtin_builds()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    known = ", ".join(shipped) or "none"
    raise CurateError(f"build file {name_or_path} does not exist; give the path of a build "
                      f"file or the name of a shipped one ({known})")


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise CurateError(f"{where} must be true or false")
    return value


def load_build(path: Path, *, data_root: Path | str | None = None) -> list[BuildEntry]:
    """Parse a build file; relative roots start at ``data_root``.

    ``data_root`` (the argument, else the file's ``data_root`` key, else the file's
    folder; a relative one is relative to the file's folder) is where relative roots
    start. Every entry is checked here, before any corpus is prepared: known keys
    only, ``recipe`` and ``root`` present, ``name`` a corpus name
    (:mod:`curate.names`), ``optional`` a boolean.
    """
    path = Path(path)
    data = read_toml(path, "build file")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise CurateError(f"{path}: unknown key(s) {', '.join(unknown)}; list corpora as "
                          f"[[corpus]] tables (other keys: data_root, optional)")
    base = data_root if data_root is not None else data.get("data_root", ".")
    if not isinstance(base, (str, Path)):
        raise CurateError(f"{path}: data_root must be a folder path")
    base = Path(str(base)).expanduser()
    if not base.is_absolute():
        base = path.parent / base
    default_optional = _flag(data.get("optional", False), f"{path}: optional")
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
                              f"allowed: recipe, root, name, optional")
        if "recipe" not in item or "root" not in item:
            raise CurateError(f"{path}: [[corpus]] #{i} needs 'recipe' and 'root'")
        root = Path(str(item["root"])).expanduser()
        if not root.is_absolute():
            root = base / root
        name = item.get("name")
        if name is not None:
            check_corpus_name(name, f"{path}: [[corpus]] #{i}: name")
        optional = _flag(item.get("optional", default_optional),
                         f"{path}: [[corpus]] #{i}: optional")
        entries.append(BuildEntry(str(item["recipe"]), root, name, i, path, optional))
    if not entries:
        raise CurateError(f"{path}: no [[corpus]] entries")
    return entries


def missing_roots(entries: list[BuildEntry], *, strict: bool = False
                  ) -> tuple[list[BuildEntry], list[BuildEntry]]:
    """Split ``entries`` into (present, missing): an optional entry whose root does not
    exist is missing; with ``strict`` it is an error like any other absent root.

    An absent root of a required entry, or a root that exists but is not a folder,
    is left among the present entries: checking them reports it.
    """
    present, missing = [], []
    for entry in entries:
        absent = not Path(entry.root).expanduser().exists()
        if absent and entry.optional and not strict:
            missing.append(entry)
        else:
            present.append(entry)
    return present, missing


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def usage_condition(mix: str, split: str) -> str:
    """The rows a published training mix puts in ``split`` (``train`` or ``valid``), as one
    SQL boolean over ``utterances`` columns, from the built-in recipes' ``used_by`` keys.

    It is the ``[filter] where`` of ``recipes/selections/<mix>*.toml`` (a test keeps the
    shipped files equal to it). Corpus names are the recipes' names, as a build file
    without ``name`` keys prepares them; a corpus used in full (``"*"``) matches every row.
    """
    from curate.recipes.spec import ALL_SUBSETS, builtin_corpus_recipes, load_recipe

    if split not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
    terms = []
    for name in builtin_corpus_recipes():
        usage = load_recipe(name).usage(mix)
        subsets = getattr(usage, split, ()) if usage is not None else ()
        if not subsets:
            continue
        if ALL_SUBSETS in subsets:
            terms.append(f"corpus = {_quote(name)}")
        else:
            listed = ", ".join(_quote(s) for s in subsets)
            terms.append(f"(corpus = {_quote(name)} AND subset IN ({listed}))")
    if not terms:
        raise CurateError(f"no built-in recipe declares [used_by.{mix}] {split} subsets")
    return "\n   OR ".join(terms)
