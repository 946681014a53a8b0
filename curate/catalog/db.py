"""Opening the catalog: default location, schema creation, migrations, locking.

The catalog is one DuckDB file. DuckDB lets one process hold a file for writing;
a second process that tries gets :class:`~curate.errors.CatalogLockedError`
with the holder's PID instead of DuckDB's IO error.
"""

from __future__ import annotations

import contextlib
import os
import re
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb

from curate.errors import CatalogLockedError, CurateError

DEFAULT_DB = Path("manifests") / "catalog.duckdb"
_VERSION_RE = re.compile(r"^--\s*schema_version:\s*(\d+)\s*$", re.MULTILINE)
_MIGRATION_RE = re.compile(r"^(\d{4})_[\w-]+\.sql$")
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


def default_db_path() -> Path:
    """``$CURATE_DB`` when set, else ``manifests/catalog.duckdb`` (relative to the cwd)."""
    env = os.environ.get("CURATE_DB")
    return Path(env) if env else DEFAULT_DB


def schema_sql() -> str:
    """The DDL of the current schema (``curate/catalog/schema.sql``)."""
    return resources.files("curate.catalog").joinpath("schema.sql").read_text()


def schema_version() -> int:
    """The version stamped in ``schema.sql``."""
    match = _VERSION_RE.search(schema_sql())
    if match is None:  # a packaging defect, not a user error
        raise RuntimeError("schema.sql has no '-- schema_version: N' line")
    return int(match.group(1))


def migrations() -> list[tuple[int, str, str]]:
    """``(version, file name, sql)`` of every migration file, in version order."""
    folder = resources.files("curate.catalog").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


class Catalog:
    """An open catalog: a DuckDB connection plus the helpers every stage uses.

    Use as a context manager; ``transaction()`` wraps a block in BEGIN/COMMIT and
    rolls back on any exception, so a failed stage leaves the catalog unchanged.
    """

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool):
        self.path = path
        self.con = con
        self.read_only = read_only

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def execute(self, sql: str, params=None):
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def df(self, sql: str, params=None):
        """Run a query and return a pandas DataFrame."""
        return self.execute(sql, params).df()

    def set_memory_limit(self, limit: str | None) -> None:
        """Cap DuckDB's memory (e.g. ``"3GB"``); operators spill to disk beyond it.

        ``None`` keeps DuckDB's default (80 % of RAM).
        """
        if limit is None:
            return
        if not _MEMORY_RE.match(limit):
            raise ValueError(f"memory limit must look like '3GB' or '512MB', got {limit!r}")
        self.con.execute(f"SET memory_limit = '{limit}'")
        self.con.execute("SET preserve_insertion_order = false")

    def version(self) -> int:
        row = self.con.execute(
            "SELECT value FROM schema_info WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
        # curate shows its own progress; DuckDB's bar would interleave with it
        con.execute("SET enable_progress_bar = false")
        return con
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            holder = f" (PID {pid.group(1)})" if pid else ""
            raise CatalogLockedError(
                f"catalog {path} is in use by another process{holder}; wait for it to "
                f"finish or pass another --db"
            ) from None
        raise CurateError(f"cannot open catalog {path}: {message.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise CurateError(
            f"{path} is not a readable DuckDB catalog ({str(exc).splitlines()[0]}); "
            f"pass another --db"
        ) from None


def _stamp(con: duckdb.DuckDBPyConnection, version: int) -> None:
    con.execute(
        "INSERT OR REPLACE INTO schema_info VALUES ('schema_version', ?)", [str(version)]
    )


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring an open catalog to the current schema version; return that version.

    An empty file gets ``schema.sql``; an older catalog runs each migration above
    its version, each in its own transaction.
    """
    target = schema_version()
    has_info = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_info'"
    ).fetchone()[0]
    current = 0
    if has_info:
        row = con.execute(
            "SELECT value FROM schema_info WHERE key = 'schema_version'"
        ).fetchone()
        current = int(row[0]) if row else 0
    if current == 0:
        con.execute("BEGIN TRANSACTION")
        con.execute(schema_sql())
        _stamp(con, target)
        con.execute("COMMIT")
        return target
    if current > target:
        raise CurateError(
            f"the catalog has schema version {current}, newer than this curate "
            f"({target}); upgrade curate"
        )
    for version, name, sql in migrations():
        if current < version <= target:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(sql)
                _stamp(con, version)
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise CurateError(f"migration {name} failed: {exc}") from None
            con.execute("COMMIT")
            current = version
    return current


def open_catalog(path: Path | str | None = None, *, read_only: bool = False) -> Catalog:
    """Open (and create or migrate, when writable) the catalog at ``path``.

    ``path`` defaults to :func:`default_db_path`. Read-only opening of a missing
    catalog is a :class:`CurateError` telling the user how to create one.
    """
    path = Path(path) if path is not None else default_db_path()
    if read_only:
        if not path.exists():
            raise CurateError(
                f"no catalog at {path}; create one with `curate prepare CORPUS ROOT "
                f"--db {path}` or pass another --db"
            )
        con = _connect(path, read_only=True)
        catalog = Catalog(path, con, read_only=True)
        if catalog.version() < schema_version():
            catalog.close()
            raise CurateError(
                f"catalog {path} has an older schema; open it once for writing "
                f"(e.g. `curate probe --db {path}`) to migrate it"
            )
        return catalog
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False)
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    return Catalog(path, con, read_only=False)
