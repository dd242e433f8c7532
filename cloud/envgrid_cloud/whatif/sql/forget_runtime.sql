-- The scratch database starts as a fresh system would: no node heard from, nobody signs in.
WITH nodes_reset AS (
    UPDATE nodes SET status = 'unknown', status_at = NULL, last_live_at = NULL RETURNING 1
)
UPDATE users SET password_hash = NULL
