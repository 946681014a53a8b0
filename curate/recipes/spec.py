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
    "sql", "function", "options", "base", "obtain", "notes",
}
INPUT_KEYS = {"glob"}


@dataclass(frozen=True)
class InputSpec:
    """A named set of files under ROOT that a SQL recipe reads (bound as a list)."""

    name: str
    glob: str


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

    @property
    def recipe_hash(self) -> str:
        blob = json.dumps({"text": self.text, "options": self.options}, sort_keys=True,
                          default=str)
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()

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
    return Recipe(
        name=name, source=source, text=text, title=str(data.get("title", "")),
        url=str(data.get("url", "")), licence=str(data.get("licence", "")),
        languages=tuple(str(x) for x in languages), kind=kind,
        layout=str(data.get("layout", "")).strip(), obtain=str(data.get("obtain", "")).strip(),
        notes=str(data.get("notes", "")).strip(), inputs=tuple(inputs), sql=sql,
        function=function, options=dict(options),
    )


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
