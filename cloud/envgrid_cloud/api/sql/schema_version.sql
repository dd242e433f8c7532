-- The newest migration applied (only asked once schema_migrations exists).
SELECT max(version) AS schema_version FROM schema_migrations
