-- Whether a site exists within an area (NULL: everywhere).
SELECT 1 AS found FROM sites
WHERE id = %(site_id)s AND (%(area)s::text[] IS NULL OR cell_id = ANY(%(area)s))
