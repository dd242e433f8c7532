-- The names of the people who acted on a case (ids not found, e.g. 'system', are left out).
SELECT id, name FROM users WHERE id = ANY(%(ids)s)
