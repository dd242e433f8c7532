-- A new silence; its id.
INSERT INTO notify_silences (site_id, rule_id, cell_id, reason, starts_at, until, set_by)
VALUES (%(site_id)s, %(rule_id)s, %(cell_id)s, %(reason)s, %(starts_at)s, %(until)s, %(set_by)s)
RETURNING id
