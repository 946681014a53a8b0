-- Version 4: the content-hash algorithm becomes a recorded property of the catalog
-- (schema_info key `content_hash`). Every hash a catalog of version 3 or older holds is
-- blake2b-128, so it keeps that algorithm: re-probed files hash as the stored rows did,
-- and dedup and leakage keep matching them. New catalogs record xxh3-128 (schema.sql).
INSERT OR IGNORE INTO schema_info VALUES ('content_hash', 'blake2b-128');
