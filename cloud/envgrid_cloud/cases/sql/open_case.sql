-- The open case of a (site, rule), locked: breaches of it are applied one transaction at a time,
-- and what it was before (cleared? how severe?) is known exactly.
SELECT id, state, severity, cleared_at
FROM cases
WHERE site_id = %(site_id)s AND rule_id = %(rule_id)s AND state NOT IN ('closed', 'dismissed')
FOR UPDATE
