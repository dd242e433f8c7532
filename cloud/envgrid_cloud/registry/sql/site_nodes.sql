-- The nodes of the sites asked for; a site with no node gives one row with a NULL node, a site
-- the registry does not know gives none.
SELECT s.id, n.id
FROM sites AS s
LEFT JOIN nodes AS n ON n.site_id = s.id
WHERE s.id = ANY(%(site_ids)s)
ORDER BY 1, 2
