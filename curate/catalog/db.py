"""Opening the catalog: default location, schema creation, migrations, locking.

The catalog is one DuckDB file. DuckDB lets one process hold a file for writing;
a second process that tries gets :class:`~curate.errors.CatalogLockedError`
with the holder's PID instead of DuckDB's IO error.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb

from curate.catalog import sql
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
        try:
            return (self.con.execute(sql, params) if params is not None
                    else self.con.execute(sql))
        except duckdb.Error as exc:
            damage = damaged_catalog_error(exc, self.path)
            if damage is None:
                raise
            raise damage from None

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

    def content_hash_algorithm(self) -> str:
        """The algorithm of every ``utterances.content_hash`` in this catalog, as
        ``schema_info`` records it (key ``content_hash``): ``xxh3-128`` for a catalog
        created at schema version 4 or later, ``blake2b-128`` for one migrated from an
        older version (its stored hashes keep their meaning). Probes of this catalog hash
        with it, so hashes probed at any time compare.

        Raises:
            CurateError: ``schema_info`` has no ``content_hash`` (a damaged catalog).
        """
        row = self.execute(sql.SCHEMA_INFO_VALUE, ["content_hash"]).fetchone()
        if row is None:
            raise CurateError(f"catalog {self.path} has no content_hash in schema_info (the "
                              f"algorithm of its content hashes); restore it from a backup "
                              f"or pass another --db")
        return str(row[0])


_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
WAIT_ENV = "CURATE_DB_WAIT"
DEFAULT_WAIT_S = 30.0


def lock_wait_s() -> float:
    """Seconds a command waits for a busy catalog: ``$CURATE_DB_WAIT``, else 30."""
    text = os.environ.get(WAIT_ENV)
    if text is None or not text.strip():
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise CurateError(f"${WAIT_ENV}={text!r} is not a number of seconds; set it to e.g. 30 "
                          f"(0: fail at once when the catalog is busy)")
    return value


def _holder(message: str) -> str:
    """``PID n: command line`` of the process holding the catalog, from DuckDB's message."""
    pid = re.search(r"PID (\d+)", message)
    if pid is None:
        return "another process"
    try:
        raw = Path(f"/proc/{pid.group(1)}/cmdline").read_bytes()
        argv = [a for a in raw.decode(errors="replace").split("\0") if a]
    except OSError:
        argv = []
    # `python -m curate.cli train x.toml` / `.venv/bin/curate train x.toml` -> `curate train x.toml`
    for i, arg in enumerate(argv):
        if arg.endswith("/curate") or arg == "curate" or arg == "curate.cli":
            argv = ["curate"] + argv[i + 1:]
            break
    command = " ".join(argv)
    if len(command) > 240:
        command = command[:237] + "..."
    return f"PID {pid.group(1)}" + (f": {command}" if command else "")


def _check_header(path: Path) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB tries to read it.

    DuckDB would treat a SQLite file as an attached SQLite database (and try to
    download its extension); any other non-DuckDB file gets a plain refusal.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise CurateError(f"cannot read catalog {path}: {exc.strerror}; pass another --db"
                          ) from None
    if not head:
        return  # an empty file becomes a new catalog
    if head.startswith(_SQLITE_MAGIC):
        raise CurateError(f"{path} is a SQLite database, not a curate catalog (a DuckDB file); "
                          f"pass a catalog with --db, or a new file name to create one")
    if head[8:12] != _DUCKDB_MAGIC:
        raise CurateError(f"{path} is not a DuckDB catalog (its header is not DuckDB's); pass "
                          f"a catalog with --db, or a new file name to create one")


def _damaged(path: Path, exc: Exception) -> CurateError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = "the catalog" if str(path) == "the catalog" else f"catalog {path}"
    return CurateError(f"{where} is damaged or truncated ({detail}); restore it from a "
                       f"backup or pass another --db")


_DAMAGE_MARKERS = ("corrupt database file", "could not read enough bytes",
                   "not a valid duckdb database", "checksum")


def damaged_catalog_error(exc: BaseException, path: Path | str | None = None
                          ) -> CurateError | None:
    """The one-sentence error for a DuckDB error that means a damaged catalog file
    (a failed checksum or a short read met while querying), else None."""
    text = str(exc).lower()
    if not any(marker in text for marker in _DAMAGE_MARKERS):
        return None
    return _damaged(Path(path) if path is not None else Path("the catalog"), exc)


def _connect(path: Path, read_only: bool, wait_s: float | None = None
             ) -> duckdb.DuckDBPyConnection:
    """Connect, waiting up to ``wait_s`` seconds (default :func:`lock_wait_s`) while
    another process holds the file, then failing with who holds it."""
    if path.exists():
        _check_header(path)
    wait = lock_wait_s() if wait_s is None else wait_s
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=_CONFIG)
            # curate shows its own progress; DuckDB's bar would interleave with it
            con.execute("SET enable_progress_bar = false")
            return con
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" not in message.lower():
                raise _damaged(path, exc) from None
            if time.monotonic() + delay <= deadline:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            waited = f" and stayed busy for {wait:g} s" if wait > 0 else ""
            raise CatalogLockedError(
                f"catalog {path} is in use by {_holder(message)}{waited}; wait for it to "
                f"finish, raise ${WAIT_ENV} (seconds), or pass another --db"
            ) from None
        except duckdb.Error as exc:
            raise _damaged(path, exc) from None


# No extension is ever installed or loaded behind the user's back (a SQLite file
# would otherwise make DuckDB try to download its scanner).
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def _stamp(con: duckdb.DuckDBPyConnection, version: int) -> None:
    con.execute(
        "INSERT OR REPLACE INTO schema_info VALUES ('schema_version', ?)", [str(version)]
    )


def _stored_version(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """The catalog's schema version; None for a DuckDB file with no tables at all.

    Raises:
        CurateError: for a DuckDB file that holds tables but no ``schema_info``
            (another program's database), or an unreadable version stamp.
    """
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()]
    if "schema_info" not in tables:
        if not tables:
            return None
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise CurateError(f"{path} is a DuckDB file but not a curate catalog (no schema_info "
                          f"table; it holds {shown}); pass a catalog with --db, or a new file "
                          f"name to create one")
    row = con.execute("SELECT value FROM schema_info WHERE key = 'schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise CurateError(f"catalog {path} has no valid schema_version in schema_info "
                          f"({row[0] if row else 'none'!r}); restore it from a backup or pass "
                          f"another --db")
    return int(row[0])


def migrate(con: duckdb.DuckDBPyConnection, path: Path | str = "the catalog") -> int:
    """Bring an open catalog to the current schema version; return that version.

    A DuckDB file without tables gets ``schema.sql``; an older catalog runs each
    migration above its version, each in its own transaction. A newer catalog is
    refused (this curate cannot know how to write it).
    """
    target = schema_version()
    current = _stored_version(con, Path(path))
    if current is None:
        con.execute("BEGIN TRANSACTION")
        con.execute(schema_sql())
        _stamp(con, target)
        con.execute("COMMIT")
        return target
    if current > target:
        raise CurateError(
            f"catalog {path} has schema version {current}, newer than this curate's "
            f"{target}: upgrade curate to write to it (read-only commands such as "
            f"`curate stats` still work)"
        )
    for version, name, script in migrations():
        if current < version <= target:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(script)
                _stamp(con, version)
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise CurateError(f"migration {name} failed: {exc}") from None
            con.execute("COMMIT")
            current = version
    return current


def open_catalog(path: Path | str | None = None, *, read_only: bool = False,
                 wait_s: float | None = None) -> Catalog:
    """Open (and create or migrate, when writable) the catalog at ``path``.

    ``path`` defaults to :func:`default_db_path`. Read-only opening of a missing
    catalog is a :class:`CurateError` telling the user how to create one. While
    another process holds the file, this waits up to ``wait_s`` seconds (default
    ``$CURATE_DB_WAIT``, else 30) and then fails naming the holder. A damaged,
    truncated or foreign file is one sentence, never DuckDB's traceback.
    """
    path = Path(path) if path is not None else default_db_path()
    if read_only and not path.exists():
        raise CurateError(
            f"no catalog at {path}; create one with `curate prepare CORPUS ROOT "
            f"--db {path}` or pass another --db"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=read_only, wait_s=wait_s)
    try:
        if read_only:
            version = _stored_version(con, path)
            if version is None:
                raise CurateError(f"{path} is an empty DuckDB file, not a curate catalog yet; "
                                  f"create it with `curate prepare CORPUS ROOT --db {path}`")
            if version < schema_version():
                raise CurateError(
                    f"catalog {path} has an older schema ({version}, this curate writes "
                    f"{schema_version()}); open it once for writing (e.g. `curate probe "
                    f"--db {path}`) to migrate it")
        else:
            migrate(con, path)
    except duckdb.Error as exc:
        con.close()
        raise _damaged(path, exc) from None
    except BaseException:
        con.close()
        raise
    return Catalog(path, con, read_only=read_only)


@dataclass(frozen=True)
class CatalogRef:
    """A catalog by path, opened only for short sessions.

    Long jobs (training, ablations) hold one of these instead of an open
    :class:`Catalog`, so other commands can use the catalog while they run:
    each ``session()`` opens the file, does its short transaction and closes it.
    """

    path: Path
    wait_s: float | None = None

    @contextlib.contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Catalog]:
        catalog = open_catalog(self.path, read_only=read_only, wait_s=self.wait_s)
        try:
            yield catalog
        finally:
            catalog.close()


def catalog_session(source: "Catalog | CatalogRef", *, read_only: bool = False
                    ) -> contextlib.AbstractContextManager[Catalog]:
    """A session on ``source``: an open catalog is used as it is (and stays open);
    a :class:`CatalogRef` is opened for the block and closed after it."""
    if isinstance(source, Catalog):
        return contextlib.nullcontext(source)
    return source.session(read_only=read_only)
