-- What /healthz reports about the database.
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS timescaledb,
       current_setting('server_version') AS server_version,
       to_regclass('schema_migrations') IS NOT NULL AS migrated
