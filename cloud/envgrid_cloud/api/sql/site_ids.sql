-- Which of the given site ids exist.
SELECT id FROM sites WHERE id = ANY(%(site_ids)s::text[])
