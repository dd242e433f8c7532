-- Tell the townships downstream of a water-body case's site (上下游联防联控): follow
-- site_downstream transitively (UNION stops at a cycle), find the township above each downstream
-- site's cell, and note the case once for every township other than the case's own.
-- Returns the townships noted now, with why.
WITH RECURSIVE down(site_id) AS (
    SELECT d.downstream_id
    FROM site_downstream d JOIN sites s ON s.id = d.site_id
    WHERE d.site_id = %(site_id)s AND s.category = 'water_body'
    UNION
    SELECT d.downstream_id FROM site_downstream d JOIN down ON d.site_id = down.site_id
), up(site_id, cell_id, level, parent_id) AS (
    SELECT down.site_id, c.id, c.level, c.parent_id
    FROM down JOIN sites s ON s.id = down.site_id JOIN grid_cells c ON c.id = s.cell_id
    UNION ALL
    SELECT up.site_id, c.id, c.level, c.parent_id
    FROM up JOIN grid_cells c ON c.id = up.parent_id
    WHERE up.level <> 'township'
), towns AS (
    SELECT cell_id AS township_id, string_agg(site_id, ', ' ORDER BY site_id) AS sites
    FROM up
    WHERE level = 'township' AND cell_id <> %(township_id)s
    GROUP BY cell_id
)
INSERT INTO case_notifications (case_id, township_id, reason, at)
SELECT %(case_id)s, township_id,
       'downstream of ' || %(site_id)s::text || ': ' || sites, %(now)s
FROM towns
ON CONFLICT DO NOTHING
RETURNING township_id, reason
