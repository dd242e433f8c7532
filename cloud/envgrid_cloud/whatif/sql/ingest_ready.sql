-- The what-if cloud's ingest workers that have reported themselves running (subscribed by then).
SELECT count(*) FROM ingest_workers WHERE client_id LIKE %(prefix)s AND state = 'running'
