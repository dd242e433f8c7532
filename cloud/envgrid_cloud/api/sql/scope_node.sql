-- Whether a node exists at a site within an area (NULL: everywhere).
SELECT 1 AS found FROM nodes n JOIN sites s ON s.id = n.site_id
WHERE n.id = %(node_id)s AND (%(area)s::text[] IS NULL OR s.cell_id = ANY(%(area)s))
