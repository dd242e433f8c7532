-- Remove a user: deactivated if cases name them or they acted on one (those files must keep
-- who did what), deleted otherwise. Returns what was done; no row back if they do not exist.
WITH target AS (
    SELECT u.id,
           EXISTS (SELECT 1 FROM cases c WHERE c.assignee_id = u.id)
           OR EXISTS (SELECT 1 FROM case_events e WHERE e.actor = u.id) AS has_cases
    FROM users u WHERE u.id = %(user_id)s
    FOR UPDATE
),
deactivated AS (
    UPDATE users SET active = false, updated_at = now()
    WHERE id IN (SELECT id FROM target WHERE has_cases)
    RETURNING id
),
ended AS (
    DELETE FROM sessions WHERE user_id IN (SELECT id FROM deactivated)
),
deleted AS (
    DELETE FROM users
    WHERE id IN (SELECT id FROM target WHERE NOT has_cases)
    RETURNING id
)
SELECT id, 'deactivated' AS outcome FROM deactivated
UNION ALL
SELECT id, 'deleted' AS outcome FROM deleted
