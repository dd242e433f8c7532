-- Whether a site exists.
SELECT EXISTS (SELECT 1 FROM sites WHERE id = %(id)s) AS found
