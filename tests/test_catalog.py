"""The catalog: schema, migrations, default location, the one-writer rule."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from curate.catalog import db as catalog_db
from curate.catalog.columns import UTTERANCE_COLUMNS
from curate.errors import CatalogLockedError, CurateError


def test_new_catalog_has_every_contract_table_and_column(tmp_path):
    with catalog_db.open_catalog(tmp_path / "c.duckdb") as catalog:
        tables = {r[0] for r in catalog.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"corpora", "utterances", "selections", "selection_items", "runs", "scores",
                "results", "augment_log", "segments", "schema_info"} <= tables
        columns = [r[0] for r in catalog.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = "
            "'utterances' ORDER BY ordinal_position").fetchall()]
        assert columns == list(UTTERANCE_COLUMNS)
        assert catalog.version() == catalog_db.schema_version()
        assert catalog.content_hash_algorithm() == "xxh3-128"  # a new catalog's


def test_default_db_follows_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CURATE_DB", raising=False)
    assert str(catalog_db.default_db_path()) == "manifests/catalog.duckdb"
    monkeypatch.setenv("CURATE_DB", str(tmp_path / "x.duckdb"))
    assert catalog_db.default_db_path() == tmp_path / "x.duckdb"


def test_migration_step_upgrades_an_older_catalog(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    catalog_db.open_catalog(path).close()  # version 1
    current = catalog_db.schema_version()
    monkeypatch.setattr(catalog_db, "schema_version", lambda: current + 1)
    monkeypatch.setattr(catalog_db, "migrations", lambda: [
        (current + 1, f"{current + 1:04d}_add_note.sql",
         "ALTER TABLE corpora ADD COLUMN note VARCHAR;")])
    with catalog_db.open_catalog(path) as catalog:
        assert catalog.version() == current + 1
        cols = {r[0] for r in catalog.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'corpora'").fetchall()}
        assert "note" in cols


def test_newer_catalog_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "new.duckdb"
    catalog_db.open_catalog(path).close()
    monkeypatch.setattr(catalog_db, "schema_version", lambda: 0)
    with pytest.raises(CurateError, match="newer than this curate"):
        catalog_db.open_catalog(path)


def test_read_only_open_of_missing_catalog_says_how_to_create(tmp_path):
    with pytest.raises(CurateError, match="curate prepare"):
        catalog_db.open_catalog(tmp_path / "none.duckdb", read_only=True)


def test_second_writer_gets_a_clear_message(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("CURATE_DB_WAIT", "0.3")
    path = tmp_path / "c.duckdb"
    catalog_db.open_catalog(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', "
         "flush=True); time.sleep(30)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(CatalogLockedError, match=rf"in use by PID {holder.pid}: .*python"
                                                     rf".* and stayed busy for 0.3 s"):
            catalog_db.open_catalog(path)
        code, _out, err = run_cli("stats", "--db", path)
        assert code == CatalogLockedError.exit_code
        assert f"in use by PID {holder.pid}" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    catalog_db.open_catalog(path).close()  # free again


def test_transaction_rolls_back_on_error(tmp_path):
    with catalog_db.open_catalog(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(RuntimeError):
            with catalog.transaction() as con:
                con.execute("INSERT INTO corpora (name, root, recipe, recipe_hash) "
                            "VALUES ('x', '/r', 'x', 'h')")
                raise RuntimeError("boom")
        assert catalog.execute("SELECT count(*) FROM corpora").fetchone()[0] == 0


def test_real_migrations_bring_a_version_1_catalog_to_the_current_schema(tmp_path):
    fresh = tmp_path / "fresh.duckdb"
    old = tmp_path / "old.duckdb"
    catalog_db.open_catalog(fresh).close()
    with catalog_db.open_catalog(old) as catalog:  # make it look like version 1
        catalog.execute("DROP TABLE ablations")
        catalog.execute("DROP TABLE ablation_runs")
        catalog.execute("ALTER TABLE corpora DROP COLUMN recipe_name")
        catalog.execute("ALTER TABLE corpora DROP COLUMN sources")
        catalog.execute("DELETE FROM schema_info WHERE key = 'content_hash'")
        catalog.execute("UPDATE schema_info SET value = '1' WHERE key = 'schema_version'")
    query = ("SELECT table_name, column_name, data_type FROM information_schema.columns "
             "ORDER BY table_name, ordinal_position")
    info = "SELECT key, value FROM schema_info ORDER BY key"
    with catalog_db.open_catalog(old) as migrated, \
            catalog_db.open_catalog(fresh, read_only=True) as reference:
        assert migrated.version() == catalog_db.schema_version() >= 4
        assert migrated.execute(query).fetchall() == reference.execute(query).fetchall()
        # the same keys; by design the content_hash algorithm differs: an older catalog
        # keeps blake2b-128 (its stored hashes), a new one records xxh3-128
        assert dict(reference.execute(info).fetchall()) == {
            "schema_version": str(catalog_db.schema_version()), "content_hash": "xxh3-128"}
        assert dict(migrated.execute(info).fetchall()) == {
            "schema_version": str(catalog_db.schema_version()), "content_hash": "blake2b-128"}


def _as_version_3(path):
    """Make a catalog look like one written at schema version 3 (before content_hash)."""
    with catalog_db.open_catalog(path) as catalog:
        catalog.execute("DELETE FROM schema_info WHERE key = 'content_hash'")
        catalog.execute("UPDATE schema_info SET value = '3' WHERE key = 'schema_version'")


def test_a_version_3_catalog_keeps_blake2b_and_never_changes_algorithm(tmp_path):
    path = tmp_path / "v3.duckdb"
    catalog_db.open_catalog(path).close()
    _as_version_3(path)
    with pytest.raises(CurateError, match="older schema .*open it once for writing"):
        catalog_db.open_catalog(path, read_only=True)
    for _ in range(2):  # migrated once; opening it again changes nothing
        with catalog_db.open_catalog(path) as catalog:
            assert catalog.version() == catalog_db.schema_version() == 4
            assert catalog.content_hash_algorithm() == "blake2b-128"
    with catalog_db.open_catalog(path, read_only=True) as catalog:
        assert catalog.content_hash_algorithm() == "blake2b-128"


def test_a_catalog_without_its_hash_algorithm_is_one_sentence(tmp_path):
    path = tmp_path / "c.duckdb"
    with catalog_db.open_catalog(path) as catalog:
        catalog.execute("DELETE FROM schema_info WHERE key = 'content_hash'")
        with pytest.raises(CurateError, match=f"^catalog {path} has no content_hash in "
                                              f"schema_info .*restore it from a backup"):
            catalog.content_hash_algorithm()
