-- Retained statuses can arrive again or out of order: keep the newest report.
INSERT INTO gateways (id, state, counters, reported_at, updated_at)
VALUES (%(id)s, %(state)s, %(counters)s, %(reported_at)s, now())
ON CONFLICT (id) DO UPDATE SET
    state = EXCLUDED.state, counters = EXCLUDED.counters,
    reported_at = EXCLUDED.reported_at, updated_at = now()
WHERE gateways.reported_at IS NULL OR EXCLUDED.reported_at IS NULL
   OR EXCLUDED.reported_at >= gateways.reported_at
