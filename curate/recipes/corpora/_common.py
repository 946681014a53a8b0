"""Helpers every Python corpus recipe uses: layout errors, blank-separated tables."""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError


def layout_error(recipe, root: Path, what: str) -> CurateError:
    """One sentence: what was not found under ROOT, and what ROOT should be."""
    hint = f" ROOT should be {recipe.layout}" if recipe.layout else ""
    return CurateError(f"{recipe.source}: {what} under {root}; check ROOT.{hint}")


def read_fields(path: Path, *, min_fields: int, max_fields: int | None = None,
                comment: str | None = None, encoding: str = "utf-8-sig"
                ) -> list[tuple[int, list[str]]]:
    """Lines of a whitespace-separated file as ``(line number, fields)``.

    Blank lines and lines starting with ``comment`` are skipped; a line with fewer
    than ``min_fields`` (or more than ``max_fields``) fields is reported as
    ``file:line`` with the line's text.
    """
    out = []
    try:
        with open(path, encoding=encoding) as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()
                if not text or (comment and text.startswith(comment)):
                    continue
                fields = text.split()
                if len(fields) < min_fields or (max_fields and len(fields) > max_fields):
                    want = (f"{min_fields}" if max_fields == min_fields else
                            f"{min_fields} to {max_fields}" if max_fields else
                            f"at least {min_fields}")
                    raise CurateError(
                        f"{path}:{number}: expected {want} fields separated by blanks, found "
                        f"{len(fields)}: {text[:80]!r}; the line is truncated or this is not "
                        f"the file the recipe expects")
                out.append((number, fields))
    except UnicodeDecodeError as exc:
        raise CurateError(f"{path}: not {encoding} text ({exc.reason} at byte "
                          f"{exc.start})") from None
    except OSError as exc:
        raise CurateError(f"cannot open {path}: {exc.strerror}") from None
    return out


def line_of(path: Path, text: str, *, prefix: bool = False) -> int | None:
    """The number of the first line of ``path`` containing (or starting with) ``text``."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(text) if prefix else text in line:
                return number
    return None
