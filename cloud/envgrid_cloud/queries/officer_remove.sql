-- Remove an officer: deactivated if cases name them (those files must keep who did what),
-- deleted otherwise. Returns what was done; no row back if they do not exist.
WITH target AS (
    SELECT o.id, EXISTS (SELECT 1 FROM cases c WHERE c.assignee_id = o.id) AS has_cases
    FROM officers o WHERE o.id = %(officer_id)s
    FOR UPDATE
),
deactivated AS (
    UPDATE officers SET active = false
    WHERE id IN (SELECT id FROM target WHERE has_cases)
    RETURNING id
),
deleted AS (
    DELETE FROM officers
    WHERE id IN (SELECT id FROM target WHERE NOT has_cases)
    RETURNING id
)
SELECT id, 'deactivated' AS outcome FROM deactivated
UNION ALL
SELECT id, 'deleted' AS outcome FROM deleted
