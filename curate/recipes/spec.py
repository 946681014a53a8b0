"""Corpus recipe files: parse, validate and locate them.

A recipe is a TOML file (see docs/recipes.md)::

    name = "asvspoof2019_la"
    title = "ASVspoof 2019 logical access"
    url = "https://..."
    licence = "ODC-By 1.0"
    languages = ["eng"]
    kind = "mixed"                  # genuine | artifact | mixed | generic
    layout = "ROOT is the LA folder: ..."

    [inputs.protocols]              # files the SQL reads, as globs under ROOT
    glob = "ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.*.txt"

    sql = "SELECT ... FROM read_csv($protocols, ...)"

or, instead of ``sql``, ``function = "table"`` (a built-in Python recipe) or
``function = "package.module:function"`` plus an ``[options]`` table. A user's
own recipe may say ``base = "table"``: it inherits that recipe and adds options.

Keys that describe the corpus rather than read it::

    sources = ["vctk"]              # corpora its audio derives from (lineage)
    artifacts = ["tts", "vc"]       # artifact kinds its spoofed rows carry
    checked = "real file: ASVspoof2019.LA.cm.train.trn.txt (tests/test_corpora_realdata.py)"
                                    # or "documentation": what the recipe was checked against

    [used_by.antideepfake]          # its place in a published training mix
    database = "ASVspoof2019-LA"    # the mix's own name for the corpus
    train = ["train", "eval"]       # subsets used for training ("*": every row)
    valid = ["dev"]                 # subsets used for validation
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from curate.errors import CurateError
from curate.names import IDENTIFIER_RE

KINDS = ("genuine", "artifact", "mixed", "generic")
TOP_KEYS = {
    "name", "title", "url", "licence", "languages", "kind", "layout", "inputs",
    "sql", "function", "options", "base", "obtain", "notes", "sources", "artifacts",
    "checked", "used_by",
}
INPUT_KEYS = {"glob"}
USE_KEYS = {"database", "train", "valid"}
#: A ``used_by`` subset list holding this takes every row of the corpus (with or
#: without a subset).
ALL_SUBSETS = "*"
#: What ``checked`` may say: a real metadata file was read by a test, or only the
#: corpus's documentation (README, paper, protocol scripts) was available.
CHECKED_REAL = "real file: "
CHECKED_DOCS = "documentation"


@dataclass(frozen=True)
class InputSpec:
    """A named set of files under ROOT that a SQL recipe reads (bound as a list)."""

    name: str
    glob: str


@dataclass(frozen=True)
class Usage:
    """How a published training mix (``used_by.NAME``) uses a corpus.

    ``train`` and ``valid`` are the corpus's own subsets (its ``subset`` values) the mix
    trains and validates on; :data:`ALL_SUBSETS` (``"*"``) means every row.
    """

    mix: str
    database: str = ""
    train: tuple[str, ...] = ()
    valid: tuple[str, ...] = ()

    def split_of(self, subset: str | None) -> str | None:
        """``train``, ``valid`` or None (not used) for a row of ``subset``."""
        for split, subsets in (("valid", self.valid), ("train", self.train)):
            if ALL_SUBSETS in subsets or (subset is not None and subset in subsets):
                return split
        return None


@dataclass(frozen=True)
class Recipe:
    """A parsed corpus recipe."""

    name: str
    source: str  # built-in name or the path of the TOML file
    text: str  # the TOML text (hashed into corpora.recipe_hash)
    title: str = ""
    url: str = ""
    licence: str = ""
    languages: tuple[str, ...] = ()
    kind: str = "mixed"
    layout: str = ""
    obtain: str = ""  # where and how to get the corpus
    notes: str = ""  # label policy, quirks, what maps to what
    inputs: tuple[InputSpec, ...] = ()
    sql: str | None = None
    function: str | None = None
    options: dict = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # corpus recipes its audio derives from (lineage)
    artifacts: tuple[str, ...] = ()  # artifact kinds of its spoofed rows
    checked: str = ""  # "real file: ..." or "documentation"
    used_by: tuple[Usage, ...] = ()  # published training mixes that use it

    @property
    def recipe_hash(self) -> str:
        blob = json.dumps({"text": self.text, "options": self.options}, sort_keys=True,
                          default=str)
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()

    def usage(self, mix: str) -> Usage | None:
        """How training mix ``mix`` (``antideepfake``) uses this corpus, if it does."""
        return next((u for u in self.used_by if u.mix == mix), None)

    def with_options(self, **overrides) -> "Recipe":
        merged = {**self.options, **overrides}
        return Recipe(**{**self.__dict__, "options": merged})


def builtin_recipes_dir() -> Path:
    """The shipped ``recipes/`` folder, for an editable install or a wheel.

    A wheel carries it as ``curate/_recipes``; a source checkout (editable install)
    has it beside the package.
    """
    packaged = Path(str(resources.files("curate"))) / "_recipes"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "recipes"
    if source.is_dir():
        return source
    raise RuntimeError("the built-in recipes folder is missing from this installation")


def builtin_corpus_recipes() -> dict[str, Path]:
    """Built-in corpus recipe names -> files, sorted by name."""
    folder = builtin_recipes_dir() / "corpora"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def _fail(source: str, message: str) -> CurateError:
    return CurateError(f"{source}: {message}")


def parse_recipe(text: str, source: str, *, base_dir: Path | None = None) -> Recipe:
    """Parse and validate recipe TOML ``text``; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(source, f"invalid TOML ({exc}); fix the syntax at that line") from None
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise _fail(source, f"unknown key(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(sorted(TOP_KEYS))}")
    base_name = data.get("base")
    if base_name is not None:
        base = load_recipe(str(base_name), base_dir=base_dir)
        if base.kind != "generic" and base.function is None:
            raise _fail(source, f"base = {base_name!r} is not a generic recipe; only "
                                f"'table', 'folder' or Python-function recipes can be a base")
        options = {**base.options, **data.get("options", {})}
        data = {**{"function": base.function, "kind": "mixed"}, **data, "options": options}
        data.pop("base")
    name = data.get("name")
    if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
        raise _fail(source, "key 'name' must be a lowercase identifier like 'my_corpus'")
    kind = data.get("kind", "mixed")
    if kind not in KINDS:
        raise _fail(source, f"key 'kind' is {kind!r}; use one of {', '.join(KINDS)}")
    sql, function = data.get("sql"), data.get("function")
    if (sql is None) == (function is None):
        raise _fail(source, "give exactly one of 'sql' (a DuckDB query) or 'function' "
                            "(a Python recipe such as 'table')")
    inputs = []
    for input_name, spec in (data.get("inputs") or {}).items():
        if not isinstance(spec, dict) or "glob" not in spec:
            raise _fail(source, f"[inputs.{input_name}] needs a 'glob' under ROOT")
        bad = sorted(set(spec) - INPUT_KEYS)
        if bad:
            raise _fail(source, f"[inputs.{input_name}] has unknown key(s) {', '.join(bad)}")
        if not IDENTIFIER_RE.match(input_name) or input_name == "root":
            raise _fail(source, f"input name {input_name!r} must be a lowercase identifier "
                                f"other than 'root'")
        inputs.append(InputSpec(input_name, str(spec["glob"])))
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise _fail(source, "[options] must be a table")
    languages = data.get("languages", [])
    if not isinstance(languages, list):
        raise _fail(source, "key 'languages' must be a list of ISO 639-3 codes")
    sources = _identifiers(data, "sources", source, "corpus recipe names like 'vctk'")
    artifacts = _identifiers(data, "artifacts", source, "artifact kinds like 'tts'")
    checked = _checked(data.get("checked", ""), source)
    used_by = _used_by(data.get("used_by", {}), source)
    return Recipe(
        name=name, source=source, text=text, title=str(data.get("title", "")),
        url=str(data.get("url", "")), licence=str(data.get("licence", "")),
        languages=tuple(str(x) for x in languages), kind=kind,
        layout=str(data.get("layout", "")).strip(), obtain=str(data.get("obtain", "")).strip(),
        notes=str(data.get("notes", "")).strip(), inputs=tuple(inputs), sql=sql,
        function=function, options=dict(options), sources=sources, artifacts=artifacts,
        checked=checked, used_by=used_by,
    )


def _identifiers(data: dict, key: str, source: str, what: str) -> tuple[str, ...]:
    """A list of lowercase identifiers (``sources``, ``artifacts``), without repeats."""
    values = data.get(key, [])
    if not isinstance(values, list):
        raise _fail(source, f"key {key!r} must be a list of {what}, e.g. {key} = "
                            f"[\"{'vctk' if key == 'sources' else 'tts'}\"]")
    bad = [v for v in values if not isinstance(v, str) or not IDENTIFIER_RE.match(v)]
    if bad:
        raise _fail(source, f"key {key!r} holds {', '.join(map(repr, bad[:3]))}; give "
                            f"{what} (lowercase letters, digits and _, a letter first)")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise _fail(source, f"key {key!r} names {', '.join(map(repr, repeated))} twice; "
                            f"list each once")
    return tuple(values)


def _checked(value, source: str) -> str:
    """``checked``: empty, ``documentation`` or ``real file: WHAT``."""
    if not isinstance(value, str):
        raise _fail(source, "key 'checked' must be a string: \"documentation\" or "
                            "\"real file: FILE (the test that reads it)\"")
    text = " ".join(value.split())
    if text and text != CHECKED_DOCS and not (text.startswith(CHECKED_REAL)
                                              and len(text) > len(CHECKED_REAL)):
        raise _fail(source, f"key 'checked' is {value!r}; say \"documentation\" (only the "
                            f"corpus's documentation was read) or \"real file: FILE\" (a "
                            f"test reads the corpus's own metadata file)")
    return text


def _used_by(value, source: str) -> tuple[Usage, ...]:
    """``[used_by.MIX]`` tables: ``database``, ``train`` and ``valid`` subset lists."""
    if not isinstance(value, dict):
        raise _fail(source, "[used_by] must be a table of training mixes, e.g. "
                            "[used_by.antideepfake] with train = [...] and valid = [...]")
    out = []
    for mix, table in value.items():
        where = f"[used_by.{mix}]"
        if not IDENTIFIER_RE.match(mix) or not isinstance(table, dict):
            raise _fail(source, f"{where} must be a table named by a lowercase identifier")
        bad = sorted(set(table) - USE_KEYS)
        if bad:
            raise _fail(source, f"{where} has unknown key(s) {', '.join(bad)}; allowed: "
                                f"{', '.join(sorted(USE_KEYS))}")
        lists = {}
        for key in ("train", "valid"):
            subsets = table.get(key, [])
            if not isinstance(subsets, list) or not all(isinstance(s, str) and s
                                                        for s in subsets):
                raise _fail(source, f"{where} {key} must be a list of the corpus's subsets "
                                    f"(or [\"{ALL_SUBSETS}\"] for every row)")
            lists[key] = tuple(subsets)
        both = sorted(set(lists["train"]) & set(lists["valid"]))
        if both:
            raise _fail(source, f"{where} puts subset(s) {', '.join(map(repr, both))} in both "
                                f"train and valid; give each subset one split")
        if not lists["train"] and not lists["valid"]:
            raise _fail(source, f"{where} names no subsets; give train = [...] and/or "
                                f"valid = [...]")
        database = table.get("database", "")
        if not isinstance(database, str):
            raise _fail(source, f"{where} database must be a string (the mix's name for "
                                f"the corpus)")
        out.append(Usage(mix, database, lists["train"], lists["valid"]))
    return tuple(out)


def load_recipe(name_or_path: str, *, base_dir: Path | None = None) -> Recipe:
    """Load a built-in recipe by name, or a recipe TOML file by path."""
    builtin = builtin_corpus_recipes()
    if name_or_path in builtin:
        path = builtin[name_or_path]
        return parse_recipe(path.read_text(), name_or_path, base_dir=path.parent)
    path = Path(name_or_path)
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = base_dir / path
    if path.suffix == ".toml" and path.is_file():
        return parse_recipe(path.read_text(), str(path), base_dir=path.parent)
    known = ", ".join(builtin)
    raise CurateError(
        f"unknown corpus recipe {name_or_path!r}; use one of {known} or the path of a "
        f"recipe .toml file (`curate corpora` lists them)"
    )
