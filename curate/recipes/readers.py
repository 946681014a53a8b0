"""Reading corpus metadata files as the real files are, for Python recipes.

Real metadata has quirks: sentences that start with ``"`` (Common Voice: read with
quoting off), pipes (MLAAD, M-AILABS), single spaces (ASVspoof protocols), CRLF line
ends and quoted tabs (VoxCeleb1 meta), a byte-order mark. :func:`read_table` reads
them all and reports a malformed line as ``file:line`` with the fix, never a
traceback.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from curate.errors import CurateError


def read_table(path: Path | str, *, delimiter: str = ",", header: bool = True,
               names: list[str] | None = None, quoting: bool = True,
               min_fields: int | None = None, extra: str = "error",
               encoding: str = "utf-8-sig", skip_blank: bool = True,
               comment: str | None = None, quotechar: str = '"',
               skip: int = 0) -> pd.DataFrame:
    """Read a delimited metadata file into a DataFrame of strings.

    Args:
        path: the file.
        delimiter: one character (``","``, ``"\\t"``, ``"|"``, ``" "``).
        header: the first line names the columns.
        names: column names (required when ``header`` is False; with a header,
            they replace the file's names).
        quoting: honour ``"`` quoting; False reads quotes as text.
        min_fields: rows may have fewer fields down to this many (missing ones are
            empty); default: exactly as many as the columns.
        extra: what to do with more fields than columns: ``error``, ``merge`` (join
            the surplus into the last column with the delimiter: free-text last
            columns) or ``drop``.
        encoding: text encoding; the default strips a UTF-8 byte-order mark.
        skip_blank: ignore empty lines.
        comment: lines starting with this are ignored.
        quotechar: the quote character when ``quoting`` (a doubled one inside a quoted
            field is one quote character).
        skip: lines to skip at the top of the file, before the header.

    Errors name ``file:line`` of the line a bad row starts on (for a quote that is
    never closed: the line holding the opening quote).

    Returns:
        A DataFrame with one string column per field (empty fields are "").
    """
    path = Path(path)
    if extra not in ("error", "merge", "drop"):
        raise ValueError(f"extra must be 'error', 'merge' or 'drop', got {extra!r}")
    if not header and not names:
        raise ValueError("names is required when header is False")
    try:
        handle = path.open(newline="", encoding=encoding)
    except OSError as exc:
        raise CurateError(f"cannot open {path}: {exc.strerror}") from None
    rows: list[list[str]] = []
    with handle:
        start = 1  # the line the next record starts on
        columns: list[str] | None = list(names) if names else None
        need_header = header
        try:
            for _ in range(skip):
                if handle.readline():
                    start += 1
            reader = csv.reader(handle, delimiter=delimiter, quotechar=quotechar or '"',
                                quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                                strict=quoting)
            for fields in reader:
                line, start = start, skip + reader.line_num + 1
                if skip_blank and (not fields or fields == [""]):
                    continue
                if comment and fields and fields[0].startswith(comment):
                    continue
                fields = [f.rstrip("\r") for f in fields]
                if need_header:  # the first non-blank line
                    if columns is None:
                        columns = [f.strip() for f in fields]
                    need_header = False
                    continue
                expected = len(columns)
                lowest = expected if min_fields is None else min_fields
                if len(fields) > expected:
                    if extra == "error":
                        raise CurateError(
                            f"{path}:{line}: expected {expected} fields, found "
                            f"{len(fields)}: {delimiter.join(fields)[:80]!r}; check the "
                            f"delimiter and quoting")
                    if extra == "merge":
                        fields = fields[:expected - 1] + [delimiter.join(fields[expected - 1:])]
                    else:
                        fields = fields[:expected]
                elif len(fields) < lowest:
                    raise CurateError(
                        f"{path}:{line}: expected {expected} fields, found {len(fields)}: "
                        f"{delimiter.join(fields)[:80]!r}; the line is truncated or the "
                        f"delimiter is wrong")
                if len(fields) < expected:
                    fields = fields + [""] * (expected - len(fields))
                rows.append(fields)
        except csv.Error as exc:
            if "end of data" in str(exc):
                raise CurateError(
                    f"{path}:{start}: a quote opened on this line is never closed; remove "
                    f"the stray quote, or read the file with quoting off (quote = \"\" in "
                    f"a table recipe) if quotes are part of the text") from None
            raise CurateError(f"{path}:{start}: {exc}; remove the stray quote, or read the "
                              f"file with quoting off (quote = \"\" in a table recipe) if "
                              f"quotes are part of the text") from None
        except UnicodeDecodeError as exc:
            raise CurateError(f"{path}: not {encoding} text ({exc.reason} at byte "
                              f"{exc.start})") from None
    if columns is None:
        columns = list(names or [])
    return pd.DataFrame(rows, columns=columns, dtype="string")


def duckdb_error(exc: Exception) -> str:
    """A DuckDB error in one line; CSV errors become ``file:line: what: 'the line'``."""
    text = str(exc).strip()
    sniff = re.search(r'Error when sniffing file "(.+?)"', text)
    if sniff:
        return (f"{sniff.group(1)}: DuckDB cannot detect the CSV dialect; give the "
                f"delimiter, quote and header explicitly")
    raised = re.match(r"Invalid Input Error: (\S+:\d+: .*)", text, re.DOTALL)
    if raised:  # a recipe's own error('file:line: ...'), raised while reading a file
        return " ".join(raised.group(1).split("\n")[:1]).strip()
    line = re.search(r"CSV Error on Line: (\d+)", text)
    path = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
    if line and path:
        original = re.search(r"Original Line: (.*)", text)
        what = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
        reason = (f"expected {what.group(1)} columns, found {what.group(2)}" if what
                  else text.splitlines()[0])
        shown = f": {original.group(1)[:80]!r}" if original else ""
        return f"{path.group(1).strip()}:{line.group(1)}: {reason}{shown}"
    return " ".join(part.strip() for part in text.splitlines()[:3])
