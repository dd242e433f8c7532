-- The condition of an open (site, rule) case no longer holds: noted, the case stays open (only a
-- person closes it). Nothing is noted twice, nor on a case with no open breach to clear.
UPDATE cases
SET cleared_at = %(at)s, updated_at = %(now)s
WHERE site_id = %(site_id)s AND rule_id = %(rule_id)s
  AND state NOT IN ('closed', 'dismissed') AND cleared_at IS NULL
RETURNING *
