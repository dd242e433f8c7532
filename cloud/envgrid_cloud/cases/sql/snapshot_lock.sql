-- One snapshot sweeper at a time across processes (key: "envgrid-snap").
SELECT pg_try_advisory_xact_lock(x'656e76677269736e'::bigint) AS ok
