"""The two generic recipes users configure in TOML: ``table`` and ``folder``.

``table`` reads a metadata file (CSV, TSV, pipe- or space-separated), maps its
columns onto the manifest, maps its label words, and builds paths and ids from
templates. ``folder`` takes fields from the folder names of the audio files.
Both accept ``labels``, ``constants``, ``utt_id`` and ``path`` templates; every
option is documented in docs/recipes.md.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

import duckdb
import pandas as pd

from curate.catalog.columns import RECIPE_COLUMNS
from curate.errors import CurateError
from curate.recipes.readers import duckdb_error, read_table

# Words corpora use for the two classes (case-insensitive); recipes add their own.
DEFAULT_LABELS: dict[str, str] = {
    "bonafide": "bonafide", "bona-fide": "bonafide", "bona fide": "bonafide",
    "bona_fide": "bonafide", "real": "bonafide", "genuine": "bonafide",
    "human": "bonafide", "original": "bonafide",
    "spoof": "spoof", "spoofed": "spoof", "fake": "spoof", "synthetic": "spoof",
    "deepfake": "spoof", "generated": "spoof",
}
AUDIO_EXTENSIONS = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "mp4", "aac", "webm")

TABLE_OPTIONS = {"file", "delimiter", "header", "names", "quote", "skip", "map", "path",
                 "utt_id", "labels", "constants", "encoding"}
FOLDER_OPTIONS = {"pattern", "extensions", "path", "utt_id", "labels", "constants"}


def _check_options(options: dict, allowed: set[str], source: str, recipe: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise CurateError(f"{source}: unknown option(s) {', '.join(unknown)} for the "
                          f"{recipe} recipe; allowed: {', '.join(sorted(allowed))}")


def render_template(template: str, frame: pd.DataFrame, source: str, key: str) -> pd.Series:
    """Fill ``{column}`` fields of ``template`` from ``frame``'s columns, vectorised."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise CurateError(f"{source}: option {key} = {template!r} is not a valid "
                          f"template ({exc})") from None
    result = pd.Series([""] * len(frame), index=frame.index, dtype="string")
    for literal, field, _spec, _conv in parsed:
        if literal:
            result = result + literal
        if field is not None:
            if field not in frame.columns:
                raise CurateError(
                    f"{source}: option {key} = {template!r} names {{{field}}}, which is "
                    f"not a column; available: {', '.join(map(str, frame.columns))}"
                )
            result = result + frame[field].astype("string").fillna("")
    return result


def map_labels(raw: pd.Series, labels: dict, source: str,
               ids: pd.Series | None = None) -> pd.Series:
    """Map the corpus's label words to bonafide/spoof (case-insensitive); an unmapped
    word is an error naming it and (with ``ids``) the first utt_id holding it."""
    table = {**DEFAULT_LABELS, **{str(k).lower(): v for k, v in labels.items()}}
    bad_targets = sorted({v for v in table.values() if v not in ("bonafide", "spoof")})
    if bad_targets:
        raise CurateError(f"{source}: option labels maps to {bad_targets}; targets must be "
                          f"'bonafide' or 'spoof'")
    mapped = raw.astype("string").str.strip().str.lower().map(table)
    unmapped = raw[mapped.isna()].fillna("<empty>").unique().tolist()
    if unmapped:
        shown = ", ".join(repr(v) for v in unmapped[:8])
        where = ""
        if ids is not None:
            first = ids[mapped.isna()].astype("string").fillna("<none>").tolist()[:3]
            where = f" (first at utt_id {', '.join(repr(v) for v in first)})"
        raise CurateError(f"{source}: label value(s) {shown} are not mapped{where}; add them "
                          f"to [options.labels], e.g. {unmapped[0]!r} = \"spoof\"")
    return mapped.astype("string")


def finish(frame: pd.DataFrame, options: dict, source: str) -> pd.DataFrame:
    """Apply constants, label mapping and the path / utt_id templates."""
    frame = frame.copy()
    for column, value in (options.get("constants") or {}).items():
        if column not in RECIPE_COLUMNS:
            raise CurateError(f"{source}: [options.constants] key {column!r} is not a "
                              f"manifest column; use one of {', '.join(RECIPE_COLUMNS)}")
        frame[column] = str(value)
    if "path" in options:
        frame["path"] = render_template(str(options["path"]), frame, source, "path")
    if "path" not in frame.columns:
        raise CurateError(f"{source}: no path: map a column to 'path' or give a path template")
    if "utt_id" in options:
        frame["utt_id"] = render_template(str(options["utt_id"]), frame, source, "utt_id")
    elif "utt_id" not in frame.columns:
        frame["utt_id"] = frame["path"].astype("string").str.replace(
            r"\.[A-Za-z0-9]+$", "", regex=True)
    labels = options.get("labels") or {}
    if "label" in frame.columns:
        if "label_raw" not in frame.columns:
            frame["label_raw"] = frame["label"]
        frame["label"] = map_labels(frame["label"], labels, source, frame["utt_id"])
    elif "label_raw" in frame.columns:
        frame["label"] = map_labels(frame["label_raw"], labels, source, frame["utt_id"])
    else:
        raise CurateError(f"{source}: no label: map a column to 'label_raw' (mapped via "
                          f"[options.labels]) or set constants.label")
    keep = [c for c in RECIPE_COLUMNS if c in frame.columns]
    return frame[keep]


def _read_error(path: Path, kwargs: dict, exc: Exception) -> str:
    """Where and why DuckDB could not read a metadata file, as ``file:line: what; fix``.

    DuckDB's sniffer reports a short row or a stray quote without a line number, so
    the file is read again with :func:`read_table` in the same dialect, which names
    the first bad line; DuckDB's own message is the answer where it finds nothing.
    """
    delimiter, quote = kwargs["delim"], kwargs["quote"]
    if len(delimiter) == 1 and len(quote) <= 1:
        try:
            read_table(path, delimiter=delimiter, header=kwargs["header"],
                       names=kwargs.get("names"), quoting=bool(quote), quotechar=quote or '"',
                       skip=kwargs["skip"], encoding=kwargs.get("encoding", "utf-8-sig"))
        except CurateError as found:
            return str(found)
        except (LookupError, ValueError):  # an encoding or dialect Python cannot read
            pass
    message = duckdb_error(exc)
    if "explicitly" in message:  # the sniffer's message already says what to set
        return message
    return (f"cannot read {path}: {message}; fix the file there, or the recipe's delimiter, "
            f"quote and header options")


def table(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of a metadata file (``options.file``, a glob under ROOT)."""
    source = recipe.source
    _check_options(options, TABLE_OPTIONS, source, "table")
    pattern = options.get("file")
    if not pattern:
        raise CurateError(f"{source}: the table recipe needs option file = \"meta.csv\" "
                          f"(a path or glob under ROOT)")
    files = sorted(p for p in Path(root).glob(str(pattern)) if p.is_file())
    if not files:
        raise CurateError(f"{source}: no file matches {pattern!r} under {root}; check ROOT")
    header = bool(options.get("header", True))
    names = options.get("names")
    if not header and not names:
        raise CurateError(f"{source}: header = false needs names = [...] for the columns")
    kwargs = {
        "delim": str(options.get("delimiter", ",")),
        "header": header,
        "quote": str(options.get("quote", '"')),
        "escape": str(options.get("quote", '"')),
        "skip": int(options.get("skip", 0)),
        "all_varchar": True,
        "strict_mode": True,
    }
    if names:
        kwargs["names"] = [str(n) for n in names]
    if options.get("encoding"):
        kwargs["encoding"] = str(options["encoding"])
    frames = []
    con = duckdb.connect(":memory:")
    try:
        for path in files:
            args = ", ".join(f"{k} := ${k}" for k in kwargs)
            try:
                part = con.execute(f"SELECT * FROM read_csv($file, {args})",
                                   {"file": str(path), **kwargs}).df()
            except duckdb.Error as exc:
                raise CurateError(f"{source}: {_read_error(path, kwargs, exc)}") from None
            rel_dir = os.path.relpath(path.parent, root)
            part["_dir"] = "" if rel_dir == "." else rel_dir + "/"
            part["_file"] = os.path.relpath(path, root)
            frames.append(part)
    finally:
        con.close()
    frame = pd.concat(frames, ignore_index=True)
    mapping = options.get("map") or {}
    for target, column in mapping.items():
        if target not in RECIPE_COLUMNS:
            raise CurateError(f"{source}: [options.map] key {target!r} is not a manifest "
                              f"column; use one of {', '.join(RECIPE_COLUMNS)}")
        if column not in frame.columns:
            raise CurateError(f"{source}: [options.map] {target} = {column!r}, but "
                              f"{files[0].name} has columns {', '.join(frame.columns[:-2])}")
    renamed = frame.copy()
    for target, column in mapping.items():
        renamed[target] = frame[column]
    return finish(renamed, options, source)


def pattern_regex(pattern: str) -> re.Pattern:
    """``{field}`` -> a named path segment, ``**`` -> any folders, ``*`` -> any name."""
    out, i = [], 0
    for match in re.finditer(r"\{(\w+)\}|\*\*/|\*", pattern):
        out.append(re.escape(pattern[i:match.start()]))
        token = match.group(0)
        if match.group(1):
            out.append(f"(?P<{match.group(1)}>[^/]+?)")
        elif token == "**/":
            out.append("(?:.*/)?")
        else:
            out.append("[^/]*")
        i = match.end()
    out.append(re.escape(pattern[i:]))
    return re.compile("^" + "".join(out) + "$")


def folder(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows from audio files whose relative paths match ``options.pattern``."""
    source = recipe.source
    _check_options(options, FOLDER_OPTIONS, source, "folder")
    pattern = options.get("pattern")
    if not pattern:
        raise CurateError(f"{source}: the folder recipe needs option pattern, e.g. "
                          f"\"{{label_raw}}/{{speaker}}/*.wav\"")
    regex = pattern_regex(str(pattern))
    extensions = tuple(e.lower().lstrip(".") for e in options.get("extensions", AUDIO_EXTENSIONS))
    rows = []
    root = Path(root)
    for dirpath, _dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in files:
            if name.rsplit(".", 1)[-1].lower() not in extensions:
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            match = regex.match(rel)
            if match:
                rows.append({"path": rel, **match.groupdict()})
    if not rows:
        raise CurateError(f"{source}: no audio file under {root} matches pattern "
                          f"{pattern!r}; check ROOT and the pattern")
    frame = pd.DataFrame(rows).sort_values("path", kind="stable").reset_index(drop=True)
    return finish(frame, options, source)
