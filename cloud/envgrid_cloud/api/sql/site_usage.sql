-- What still refers to a site: the nodes bound to it, and its cases.
SELECT ARRAY(SELECT id FROM nodes WHERE site_id = %(site_id)s ORDER BY id) AS nodes,
       (SELECT count(*) FROM cases WHERE site_id = %(site_id)s) AS cases
