"""Reading the TOML files users write, with one-sentence errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from curate.errors import CurateError


def read_toml(path: Path | str, what: str) -> dict:
    """Parse ``path``; ``what`` names the kind of file in errors ("selection spec")."""
    path = Path(path)
    if not path.is_file():
        raise CurateError(f"{what} {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CurateError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); "
                          f"save the {what} as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise CurateError(f"{path}: invalid TOML ({exc}); fix the syntax there") from None
