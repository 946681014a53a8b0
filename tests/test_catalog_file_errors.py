"""A catalog file that is busy, damaged, foreign or newer: one sentence, never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import duckdb
import pytest

from curate.catalog import db as catalog_db
from curate.errors import CatalogLockedError, CurateError


def _catalog_with_rows(path):
    with catalog_db.open_catalog(path) as catalog:
        catalog.execute("CREATE TABLE filler AS SELECT range AS a, 'x' || range AS b "
                        "FROM range(200000)")
    return path


def _fails_in_one_sentence(run_cli, path, *words):
    code, out, err = run_cli("stats", "--db", path)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    text = " ".join(err.split())
    for word in words:
        assert word in text, text
    return text


def test_flipped_bytes_are_a_damaged_catalog(tmp_path, run_cli):
    path = _catalog_with_rows(tmp_path / "c.duckdb")
    data = bytearray(path.read_bytes())
    for i in range(3 * 4096 + 100, len(data), 4096):  # a byte in every block past the headers
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    _fails_in_one_sentence(run_cli, path, "damaged or truncated", "restore it from a backup")


def test_a_truncated_catalog_is_a_damaged_catalog(tmp_path, run_cli):
    path = _catalog_with_rows(tmp_path / "c.duckdb")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    _fails_in_one_sentence(run_cli, path, "damaged or truncated", str(path))


def test_flipped_header_is_not_a_duckdb_catalog(tmp_path, run_cli):
    path = _catalog_with_rows(tmp_path / "c.duckdb")
    data = bytearray(path.read_bytes())
    for i in range(0, 16):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    _fails_in_one_sentence(run_cli, path, "is not a DuckDB catalog", "--db")


def test_a_sqlite_file_is_refused_without_touching_extensions(tmp_path, run_cli):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    con.close()
    text = _fails_in_one_sentence(run_cli, path, "is a SQLite database", "not a curate catalog")
    assert "extension" not in text.lower()
    with pytest.raises(CurateError, match="SQLite"):
        catalog_db.open_catalog(path)  # writable: refused as well, the file is unchanged
    assert path.read_bytes().startswith(b"SQLite format 3")


def test_a_duckdb_file_without_schema_info_is_not_adopted(tmp_path, run_cli):
    path = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE measurements (a INTEGER)")
    con.close()
    with pytest.raises(CurateError, match="not a curate catalog .*measurements"):
        catalog_db.open_catalog(path)
    _fails_in_one_sentence(run_cli, path, "not a curate catalog", "no schema_info")
    con = duckdb.connect(str(path), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
              .fetchall()}
    con.close()
    assert tables == {"measurements"}  # nothing was created in someone else's database


def test_an_empty_duckdb_file_becomes_a_catalog(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with catalog_db.open_catalog(path) as catalog:
        assert catalog.version() == catalog_db.schema_version()


def test_a_newer_catalog_refuses_writes_and_names_both_versions(tmp_path, run_cli):
    path = tmp_path / "c.duckdb"
    newer = catalog_db.schema_version() + 5
    with catalog_db.open_catalog(path) as catalog:
        catalog.execute("UPDATE schema_info SET value = ? WHERE key = 'schema_version'",
                        [str(newer)])
    with pytest.raises(CurateError, match=rf"schema version {newer}, newer than this "
                                          rf"curate's {catalog_db.schema_version()}"):
        catalog_db.open_catalog(path)
    with catalog_db.open_catalog(path, read_only=True) as catalog:  # reading still works
        assert catalog.version() == newer
    code, out, err = run_cli("stats", "--db", path)
    assert code == 0, err


def test_a_busy_catalog_is_waited_for(tmp_path, monkeypatch):
    """A holder that lets go within the wait: the second open succeeds instead of failing."""
    monkeypatch.setenv("CURATE_DB_WAIT", "20")
    path = tmp_path / "c.duckdb"
    catalog_db.open_catalog(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', "
         "flush=True); time.sleep(1.5); c.close(); print('released', flush=True); "
         "time.sleep(30)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with catalog_db.open_catalog(path, read_only=True) as catalog:
            assert catalog.version() == catalog_db.schema_version()
        assert holder.stdout.readline().strip() == "released"
    finally:
        holder.kill()
        holder.wait()


def test_wait_setting_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATE_DB_WAIT", "soon")
    with pytest.raises(CurateError, match=r"\$CURATE_DB_WAIT='soon' is not a number"):
        catalog_db.open_catalog(tmp_path / "c.duckdb")


def test_holder_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_DB_WAIT", "0")
    path = tmp_path / "c.duckdb"
    catalog_db.open_catalog(path).close()
    script = tmp_path / "hold.py"
    script.write_text("import duckdb, sys, time\nc = duckdb.connect(sys.argv[1])\n"
                      "print('ready', flush=True)\ntime.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, str(script), str(path), "--marker"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(CatalogLockedError) as info:
            catalog_db.open_catalog(path)
        assert f"PID {holder.pid}: " in str(info.value)
        assert "hold.py" in str(info.value) and "--marker" in str(info.value)
        assert "stayed busy" not in str(info.value)  # a zero wait fails at once
    finally:
        holder.kill()
        holder.wait()
