-- Use TimescaleDB when the server has it; everything else works on plain PostgreSQL >= 15.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'timescaledb is available but not loadable (%); using plain PostgreSQL', SQLERRM;
        END;
    END IF;
END
$$;
